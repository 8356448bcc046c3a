"""Fixed-length crops of speech for codec training (the recipe: 4 s crops, +-24-sample jitter).

Clips longer than the segment get a random crop (a centred one for evaluation); shorter ones are
centred and reflect-padded. "Phase jitter" then rolls each crop circularly by up to ±24 samples; the
rolled crop is both input and target. The full transcript is kept even though the audio is a crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from llmcodec.training.data.pitch_targets import batch_frame_f0


def reflect_pad_centre(x: torch.Tensor, length: int) -> tuple[torch.Tensor, int]:
    """Centre ``x`` in ``length`` samples, filling both sides by reflection (no edge repeat).

    Works for any amount of padding: the reflection repeats with period ``2 (T - 1)``, so pads longer
    than the clip keep bouncing (``torch.nn.functional.pad`` needs pad < T). A one-sample clip is repeated.

    Args:
        x: ``(T,)`` with ``1 <= T <= length``.

    Returns:
        ``(padded (length,), left)`` where ``padded[left:left + T] == x``.
    """
    n = x.shape[-1]
    if n < 1 or n > length:
        raise ValueError(f"reflect_pad_centre needs 1 <= len(x) <= length, got {n} and {length}")
    left = (length - n) // 2
    if n == 1:
        return x.expand(length).clone(), left
    period = 2 * (n - 1)
    idx = torch.remainder(torch.arange(-left, length - left), period)
    idx = torch.where(idx >= n, period - idx, idx)
    return x[idx], left


def crop_or_pad(x: torch.Tensor, length: int, random_crop: bool = True,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Cut or pad a clip to ``length`` samples.

    Args:
        x: ``(T,)`` waveform.
        random_crop: uniform random offset for long clips; ``False`` takes the centred crop.

    Returns:
        ``(segment (length,), mask (length,) bool, offset)``: ``mask`` is True on samples of the original
        clip (False on reflected padding); ``offset`` is where the crop starts in ``x`` (0 when padded).
    """
    n = x.shape[-1]
    if n >= length:
        span = n - length
        if random_crop and span > 0:
            offset = int(torch.randint(0, span + 1, (1,), generator=generator))
        else:
            offset = span // 2
        return x[offset:offset + length], torch.ones(length, dtype=torch.bool), offset
    segment, left = reflect_pad_centre(x, length)
    mask = torch.zeros(length, dtype=torch.bool)
    mask[left:left + n] = True
    return segment, mask, 0


class SpeechCollator:
    """Batch ``{"audio": (T,), "text": str}`` examples into fixed-length crops.

    Args:
        segment_samples: crop length (64,000 = 4 s at 16 kHz in the recipe).
        random_crop: random crop offsets (training); ``False`` gives centred crops (evaluation).
        phase_jitter: maximum circular shift in samples (24 in the recipe; 0 disables).
        generator: RNG for crops and jitter; ``None`` uses torch's global RNG, which DataLoader seeds
            differently in every worker (a shared generator would repeat crops across workers).
        pitch_hop: > 0 adds ``pitch_f0`` (B, L // pitch_hop) float32, Praat F0 in Hz per codec frame of the
            (jittered) crop, 0 where unvoiced (``pitch_targets.frame_f0``); 0 = no pitch targets.
        sample_rate: rate of the audio (for the F0 tracker).
        conditions: recording conditions applied to each training crop after the jitter
            (:class:`~llmcodec.training.data.augmentation.RecordingConditions`); the degraded crop is both input and
            target, since the codec reconstructs what it is given. None: crops as they are.

    Returns (from ``__call__``):
        ``input_values`` (B, 1, L) float32; ``padding_mask`` (B, L) int64, 1 on real samples and 0 on
        reflected padding (rolled with the audio); ``text`` list of B str; ``crop_offsets`` (B,) int64
        start of the crop in the source clip; ``lengths`` (B,) int64 real samples per row;
        ``jitter`` (B,) int64 applied shifts.
    """

    def __init__(self, segment_samples: int = 64000, random_crop: bool = True, phase_jitter: int = 24,
                 generator: torch.Generator | None = None, pitch_hop: int = 0, sample_rate: int = 16_000,
                 conditions: Any = None) -> None:
        if segment_samples <= 0:
            raise ValueError(f"segment_samples must be positive, got {segment_samples}")
        if phase_jitter < 0:
            raise ValueError(f"phase_jitter must be >= 0, got {phase_jitter}")
        self.segment_samples = segment_samples
        self.random_crop = random_crop
        self.phase_jitter = phase_jitter
        self.generator = generator
        if pitch_hop < 0:
            raise ValueError(f"pitch_hop must be >= 0, got {pitch_hop}")
        self.pitch_hop, self.sample_rate = pitch_hop, sample_rate
        self.conditions = conditions

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if len(features) == 0:
            raise ValueError("SpeechCollator got an empty batch")
        L = self.segment_samples
        audio = torch.empty(len(features), 1, L, dtype=torch.float32)
        mask = torch.empty(len(features), L, dtype=torch.long)
        offsets = torch.empty(len(features), dtype=torch.long)
        shifts = torch.zeros(len(features), dtype=torch.long)
        texts: list[str] = []
        for b, f in enumerate(features):
            x = _as_1d(f["audio"])
            seg, m, off = crop_or_pad(x, L, self.random_crop, self.generator)
            if self.phase_jitter:
                s = int(torch.randint(-self.phase_jitter, self.phase_jitter + 1, (1,), generator=self.generator))
                seg, m = torch.roll(seg, s), torch.roll(m, s)
                shifts[b] = s
            if self.conditions is not None:
                seg = self.conditions.apply(seg, self._conditions_generator())
            audio[b, 0] = seg
            mask[b] = m.long()
            offsets[b] = off
            text = f.get("text")
            texts.append("" if text is None else str(text))
        batch = {
            "input_values": audio,
            "padding_mask": mask,
            "text": texts,
            "crop_offsets": offsets,
            "lengths": mask.sum(dim=1),
            "jitter": shifts,
        }
        if self.pitch_hop:
            batch["pitch_f0"] = batch_frame_f0(audio, self.sample_rate, self.pitch_hop)
        return batch


    def _conditions_generator(self) -> torch.Generator:
        if self.generator is not None:
            return self.generator
        # The global RNG (seeded per DataLoader worker) picks the seed, so workers draw different conditions.
        return torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))


def _as_1d(x: Any) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    if t.dim() == 2 and 1 in t.shape:
        t = t.reshape(-1)
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"expected a mono waveform of shape (T,), got {tuple(t.shape)}")
    return t
