"""Multi-period and multi-scale waveform discriminators of the LLM-Codec recipe.

Both follow HiFi-GAN's layout with the recipe's exact shapes, **no weight or spectral norm**; the recipe does not
say how the convs are initialised. The default here is variance-preserving (Kaiming normal for LeakyReLU(0.2),
biases zero): with N(0, 0.01) every layer shrinks the signal by ``0.01·sqrt(fan_in)`` (0.18 per layer for the
narrow CPU discriminators), so the logits start near 1e-10, the hinge loss sits at exactly 2 per
sub-discriminator and D never learns. ``init_std=0.01`` gives the old N(0, std) init.

Every sub-discriminator maps a waveform ``(B, 1, T)`` (or ``(B, T)``) to ``(logits, features)``:
``logits`` is the output conv's map flattened to ``(B, N)``, ``features`` is the list of every
LeakyReLU output (what feature matching compares). The composite discriminators return one
``(logits, features)`` pair per sub-discriminator.

Default parameter counts (computed from the definitions, checked in the tests):
MPD 5 x 6,633,729 = 33,168,645 (≈ 33.2 M); MSD 3 x 33,799,041 = 101,397,123 (≈ 101.4 M).
``channels`` is configurable so tests can build tiny discriminators.
"""

from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "DiscriminatorOutput",
    "PeriodDiscriminator",
    "MultiPeriodDiscriminator",
    "ScaleDiscriminator",
    "MultiScaleDiscriminator",
    "CombinedDiscriminator",
    "init_discriminator_weights",
]

DiscriminatorOutput = tuple[Tensor, list[Tensor]]
"""``(logits (B, N), features [maps])`` of one sub-discriminator."""

DEFAULT_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 1024)
LEAKY_SLOPE = 0.2


def init_discriminator_weights(module: nn.Module, std: float | None = None) -> None:
    """Conv weights Kaiming-normal for LeakyReLU(0.2) (``std=None``) or ~ N(0, std); conv biases 0.

    Applied to every Conv1d/Conv2d inside ``module``.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if std is None:
                nn.init.kaiming_normal_(m.weight, a=LEAKY_SLOPE, mode="fan_in", nonlinearity="leaky_relu")
            else:
                nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _as_mono_batch(wav: Tensor) -> Tensor:
    """``(B, T)`` or ``(B, 1, T)`` -> ``(B, 1, T)``."""
    if wav.dim() == 2:
        wav = wav.unsqueeze(1)
    if wav.dim() != 3 or wav.shape[1] != 1:
        raise ValueError(f"discriminator input must be (B, T) or (B, 1, T) mono audio; got {tuple(wav.shape)}")
    return wav


def _check_channels(channels: Sequence[int]) -> tuple[int, ...]:
    channels = tuple(int(c) for c in channels)
    if not channels or any(c <= 0 for c in channels):
        raise ValueError(f"channels must be a non-empty sequence of positive ints; got {channels}")
    return channels


def _run_conv_stack(x: Tensor, convs: nn.ModuleList, output_conv: nn.Module) -> DiscriminatorOutput:
    """LeakyReLU after each of `convs` (every activation is a feature map), then `output_conv` flattened to `(B, N)`."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LEAKY_SLOPE)
        features.append(x)
    return output_conv(x).flatten(1), features


class PeriodDiscriminator(nn.Module):
    """One MPD sub-discriminator: reflect-pad T to a multiple of ``period``, fold to (T/p, p), Conv2d stack.

    Layers (default): 1->64 (5,1) stride (1,1), then 64->128->256->512->1024 (5,1) stride (3,1),
    then 1024->1024 (3,1), then an output conv (3,1) to 1 channel; LeakyReLU(0.2) after all but the last.
    """

    def __init__(self, period: int, channels: Sequence[int] = DEFAULT_CHANNELS, kernel_size: int = 5, stride: int = 3,
                 init_std: float | None = None):
        super().__init__()
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        channels = _check_channels(channels)
        self.period = period
        convs = []
        in_ch = 1
        for i, out_ch in enumerate(channels):
            convs.append(
                nn.Conv2d(in_ch, out_ch, (kernel_size, 1), (1 if i == 0 else stride, 1), (kernel_size // 2, 0))
            )
            in_ch = out_ch
        convs.append(nn.Conv2d(in_ch, in_ch, (3, 1), 1, (1, 0)))
        self.convs = nn.ModuleList(convs)
        self.output_conv = nn.Conv2d(in_ch, 1, (3, 1), 1, (1, 0))
        init_discriminator_weights(self, init_std)

    def forward(self, wav: Tensor) -> DiscriminatorOutput:
        x = _as_mono_batch(wav)
        batch, _, length = x.shape
        remainder = length % self.period
        if remainder:
            pad = self.period - remainder
            if pad >= length:
                raise ValueError(f"input of {length} samples is too short for period {self.period}")
            x = F.pad(x, (0, pad), mode="reflect")
            length += pad
        x = x.view(batch, 1, length // self.period, self.period)
        return _run_conv_stack(x, self.convs, self.output_conv)


class MultiPeriodDiscriminator(nn.Module):
    """MPD: one ``PeriodDiscriminator`` per period (default 2, 3, 5, 7, 11)."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11), channels: Sequence[int] = DEFAULT_CHANNELS,
                 init_std: float | None = None):
        super().__init__()
        if not periods:
            raise ValueError("MultiPeriodDiscriminator needs at least one period")
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, channels, init_std=init_std) for p in periods)

    def forward(self, wav: Tensor) -> list[DiscriminatorOutput]:
        return [d(wav) for d in self.discriminators]


class ScaleDiscriminator(nn.Module):
    """One MSD sub-discriminator (Conv1d stack, no groups).

    Layers (default): 1->64 k15 s1, then 64->128->256->512->1024 k41 s2, then 1024->1024 k5 s1, then an
    output conv k3 to 1 channel; "same" paddings; LeakyReLU(0.2) after all but the last.
    """

    def __init__(self, channels: Sequence[int] = DEFAULT_CHANNELS, first_kernel: int = 15, kernel_size: int = 41, stride: int = 2,
                 init_std: float | None = None):
        super().__init__()
        channels = _check_channels(channels)
        convs = [nn.Conv1d(1, channels[0], first_kernel, 1, first_kernel // 2)]
        for in_ch, out_ch in zip(channels[:-1], channels[1:]):
            convs.append(nn.Conv1d(in_ch, out_ch, kernel_size, stride, kernel_size // 2))
        convs.append(nn.Conv1d(channels[-1], channels[-1], 5, 1, 2))
        self.convs = nn.ModuleList(convs)
        self.output_conv = nn.Conv1d(channels[-1], 1, 3, 1, 1)
        init_discriminator_weights(self, init_std)

    def forward(self, wav: Tensor) -> DiscriminatorOutput:
        x = _as_mono_batch(wav)
        return _run_conv_stack(x, self.convs, self.output_conv)


class MultiScaleDiscriminator(nn.Module):
    """MSD: ``num_scales`` ``ScaleDiscriminator``s on the raw audio, then ``AvgPool1d(4, 2, padding=1)``
    between consecutive scales (scale k sees audio pooled k times)."""

    def __init__(self, num_scales: int = 3, channels: Sequence[int] = DEFAULT_CHANNELS, init_std: float | None = None):
        super().__init__()
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales}")
        self.discriminators = nn.ModuleList(ScaleDiscriminator(channels, init_std=init_std) for _ in range(num_scales))
        self.pool = nn.AvgPool1d(4, 2, padding=1)

    def forward(self, wav: Tensor) -> list[DiscriminatorOutput]:
        x = _as_mono_batch(wav)
        outputs = []
        for i, d in enumerate(self.discriminators):
            if i > 0:
                x = self.pool(x)
            outputs.append(d(x))
        return outputs


class CombinedDiscriminator(nn.Module):
    """MPD + MSD as one module (one optimizer, one state_dict): returns the 5 MPD then the 3 MSD outputs."""

    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        num_scales: int = 3,
        mpd_channels: Sequence[int] = DEFAULT_CHANNELS,
        msd_channels: Sequence[int] = DEFAULT_CHANNELS,
        init_std: float | None = None,
    ):
        super().__init__()
        self.mpd = MultiPeriodDiscriminator(periods, mpd_channels, init_std)
        self.msd = MultiScaleDiscriminator(num_scales, msd_channels, init_std)

    def forward(self, wav: Tensor) -> list[DiscriminatorOutput]:
        return self.mpd(wav) + self.msd(wav)
