"""Stand-in codecs, clips and LMs for the evaluation tests (no tests here): codecs whose codes are known in
advance (cyclic, uniform noise, band x level), a fake LM that knows the cyclic rule, and synthetic clips."""

from __future__ import annotations

import numpy as np
import torch

from llmcodec.evaluation.sources import AudioItem

SR = 16_000


class CyclicCodec:
    """A stand-in codec: frame i of every clip gets code (offset + i) % period — trivially predictable."""

    name = "cyclic"
    codebook_size = 64
    sampling_rate = 16_000

    def __init__(self, period: int = 8) -> None:
        self.period = period

    def encode(self, waveforms):
        out = []
        for w in waveforms:
            offset = int(abs(float(w[:10].sum())) * 1000) % self.period
            out.append((torch.arange(w.numel() // 320) + offset) % self.period)
        return out


class RandomCodec(CyclicCodec):
    """A stand-in codec whose codes are uniform noise (seeded by the clip): nothing to learn."""

    name = "random"

    def encode(self, waveforms):
        out = []
        for w in waveforms:
            generator = torch.Generator().manual_seed(int(abs(float(w[:10].sum())) * 1e6) % 2**31)
            out.append(torch.randint(0, self.codebook_size, (w.numel() // 320,), generator=generator))
        return out


def items(n: int, seconds: float = 1.5) -> list[AudioItem]:
    """``n`` clips of seeded white noise (amplitude 0.1, ``seconds`` long at 16 kHz), ids ``clip00``, ``clip01``, ..."""

    def loader(i):
        rng = np.random.default_rng(i)
        return lambda: (torch.from_numpy(rng.standard_normal(int(16000 * seconds)).astype(np.float32) * 0.1), 16000)

    return [AudioItem(f"clip{i:02d}", "default", loader(i)) for i in range(n)]


def sine(freq: float, seconds: float = 2.0, amplitude: float = 0.3) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return amplitude * torch.sin(2 * torch.pi * freq * t)


class BandLevelCodec:
    """Per 320-sample frame: code = 32 * (dominant-frequency band of 8) + level (1 dB steps)."""

    name = "band-level"
    codebook_size = 256
    sampling_rate = SR

    def encode(self, waveforms):
        out = []
        for w in waveforms:
            frames = w[: w.numel() // 320 * 320].reshape(-1, 320)
            band = (torch.fft.rfft(frames).abs().argmax(-1) * 8 // 161).clamp(max=7)
            level = (20 * torch.log10(frames.pow(2).mean(-1).sqrt().clamp(min=1e-6)) + 40).floor().clamp(0, 31).long()
            out.append(band * 32 + level)
        return out


class NextCodeOracle(torch.nn.Module):
    """A fake LM over ``[codes | BOS | PAD]`` whose logits at position t pick (input_t + 1) mod P: it knows the
    cyclic rule, so it predicts the next code exactly and the current one never."""

    def __init__(self, n_codes: int, period: int, shift: int = 1) -> None:
        super().__init__()
        self.n_codes, self.period, self.shift = n_codes, period, shift
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, **_):
        logits = torch.zeros(*input_ids.shape, self.n_codes + 2)
        code = input_ids < self.n_codes  # after BOS: no opinion (uniform)
        logits.scatter_(-1, ((input_ids + self.shift) % self.period)[..., None], 30.0 * code[..., None].float())
        return type("Out", (), {"logits": logits})()
