"""Token learnability data: code extractors (our codec, the reference ``auv``), the train/eval split (held-out
folders, else held-out speakers, else held-out files), codes cached per codec and data list, and the LM's
training windows. The recipe is in :mod:`.token_lm`."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from llmcodec.tokenizer.mapping import AudioTokenMap

from .output_folder import JsonlLog
from .sources import AudioItem

EVAL_SPLIT_NAMES = ("validation", "valid", "eval", "test", "dev")


# ------------------------------------------------------------------------------------- codecs


class CodeExtractor(Protocol):
    """Anything that turns 16 kHz waveforms into one stream of integer codes per item."""

    name: str
    codebook_size: int
    sampling_rate: int

    def encode(self, waveforms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``waveforms``: ``(L_i,)`` float at ``sampling_rate`` → codes ``(T_i,)`` int64 in ``[0, codebook_size)``."""
        ...


class _WeightsKeyed:
    """``identity``: SHA-256 of ``self.model``'s weights, computed once: the key of a codec's cached codes."""

    _identity: str | None = None

    @property
    def identity(self) -> str:
        if self._identity is None:
            from .output_folder import weights_sha256

            self._identity = weights_sha256(self.model)
        return self._identity


class LLMCodecCodes(_WeightsKeyed):
    """:class:`CodeExtractor` for ``LLMCodecModel`` (any weights): one padded, masked batch per call
    (:func:`llmcodec.batching.encode_batch`: each clip gets the codes it gets alone)."""

    def __init__(self, model: Any, name: str = "llmcodec", device: str = "cpu", chunk_length_s: float | None = 60.0):
        self.model = model.to(device).eval()
        self.name, self.device, self.chunk_length_s = name, torch.device(device), chunk_length_s
        self.codebook_size = int(model.config.codebook_size)
        self.sampling_rate = int(model.config.sampling_rate)
        self.frame_rate = self.sampling_rate / int(model.config.hop_length)

    def codebook_vectors(self) -> torch.Tensor:
        """``(N, codebook_dim)`` codebook rows (the quantizer picks the nearest by cosine)."""
        return self.model.quantizer.codebook.weight.detach().float().cpu()

    def encode(self, waveforms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        from llmcodec.batching import encode_batch

        codes = encode_batch(self.model, list(waveforms), sampling_rate=self.sampling_rate,
                             chunk_length_s=self.chunk_length_s, device=self.device, warn_out_of_range=False)
        return [torch.from_numpy(c) for c in codes]


class AUVCodes(_WeightsKeyed):
    """:class:`CodeExtractor` for the reference ``auv`` package (``auv.model.AUV``), one item at a time
    (the reference cannot batch). Codes are ``tokenizer(x)["tokens"][0, 0]``."""

    def __init__(self, model: Any, name: str = "auv", device: str = "cpu"):
        self.model = model.to(device).eval()
        self.name, self.device = name, torch.device(device)
        self.codebook_size = int(model.tokenizer.vq.quantizers[0].codebook_size)
        self.sampling_rate = 16_000
        self.frame_rate = 50.0

    def codebook_vectors(self) -> torch.Tensor:
        """``(N, 8)`` codebook rows (``_codebook`` in the reference package)."""
        quantizer = self.model.tokenizer.vq.quantizers[0]
        table = quantizer._codebook if hasattr(quantizer, "_codebook") else quantizer.codebook
        return table.weight.detach().float().cpu()

    @torch.inference_mode()
    def encode(self, waveforms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        codes = []
        for w in waveforms:
            tokens = self.model.tokenizer(w.reshape(1, -1).to(self.device), input_sample_rate=self.sampling_rate)["tokens"]
            codes.append(tokens.reshape(-1).long().cpu())
        return codes


def load_code_extractor(spec: str, device: str = "cpu") -> CodeExtractor:
    """``auv:PATH`` → :class:`AUVCodes` (``auv.model.AUV.from_pretrained(PATH)``, needs ``pip install auv``);
    anything else → :class:`LLMCodecCodes` via :func:`llmcodec.hub.load_codec` (folder, raw .pt, Hub id)."""
    if spec.startswith("auv:"):
        try:
            from auv.model import AUV
        except ImportError as error:
            from llmcodec.errors import ModelLoadError

            raise ModelLoadError("the reference codec needs the 'auv' package (pip install auv)") from error
        model = AUV()
        model.from_pretrained(spec.removeprefix("auv:"))
        return AUVCodes(model, name=spec, device=device)
    from llmcodec.hub import load_codec

    return LLMCodecCodes(load_codec(spec, device=device), name=spec, device=device)


# ------------------------------------------------------------------------------------- corpus


def split_items(items: Sequence[AudioItem], eval_fraction: float = 0.1, seed: int = 0,
                speakers: dict[str, str] | None = None) -> tuple[list[AudioItem], list[AudioItem]]:
    """``(train, eval)``: by top-level folder when one is named like a held-out split; else by a seeded hash of
    each file's speaker (``speakers``: id → speaker, so held-out speakers are never heard in training) or,
    for files without one, of its id."""
    domains = {i.domain for i in items}
    held_out = [d for d in domains if d.lower() in EVAL_SPLIT_NAMES]
    if held_out:
        return [i for i in items if i.domain not in held_out], [i for i in items if i.domain in held_out]
    speakers = speakers or {}

    def to_eval(item: AudioItem) -> bool:
        group = f"speaker:{speakers[item.id]}" if item.id in speakers else item.id
        digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction

    train = [i for i in items if not to_eval(i)]
    evaluation = [i for i in items if to_eval(i)]
    if not evaluation and len(train) > 1:  # tiny corpora: always hold out at least one file
        evaluation, train = train[-1:], train[:-1]
    return train, evaluation


def codes_cache_dir(output: str | os.PathLike, codec: CodeExtractor, train: Sequence[AudioItem],
                    held_out: Sequence[AudioItem]) -> Path:
    """``OUT/codes/<codec key>-<data key>``: one folder per codec weights and data list, so that any number of
    LM runs (seeds, recipes) over the same codes tokenize once, and an interrupted tokenization resumes.

    The codec key is its weights' SHA-256 (``codec.identity``; the name for stand-ins without one); the data key
    hashes the sorted ids of both splits. ``source.json`` inside says what the key stands for.
    """
    identity = str(getattr(codec, "identity", None) or f"name:{codec.name}")
    listing = json.dumps([sorted(i.id for i in train), sorted(i.id for i in held_out)])
    key = f"{hashlib.sha256(identity.encode()).hexdigest()[:12]}-{hashlib.sha256(listing.encode()).hexdigest()[:12]}"
    folder = Path(output) / "codes" / key
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "source.json"
    if not source.is_file():
        from .output_folder import write_json

        write_json(source, {"codec": codec.name, "codec_identity": identity, "train_files": len(train),
                            "eval_files": len(held_out)})
    return folder


def tokenize_items(
    codec: CodeExtractor, items: Sequence[AudioItem], cache: str | os.PathLike, batch_size: int = 8,
    progress: bool = True,
) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Codes of every item, cached in the JSON-lines file ``cache`` (resumable).

    Returns:
        ``(codes, failures)``: id → list of codes, and id → error for unreadable / too-short files.
    """
    from llmcodec.audio import resample

    log = JsonlLog(cache)
    done = {r["id"]: r for r in log.read()}
    todo = [i for i in items if i.id not in done]
    bar = tqdm(total=len(todo), desc=f"tokenize ({Path(cache).stem})", unit="file", disable=not progress, file=sys.stderr)
    for start in range(0, len(todo), batch_size):
        group, records, waves, names = todo[start : start + batch_size], [], [], []
        for item in group:
            try:
                audio, rate = item.load()
                audio = resample(torch.as_tensor(audio, dtype=torch.float32).reshape(-1), rate, codec.sampling_rate)
                if audio.numel() < 320 * 2:
                    raise ValueError(f"{audio.numel()} samples is too short to tokenize")
                waves.append(audio)
                names.append(item.id)
            except Exception as error:  # noqa: BLE001 - bad files are reported, not fatal
                records.append({"id": item.id, "error": f"{type(error).__name__}: {error}"})
        if waves:
            for name, codes in zip(names, codec.encode(waves)):
                records.append({"id": name, "codes": codes.tolist()})
        log.append(records)
        bar.update(len(group))
    bar.close()
    wanted = {i.id for i in items}
    rows = [r for r in log.read() if r["id"] in wanted]
    codes = {r["id"]: r["codes"] for r in rows if "codes" in r}
    failures = {r["id"]: r["error"] for r in rows if "error" in r}
    return codes, failures


def code_windows(code_lists: Sequence[Sequence[int]], n_codes: int, max_codes: int = 256,
                 min_codes: int = 8) -> tuple[list[torch.Tensor], list[int]]:
    """Cut each file's codes into windows of ≤ ``max_codes`` (dropping windows < ``min_codes``).

    Returns:
        ``(windows, owners)``: ``(T_i,)`` int64 codes per window, and the index of the file it came from.
    """
    windows, owners = [], []
    for index, codes in enumerate(code_lists):
        codes = torch.as_tensor(list(codes), dtype=torch.long)
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= n_codes):
            raise ValueError(f"codes outside [0, {n_codes})")
        for start in range(0, codes.numel(), max_codes):
            window = codes[start : start + max_codes]
            if window.numel() >= min_codes:
                windows.append(window)
                owners.append(index)
    return windows, owners


def to_lm_ids(windows: Sequence[torch.Tensor], vocab: AudioTokenMap) -> list[torch.Tensor]:
    """Each ``(T,)`` code window → ``(1 + T,)`` int64 LM ids ``[BOS, offset + c_1, …]``."""
    return [torch.cat([torch.tensor([vocab.bos_id]), w + vocab.first_id]) for w in windows]


def make_sequences(code_lists: Sequence[Sequence[int]], vocab: AudioTokenMap, max_codes: int = 256,
                   min_codes: int = 8) -> list[torch.Tensor]:
    """:func:`code_windows` as LM ids (:func:`to_lm_ids`): ``(1 + T,)`` int64 ``[BOS, offset + c_1, …]``."""
    return to_lm_ids(code_windows(code_lists, vocab.n_codes, max_codes, min_codes)[0], vocab)


class SequenceDataset(torch.utils.data.Dataset):
    def __init__(self, sequences: Sequence[torch.Tensor]) -> None:
        self.sequences = list(sequences)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.sequences[index]}


def collate(sequences: Sequence[torch.Tensor], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to ``(B, T)``: ``input_ids``, ``attention_mask``, ``labels`` (-100 at BOS and padding)."""
    length = max(s.numel() for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : s.numel()], mask[i, : s.numel()] = s, 1
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, 0] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
