"""The STFT front end (waveform -> frame features) and the iSTFT head (features -> waveform) of LLM-Codec.

Shapes: ``B`` batch, ``L`` samples, ``T`` frames (one per ``hop_length`` samples), ``D`` ``hidden_size``.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from .configuration_llmcodec import LLMCodecConfig


def mirror_pad(waveform: torch.Tensor, lengths: torch.Tensor, pad: int) -> torch.Tensor:
    """`(B, L)` -> `(B, L + 2 pad)`: each item mirrored by `pad` samples at both ends of its own `lengths` samples.

    The periodic form also covers items shorter than `pad`; samples past an item's mirrored end are zero.
    """
    total = waveform.shape[1]
    source = torch.arange(total + 2 * pad, device=waveform.device) - pad
    lengths = lengths[:, None]
    period = 2 * (lengths - 1)
    folded = torch.remainder(source[None, :], period)
    folded = torch.where(folded >= lengths, period - folded, folded)
    padded = torch.gather(waveform, 1, folded.clamp(max=total - 1))
    inside = source[None, :] < lengths + pad
    return padded * inside


def spectral_features(real: torch.Tensor, imag: torch.Tensor, floor: float, atan2=torch.atan2) -> torch.Tensor:
    """STFT bins `(B, F, T)` (real and imaginary parts) -> `(B, 2F, T)` [log-magnitude, phase] features.

    With `floor` 0 (the released model): `log(|X| + 1e-5)` and the raw phase. With `floor` > 0 the log-magnitude
    is `log(|X| + floor)` and each bin's phase is weighted by `|X|^2 / (|X|^2 + floor^2)`: a bin far below the
    floor (a noise floor, dither, quantisation noise) then reads as a constant instead of a random phase, so an
    inaudible change there cannot move the codes. `atan2` is a parameter so the ONNX encoder can pass its own.
    """
    power = real.pow(2) + imag.pow(2)
    magnitude = torch.abs(torch.sqrt(power))
    phase = atan2(imag, real)
    if floor > 0:
        log_magnitude = torch.log(magnitude + floor)
        phase = phase * (power / (power + floor * floor))
    else:
        log_magnitude = torch.log(magnitude + 1e-5)
    return torch.cat((log_magnitude, phase), dim=1)


class LLMCodecSTFTFrontend(nn.Module):
    """Waveform -> per-frame [log-magnitude, phase] STFT features -> linear projection.

    Each item is reflect-padded by `(n_fft - hop_length) / 2` at *its own* edges (not at the batch's padded
    end), so frame `t` of an item sees the same samples as when the item is encoded alone.
    """

    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        self.n_fft = config.n_fft
        self.hop_length = config.hop_length
        self.config = config
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.projection = nn.Linear(config.n_fft + 2, config.hidden_size)

    @property
    def spectral_floor(self) -> float:
        # Read from the config at each call, like the level normalisation: a config changed after construction
        # (a training run's `codec_config` on top of `codec_init`) must reach the features.
        return float(self.config.spectral_floor)

    def _reflect_pad(self, waveform: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        pad = (self.n_fft - self.hop_length) // 2
        batch, total = waveform.shape
        if lengths is None:
            lengths = torch.full((batch,), total, device=waveform.device)
        if bool((lengths == total).all()) and total > pad:
            return F.pad(waveform, (pad, pad), mode="reflect")
        return mirror_pad(waveform, lengths.to(waveform.device), pad)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`waveform` `(B, L)`, `lengths` `(B,)` valid samples per item. Returns `(B, L // hop_length, D)`."""
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            padded = self._reflect_pad(waveform.float(), lengths)
            spec = torch.stft(
                padded,
                self.n_fft,
                hop_length=self.hop_length,
                win_length=self.n_fft,
                window=self.window.float(),
                center=False,
                onesided=True,
                return_complex=True,
            )
            spec = torch.view_as_real(spec)
            features = spectral_features(spec[..., 0], spec[..., 1], self.spectral_floor, torch.atan2)
        return self.projection(features.transpose(1, 2).to(self.projection.weight.dtype))


class LLMCodecISTFTHead(nn.Module):
    """Projection to [log-magnitude, phase] per frame, then an inverse STFT with "same" padding.

    With a frame mask, padded frames contribute nothing and the window envelope is computed per item, so
    each item's samples equal those it gets when decoded alone.
    """

    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        self.n_fft = config.n_fft
        self.hop_length = config.hop_length
        self.max_magnitude = config.max_log_magnitude_clip
        self.projection = nn.Linear(config.hidden_size, config.n_fft + 2)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    def _overlap_add(self, frames: torch.Tensor, trim: bool = True) -> torch.Tensor:
        """`frames` `(B, n_fft, T)` -> `(B, T * hop_length)` after trimming the "same" padding
        (`(B, (T - 1) * hop_length + n_fft)` untrimmed with `trim=False`, as the streaming decoder needs)."""
        num_frames = frames.shape[-1]
        pad = (self.n_fft - self.hop_length) // 2
        full_length = (num_frames - 1) * self.hop_length + self.n_fft
        summed = F.fold(
            frames, output_size=(1, full_length), kernel_size=(1, self.n_fft), stride=(1, self.hop_length)
        )
        return summed[:, 0, 0, pad:-pad] if trim else summed[:, 0, 0]

    def synthesis_frames(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """`hidden_states` `(B, T, D)` -> windowed inverse-FFT frames `(B, n_fft, T)` float32, before overlap-add."""
        x = self.projection(hidden_states)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float().transpose(1, 2)
            log_magnitude, phase = x.chunk(2, dim=1)
            magnitude = torch.clip(torch.exp(log_magnitude), max=self.max_magnitude)
            spectrum = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
            return torch.fft.irfft(spectrum, self.n_fft, dim=1, norm="backward") * self.window.float()[None, :, None]

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`hidden_states` `(B, T, D)`, `frame_mask` `(B, T)` bool or None. Returns `(B, T * hop_length)`."""
        frames = self.synthesis_frames(hidden_states)
        with torch.autocast(device_type=frames.device.type, enabled=False):
            window = self.window.float()
            batch, _, num_frames = frames.shape
            if frame_mask is None:
                envelope_frames = window.square()[None, :, None].expand(1, -1, num_frames)
            else:
                weights = frame_mask[:, None, :].float()
                frames = frames * weights
                envelope_frames = window.square()[None, :, None] * weights
            audio = self._overlap_add(frames)
            envelope = self._overlap_add(envelope_frames.contiguous())
            if frame_mask is None:
                return audio / envelope
            valid = envelope > 1e-11
            audio = torch.where(valid, audio / torch.where(valid, envelope, 1.0), 0.0)
            sample_mask = frame_mask.repeat_interleave(self.hop_length, dim=1)
            return audio * sample_mask
