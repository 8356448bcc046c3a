"""Batched encoding and decoding of variable-length items: the single home of padding for the codec.

Every caller that codes several clips at once (the codec CLI, evaluation, the Codec-SUPERB adapter, the token
LM's code extractor, tokenize-audio) goes through `encode_batch` / `decode_batch`, so that padding and masks
are made in one place: waveforms are right-padded with zeros by `LLMCodecFeatureExtractor`, whose
`padding_mask` makes every item's codes equal the codes it gets alone; codes are right-padded with a frame mask.

Item `i` of `L_i` samples yields `floor(L_i / hop_length)` codes (the project's framing rule), and decodes to
`T_i * hop_length` samples. `length_sorted_batches` groups items of similar length so little is padded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np
import torch


def _compute_context(device: torch.device, compute_dtype: str | torch.dtype | None):
    """bfloat16 autocast when asked for (`"bfloat16"` / `torch.bfloat16`), else nothing (float32)."""
    if compute_dtype in (None, "float32", torch.float32):
        return contextlib.nullcontext()
    if compute_dtype in ("bfloat16", torch.bfloat16):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise ValueError(f"compute_dtype must be float32 or bfloat16, got {compute_dtype!r}")


@contextlib.contextmanager
def _quiet_feature_extractor(enabled: bool):
    """Silences the feature extractor's out-of-range warning where the caller has already warned (load_audio)."""
    from llmcodec.modeling import feature_extraction_llmcodec

    log = logging.getLogger(feature_extraction_llmcodec.__name__)
    previous = log.level
    if enabled:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(previous)


def _feature_extractor(model):
    from llmcodec.modeling import LLMCodecFeatureExtractor

    return LLMCodecFeatureExtractor(sampling_rate=model.config.sampling_rate, hop_length=model.config.hop_length)


def _as_mono_tensor(waveform, index: int) -> torch.Tensor:
    tensor = torch.as_tensor(waveform)
    if tensor.dim() == 2:
        tensor = tensor.float().mean(dim=0)
    if tensor.dim() != 1:
        raise ValueError(f"waveform {index} must have shape (samples,) or (channels, samples), got {tuple(tensor.shape)}")
    return tensor


def encode_batch(
    model,
    waveforms: Sequence[torch.Tensor | np.ndarray],
    *,
    sampling_rate: int,
    codebook_domain: str | list[str] | None = None,
    chunk_length_s: float | None = None,
    chunk_context_s: float = 5.0,
    device: str | torch.device | None = None,
    compute_dtype: str | torch.dtype | None = None,
    warn_out_of_range: bool = True,
    return_finite: bool = False,
    return_scales: bool = False,
) -> list[np.ndarray] | tuple:
    """Encodes a batch of clips of any lengths in one padded forward pass.

    Args:
        model: an `LLMCodecModel` in eval mode.
        waveforms: `(L_i,)` (or `(channels, L_i)`, averaged) float audio in [-1, 1] at `sampling_rate`, each at
            least one code long (`hop_length` samples at the model's rate; the model refuses shorter ones).
        sampling_rate: rate of `waveforms`; resampled to the model's rate (as `load_audio` does) when different.
        codebook_domain: one partition name for the batch, or one per item (see `LLMCodecModel.encode`).
        chunk_length_s / chunk_context_s: window long audio (bounded memory); None codes it in one pass.
        device: where to run (default: the model's device).
        compute_dtype: None / "float32", or "bfloat16" for bf16 autocast.
        warn_out_of_range: let the feature extractor warn about samples beyond [-1, 1] (off where the audio
            came from `load_audio`, which has warned already).
        return_finite: also return, per item, whether its encoder output (before quantization) is finite; a
            model that overflows gives NaN latents, whose codes are meaningless.
        return_scales: also return, per item, the gain a level-normalising model applied (None for a model
            without `normalize_level_dbfs`); `decode_batch(audio_scales=...)` restores the input's level with it.

    Returns:
        `codes`: one `(T_i,)` int64 array per item, `T_i = L_i // hop_length` (at the model's rate); with
        `return_finite` and/or `return_scales`, the tuple `(codes, [finite], [scales])` of those asked for.
    """
    from llmcodec.audio import resample

    if len(waveforms) == 0:
        raise ValueError("no waveforms to encode")
    rate = int(model.config.sampling_rate)
    clips = [_as_mono_tensor(w, i) for i, w in enumerate(waveforms)]
    if sampling_rate != rate:
        clips = [resample(c.float(), sampling_rate, rate) for c in clips]
    with _quiet_feature_extractor(not warn_out_of_range):
        features = _feature_extractor(model)([c.detach().cpu().numpy() for c in clips], sampling_rate=rate, return_tensors="pt")
    device = torch.device(device) if device is not None else model.device
    with torch.inference_mode(), _compute_context(device, compute_dtype):
        encoded = model.encode(
            features["input_values"].to(device),
            features["padding_mask"].to(device),
            codebook_domain=codebook_domain,
            chunk_length_s=chunk_length_s,
            chunk_context_s=chunk_context_s,
        )
    valid = encoded.audio_codes_mask
    codes = [encoded.audio_codes[i][valid[i]].cpu().numpy() for i in range(len(clips))]
    if not (return_finite or return_scales):
        return codes
    extras: list = []
    if return_finite:
        extras.append([bool(torch.isfinite(encoded.latents_before_quantization[i][valid[i]]).all())
                       for i in range(len(clips))])
    if return_scales:
        scales = encoded.audio_scales
        extras.append([None if scales is None else float(scales[i]) for i in range(len(clips))])
    return (codes, *extras)


def pad_codes(codes: Sequence[torch.Tensor | np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """`(T_i,)` integer codes -> `(B, T_max)` int64 codes right-padded with 0 and their `(B, T_max)` bool mask."""
    items = [torch.as_tensor(np.asarray(c) if not isinstance(c, torch.Tensor) else c).reshape(-1) for c in codes]
    if not items or min(item.numel() for item in items) == 0:
        raise ValueError("every item needs at least one code")
    batch = torch.zeros(len(items), max(item.numel() for item in items), dtype=torch.long)
    mask = torch.zeros(batch.shape, dtype=torch.bool)
    for i, item in enumerate(items):
        batch[i, : item.numel()], mask[i, : item.numel()] = item.long(), True
    return batch, mask


def decode_batch(
    model,
    codes: Sequence[torch.Tensor | np.ndarray],
    *,
    chunk_length_s: float | None = None,
    chunk_context_s: float = 5.0,
    device: str | torch.device | None = None,
    compute_dtype: str | torch.dtype | None = None,
    audio_scales: Sequence[float | None] | None = None,
) -> list[torch.Tensor]:
    """Decodes a batch of code sequences of any lengths in one padded pass.

    Args:
        codes: one `(T_i,)` integer array per item, values in `[0, codebook_size)`.
        chunk_length_s / chunk_context_s, device, compute_dtype: as in `encode_batch`.
        audio_scales: the per-item gains `encode_batch(return_scales=True)` gave; restores each input's level
            (None, or None items: decoded at the model's own level).

    Returns:
        One `(T_i * hop_length,)` float32 waveform per item, at the model's rate, on `device`.
    """
    batch, mask = pad_codes(codes)
    device = torch.device(device) if device is not None else model.device
    scales = None
    if audio_scales is not None and any(s is not None for s in audio_scales):
        scales = torch.tensor([1.0 if s is None else float(s) for s in audio_scales], device=device)
    with torch.inference_mode(), _compute_context(device, compute_dtype):
        decoded = model.decode(
            batch.to(device), mask.to(device), chunk_length_s=chunk_length_s, chunk_context_s=chunk_context_s,
            **({} if scales is None else {"audio_scales": scales}),
        )
    hop = int(model.config.hop_length)
    lengths = mask.sum(dim=1).tolist()
    return [decoded.audio_values[i, 0, : n * hop].float() for i, n in enumerate(lengths)]


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, *, max_total: int | None = None, descending: bool = True
) -> list[list[int]]:
    """Groups item indices into batches of similar lengths (longest first, so a memory problem shows early).

    Args:
        lengths: the length of each item (samples, seconds or codes: any unit).
        batch_size: at most this many items per batch.
        max_total: if given, a batch is also closed before its padded size `len(batch) * longest` would pass
            this (an item longer than it still gets a batch of its own).

    Returns:
        Lists of indices into `lengths`; ties keep their input order, so the grouping is deterministic.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i] if descending else lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = max([lengths[i] for i in current] + [lengths[index]])
        too_big = max_total is not None and current and (len(current) + 1) * longest > max_total
        if len(current) == batch_size or too_big:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
