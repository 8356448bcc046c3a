"""Intelligibility loss: 1 - STOI of the reconstruction, through torch-stoi's differentiable STOI.

The demo codec's reconstructions reached Codec2 1200's PESQ-WB on real speech long before its STOI:
the mel and STFT losses weigh every band by its log magnitude, while STOI correlates the short-time envelopes
(384 ms windows) of fifteen third-octave bands from 150 Hz to 4.3 kHz, on the frames within 40 dB of the loudest.
A codec can therefore get the spectral envelope right on average and still smear the envelope modulations that
carry intelligibility. ``IntelligibilityLoss`` puts that measure in the objective (Kolbæk et al., 2018, trained
speech enhancement the same way).

torch-stoi's ``NegSTOILoss`` follows pystoi (the evaluation's STOI) apart from its resampler, so a model trained
with it is scored by a slightly different STOI than it was trained on; PESQ-WB and the mel distance, which it is
not trained on, are the check that the gain is not the metric alone. Not part of the released recipe
(``lambda_stoi`` 0 by default).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch_stoi import NegSTOILoss

from llmcodec.training.objectives.reconstruction import as_batch_of_waveforms

__all__ = ["IntelligibilityLoss"]


class IntelligibilityLoss(nn.Module):
    """``forward(wav, recon)`` -> scalar ``1 - mean STOI(recon, wav)`` over the batch, in [0, 2] (0 = identical).

    Args:
        sample_rate: the audio's rate (resampled to STOI's 10 kHz inside).

    Digitally silent crops (target RMS below ``silence_rms``, -100 dBFS) are left out of the mean: torch-stoi
    scores them 0 whatever the reconstruction, a constant that would only dilute the batch's gradient. So are
    crops whose STOI is not finite. A batch with none left gives 0 with a graph, so a silent batch neither skips
    the step nor moves the codec.
    """

    silence_rms = 1e-5

    def __init__(self, sample_rate: int = 16_000) -> None:
        super().__init__()
        with warnings.catch_warnings():  # torchaudio renames the resampling method torch-stoi asks for
            warnings.simplefilter("ignore", UserWarning)
            self.stoi = NegSTOILoss(sample_rate=sample_rate, use_vad=True, extended=False)
        # torch-stoi keeps its window and band matrix as frozen Parameters (and its resampling kernel as a saved
        # buffer); as non-persistent buffers they stay out of every optimizer, parameter count and checkpoint,
        # and still follow .to(device).
        for owner, name in ((self.stoi, "win"), (self.stoi, "OBM"), (getattr(self.stoi, "resample", None), "kernel")):
            if owner is None:
                continue
            value = getattr(owner, name).detach().clone()
            delattr(owner, name)
            owner.register_buffer(name, value, persistent=False)

    def forward(self, wav: Tensor, recon: Tensor) -> Tensor:
        """wav, recon ``(B, T)`` or ``(B, 1, T)`` of the same shape; computed in float32."""
        wav = as_batch_of_waveforms(wav, "wav")
        recon = as_batch_of_waveforms(recon, "recon")
        if wav.shape != recon.shape:
            raise ValueError(f"wav and recon must have the same shape; got {tuple(wav.shape)} and {tuple(recon.shape)}")
        with torch.autocast(wav.device.type, enabled=False):
            per_crop = 1.0 + self.stoi(recon, wav)  # NegSTOILoss gives -STOI per crop
        keep = torch.isfinite(per_crop) & (wav.pow(2).mean(dim=-1).sqrt() >= self.silence_rms)
        if not bool(keep.any()):
            return recon.sum() * 0.0
        return per_crop[keep].mean()
