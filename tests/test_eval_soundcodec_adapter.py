"""The Codec-SUPERB (SoundCodec) adapter against the interface's documented shapes, on a tiny random model."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from llmcodec.evaluation.soundcodec_adapter import LLMCodecSoundCodec
from llmcodec.modeling import LLMCodecConfig, LLMCodecModel

SR = 16_000
HOP = 320


@pytest.fixture(scope="module")
def model() -> LLMCodecModel:
    torch.manual_seed(0)
    config = LLMCodecConfig(
        hidden_size=32, encoder_num_layers=1, decoder_num_layers=1, num_attention_heads=2, head_dim=16,
        codebook_size=64, codebook_dim=4, codebook_partitions={}, conv_kernel_size=3,
    )
    return LLMCodecModel(config).eval()


@pytest.fixture()
def codec(model: LLMCodecModel) -> LLMCodecSoundCodec:
    return LLMCodecSoundCodec(model=model, device="cpu")


def noise(length: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(length)).astype(np.float32)


def item(array: np.ndarray, rate: int = SR, **extra) -> dict:
    return {"audio": {"array": array, "sampling_rate": rate}, **extra}


def test_class_attributes_and_config(codec: LLMCodecSoundCodec) -> None:
    assert LLMCodecSoundCodec.supports_decode is True  # read without instantiating upstream
    assert codec.sampling_rate == SR and isinstance(codec.sampling_rate, int)
    assert codec.setting == "llmcodec_hf"
    assert codec.is_1d()


def test_missing_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMCODEC_MODEL", raising=False)
    with pytest.raises(ValueError, match="LLMCODEC_MODEL"):
        LLMCodecSoundCodec(device="cpu")


def test_extract_and_decode_unit_shapes(codec: LLMCodecSoundCodec) -> None:
    length = SR + 123
    extracted = codec.extract_unit(item(noise(length)))
    frames = -(-length // HOP)
    assert extracted.unit.shape == (frames,) and extracted.unit.dtype == torch.long
    codes, raw_length = extracted.stuff_for_synth
    assert codes.shape == (1, frames) and raw_length == length
    assert int(extracted.unit.min()) >= 0 and int(extracted.unit.max()) < 64
    audio = codec.decode_unit(extracted.stuff_for_synth)
    assert isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.shape == (length,)
    assert set(extracted.to_dict()) == {"unit", "stuff_for_synth"}


def test_synth_in_memory_keeps_rate_and_has_no_unit_key(codec: LLMCodecSoundCodec) -> None:
    data = item(noise(8000).astype(np.float64), id="a")  # benchmark originals are float64
    out = codec.synth(data, local_save=False)
    assert out is data and "unit" not in out
    assert set(out["audio"]) == {"array", "sampling_rate"}
    assert out["audio"]["sampling_rate"] == SR and out["audio"]["array"].shape == (8000,)


def test_synth_resamples_in_and_out(codec: LLMCodecSoundCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    original = codec.extract_unit
    monkeypatch.setattr(codec, "extract_unit", lambda data: seen.append(dict(data["audio"])) or original(data))
    out = codec.synth(item(noise(48_000), rate=48_000), local_save=False)
    assert seen[0]["sampling_rate"] == SR and seen[0]["array"].shape == (SR,)
    assert out["audio"]["sampling_rate"] == 48_000 and out["audio"]["array"].shape == (48_000,)


def test_synth_local_save_writes_int16_wav(codec: LLMCodecSoundCodec, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = codec.synth(item(noise(22_050), rate=22_050, id="clip7"), local_save=True)
    assert out["audio"] == {"path": "reconstructed_llmcodec_hf/clip7.wav", "sampling_rate": 22_050}
    info = sf.info(tmp_path / out["audio"]["path"])
    assert info.samplerate == 22_050 and info.subtype == "PCM_16" and info.frames == 22_050
    assert np.abs(sf.read(tmp_path / out["audio"]["path"])[0]).max() <= 0.99 + 1e-4


def test_synth_accepts_a_path(codec: LLMCodecSoundCodec, tmp_path) -> None:
    sf.write(tmp_path / "in.wav", noise(SR), SR)
    out = codec.synth({"audio": str(tmp_path / "in.wav")}, local_save=False)
    assert out["audio"]["array"].shape == (SR,)


def test_batch_api_matches_single_items(codec: LLMCodecSoundCodec) -> None:
    lengths = [SR + 123, 5000, 640]
    batch = codec.batch_extract_unit([item(noise(n, seed=i)) for i, n in enumerate(lengths)])
    assert batch.batch_size == 3 and len(batch.units) == 3 and len(batch.stuff_for_synth) == 3
    for i, n in enumerate(lengths):
        single = codec.extract_unit(item(noise(n, seed=i)))
        assert batch.units[i].shape == (-(-n // HOP),)
        assert torch.equal(batch.units[i], single.unit)
        assert batch.stuff_for_synth[i][1] == n
    decoded = codec.batch_decode_unit(batch)
    assert [a.shape for a in decoded] == [(n,) for n in lengths]
    single_audio = codec.decode_unit(codec.extract_unit(item(noise(5000, seed=1))).stuff_for_synth)
    np.testing.assert_allclose(decoded[1], single_audio, atol=1e-5)


def test_batch_synth(codec: LLMCodecSoundCodec, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = [item(noise(4000), id="x"), item(noise(7000, seed=2), id="y")]
    out = codec.batch_synth(data, local_save=False)
    assert out is data
    assert [d["audio"]["array"].shape for d in out] == [(4000,), (7000,)]
    assert [d["unit"].shape for d in out] == [(13,), (22,)]
    monkeypatch.chdir(tmp_path)
    saved = codec.batch_synth([item(noise(4000), id="x")], local_save=True)
    assert saved[0]["audio"] == "dummy_llmcodec_hf/x.wav"
    assert sf.info(tmp_path / "dummy_llmcodec_hf/x.wav").samplerate == SR


def test_batch_api_does_not_resample(codec: LLMCodecSoundCodec) -> None:
    with pytest.raises(ValueError, match="does not resample"):
        codec.batch_extract_unit([item(noise(4000)), item(noise(4000), rate=24_000)])


def test_registration_file_pattern(model: LLMCodecModel, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one file a Codec-SUPERB user adds: ``class Codec(LLMCodecSoundCodec, BaseCodec)``, built with no arguments."""

    class BaseCodec:  # stand-in for SoundCodec.base_codec.general.BaseCodec
        def __init__(self) -> None:
            raise AssertionError("BaseCodec.__init__ must not run first")

        def synth(self, data, local_save=True):  # pragma: no cover - must be overridden
            raise AssertionError("BaseCodec.synth must be overridden")

    model.save_pretrained(tmp_path / "model")
    monkeypatch.setenv("LLMCODEC_MODEL", str(tmp_path / "model"))

    class Codec(LLMCodecSoundCodec, BaseCodec):
        pass

    codec = Codec()
    assert codec.sampling_rate == SR
    assert codec.synth(item(noise(SR)), local_save=False)["audio"]["array"].shape == (SR,)
