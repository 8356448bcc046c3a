"""A Codec-SUPERB ``SoundCodec`` codec entry for LLM-Codec (transformers ``LLMCodecModel``).

:class:`LLMCodecSoundCodec` implements the ``BaseCodec`` interface of Codec-SUPERB
(``SoundCodec.base_codec.general``) without importing it, so it also works standalone. Shapes are
those of Codec-SUPERB's own ``llmcodec`` entry (``SoundCodec/base_codec/auv.py``):

* ``config()`` loads the model and sets ``sampling_rate`` (16 kHz). Which model: the constructor's
  ``model=`` / ``model_path=``, else ``$LLMCODEC_MODEL``, else the ``model_path`` class attribute of the
  registration file, else the bundled default model (as every other entry point); it prints which;
* ``extract_unit(data) -> ExtractedUnit(unit=LongTensor [1, T], stuff_for_synth=(codes [1, T], raw_length))``;
* ``decode_unit(stuff_for_synth) -> np.ndarray [1, T * 320]`` float32 at the codec rate;
* ``synth(data, local_save=True)``: resample in to 16 kHz, encode, decode, resample back to the
  input rate, then either write ``reconstructed_{setting}/{id or uuid}.wav`` (int16, clamped to
  ±0.99) and set ``data['audio'] = {'path', 'sampling_rate'}``, or set
  ``data['audio'] = {'array': 1-D, 'sampling_rate'}``; returns ``data`` mutated, with no ``'unit'`` key
  (as ``BaseCodec.synth``);
* ``batch_extract_unit`` / ``batch_decode_unit`` / ``batch_synth``: one right-zero-padded batch
  through :func:`llmcodec.batching.encode_batch` / ``decode_batch`` (true batching; each item gets its
  single-item codes).
  Each item is resampled to 16 kHz as in ``synth``; ``batch_decode_unit`` returns audio at the codec
  rate (like ``decode_unit``) and ``batch_synth`` resamples each item back to *its own* rate at *its
  input length* (as upstream's batch path: the dropped partial frame returns as zeros), then writes
  ``dummy_{setting}/{id}.wav`` (``data['audio'] = path``) or sets ``data['audio']['array']``.
  An empty batch gives ``batch_size=0`` and ``[]``.
* File names: ``data['id']`` becomes a file name inside the output folder (separators and unsafe
  characters replaced by ``_``); an absolute id or one with a ``..`` part is refused (``ValueError``)
  before anything is coded or written.
* Integer PCM arrays (int8/16/32, uint8) are scaled to [-1, 1) as ``LLMCodecFeatureExtractor`` does.

**Framing (the project's one rule)**: ``L`` samples at 16 kHz give ``floor(L / 320)`` codes; the last
partial frame (under 20 ms) is dropped, exactly as ``llmcodec encode``, ``llmcodec evaluate``,
``llmcodec tokenize-audio`` and Codec-SUPERB's own ``llmcodec`` entry do, and the decoded audio is
``T * 320`` samples (Codec-SUPERB zero-pads it against the reference). Audio longer than
``chunk_length_s`` (60 s) is coded in windows with ``chunk_context_s`` (5 s) of context, the CLI's
defaults, so every path gives the same codes for the same file.

Deliberate differences from ``BaseCodec``: resampling uses torchaudio's windowed sinc (the reference
``auv`` encoder's own resampler, as the CLI) instead of librosa's default (soxr); ``extract_unit``
called directly with non-16 kHz audio resamples itself; the batch calls resample instead of
requiring 16 kHz input.

**Registering in Codec-SUPERB** — add one file, ``SoundCodec/codec/llmcodec_hf.py``::

    from SoundCodec.base_codec.general import BaseCodec
    from llmcodec.evaluation.soundcodec_adapter import LLMCodecSoundCodec

    class Codec(LLMCodecSoundCodec, BaseCodec):
        model_path = "path/to/llmcodec-hf-folder"   # optional; $LLMCODEC_MODEL overrides it

Then ``python3 scripts/benchmarking.py --models llmcodec_hf ...``. Listing ``LLMCodecSoundCodec``
first makes its methods (and constructor) take precedence over ``BaseCodec``'s.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from llmcodec.audio import resample

try:  # reuse Codec-SUPERB's own containers when it is installed
    from SoundCodec.base_codec.general import BatchExtractedUnit, ExtractedUnit  # type: ignore[import-not-found]
except ImportError:

    @dataclass
    class ExtractedUnit:  # type: ignore[no-redef]
        """Mirror of ``SoundCodec.base_codec.general.ExtractedUnit``."""

        unit: torch.Tensor
        stuff_for_synth: object

        def to_dict(self) -> dict[str, Any]:
            return asdict(self)

    @dataclass
    class BatchExtractedUnit:  # type: ignore[no-redef]
        """Mirror of ``SoundCodec.base_codec.general.BatchExtractedUnit``."""

        units: list[torch.Tensor]
        stuff_for_synth: list[Any]
        batch_size: int

        def to_dict(self) -> dict[str, Any]:
            return asdict(self)


MODEL_ENV_VAR = "LLMCODEC_MODEL"
DEFAULT_SETTING = "llmcodec_hf"


def _mono_array(array: Any) -> np.ndarray:
    """A data item's array as mono float32; integer PCM is scaled to [-1, 1) as the feature extractor does it."""
    array = np.squeeze(np.asarray(array))
    if array.ndim != 1:
        raise ValueError(f"audio array must be mono 1-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError("audio array is empty")
    if array.dtype.kind == "f":
        return array.astype(np.float32, copy=False)
    from llmcodec.modeling import LLMCodecFeatureExtractor

    # The feature extractor is the one home of the PCM scaling rule (int16 / 32768, uint8 centred ...).
    features = LLMCodecFeatureExtractor()(array, sampling_rate=16_000, return_tensors="np")
    return features["input_values"][0, 0]


def _file_stem(item_id: Any) -> str:
    """``data['id']`` as a file name inside the output folder.

    Path separators and characters unsafe in file names become ``_``; an absolute id or one with a ``..``
    part is refused, because it would write the reconstruction outside the folder.
    """
    text = str(item_id)
    parts = re.split(r"[/\\]+", text)
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text) or ".." in parts:
        raise ValueError(f"data id {text!r} is an absolute path or contains '..'; ids must name a file in the output folder")
    stem = re.sub(r"[^\w.-]+", "_", text).strip()
    if not stem.strip("."):
        raise ValueError(f"data id {text!r} does not name a file")
    return stem[:200]


def _item_audio(data: dict) -> tuple[np.ndarray, int]:
    """``(mono float32 array, rate)`` of a data item: ``{'array', 'sampling_rate'}``, a path, or ``{'path'}``."""
    audio = data["audio"]
    if isinstance(audio, str) or (isinstance(audio, dict) and audio.get("array") is None and "path" in audio):
        array, rate = sf.read(audio if isinstance(audio, str) else audio["path"])
        return _mono_array(array), int(rate)
    return _mono_array(audio["array"]), int(audio["sampling_rate"])


def _fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """``audio`` cut or right-zero-padded to ``length`` samples."""
    return audio[:length] if audio.size >= length else np.pad(audio, (0, length - audio.size))


def _resample_array(array: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    return resample(torch.from_numpy(np.ascontiguousarray(array, np.float32)), orig_rate, new_rate).numpy()


class LLMCodecSoundCodec:
    """Codec-SUPERB ``BaseCodec``-compatible wrapper around ``LLMCodecModel``.

    Args:
        model: an ``LLMCodecModel`` instance (tests, notebooks); if None, a model is loaded (see
            :meth:`model_spec`).
        model_path: anything ``llmcodec.hub.load_codec`` takes (exported folder, raw ``.pt``, Hub id).
        device: torch device; default cuda, then mps, then cpu (as ``BaseCodec``).
    """

    supports_decode = True  # class attribute: read by codec_supports_decode() without instantiating
    model_path: str | None = None  # registration-file default; $LLMCODEC_MODEL overrides it
    chunk_length_s: float | None = 60.0  # windowed coding above this length: the CLI's --chunk-seconds
    chunk_context_s: float = 5.0  # the CLI's --chunk-context-seconds

    def __init__(self, model: Any = None, model_path: str | None = None, device: str | None = None) -> None:
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
        self.device = torch.device(device)
        self.sampling_rate: int | None = None
        self.setting: str | None = getattr(self, "setting", None)
        self.model = model
        self._model_path_arg = model_path
        self.config()

    # ----------------------------------------------------------------------------- set-up

    def model_spec(self) -> str | None:
        """Which model :meth:`config` loads: the ``model_path`` argument, else ``$LLMCODEC_MODEL``, else the
        ``model_path`` class attribute; None means the bundled default model."""
        return self._model_path_arg or os.environ.get(MODEL_ENV_VAR) or type(self).model_path or None

    def config(self) -> None:
        """Load the model (unless given), say which, and set ``sampling_rate``."""
        if self.model is None:
            from llmcodec.hub import DEFAULT_MODEL_DIR, load_codec

            spec = self.model_spec()
            self.model = load_codec(spec, device=self.device)
            self.model_source = spec or str(DEFAULT_MODEL_DIR)
            print(f"LLM-Codec SoundCodec: model {self.model_source} on {self.device}", file=sys.stderr)
        else:
            self.model_source = "<model instance>"
        self.model = self.model.to(self.device).eval()
        self.sampling_rate = int(self.model.config.sampling_rate)
        self.hop_length = int(self.model.config.hop_length)

    def _setting_name(self) -> str:
        return self.setting or DEFAULT_SETTING

    # ------------------------------------------------------------------------------- coding

    def _encode(self, arrays: list[np.ndarray]) -> list[torch.Tensor]:
        """16 kHz 1-D arrays -> each item's codes ``LongTensor [1, floor(L_i / hop)]`` (one padded batch)."""
        from llmcodec.batching import encode_batch

        for index, array in enumerate(arrays):
            if array.size < self.hop_length:
                raise ValueError(
                    f"item {index}: {array.size} samples at {self.sampling_rate} Hz is shorter than one code "
                    f"({self.hop_length} samples)"
                )
        codes = encode_batch(self.model, arrays, sampling_rate=self.sampling_rate, chunk_length_s=self.chunk_length_s,
                             chunk_context_s=self.chunk_context_s, device=self.device, warn_out_of_range=False)
        return [torch.from_numpy(c)[None, :] for c in codes]

    def _decode(self, codes_list: list[torch.Tensor]) -> list[np.ndarray]:
        """Codes ``[1, T_i]`` -> float32 audio ``[1, T_i * hop]`` at the codec rate (one padded batch)."""
        from llmcodec.batching import decode_batch

        audio = decode_batch(self.model, [torch.as_tensor(c).reshape(-1) for c in codes_list],
                             chunk_length_s=self.chunk_length_s, chunk_context_s=self.chunk_context_s, device=self.device)
        return [a.float().cpu().numpy()[None, :] for a in audio]

    # ------------------------------------------------------------------------- single item

    def extract_unit(self, data: dict) -> ExtractedUnit:
        """Encode ``data['audio'] = {'array': 1-D float, 'sampling_rate': int}`` (resampled to 16 kHz if needed).

        Returns:
            ``ExtractedUnit(unit=LongTensor [1, T] on CPU, stuff_for_synth=(codes LongTensor [1, T], raw_length))``
            with ``T = floor(raw_length / 320)`` and ``raw_length`` in samples at the codec rate.
        """
        array, rate = _item_audio(data)
        array = _resample_array(array, rate, self.sampling_rate)
        codes = self._encode([array])[0]
        return ExtractedUnit(unit=codes, stuff_for_synth=(codes, int(array.size)))

    def decode_unit(self, stuff_for_synth: tuple[torch.Tensor, int]) -> np.ndarray:
        """Decode ``(codes [1, T], raw_length)`` to float32 audio ``[1, min(T * 320, raw_length)]`` at the codec rate."""
        codes, raw_length = stuff_for_synth
        return self._decode([codes])[0][:, :raw_length]

    def is_1d(self) -> bool:
        """True when the unit of 1 s of silence has at most one axis longer than 1 (it is ``[1, T]``)."""
        unit = self.extract_unit({"audio": {"array": np.zeros(16_000), "sampling_rate": 16_000}}).unit
        return sum(size > 1 for size in unit.squeeze().shape) <= 1

    @staticmethod
    def _wav_path(folder: str, data: dict) -> Path:
        """``folder/{id or uuid}.wav``; checked before any coding, so a bad id writes nothing."""
        item_id = data.get("id")
        return Path(folder) / f"{uuid.uuid4() if item_id is None or item_id == '' else _file_stem(item_id)}.wav"

    @staticmethod
    def _save_wav(path: Path, audio: np.ndarray, rate: int) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.clip(audio, -0.99, 0.99), rate, subtype="PCM_16")
        return str(path)

    def synth(self, data: dict, local_save: bool = True) -> dict:
        """Codec-SUPERB ``BaseCodec.synth``: reconstruct one item at its own rate (see module docstring)."""
        path = self._wav_path(f"reconstructed_{self._setting_name()}", data) if local_save else None
        orig_array, orig_rate = _item_audio(data)
        temp_data = dict(data)
        temp_data["audio"] = {"array": _resample_array(orig_array, orig_rate, self.sampling_rate),
                              "sampling_rate": self.sampling_rate}
        extracted = self.extract_unit(temp_data)
        decoded = np.squeeze(self.decode_unit(extracted.stuff_for_synth), axis=0)
        decoded = _resample_array(decoded, self.sampling_rate, orig_rate)
        if local_save:
            data["audio"] = {"path": self._save_wav(path, decoded, orig_rate), "sampling_rate": orig_rate}
        else:
            data["audio"] = {"array": decoded, "sampling_rate": orig_rate}
        return data

    # ------------------------------------------------------------------------------- batch

    def batch_extract_unit(self, data_list: list[dict]) -> BatchExtractedUnit:
        """Encode items (each at any rate, resampled to 16 kHz) in one padded batch.

        Returns:
            ``BatchExtractedUnit(units=[LongTensor [1, T_i]], stuff_for_synth=[(codes [1, T_i], raw_length_i)],
            batch_size=len(data_list))``, identical to per-item :meth:`extract_unit`.
        """
        return self._batch_extract([_item_audio(data) for data in data_list])

    def _batch_extract(self, items: list[tuple[np.ndarray, int]]) -> BatchExtractedUnit:
        if not items:
            return BatchExtractedUnit(units=[], stuff_for_synth=[], batch_size=0)
        arrays = [_resample_array(array, rate, self.sampling_rate) for array, rate in items]
        codes = self._encode(arrays)
        return BatchExtractedUnit(units=codes, stuff_for_synth=[(c, int(a.size)) for c, a in zip(codes, arrays)],
                                  batch_size=len(items))

    def batch_decode_unit(self, batch_extracted_unit: BatchExtractedUnit) -> list[np.ndarray]:
        """Decode all items in one padded batch: float32 ``[1, T_i * 320]`` each, at the codec rate."""
        stuff = batch_extracted_unit.stuff_for_synth
        if not stuff:
            return []
        decoded = self._decode([codes for codes, _ in stuff])
        return [audio[:, :raw_length] for audio, (_, raw_length) in zip(decoded, stuff)]

    def batch_synth(self, data_list: list[dict], local_save: bool = True) -> list[dict]:
        """Codec-SUPERB ``batch_synth``: batched encode + decode, each item returned at its own rate and length.

        As upstream's batch path, each reconstruction has as many samples as its input: the dropped partial
        last frame (under 20 ms) comes back as zeros, the same zero-padding the metrics apply.
        """
        paths = [self._wav_path(f"dummy_{self._setting_name()}", data) for data in data_list] if local_save else None
        items = [_item_audio(data) for data in data_list]
        extracted = self._batch_extract(items)
        decoded = self.batch_decode_unit(extracted)
        for index, (data, unit, audio, (array, rate)) in enumerate(zip(data_list, extracted.units, decoded, items)):
            audio = _fit_length(_resample_array(np.squeeze(audio, axis=0), self.sampling_rate, rate), array.size)
            data["unit"] = unit
            if paths is not None:
                data["audio"] = self._save_wav(paths[index], audio, rate)
            elif isinstance(data["audio"], dict):
                data["audio"]["array"], data["audio"]["sampling_rate"] = audio, rate
            else:
                data["audio"] = {"array": audio, "sampling_rate": rate}
        return data_list
