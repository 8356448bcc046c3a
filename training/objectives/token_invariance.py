"""Token invariance: the same codes for inputs that differ inaudibly.

`llmcodec evaluate` measures token stability: the share of codes unchanged when the input changes in a way no
listener hears (white noise at -70 dBFS, a 1 dB gain change). The v3 demo codec kept only 47 % under that noise,
even on its loudest frames (57 % at -20..0 dBFS). The reason is in its latents: the noise turns the unit-normalised
projected latent by a median 3.4 degrees (90th percentile 19), while the nearest and the second-nearest code of a
frame are a median 1.0 degree apart. The encoder reads log-magnitude *and phase* of every STFT bin, and in the
many bins where speech is quieter than the noise, both change completely. Nothing in the recipe asks the encoder to
ignore them.

``inaudible_perturbation`` draws a copy of each training crop with such a change: white noise whose RMS is drawn
uniformly in ``noise_dbfs`` (dBFS re an amplitude of 1.0) and a gain drawn uniformly in ``±gain_db``.
``latent_invariance_loss`` is the mean cosine distance ``1 - cos(u_clean, u_perturbed)`` over valid frames between
the projected latents of the crop and of its copy. The clean latents are the target (detached): the encoder learns
to map the perturbed input where the clean one already goes, so this term does not pull the clean path toward the
noise. Reconstruction and the isotropy term keep the latents from collapsing to a constant, which would satisfy it
trivially. Not part of the released recipe (``lambda_invariance`` 0 by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def inaudible_perturbation(
    waveform: Tensor,
    noise_dbfs: tuple[float, float] = (-80.0, -60.0),
    gain_db: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``waveform`` ``(B, 1, L)`` or ``(B, L)`` -> a perturbed copy of the same shape and dtype.

    Per item: white Gaussian noise of RMS ``10^(n/20)``, ``n ~ U(noise_dbfs)``, then a gain of ``g ~ U(-gain_db,
    gain_db)`` dB. The result is not clipped (training crops stay far below full scale after a 1 dB gain)."""
    low, high = float(noise_dbfs[0]), float(noise_dbfs[1])
    if low > high:
        raise ValueError(f"noise_dbfs must be (low, high) with low <= high, got {noise_dbfs}")
    if gain_db < 0:
        raise ValueError(f"gain_db must be >= 0, got {gain_db}")
    batch = waveform.shape[0]
    shape = (batch,) + (1,) * (waveform.dim() - 1)
    draw = lambda: torch.rand(shape, generator=generator, device=waveform.device, dtype=torch.float32)  # noqa: E731
    noise_rms = 10.0 ** ((low + (high - low) * draw()) / 20.0)
    gain = 10.0 ** ((gain_db * (2.0 * draw() - 1.0)) / 20.0)
    noise = torch.randn(waveform.shape, generator=generator, device=waveform.device, dtype=torch.float32)
    return ((waveform.float() + noise_rms * noise) * gain).to(waveform.dtype)


def latent_invariance_loss(clean: Tensor, perturbed: Tensor, mask: Tensor | None = None) -> Tensor:
    """``clean``, ``perturbed`` ``(B, T, C)`` projected latents, ``mask`` ``(B, T)`` bool -> scalar float32 in [0, 2].

    ``1 - cos`` per frame, averaged over valid frames; ``clean`` is detached (the target). No valid frame: 0."""
    if clean.shape != perturbed.shape or clean.dim() != 3:
        raise ValueError(f"clean and perturbed must be the same (B, T, C) shape, got {tuple(clean.shape)} and "
                         f"{tuple(perturbed.shape)}")
    if mask is not None and mask.shape != clean.shape[:2]:
        raise ValueError(f"mask must be (B, T) = {tuple(clean.shape[:2])}, got {tuple(mask.shape)}")
    distance = 1.0 - F.cosine_similarity(perturbed.float(), clean.detach().float(), dim=-1, eps=1e-8)
    if mask is None:
        return distance.mean()
    weights = mask.float()
    return (distance * weights).sum() / weights.sum().clamp(min=1.0)
