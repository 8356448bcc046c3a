"""What `LLMCodecModel.encode` / `decode` receive: the checks of audio and its padding mask, of a codebook
domain, of codes, latents and their mask, and of the gains that restore each item's level; and the level
normalisation of the audio.

Each check raises a `TypeError` / `ValueError` that names the argument and what it should be, and returns the
input in the one form the model computes with. Shapes use ``B`` (batch), ``L`` (samples), ``T`` (frames) and
``D`` (``hidden_size``).
"""

from __future__ import annotations

import torch


def checked_mask(mask: torch.Tensor, like: torch.Tensor, name: str, like_name: str, hint: str = "") -> torch.Tensor:
    """`mask` as a bool tensor, after checking it has the shape of `like` (the tensor it masks)."""
    if mask.shape != like.shape:
        raise ValueError(f"{name} shape {tuple(mask.shape)} does not match {like_name} {tuple(like.shape)}{hint}")
    return mask.bool()


def validate_audio(
    input_values: torch.Tensor, padding_mask: torch.Tensor | None, hop_length: int, sampling_rate: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Checks `(B, 1, L)` / `(B, L)` float audio and its right-padded `(B, L)` mask.

    Returns the `(B, L)` audio and the per-item lengths `(B,)`, or None when no item is padded.
    """
    if not isinstance(input_values, torch.Tensor):
        raise TypeError(
            f"input_values must be a torch.Tensor of shape (batch, 1, samples), got {type(input_values).__name__}; "
            "use LLMCodecFeatureExtractor to turn raw arrays into tensors"
        )
    if input_values.dim() == 3:
        if input_values.shape[1] != 1:
            raise ValueError(
                f"input_values has {input_values.shape[1]} channels; LLM-Codec is mono. Downmix first "
                "(LLMCodecFeatureExtractor averages channels)"
            )
        waveform = input_values[:, 0]
    elif input_values.dim() == 2:
        waveform = input_values
    else:
        raise ValueError(
            f"input_values must have shape (batch, 1, samples) or (batch, samples), got {tuple(input_values.shape)}"
        )
    if not waveform.is_floating_point():
        raise TypeError(
            f"input_values must be floating point audio in [-1, 1], got dtype {waveform.dtype}; "
            "convert integer PCM first (int16: divide by 32768), e.g. with LLMCodecFeatureExtractor"
        )
    if waveform.shape[0] == 0 or waveform.shape[1] == 0:
        raise ValueError(f"input_values is empty (shape {tuple(input_values.shape)})")
    if not torch.isfinite(waveform).all():
        raise ValueError("input_values contains NaN or Inf samples")
    lengths = None
    if padding_mask is not None:
        mask = checked_mask(padding_mask, waveform, "padding_mask", "the audio shape", " (expected (batch, samples))")
        lengths = mask.long().sum(-1)
        positions = torch.arange(mask.shape[1], device=mask.device)
        if not torch.equal(mask, positions[None, :] < lengths[:, None]):
            raise ValueError("padding_mask must be right-padded: ones for the audio, then zeros")
    item_lengths = lengths if lengths is not None else torch.full((waveform.shape[0],), waveform.shape[1])
    too_short = (item_lengths < hop_length).nonzero().flatten().tolist()
    if too_short:
        shown = {i: int(item_lengths[i]) for i in too_short[:5]}
        raise ValueError(
            f"audio shorter than one hop ({hop_length} samples = {1000 * hop_length / sampling_rate:.0f} ms) "
            f"cannot be encoded; item: samples = {shown}"
        )
    if lengths is not None and bool((lengths == waveform.shape[1]).all()):
        lengths = None
    return waveform, lengths


def normalize_level(
    waveform: torch.Tensor, lengths: torch.Tensor | None, level_dbfs: float | None, max_gain_db: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scales each item of `(B, L)` audio to `level_dbfs` RMS; returns it and the gains `(B,)` (None when off).

    The RMS is taken over each item's unpadded samples, so padding never changes an item's gain; the gain is
    capped at `max_gain_db` so near silence stays quiet.
    """
    if level_dbfs is None:
        return waveform, None
    power = waveform.float().pow(2)
    if lengths is None:
        mean_power = power.mean(dim=1)
    else:
        valid = torch.arange(waveform.shape[1], device=waveform.device)[None, :] < lengths[:, None]
        mean_power = (power * valid).sum(dim=1) / lengths.clamp(min=1)
    target = 10.0 ** (level_dbfs / 20.0)
    max_gain = 10.0 ** (max_gain_db / 20.0)
    scales = (target / mean_power.sqrt().clamp(min=1e-12)).clamp(max=max_gain)
    return waveform * scales.to(waveform.dtype)[:, None], scales


def resolve_partitions(
    codebook_domain: str | list[str] | None, batch: int, codebook_partitions: dict | None, codebook_size: int
) -> list[tuple[int, int]] | None:
    """Per-item `[low, high)` code ranges for a domain name (or one name per item); None searches all codes.

    The names are those of `codebook_partitions`, plus `"all"`.
    """
    if codebook_domain is None:
        return None
    domains = [codebook_domain] * batch if isinstance(codebook_domain, str) else list(codebook_domain)
    if len(domains) != batch:
        raise ValueError(f"codebook_domain has {len(domains)} entries for a batch of {batch}")
    known = dict(codebook_partitions or {})
    known["all"] = [0, codebook_size]
    unknown = sorted({d for d in domains if d not in known})
    if unknown:
        raise ValueError(f"unknown codebook_domain {unknown}; known domains: {sorted(known)}")
    return [tuple(known[d]) for d in domains]


def validate_codes(
    audio_codes: torch.Tensor, audio_codes_mask: torch.Tensor | None, codebook_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Checks integer codes `(B, T)` (or `(T,)`, `(B, 1, T)`) and their `(B, T)` mask of valid frames.

    Returns the codes as int64 `(B, T)` on `device`, 0 at masked frames, and the bool mask (None when every frame
    is valid).
    """
    if not isinstance(audio_codes, torch.Tensor):
        raise TypeError(f"audio_codes must be a torch.Tensor, got {type(audio_codes).__name__}")
    if audio_codes.is_floating_point() or audio_codes.is_complex() or audio_codes.dtype == torch.bool:
        raise TypeError(f"audio_codes must be an integer tensor, got dtype {audio_codes.dtype}")
    if audio_codes.dim() == 3 and audio_codes.shape[1] == 1:
        audio_codes = audio_codes[:, 0]  # accept (B, 1, T), the (B, n_quantizers, T) layout of other codecs
    if audio_codes.dim() == 1:
        audio_codes = audio_codes[None]
    if audio_codes.dim() != 2:
        raise ValueError(f"audio_codes must have shape (batch, frames), got {tuple(audio_codes.shape)}")
    if audio_codes.shape[0] == 0:
        raise ValueError(f"audio_codes is an empty batch (shape {tuple(audio_codes.shape)}): nothing to decode")
    if audio_codes.shape[1] == 0:
        raise ValueError("audio_codes has no frames")
    mask = None
    if audio_codes_mask is not None:
        mask = checked_mask(audio_codes_mask, audio_codes, "audio_codes_mask", "audio_codes")
        if not mask.any(dim=1).all():
            raise ValueError("audio_codes_mask marks an item with no valid frame")
    # Compare in int64: against a uint8/int8 tensor the bound 20480 would wrap in 8-bit arithmetic.
    valid = (audio_codes if mask is None else audio_codes[mask]).long()
    bad = (valid < 0) | (valid >= codebook_size)
    if bad.any():
        raise ValueError(
            f"audio_codes outside [0, {codebook_size}): found values "
            f"{sorted(set(valid[bad].tolist()))[:8]} (padded frames need an audio_codes_mask)"
        )
    codes = audio_codes.long().to(device)
    if mask is not None:
        codes = codes.masked_fill(~mask.to(codes.device), 0)
        if bool(mask.all()):
            mask = None
    return codes, None if mask is None else mask.to(device)


def validate_latents(
    latents: torch.Tensor, audio_codes_mask: torch.Tensor | None, hidden_size: int
) -> torch.Tensor | None:
    """Checks quantized latents `(B, T, D)`; returns their bool frame mask `(B, T)`, None when all frames are valid."""
    if latents.dim() != 3 or latents.shape[-1] != hidden_size or 0 in latents.shape[:2]:
        raise ValueError(
            f"latents must have shape (batch, frames, {hidden_size}) with batch, frames >= 1, "
            f"got {tuple(latents.shape)}"
        )
    frame_mask = None if audio_codes_mask is None else audio_codes_mask.bool().to(latents.device)
    if frame_mask is not None and bool(frame_mask.all()):
        frame_mask = None
    return frame_mask


def checked_scales(audio_scales: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """The per-item gains `(B,)` that `encode` returned, as float32 on `device`, after checking one per item."""
    scales = torch.as_tensor(audio_scales, device=device).float().reshape(-1)
    if scales.numel() != batch:
        raise ValueError(f"audio_scales must hold one gain per item ({batch}), got shape {tuple(audio_scales.shape)}")
    if not bool((torch.isfinite(scales) & (scales > 0)).all()):
        raise ValueError("audio_scales must be finite and positive")
    return scales
