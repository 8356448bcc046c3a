"""Reconstruction losses against independent computations and analytic values."""

import math

import pytest
import torch
import torchaudio

from llmcodec.training.objectives import reconstruction

torch.set_num_threads(1)
T = 6400  # 0.4 s at 16 kHz: 20 frames of hop 320


def _audio(seed: int, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T) / 16_000
    tone = 0.3 * torch.sin(2 * math.pi * 220 * t * (1 + torch.rand(batch, 1, generator=g)))
    return tone + 0.05 * torch.randn(batch, T, generator=g)


def _independent_log_mel(wav, n_fft, hop, n_mels):
    """Log-mel without torchaudio.transforms: torch.stft + torchaudio's filterbank function."""
    spec = torch.stft(
        wav, n_fft, hop, window=torch.hann_window(n_fft), center=True, pad_mode="reflect", return_complex=True
    ).abs().pow(2)
    fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, 8000.0, n_mels, 16_000)  # (freq, mels)
    mel = torch.einsum("bft,fm->bmt", spec, fb)
    return torch.log(mel + 1e-5)


def test_mel_loss_matches_independent_computation_and_shape():
    wav, recon = _audio(0), _audio(1)
    loss_fn = reconstruction.MelL1Loss()
    assert loss_fn.log_mel(wav).shape == (2, 100, T // 320 + 1)
    normalize = reconstruction.rms_normalize
    expected = (
        _independent_log_mel(normalize(recon), 1024, 320, 100) - _independent_log_mel(normalize(wav), 1024, 320, 100)
    ).abs().mean()
    assert loss_fn(wav, recon).item() == pytest.approx(expected.item(), rel=1e-4)
    assert loss_fn(wav, wav).item() == pytest.approx(0.0, abs=1e-6)


def test_mel_loss_rms_normalisation_makes_it_gain_invariant():
    wav, recon = _audio(0), _audio(1)
    normed = reconstruction.MelL1Loss()
    assert normed(wav, 3.0 * recon).item() == pytest.approx(normed(wav, recon).item(), rel=1e-4)
    assert normed(wav, 0.1 * wav).item() == pytest.approx(0.0, abs=1e-4)
    raw = reconstruction.MelL1Loss(rms_normalize=False)
    # power-2 mel: a gain of 3 shifts every log-mel bin by ~log(9)
    assert raw(wav, 3.0 * wav).item() == pytest.approx(math.log(9.0), rel=1e-2)


def test_multiscale_mel_is_mean_of_raw_scales():
    wav, recon = _audio(2), _audio(3)
    got = reconstruction.MultiScaleMelLoss()(wav, recon)
    per_scale = [
        (_independent_log_mel(recon, n, h, 80) - _independent_log_mel(wav, n, h, 80)).abs().mean()
        for n, h in ((512, 128), (1024, 256), (2048, 512))
    ]
    assert got.item() == pytest.approx(torch.stack(per_scale).mean().item(), rel=1e-4)


def _independent_mrstft(wav, recon, phase_weight, eps=1e-7):
    total = []
    for n in (512, 1024, 2048):
        w = torch.hann_window(n)
        y = torch.stft(wav, n, n // 4, window=w, center=True, pad_mode="reflect", return_complex=True)
        yh = torch.stft(recon, n, n // 4, window=w, center=True, pad_mode="reflect", return_complex=True)
        m, mh = (y.abs().pow(2) + eps).sqrt(), (yh.abs().pow(2) + eps).sqrt()
        sc = torch.sqrt(((m - mh) ** 2).sum()) / torch.sqrt((m**2).sum())
        mag = (m.log() - mh.log()).abs().mean()
        u, uh = y / m, yh / mh
        phase = 0.5 * ((u.real - uh.real).abs().mean() + (u.imag - uh.imag).abs().mean())
        total.append(sc + mag + phase_weight * phase)
    return torch.stack(total).mean()


def test_mrstft_matches_independent_computation():
    wav, recon = _audio(4), _audio(5)
    got = reconstruction.MultiResolutionSTFTLoss(phase_weight=0.5)(wav, recon)
    assert got.item() == pytest.approx(_independent_mrstft(wav, recon, 0.5).item(), rel=1e-4)


def test_mrstft_analytic_gain_and_sign_flip():
    wav = _audio(6)
    loss = reconstruction.MultiResolutionSTFTLoss(phase_weight=0.5)
    # gain 2: SC = 1, log-mag L1 = log 2, phasors identical
    assert loss(wav, 2.0 * wav).item() == pytest.approx(1.0 + math.log(2.0), rel=1e-3)
    # sign flip: magnitudes identical, phasors opposite -> only the phase term, 0.5 * mean(2|re|, 2|im|) > 0
    flipped = loss(wav, -wav).item()
    magnitude_only = reconstruction.MultiResolutionSTFTLoss(phase_weight=0.0)(wav, -wav).item()
    assert magnitude_only == pytest.approx(0.0, abs=1e-4)
    assert flipped > 0.3


def test_complex_stft_is_the_same_formula_and_reconstruction_bundle():
    assert reconstruction.ComplexSTFTLoss is reconstruction.MultiResolutionSTFTLoss  # upstream's two terms are one loss
    wav, recon = _audio(7), _audio(8)
    recipe = reconstruction.ReconstructionLosses()
    terms = recipe(wav, recon, mel_weight=1.25)
    assert torch.equal(terms["mr_stft"], terms["cstft"])
    expected_total = 1.25 * terms["mel"] + 0.5 * terms["ms_mel"] + 0.5 * terms["mr_stft"] + 0.8 * terms["cstft"]
    assert terms["total"].item() == pytest.approx(expected_total.item(), rel=1e-6)

    only_mr_stft = reconstruction.ReconstructionLossWeights(0.0, 1.0, 0.0)
    distinct = reconstruction.ReconstructionLosses(distinct_mr_stft=True, weights=only_mr_stft)
    t2 = distinct(wav, -wav, mel_weight=0.0)
    assert t2["mr_stft"].item() == pytest.approx(0.0, abs=1e-4)  # magnitude-only ignores the sign flip
    assert t2["cstft"].item() > 0.3


def test_losses_compute_in_fp32_and_propagate_gradient():
    wav = _audio(9).bfloat16()
    recon = _audio(10).unsqueeze(1).requires_grad_(True)  # (B, 1, T) layout accepted
    total = reconstruction.ReconstructionLosses()(wav, recon)["total"]
    assert total.dtype == torch.float32
    total.backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0 and torch.isfinite(recon.grad).all()


def test_prepare_reconstruction_crop_pad_nan_clamp():
    recon = torch.tensor([[0.5, float("nan"), 3.0, -float("inf"), 0.1]])
    out = reconstruction.prepare_reconstruction(recon, target_length=4)
    assert torch.equal(out, torch.tensor([[0.5, 0.0, 1.2, -1.2]]))
    padded = reconstruction.prepare_reconstruction(torch.ones(1, 1, 3, dtype=torch.bfloat16), target_length=5)
    assert padded.dtype == torch.float32 and torch.equal(padded, torch.tensor([[[1.0, 1.0, 1.0, 0.0, 0.0]]]))


def test_bad_input_errors():
    loss = reconstruction.MelL1Loss()
    with pytest.raises(ValueError, match="same shape"):
        loss(_audio(0), _audio(0)[:, :-10])
    with pytest.raises(ValueError, match="mono"):
        loss(torch.zeros(1, 2, T), torch.zeros(1, 2, T))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        loss(torch.zeros(T), torch.zeros(T))
