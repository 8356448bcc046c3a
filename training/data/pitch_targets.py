"""Per-frame F0 targets for pitch supervision, from Praat (``parselmouth``) on each training crop.

Why: a probe on the demo codec's 8-dimensional bottleneck found no pitch in it (``benchmarks/pitch_probe``):
its reconstructions are shaped noise with a fixed hum. Supervising the quantized latents with F0
(``training/objectives/pitch_supervision.py``) makes the codes carry pitch, so the decoder can render harmonics.

Frame ``t`` of the codec covers samples ``[t*hop - (n_fft-hop)/2, t*hop + (n_fft+hop)/2)``: its centre is at
``(t + 0.5) * hop`` samples, where the F0 is read (nearest Praat frame; Praat's autocorrelation tracker with a
``hop``-sample step). Unvoiced frames get 0 Hz.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["frame_f0", "batch_frame_f0", "PITCH_FLOOR_HZ", "PITCH_CEILING_HZ"]

PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 600.0


def frame_f0(wave: np.ndarray | torch.Tensor, sample_rate: int, hop_length: int,
             floor_hz: float = PITCH_FLOOR_HZ, ceiling_hz: float = PITCH_CEILING_HZ) -> np.ndarray:
    """``wave`` (L,) -> F0 in Hz per codec frame, ``(L // hop_length,)`` float32, 0 where unvoiced.

    A silent or too-short clip (Praat needs 3 periods of ``floor_hz``) is all-unvoiced, not an error."""
    import parselmouth

    x = wave.detach().cpu().double().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave, np.float64)
    x = x.reshape(-1)
    num_frames = len(x) // hop_length
    out = np.zeros(num_frames, dtype=np.float32)
    if num_frames == 0 or not np.isfinite(x).all() or np.abs(x).max() == 0:
        return out
    step = hop_length / sample_rate
    try:
        pitch = parselmouth.Sound(x, sample_rate).to_pitch_ac(time_step=step, pitch_floor=floor_hz,
                                                               pitch_ceiling=ceiling_hz)
    except parselmouth.PraatError:  # shorter than the analysis window
        return out
    values = pitch.selected_array["frequency"].astype(np.float32)
    if len(values) == 0:
        return out
    centres = (np.arange(num_frames) + 0.5) * step
    index = np.rint((centres - pitch.x1) / pitch.dx).astype(int)
    inside = (index >= 0) & (index < len(values))
    out[inside] = values[index[inside]]
    return out


def batch_frame_f0(audio: torch.Tensor, sample_rate: int, hop_length: int) -> torch.Tensor:
    """``audio`` (B, 1, L) or (B, L) -> ``(B, L // hop_length)`` float32 F0 in Hz (0 = unvoiced)."""
    rows = audio.reshape(audio.shape[0], -1)
    return torch.from_numpy(np.stack([frame_f0(row, sample_rate, hop_length) for row in rows]))
