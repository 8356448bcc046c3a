"""Long audio and long code sequences in overlapping windows (`chunk_length_s` of `encode` / `decode`).

Each window keeps `chunk_frames` frames and sees `context_frames` more on each side, which are computed and
discarded, so memory stays bounded while every kept frame has context. The per-window pass is a callable
(the model's `_encode_frames` / `_decode_latents`), so any backend with those passes windows alike.

Shapes use ``B`` (batch), ``L`` (samples), ``T`` (frames), ``D`` (``hidden_size``) and ``C``
(``codebook_dim``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def window_grid(num_frames: int, chunk_frames: int, context_frames: int) -> list[tuple[int, int, int, int]]:
    """Windows `(start, end, left, right)`: frames `[start, end)` are kept, `[left, right)` adds the context."""
    return [
        (start, end, max(0, start - context_frames), min(num_frames, end + context_frames))
        for start in range(0, num_frames, chunk_frames)
        for end in [min(start + chunk_frames, num_frames)]
    ]


def window_sizes(chunk_length_s: float | None, chunk_context_s: float, frame_rate: float) -> tuple[int, int] | None:
    """`(chunk_frames, context_frames)` for window and context lengths in seconds; None when not windowing."""
    if chunk_length_s is None:
        return None
    if chunk_length_s <= 0 or chunk_context_s < 0:
        raise ValueError(
            f"chunk_length_s must be > 0 and chunk_context_s >= 0, got {chunk_length_s} and {chunk_context_s}"
        )
    return max(1, int(round(chunk_length_s * frame_rate))), int(round(chunk_context_s * frame_rate))


def encode_windowed(
    encode_frames: Callable,
    waveform: torch.Tensor,
    lengths: torch.Tensor | None,
    partitions: list[tuple[int, int]] | None,
    chunk_frames: int,
    context_frames: int,
    *,
    hop_length: int,
    n_fft: int,
    pad_code: int,
) -> tuple:
    """`encode_frames(waveform, lengths, partitions)` window by window over `(B, L)` audio.

    Returns its tuple for the whole audio: codes `(B, T)` (`pad_code` at padded frames), frame mask `(B, T)`,
    latents `(B, T, D)`, latents before quantization `(B, T, D)`, projected latents `(B, T, C)`, and None (no
    VQ loss: windows are for inference).
    """
    hop = hop_length
    batch, total = waveform.shape
    item_lengths = lengths if lengths is not None else torch.full((batch,), total, device=waveform.device)
    item_frames = item_lengths // hop
    num_frames = total // hop
    parts: list[list] = []
    for start, end, left, right in window_grid(num_frames, chunk_frames, context_frames):
        # Items whose audio has ended before this window contribute padding only.
        active = (item_frames > start).nonzero().flatten()
        # Real audio past the window's last frame (up to the STFT reach) instead of a reflection, and the
        # item's true end where the window reaches it: the same edge an item gets when encoded whole.
        reach = (n_fft - hop) // 2
        piece = waveform[active, left * hop : min(total, right * hop + reach)]
        piece_lengths = (item_lengths[active] - left * hop).clamp(min=0, max=piece.shape[1])
        sub_partitions = None if partitions is None else [partitions[i] for i in active.tolist()]
        outputs = encode_frames(
            piece, None if bool((piece_lengths == piece.shape[1]).all()) else piece_lengths, sub_partitions
        )
        keep = slice(start - left, start - left + (end - start))
        codes_w = torch.full((batch, end - start), pad_code, dtype=torch.long, device=waveform.device)
        mask_w = torch.zeros((batch, end - start), dtype=torch.bool, device=waveform.device)
        tensors_w = []
        for tensor in outputs[2:5]:
            full = tensor.new_zeros((batch, end - start, tensor.shape[-1]))
            full[active] = tensor[:, keep]
            tensors_w.append(full)
        codes_w[active] = outputs[0][:, keep]
        mask_w[active] = outputs[1][:, keep]
        parts.append((codes_w, mask_w, *tensors_w))
    codes = torch.cat([p[0] for p in parts], dim=1)
    mask = torch.cat([p[1] for p in parts], dim=1)
    latents, hidden, projected = (torch.cat([p[i] for p in parts], dim=1) for i in (2, 3, 4))
    return codes, mask, latents, hidden, projected, None


def decode_windowed(
    decode_latents: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    latents: torch.Tensor,
    frame_mask: torch.Tensor | None,
    chunk_frames: int,
    context_frames: int,
    *,
    hop_length: int,
) -> torch.Tensor:
    """`decode_latents(latents, frame_mask)` window by window over `(B, T, ...)` latents; audio `(B, T * hop)`.

    An item with no valid frame in a window is left out of that window's pass and gets zeros there.
    """
    hop = hop_length
    pieces = []
    for start, end, left, right in window_grid(latents.shape[1], chunk_frames, context_frames):
        sub_mask = None if frame_mask is None else frame_mask[:, left:right]
        active = torch.arange(latents.shape[0], device=latents.device)
        if sub_mask is not None:
            active = sub_mask.any(dim=1).nonzero().flatten()
            sub_mask = sub_mask[active]
        piece = decode_latents(latents[active, left:right], sub_mask)
        full = piece.new_zeros((latents.shape[0], (end - start) * hop))
        full[active] = piece[:, (start - left) * hop : (end - left) * hop]
        pieces.append(full)
    return torch.cat(pieces, dim=1)
