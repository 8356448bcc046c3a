"""Recording conditions as augmentation: seeded, shape-preserving, and each effect does what it says."""

import pytest
import torch

from codec_testing import speechlike

from llmcodec.training.data import augmentation
from llmcodec.training.data.augmentation import RecordingConditions


def _level_db(x: torch.Tensor) -> float:
    return float(20 * torch.log10(x.pow(2).mean().sqrt()))


def _energy_above(x: torch.Tensor, hz: float) -> float:
    spectrum = torch.fft.rfft(x).abs().pow(2)
    freqs = torch.fft.rfftfreq(x.numel(), 1 / 16000)
    return float(spectrum[freqs > hz].sum() / spectrum.sum())


def test_same_seed_same_conditions_other_seed_other_conditions():
    crop = speechlike(16000)
    conditions = RecordingConditions(codec_probability=0.0)
    first = [conditions.apply(crop, torch.Generator().manual_seed(s)) for s in range(4)]
    again = [conditions.apply(crop, torch.Generator().manual_seed(s)) for s in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])
    assert all(x.shape == crop.shape and torch.isfinite(x).all() and x.abs().max() <= 1.0 for x in first)


def test_levels_span_the_configured_range():
    crop = speechlike(16000)
    conditions = RecordingConditions(room_probability=0, band_probability=0, noise_probability=0,
                                     codec_probability=0, level_probability=1.0, level_dbfs=(-45.0, -12.0))
    levels = [_level_db(conditions.apply(crop, torch.Generator().manual_seed(s))) for s in range(40)]
    assert min(levels) < -38 and max(levels) > -20
    assert all(-45.5 <= level <= -11.5 for level in levels)


def test_band_limit_removes_what_an_8_khz_recording_cannot_hold():
    noise = torch.randn(16000, generator=torch.Generator().manual_seed(0)) * 0.1
    assert _energy_above(noise, 4200) > 0.4
    assert _energy_above(augmentation.band_limit(noise, 8000), 4200) < 0.01
    assert _energy_above(augmentation.band_limit(noise, 12000), 6200) < 0.01


def test_noise_at_the_requested_snr():
    crop = speechlike(16000)
    for colour in ("white", "pink", "brown"):
        noisy = augmentation.add_noise(crop, 30.0, colour, torch.Generator().manual_seed(1))
        snr = _level_db(crop) - _level_db(noisy - crop)
        assert snr == pytest.approx(30.0, abs=0.01), colour


def test_room_adds_a_reverberant_tail_at_the_same_level():
    impulse = torch.zeros(16000)
    impulse[100] = 1.0
    wet = augmentation.add_room(impulse, rt60=0.6, choice=0)
    assert int(wet.abs().argmax()) == 100  # the direct path stays where the speech was
    assert float(wet[2000:].pow(2).sum()) > 0.01 * float(wet.pow(2).sum())  # energy in the tail
    crop = speechlike(16000)
    assert _level_db(augmentation.add_room(crop, 0.3, 1)) == pytest.approx(_level_db(crop), abs=0.01)


@pytest.mark.skipif(not augmentation.ffmpeg_available(), reason="ffmpeg is not installed (scripts/setup.sh installs it)")
@pytest.mark.parametrize("codec, kbps", [("libopus", 12), ("libmp3lame", 32)])
def test_lossy_round_trip_keeps_length_and_changes_the_signal(codec, kbps):
    crop = speechlike(16000)
    out = augmentation.lossy_round_trip(crop, codec, kbps)
    assert out.shape == crop.shape and torch.isfinite(out).all()
    assert not torch.allclose(out, crop, atol=1e-3)
    assert abs(_level_db(out) - _level_db(crop)) < 6.0


@pytest.mark.parametrize("field, value", [("noise_probability", 1.5), ("level_dbfs", (-10.0, -40.0)),
                                          ("band_rates", (22050,))])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        RecordingConditions(**{field: value})


def test_seeded_collator_degrades_crops_reproducibly():
    from llmcodec.training.data.training_data import SeededCropCollator

    features = [{"audio": speechlike(24000, seed=i).numpy(), "text": "", "crop_seed": 100 + i} for i in range(3)]
    plain = SeededCropCollator(16000, phase_jitter=24)(features)["input_values"]
    conditions = RecordingConditions(codec_probability=0.0, level_probability=1.0)
    first = SeededCropCollator(16000, phase_jitter=24, conditions=conditions)(features)["input_values"]
    again = SeededCropCollator(16000, phase_jitter=24, conditions=conditions)(features)["input_values"]
    assert torch.equal(first, again)
    assert first.shape == plain.shape
    assert not torch.allclose(first, plain)  # the level draw alone changes every crop
