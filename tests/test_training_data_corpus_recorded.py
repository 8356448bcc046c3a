"""The recorded-speech corpus: sources decoded to 16 kHz mono, whole sources held out, resumable, bad files alone;
mixing several corpus folders into one training set."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from llmcodec.training.data.corpus import recorded as corpus_recorded
from llmcodec.training.data.corpus.recorded import RecordedSource, available_sources, build_recorded_corpus

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (scripts/setup.sh installs it)")


def _tone(seconds: float, rate: int, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture()
def fake_sources(tmp_path, monkeypatch):
    """Two fake packages: ogg dialogue at 22.05 kHz named <level>-<speaker>-<line>, and raw G.722 prompts."""
    game = tmp_path / "game"
    for level in ("a", "b"):
        (game / level / "cs").mkdir(parents=True)
        for speaker in ("m", "v"):
            sf.write(game / level / "cs" / f"{level}-{speaker}-line.ogg", _tone(1.0, 22050), 22050, format="OGG")
    (game / "a" / "cs" / "a-m-empty.ogg").write_bytes(b"")  # a broken file must fail alone
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for i in range(3):
        wav = tmp_path / f"p{i}.wav"
        sf.write(wav, _tone(0.5 + 0.25 * i, 16000, 300.0), 16000)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-f", "g722",
                        str(prompts / f"p{i}.g722")], check=True)
    sources = (
        RecordedSource("game-cs", "fake-game-data", f"{game}/*/cs/*.ogg", "GPL-2+", "Czech", "fish", speaker_from_name=1),
        RecordedSource("prompts", "fake-prompts-g722", f"{prompts}/**/*.g722", "CC-BY-SA-3.0", "English", "one",
                       input_format="g722"),
        RecordedSource("absent", "not-installed-pkg", f"{tmp_path}/nothing/*.ogg", "MIT", "none", "nobody"),
    )
    monkeypatch.setattr(corpus_recorded, "SOURCES", sources)
    return sources


@needs_ffmpeg
def test_build_decodes_to_16k_mono_and_holds_out_whole_sources(fake_sources, tmp_path):
    out = tmp_path / "corpus"
    report = build_recorded_corpus(str(out), validation_sources=("prompts",))
    assert report.sources["game-cs"]["files"] == 4 and report.sources["game-cs"]["split"] == "train"
    assert report.sources["prompts"]["files"] == 3 and report.sources["prompts"]["split"] == "validation"
    assert report.sources["game-cs"]["distinct_speaker_ids"] == 2  # speaker field of the file name
    assert report.missing_sources == {"absent": "apt-get install not-installed-pkg"}
    assert list(report.failed) == [str(tmp_path / "game" / "a" / "cs" / "a-m-empty.ogg")]
    assert report.written == 7 and report.skipped_existing == 0
    rows = {split: [json.loads(line) for line in (out / split / "metadata.jsonl").read_text().splitlines()]
            for split in ("train", "validation")}
    assert {r["source"] for r in rows["train"]} == {"game-cs"} and {r["source"] for r in rows["validation"]} == {"prompts"}
    for split, items in rows.items():
        for r in items:
            info = sf.info(out / split / r["file_name"])
            assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
            assert abs(info.frames / 16000 - r["duration"]) < 1e-3 and r["licence"] and r["origin"]
    durations = sorted(r["duration"] for r in rows["validation"])
    assert durations == pytest.approx([0.5, 0.75, 1.0], abs=0.02)  # G.722 decoded at its true length
    manifest = json.loads((out / "corpus.json").read_text())
    assert manifest["report"]["sources"]["prompts"]["licence"] == "CC-BY-SA-3.0"
    # Resumable: a second build decodes nothing and writes the same metadata.
    again = build_recorded_corpus(str(out), validation_sources=("prompts",))
    assert again.written == 0 and again.skipped_existing == 7
    assert [json.loads(x) for x in (out / "train" / "metadata.jsonl").read_text().splitlines()] == rows["train"]


def test_unknown_or_uninstalled_sources_are_named(fake_sources, tmp_path):
    with pytest.raises(ValueError, match="unknown recorded source"):
        available_sources(["klingon"])
    with pytest.raises(RuntimeError, match="apt-get install not-installed-pkg"):
        build_recorded_corpus(str(tmp_path / "x"), sources=["absent"])


@needs_ffmpeg
def test_extra_datasets_mix_folders_into_one_training_set(fake_sources, tmp_path):
    from llmcodec.training.data.training_data import build_train_dataset
    from test_training_trainer_helpers import tiny_args

    a, b = tmp_path / "a", tmp_path / "b"
    build_recorded_corpus(str(a), sources=["game-cs"], validation_sources=())
    build_recorded_corpus(str(b), sources=["prompts"], validation_sources=())
    margs, dargs, args = tiny_args(tmp_path / "run", dataset=str(a), extra_datasets=[str(b)], train_split="train",
                     lambda_sa_cosine=0.0, lambda_sa_contrast=0.0)
    ds = build_train_dataset(dargs, args)
    assert len(ds) == 4 + 3
    lengths = sorted(round(ds[i]["audio"].shape[-1] / 16000, 2) for i in range(len(ds)))
    assert lengths[:3] == pytest.approx([0.5, 0.75, 1.0], abs=0.02) and lengths[3:] == pytest.approx([1.0] * 4, abs=0.02)
    with pytest.raises(ValueError, match="data folder not found"):
        build_train_dataset(*tiny_args(tmp_path / "run", dataset=str(a), extra_datasets=[str(tmp_path / "typo")],
                                       train_split="train", lambda_sa_cosine=0.0, lambda_sa_contrast=0.0)[1:])


# ------------------------------------------------------------------ building the synthetic corpus on first use


def _corpus_args(tmp_path, path, **kw):
    from test_training_trainer_helpers import tiny_args

    return tiny_args(tmp_path / "run", dataset=str(path), build_corpus_if_missing=True, corpus_max_voices=2,
                     corpus_utterances_per_voice=1, train_split="train", **kw)


def test_first_use_builds_with_the_installed_synthesizers_only(tmp_path, monkeypatch):
    # A machine without flite: the corpus is built with what is there instead of ending in a traceback.
    import llmcodec.training.data.corpus.voices as voices
    from llmcodec.training.data.training_data import build_train_dataset

    if not voices.installed_engines(["espeak-ng"]):
        pytest.skip("espeak-ng not installed (scripts/setup.sh installs it)")
    real_which = shutil.which
    monkeypatch.setattr(voices.shutil, "which", lambda name: None if name in ("flite", "text2wave") else real_which(name))
    assert voices.installed_engines() == ["espeak-ng"]
    path = tmp_path / "corpus"
    ds = build_train_dataset(*_corpus_args(tmp_path, path)[1:])
    assert len(ds) >= 1
    engines = {json.loads(line)["engine"] for split in ("train", "validation") if (path / split / "metadata.jsonl").exists()
               for line in (path / split / "metadata.jsonl").read_text().splitlines()}
    assert engines == {"espeak-ng"}


def test_a_failed_build_leaves_no_empty_corpus_and_an_empty_folder_is_rebuilt(tmp_path, monkeypatch):
    import llmcodec.training.data.corpus.voices as voices
    from llmcodec.training.data.audio_dataset import DataError
    from llmcodec.training.data.training_data import build_train_dataset

    path = tmp_path / "corpus"
    real_which = shutil.which
    monkeypatch.setattr(voices.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="no speech synthesizer.*apt-get install"):
        build_train_dataset(*_corpus_args(tmp_path, path)[1:])
    assert not path.exists()
    # A folder left empty by an older failed build is built into, not reported as "no audio files".
    monkeypatch.setattr(voices.shutil, "which", real_which)
    if not voices.installed_engines(["espeak-ng"]):
        pytest.skip("espeak-ng not installed (scripts/setup.sh installs it)")
    path.mkdir()
    assert len(build_train_dataset(*_corpus_args(tmp_path, path)[1:])) >= 1
