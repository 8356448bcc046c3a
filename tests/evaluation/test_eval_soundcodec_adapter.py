"""The Codec-SUPERB (SoundCodec) adapter: upstream ``llmcodec`` shapes, and arrays equal to what the model computes.

Every expected array below is built directly from ``model.encode`` / ``model.decode`` and torchaudio's
resampler, the way Codec-SUPERB's ``BaseCodec.synth`` composes them (resample in, encode, decode, crop,
resample out), so a wrong crop, a padded tail, a missed resample or a batch mix-up fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from llmcodec.evaluation.soundcodec_adapter import LLMCodecSoundCodec
from llmcodec.hub import DEFAULT_MODEL_DIR
from llmcodec.modeling import LLMCodecConfig, LLMCodecModel

SR = 16_000
HOP = 320


def tiny(codebook_size: int = 64, seed: int = 0) -> LLMCodecModel:
    torch.manual_seed(seed)
    config = LLMCodecConfig(
        hidden_size=32, encoder_num_layers=1, decoder_num_layers=1, num_attention_heads=2, head_dim=16,
        codebook_size=codebook_size, codebook_dim=4, codebook_partitions={}, conv_kernel_size=3,
    )
    return LLMCodecModel(config).eval()


@pytest.fixture(scope="module")
def model() -> LLMCodecModel:
    return tiny()


@pytest.fixture()
def codec(model: LLMCodecModel) -> LLMCodecSoundCodec:
    return LLMCodecSoundCodec(model=model, device="cpu")


def noise(length: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(length)).astype(np.float32)


def item(array: np.ndarray, rate: int = SR, **extra) -> dict:
    return {"audio": {"array": array, "sampling_rate": rate}, **extra}


def expected(model: LLMCodecModel, array: np.ndarray, rate: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(codes [1, T], decoded [1, T*hop] at 16 kHz, reconstruction at ``rate``) straight from the model."""
    x = torch.from_numpy(np.asarray(array, np.float32))
    x16 = torchaudio.functional.resample(x, rate, SR) if rate != SR else x
    with torch.inference_mode():
        codes = model.encode(x16[None, None]).audio_codes
        decoded = model.decode(codes).audio_values[0]  # (1, T * hop)
    decoded = decoded[:, : x16.numel()]  # Codec-SUPERB's crop to raw_length
    back = torchaudio.functional.resample(decoded[0], SR, rate) if rate != SR else decoded[0]
    return codes, decoded.numpy(), back.numpy()


def test_class_attributes_and_config(codec: LLMCodecSoundCodec) -> None:
    assert LLMCodecSoundCodec.supports_decode is True  # read without instantiating upstream
    assert codec.sampling_rate == SR and isinstance(codec.sampling_rate, int)
    assert codec.setting is None  # Codec-SUPERB's load_codec names it after the registration file
    assert codec.is_1d()


@pytest.mark.parametrize("rate", [SR, 22_050, 48_000])
def test_units_and_decoded_audio_equal_the_model_outputs(codec: LLMCodecSoundCodec, model: LLMCodecModel, rate: int) -> None:
    x = noise(int(1.3 * rate) + 77)  # not a whole number of frames at 16 kHz
    codes, decoded, _ = expected(model, x, rate)
    extracted = codec.extract_unit(item(x, rate))
    # Codec-SUPERB's own llmcodec entry: unit [1, T] (2-D, which its code_extract_unit.py asserts).
    frames = int(round(x.size * SR / rate)) // HOP
    assert extracted.unit.shape == (1, frames) and extracted.unit.dtype == torch.long
    assert torch.equal(extracted.unit, codes)
    stuff_codes, raw_length = extracted.stuff_for_synth
    assert torch.equal(stuff_codes, codes) and raw_length == int(round(x.size * SR / rate))
    audio = codec.decode_unit(extracted.stuff_for_synth)
    assert isinstance(audio, np.ndarray) and audio.dtype == np.float32
    assert audio.shape == (1, frames * HOP)  # the last partial frame is dropped, not padded and coded
    np.testing.assert_allclose(audio, decoded, rtol=0, atol=1e-6)
    assert set(extracted.to_dict()) == {"unit", "stuff_for_synth"}


@pytest.mark.parametrize("rate", [SR, 22_050, 48_000])
def test_synth_returns_decode_of_encode_resampled_to_the_input_rate(codec: LLMCodecSoundCodec, model: LLMCodecModel, rate: int) -> None:
    x = noise(int(0.9 * rate) + 5, seed=rate).astype(np.float64)  # benchmark originals are float64
    _, _, reconstruction = expected(model, x, rate)
    data = item(x, rate, id="a")
    out = codec.synth(data, local_save=False)
    assert out is data and "unit" not in out
    assert set(out["audio"]) == {"array", "sampling_rate"} and out["audio"]["sampling_rate"] == rate
    assert out["audio"]["array"].ndim == 1
    np.testing.assert_allclose(out["audio"]["array"], reconstruction, rtol=0, atol=1e-6)


def test_synth_local_save_writes_int16_wav(codec: LLMCodecSoundCodec, model: LLMCodecModel, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    x = noise(22_050)
    _, _, reconstruction = expected(model, x, 22_050)
    out = codec.synth(item(x, rate=22_050, id="clip7"), local_save=True)
    assert out["audio"] == {"path": "reconstructed_llmcodec_hf/clip7.wav", "sampling_rate": 22_050}
    written, rate = sf.read(tmp_path / out["audio"]["path"])
    assert rate == 22_050 and sf.info(tmp_path / out["audio"]["path"]).subtype == "PCM_16"
    np.testing.assert_allclose(written, np.clip(reconstruction, -0.99, 0.99), rtol=0, atol=1.0 / 32767)


def test_synth_accepts_a_path(codec: LLMCodecSoundCodec, model: LLMCodecModel, tmp_path) -> None:
    x = noise(SR + 100)
    sf.write(tmp_path / "in.wav", x, SR, subtype="FLOAT")
    _, _, reconstruction = expected(model, x, SR)
    out = codec.synth({"audio": str(tmp_path / "in.wav")}, local_save=False)
    np.testing.assert_allclose(out["audio"]["array"], reconstruction, rtol=0, atol=1e-6)


def test_batch_resamples_each_item_and_matches_single_items(codec: LLMCodecSoundCodec, model: LLMCodecModel) -> None:
    items = [(noise(SR + 123, 0), SR), (noise(11_025, 1), 22_050), (noise(48_000 + 999, 2), 48_000), (noise(640, 3), SR)]
    batch = codec.batch_extract_unit([item(x, rate) for x, rate in items])
    assert batch.batch_size == 4 and len(batch.units) == 4 and len(batch.stuff_for_synth) == 4
    decoded = codec.batch_decode_unit(batch)
    for i, (x, rate) in enumerate(items):
        codes, audio16, _ = expected(model, x, rate)
        assert torch.equal(batch.units[i], codes), i
        assert batch.stuff_for_synth[i][1] == int(round(x.size * SR / rate))
        assert decoded[i].shape == audio16.shape  # at the codec rate, like decode_unit
        np.testing.assert_allclose(decoded[i], audio16, rtol=0, atol=1e-5)


def test_batch_synth_returns_each_item_at_its_own_rate(codec: LLMCodecSoundCodec, model: LLMCodecModel, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [(noise(4000), SR), (noise(15_000, 2), 22_050), (noise(30_000, 4), 48_000)]
    data = [item(x, rate, id=f"c{i}") for i, (x, rate) in enumerate(items)]
    out = codec.batch_synth(data, local_save=False)
    assert out is data
    for d, (x, rate) in zip(out, items):
        codes, _, reconstruction = expected(model, x, rate)
        assert torch.equal(d["unit"], codes)
        assert d["audio"]["sampling_rate"] == rate and d["audio"]["array"].size == x.size
        n = min(x.size, reconstruction.size)
        np.testing.assert_allclose(d["audio"]["array"][:n], reconstruction[:n], rtol=0, atol=1e-5)
    monkeypatch.chdir(tmp_path)
    saved = codec.batch_synth([item(noise(15_000, 2), 22_050, id="x")], local_save=True)
    assert saved[0]["audio"] == "dummy_llmcodec_hf/x.wav"
    assert sf.info(tmp_path / "dummy_llmcodec_hf/x.wav").samplerate == 22_050


def test_empty_batch_like_upstream(codec: LLMCodecSoundCodec) -> None:
    batch = codec.batch_extract_unit([])
    assert (batch.batch_size, batch.units, batch.stuff_for_synth) == (0, [], [])
    assert codec.batch_decode_unit(batch) == []
    assert codec.batch_synth([], local_save=False) == []


def test_audio_shorter_than_one_code_is_a_clear_error(codec: LLMCodecSoundCodec) -> None:
    with pytest.raises(ValueError, match="shorter than one code"):
        codec.extract_unit(item(noise(HOP - 1)))
    with pytest.raises(ValueError, match="mono 1-D"):
        codec.extract_unit(item(np.zeros((2, 4000), np.float32)))


# --------------------------------------------------------------------------- which model loads


@pytest.fixture(scope="module")
def two_model_dirs(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("models")
    tiny(codebook_size=64).save_pretrained(root / "sixty_four")
    tiny(codebook_size=32, seed=1).save_pretrained(root / "thirty_two")
    return root / "sixty_four", root / "thirty_two"


def test_environment_wins_over_the_registration_file(two_model_dirs, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    in_file, in_env = two_model_dirs

    class Codec(LLMCodecSoundCodec):
        model_path = str(in_file)  # what the registration file says

    monkeypatch.setenv("LLMCODEC_MODEL", str(in_env))
    codec = Codec(device="cpu")
    assert codec.model.config.codebook_size == 32 and codec.model_source == str(in_env)
    assert str(in_env) in capsys.readouterr().err  # says which model loaded
    explicit = Codec(model_path=str(in_file), device="cpu")  # an explicit argument is more specific still
    assert explicit.model.config.codebook_size == 64
    monkeypatch.delenv("LLMCODEC_MODEL")
    assert Codec(device="cpu").model.config.codebook_size == 64  # no environment: the file's model_path


def test_no_model_falls_back_to_the_bundled_default(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("LLMCODEC_MODEL", raising=False)
    codec = LLMCodecSoundCodec(device="cpu")
    assert codec.model_source == str(DEFAULT_MODEL_DIR)
    assert str(DEFAULT_MODEL_DIR) in capsys.readouterr().err
    bundled = LLMCodecModel.from_pretrained(DEFAULT_MODEL_DIR)
    assert codec.model.config.to_dict() == bundled.config.to_dict()
    x = noise(SR)
    assert torch.equal(codec.extract_unit(item(x)).unit, bundled.eval().encode(torch.from_numpy(x)[None, None]).audio_codes)


def test_registration_file_pattern(two_model_dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one file a Codec-SUPERB user adds: ``class Codec(LLMCodecSoundCodec, BaseCodec)``, built with no arguments."""

    class BaseCodec:  # stand-in for SoundCodec.base_codec.general.BaseCodec
        def __init__(self) -> None:
            raise AssertionError("BaseCodec.__init__ must not run first")

        def synth(self, data, local_save=True):  # pragma: no cover - must be overridden
            raise AssertionError("BaseCodec.synth must be overridden")

    monkeypatch.setenv("LLMCODEC_MODEL", str(two_model_dirs[0]))

    class Codec(LLMCodecSoundCodec, BaseCodec):
        pass

    codec = Codec()
    assert codec.sampling_rate == SR
    assert codec.synth(item(noise(SR)), local_save=False)["audio"]["array"].shape == (SR,)


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("bad_id", ["../../escaped", "/tmp/absolute_escape", "a/../../b", "..", "..\\..\\x"])
def test_ids_that_leave_the_output_folder_are_refused(codec: LLMCodecSoundCodec, tmp_path, monkeypatch, bad_id) -> None:
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = set(tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="id"):
        codec.synth(item(noise(SR), id=bad_id), local_save=True)
    with pytest.raises(ValueError, match="id"):
        codec.batch_synth([item(noise(SR), id=bad_id)], local_save=True)
    assert not list(tmp_path.rglob("*.wav")) and set(tmp_path.rglob("*")) - before <= {work / "reconstructed_llmcodec_hf", work / "dummy_llmcodec_hf"}


def test_ids_are_reduced_to_file_names_inside_the_output_folder(codec: LLMCodecSoundCodec, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = codec.synth(item(noise(SR), id="spk1/utt:2"), local_save=True)
    path = tmp_path / out["audio"]["path"]
    assert path.parent == tmp_path / "reconstructed_llmcodec_hf" and path.is_file() and path.name.endswith(".wav")
    saved = codec.batch_synth([item(noise(SR), id=7)], local_save=True)
    assert saved[0]["audio"] == "dummy_llmcodec_hf/7.wav"


def test_batch_synth_returns_each_item_at_its_input_length(codec: LLMCodecSoundCodec) -> None:
    """Codec-SUPERB's batch path returns as many samples as each item came with (mixed rates, partial frames)."""
    items = [(noise(16_123, 0), SR), (noise(33_752, 1), 22_050), (noise(65_028, 2), 48_000)]
    out = codec.batch_synth([item(x, rate, id=f"m{i}") for i, (x, rate) in enumerate(items)], local_save=False)
    assert [d["audio"]["array"].size for d in out] == [16_123, 33_752, 65_028]
    for d, (x, rate) in zip(out, items):
        _, _, reconstruction = expected(codec.model, x, rate)  # T * 320 samples at 16 kHz, resampled back
        n = min(reconstruction.size, x.size)
        np.testing.assert_allclose(d["audio"]["array"][:n], reconstruction[:n], rtol=0, atol=1e-5)
        assert not d["audio"]["array"][reconstruction.size:].any()  # the dropped partial frame is silence


@pytest.mark.parametrize("dtype, scale", [(np.int16, 32768.0), (np.int32, 2147483648.0)])
def test_integer_pcm_is_scaled_like_the_feature_extractor(codec: LLMCodecSoundCodec, dtype, scale) -> None:
    x = noise(SR + 500, 3)
    pcm = np.round(x * (scale - 1)).astype(dtype)
    as_float = pcm.astype(np.float64) / scale
    assert torch.equal(codec.extract_unit(item(pcm)).unit, codec.extract_unit(item(as_float)).unit)
    np.testing.assert_allclose(codec.synth(item(pcm), local_save=False)["audio"]["array"],
                               codec.synth(item(as_float), local_save=False)["audio"]["array"], rtol=0, atol=1e-6)
    batch = codec.batch_extract_unit([item(pcm, id="a"), item(as_float, id="b")])
    assert torch.equal(batch.units[0], batch.units[1])
