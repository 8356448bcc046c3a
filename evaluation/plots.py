"""Spectrogram comparison figures for evaluation reports (matplotlib, Agg backend: no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: reports are rendered on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchaudio  # noqa: E402

_FLOOR_DB = -100.0


def log_mel_db(audio: torch.Tensor, sample_rate: int, n_mels: int = 80, n_fft: int = 1024) -> np.ndarray:
    """``(n_mels, frames)`` mel power spectrogram in dB (ref 1.0, floored at -100 dB), hop n_fft/4."""
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=n_fft // 4, n_mels=n_mels, power=2.0
    )
    power = transform(torch.as_tensor(audio, dtype=torch.float32).reshape(-1))
    return (10.0 * torch.log10(power.clamp(min=1e-10))).clamp(min=_FLOOR_DB).numpy()


def plot_spectrogram_comparison(
    reference: torch.Tensor,
    reconstruction: torch.Tensor,
    sample_rate: int,
    path: str | Path,
    title: str | None = None,
    labels: tuple[str, str] = ("reference", "reconstruction"),
) -> Path:
    """Write a PNG with the reference and reconstruction mel spectrograms stacked, on one dB scale.

    Args:
        reference, reconstruction: ``(L,)`` float waveforms at ``sample_rate`` Hz (lengths may differ).
        sample_rate: rate in Hz.
        path: output ``.png`` path; parent folders are created.
        title: optional figure title.
        labels: panel titles.

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spectra = [log_mel_db(reference, sample_rate), log_mel_db(reconstruction, sample_rate)]
    vmax = max(float(s.max()) for s in spectra)
    vmin = max(vmax - 80.0, _FLOOR_DB)  # an 80 dB window keeps both panels comparable
    hop_s = 256 / sample_rate
    figure, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True, constrained_layout=True)
    try:
        for axis, spectrum, label in zip(axes, spectra, labels):
            image = axis.imshow(
                spectrum,
                origin="lower",
                aspect="auto",
                cmap="magma",
                vmin=vmin,
                vmax=vmax,
                extent=(0.0, spectrum.shape[1] * hop_s, 0, spectrum.shape[0]),
            )
            axis.set_title(label)
            axis.set_ylabel("mel bin")
        axes[-1].set_xlabel("time (s)")
        figure.colorbar(image, ax=axes, label="dB")
        if title:
            figure.suptitle(title)
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
    return path
