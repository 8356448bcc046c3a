"""A Codec-SUPERB ``SoundCodec`` codec entry for LLM-Codec (transformers ``LLMCodecModel``).

:class:`LLMCodecSoundCodec` implements the ``BaseCodec`` interface of Codec-SUPERB
(``SoundCodec.base_codec.general``) without importing it, so it also works standalone:

* ``config()`` loads the model (``model_path`` class attribute, constructor argument, or the
  ``LLMCODEC_MODEL`` environment variable) and sets ``sampling_rate`` (16 kHz);
* ``extract_unit(data) -> ExtractedUnit(unit=LongTensor [T], stuff_for_synth=(codes [1, T], raw_length))``;
* ``decode_unit(stuff_for_synth) -> np.ndarray [raw_length]`` float32 at the codec rate;
* ``synth(data, local_save=True)``: resample in to 16 kHz, encode, decode, resample back to the
  input rate, then either write ``reconstructed_{setting}/{id or uuid}.wav`` (int16, clamped to
  ±0.99) and set ``data['audio'] = {'path', 'sampling_rate'}``, or set
  ``data['audio'] = {'array', 'sampling_rate'}``; returns ``data`` mutated, with no ``'unit'`` key
  (as ``BaseCodec.synth``);
* ``batch_extract_unit`` / ``batch_decode_unit`` / ``batch_synth``: one right-zero-padded batch
  through ``encode`` / ``decode`` with masks (true batching); ``batch_synth`` sets ``data['unit']``
  and writes ``dummy_{setting}/{id}.wav`` at the codec rate (``data['audio'] = path``) or sets
  ``data['audio']['array']``. Like upstream, the batch path does **not** resample; unlike
  upstream it raises on a mismatched rate instead of silently mis-processing.

Deliberate differences from ``BaseCodec``, both documented: resampling uses torchaudio's windowed
sinc instead of librosa's default (soxr), and ``extract_unit`` called directly with non-16 kHz
audio resamples itself (upstream measures ``raw_length`` at the wrong rate then).

Frames: the model yields ``floor(L / 320)`` codes, so each item is right-zero-padded to a multiple
of 320 samples before encoding (``ceil(L / 320)`` codes, the tail is covered) and the decoded audio
is cut back to ``raw_length``.

**Registering in Codec-SUPERB** — add one file, ``SoundCodec/codec/llmcodec_hf.py``::

    from SoundCodec.base_codec.general import BaseCodec
    from llmcodec.evaluation.soundcodec_adapter import LLMCodecSoundCodec

    class Codec(LLMCodecSoundCodec, BaseCodec):
        model_path = "path/to/llmcodec-hf-folder"   # or set LLMCODEC_MODEL

Then ``python3 scripts/benchmarking.py --models llmcodec_hf ...``. Listing ``LLMCodecSoundCodec``
first makes its methods (and constructor) take precedence over ``BaseCodec``'s.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio

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


def _resample(array: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    if orig_rate == new_rate:
        return array
    resampled = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(array, np.float32)), orig_rate, new_rate)
    return resampled.numpy()


def _mono_array(array: Any) -> np.ndarray:
    array = np.squeeze(np.asarray(array, dtype=np.float32))
    if array.ndim != 1:
        raise ValueError(f"audio array must be mono 1-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError("audio array is empty")
    return array


class LLMCodecSoundCodec:
    """Codec-SUPERB ``BaseCodec``-compatible wrapper around ``LLMCodecModel``.

    Args:
        model: an ``LLMCodecModel`` instance (tests, notebooks); if None, ``model_path`` is loaded.
        model_path: folder or Hub id for ``LLMCodecModel.from_pretrained`` (default: the class
            attribute, then ``$LLMCODEC_MODEL``).
        device: torch device; default cuda, then mps, then cpu (as ``BaseCodec``).
    """

    supports_decode = True  # class attribute: read by codec_supports_decode() without instantiating
    model_path: str | None = None

    def __init__(self, model: Any = None, model_path: str | None = None, device: str | None = None) -> None:
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
        self.device = torch.device(device)
        self.sampling_rate: int | None = None
        self.setting: str | None = getattr(self, "setting", None)
        self.model = model
        if model_path is not None:
            self.model_path = model_path
        self.config()

    # ----------------------------------------------------------------------------- set-up

    def config(self) -> None:
        """Load the model (unless given) and set ``sampling_rate`` and ``setting``."""
        if self.model is None:
            path = self.model_path or os.environ.get(MODEL_ENV_VAR)
            if not path:
                raise ValueError(
                    f"no LLM-Codec model given: pass model=/model_path=, set the class attribute "
                    f"model_path, or set ${MODEL_ENV_VAR}"
                )
            from llmcodec.modeling import LLMCodecModel

            self.model = LLMCodecModel.from_pretrained(path)
        self.model = self.model.to(self.device).eval()
        self.sampling_rate = int(self.model.config.sampling_rate)
        self.hop_length = int(self.model.config.hop_length)
        self.setting = self.setting or "llmcodec_hf"

    # ------------------------------------------------------------------------- single item

    def _padded_batch(self, arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-zero-pad items to hop multiples and to a common length: ``(B, 1, L)``, mask ``(B, L)``."""
        hop = self.hop_length
        lengths = [-(-a.size // hop) * hop for a in arrays]  # ceil to a whole frame
        batch = torch.zeros(len(arrays), 1, max(lengths))
        mask = torch.zeros(len(arrays), max(lengths), dtype=torch.long)
        for i, (array, length) in enumerate(zip(arrays, lengths)):
            batch[i, 0, : array.size] = torch.from_numpy(array)
            mask[i, :length] = 1  # the zero tail up to the frame boundary counts as audio
        return batch.to(self.device), mask.to(self.device)

    def extract_unit(self, data: dict) -> ExtractedUnit:
        """Encode ``data['audio'] = {'array': 1-D float, 'sampling_rate': int}``.

        Returns:
            ``ExtractedUnit(unit=LongTensor [T] on CPU, stuff_for_synth=(codes LongTensor [1, T], raw_length))``
            with ``T = ceil(raw_length / 320)`` and ``raw_length`` in samples at the codec rate.
        """
        audio = data["audio"]
        array = _mono_array(audio["array"])
        array = _resample(array, int(audio["sampling_rate"]), self.sampling_rate)
        values, mask = self._padded_batch([array])
        with torch.no_grad():
            codes = self.model.encode(values, padding_mask=mask).audio_codes.cpu()
        return ExtractedUnit(unit=codes[0], stuff_for_synth=(codes, int(array.size)))

    def decode_unit(self, stuff_for_synth: tuple[torch.Tensor, int]) -> np.ndarray:
        """Decode ``(codes [1, T], raw_length)`` to float32 audio ``[raw_length]`` at the codec rate."""
        codes, raw_length = stuff_for_synth
        with torch.no_grad():
            audio = self.model.decode(torch.as_tensor(codes).reshape(1, -1).to(self.device)).audio_values
        return audio[0, 0, :raw_length].float().cpu().numpy()

    def is_1d(self) -> bool:
        """True when the unit of 1 s of silence has at most one axis longer than 1 (it is ``[T]``)."""
        unit = self.extract_unit({"audio": {"array": np.zeros(16_000), "sampling_rate": 16_000}}).unit
        return sum(size > 1 for size in unit.squeeze().shape) <= 1

    def synth(self, data: dict, local_save: bool = True) -> dict:
        """Codec-SUPERB ``BaseCodec.synth``: reconstruct one item at its own rate (see module docstring)."""
        audio = data["audio"]
        if isinstance(audio, str) or (isinstance(audio, dict) and audio.get("array") is None and "path" in audio):
            path = audio if isinstance(audio, str) else audio["path"]
            array, rate = sf.read(path)
            audio = {"array": array, "sampling_rate": rate}
        orig_rate = int(audio["sampling_rate"])
        orig_array = _mono_array(audio["array"])
        temp_data = dict(data)
        temp_data["audio"] = {"array": _resample(orig_array, orig_rate, self.sampling_rate), "sampling_rate": self.sampling_rate}
        extracted = self.extract_unit(temp_data)
        decoded = np.squeeze(self.decode_unit(extracted.stuff_for_synth))
        decoded = _resample(decoded, self.sampling_rate, orig_rate)
        if local_save:
            folder = Path(f"reconstructed_{self.setting}")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{data.get('id') or uuid.uuid4()}.wav"
            sf.write(path, np.clip(decoded, -0.99, 0.99), orig_rate, subtype="PCM_16")
            data["audio"] = {"path": str(path), "sampling_rate": orig_rate}
        else:
            data["audio"] = {"array": decoded, "sampling_rate": orig_rate}
        return data

    # ------------------------------------------------------------------------------- batch

    def batch_extract_unit(self, data_list: list[dict]) -> BatchExtractedUnit:
        """Encode items (already at the codec rate) in one padded batch.

        Returns:
            ``BatchExtractedUnit(units=[LongTensor [T_i]], stuff_for_synth=[(codes [1, T_i], raw_length_i)],
            batch_size=len(data_list))``, identical to per-item :meth:`extract_unit`.

        Raises:
            ValueError: an item's ``sampling_rate`` differs from the codec's (the batch API does not resample).
        """
        arrays = []
        for index, data in enumerate(data_list):
            rate = int(data["audio"]["sampling_rate"])
            if rate != self.sampling_rate:
                raise ValueError(
                    f"batch item {index} is at {rate} Hz; the batch API does not resample, pass "
                    f"{self.sampling_rate} Hz audio (or use synth)"
                )
            arrays.append(_mono_array(data["audio"]["array"]))
        values, mask = self._padded_batch(arrays)
        with torch.no_grad():
            codes = self.model.encode(values, padding_mask=mask).audio_codes.cpu()
        units, stuff = [], []
        for i, array in enumerate(arrays):
            item_codes = codes[i, : -(-array.size // self.hop_length)]
            units.append(item_codes)
            stuff.append((item_codes[None, :], int(array.size)))
        return BatchExtractedUnit(units=units, stuff_for_synth=stuff, batch_size=len(data_list))

    def batch_decode_unit(self, batch_extracted_unit: BatchExtractedUnit) -> list[np.ndarray]:
        """Decode all items in one padded batch; returns float32 arrays ``[raw_length_i]`` at the codec rate."""
        stuff = batch_extracted_unit.stuff_for_synth
        frames = [int(torch.as_tensor(codes).numel()) for codes, _ in stuff]
        codes = torch.zeros(len(stuff), max(frames), dtype=torch.long)
        mask = torch.zeros(len(stuff), max(frames), dtype=torch.bool)
        for i, ((item_codes, _), count) in enumerate(zip(stuff, frames)):
            codes[i, :count] = torch.as_tensor(item_codes).reshape(-1)
            mask[i, :count] = True
        with torch.no_grad():
            audio = self.model.decode(codes.to(self.device), audio_codes_mask=mask.to(self.device)).audio_values
        audio = audio[:, 0].float().cpu().numpy()
        return [audio[i, :raw_length].copy() for i, (_, raw_length) in enumerate(stuff)]

    def batch_synth(self, data_list: list[dict], local_save: bool = True) -> list[dict]:
        """Codec-SUPERB ``batch_synth``: batched encode + decode at the codec rate, no resampling."""
        extracted = self.batch_extract_unit(data_list)
        decoded = self.batch_decode_unit(extracted)
        for data, unit, audio in zip(data_list, extracted.units, decoded):
            data["unit"] = unit
            if local_save:
                folder = Path(f"dummy_{self.setting}")
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{data.get('id') or uuid.uuid4()}.wav"
                sf.write(path, audio, self.sampling_rate)
                data["audio"] = str(path)
            else:
                data["audio"]["array"] = audio
        return data_list
