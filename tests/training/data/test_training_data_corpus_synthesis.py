"""Offline synthetic corpus: text generator, voice split, and a tiny real synthesis run.

The synthesis tests need the Debian packages ``espeak-ng flite festival festvox-kallpc16k
festvox-kdlpc16k festvox-us-slt-hts``; they fail (not skip) with the install command when missing.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from llmcodec.training.data.corpus.synthesis import CorpusConfig, build_corpus, plan_jobs, split_of
from llmcodec.training.data.corpus.text import make_sentences, sentence_for
from llmcodec.training.data.corpus.voices import (
    ENGINES,
    SynthesisError,
    Voice,
    default_voices,
    probe_voice,
    require_engine,
    synthesize,
)


def test_sentences_are_varied_and_deterministic():
    a = make_sentences(400, seed=1)
    assert a == make_sentences(400, seed=1) and a != make_sentences(400, seed=2)
    assert len(set(a)) == 400
    assert sum(s.endswith("?") for s in a) > 20 and sum(any(c.isdigit() for c in s) for s in a) > 20
    lengths = [len(s.split()) for s in a]
    assert min(lengths) <= 3 and max(lengths) >= 20
    assert sentence_for(0, "espeak-ng:en-us+f3", 5) == sentence_for(0, "espeak-ng:en-us+f3", 5)


def test_voice_split_is_by_speaker_and_disjoint():
    voices = default_voices(ENGINES)
    cfg = CorpusConfig(utterances_per_voice=1)
    jobs = plan_jobs(voices, cfg)
    train = {j.voice.speaker for j in jobs if j.split == "train"}
    val = {j.voice.speaker for j in jobs if j.split == "validation"}
    assert train and val and not (train & val)
    # Every engine has voices on both sides, and one speaker never straddles the split.
    for engine in ENGINES:
        assert {j.split for j in jobs if j.voice.engine == engine} == {"train", "validation"}
    assert split_of(Voice("espeak-ng", "en-gb+f2", "espeak:f2"), cfg.validation_speakers) == "validation"
    assert plan_jobs(voices[:3], cfg) == plan_jobs(voices[:3], cfg)
    weighted = plan_jobs([Voice("flite", "slt", "slt")], cfg)
    assert len(weighted) == cfg.engine_weights["flite"]


def test_missing_synthesizer_error_names_apt_packages(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SynthesisError, match="apt-get install -y festival festvox-kallpc16k"):
        require_engine("festival")


@pytest.mark.parametrize("voice", [
    Voice("espeak-ng", "en-gb-scotland+f3", "espeak:f3"),
    Voice("flite", "slt", "slt"),
    Voice("festival", "cmu_us_slt_arctic_hts", "slt"),
], ids=lambda v: v.key)
def test_each_engine_synthesizes(voice):
    require_engine(voice.engine)  # fails with the apt command when the synthesizer is missing
    assert probe_voice(voice) is None
    # Measured for this sentence: 2.39 / 2.47 / 2.40 s (espeak-ng / flite / festival), RMS 0.09 / 0.18 / 0.06;
    # at rate 1.5 each takes 0.66-0.67 of the time.
    text = "The birch canoe slid on the smooth planks."
    audio, rate = synthesize(voice, text)
    faster, faster_rate = synthesize(voice, text, rate=1.5)
    assert audio.dtype == np.float32 and audio.ndim == 1 and faster_rate == rate >= 16000
    seconds = audio.size / rate
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    assert 1.6 < seconds < 3.5, seconds
    assert 0.02 < rms < 0.5 and float(np.abs(audio).max()) <= 1.0, rms
    assert 0.55 < faster.size / audio.size < 0.8, faster.size / audio.size


def test_tiny_build_writes_16k_speech_metadata_and_resumes(tmp_path):
    require_engine("espeak-ng")
    cfg = CorpusConfig(utterances_per_voice=2, engines=("espeak-ng",), max_voices=2,
                       validation_speakers=("espeak:m2",))
    report = build_corpus(str(tmp_path), cfg, workers=1)
    assert report.voices_ok == ["espeak-ng:en-us+m1", "espeak-ng:en-us+m2"] and report.written == 4
    rows = {}
    for split in ("train", "validation"):
        with open(tmp_path / split / "metadata.jsonl") as f:
            rows[split] = [json.loads(line) for line in f]
    assert len(rows["train"]) == 2 and len(rows["validation"]) == 2
    assert {r["voice"] for r in rows["train"]}.isdisjoint({r["voice"] for r in rows["validation"]})
    for split, rs in rows.items():
        for r in rs:
            assert set(r) >= {"file_name", "text", "voice", "engine", "rate", "pitch", "split"} and r["split"] == split
            x, sr = sf.read(tmp_path / split / r["file_name"], dtype="float32")
            assert sr == 16000 and x.ndim == 1 and abs(len(x) / sr - r["duration"]) < 1e-3
            assert len(x) > 0.5 * sr and float(np.sqrt(np.mean(x**2))) > 0.01  # speech, not silence
            assert np.mean(x == 0) < 0.2  # a noise floor instead of the synthesizer's digital silence
    (tmp_path / "train" / "x.wav.tmp123.wav").write_bytes(b"partial")  # left by an interrupted build
    mtimes = {p: os.path.getmtime(p) for p in tmp_path.rglob("*.wav") if ".tmp" not in p.name}
    again = build_corpus(str(tmp_path), cfg, workers=1)
    assert again.written == 0 and again.skipped_existing == 4
    assert mtimes == {p: os.path.getmtime(p) for p in tmp_path.rglob("*.wav")}
    assert not list(tmp_path.rglob("*.tmp*"))

    # The corpus loads both through the project's loader and as a `datasets` audiofolder.
    from datasets import load_dataset

    from llmcodec.training.data.audio_dataset import load_audio_text_dataset

    val = load_audio_text_dataset(str(tmp_path), split="validation")
    assert len(val) == 2 and val[0]["text"] == rows["validation"][0]["text"]
    af = load_dataset("audiofolder", data_dir=str(tmp_path))
    assert sorted(af) == ["train", "validation"] and af["train"].num_rows == 2
    assert "text" in af["train"].column_names


def test_cli_build_and_bad_weight(tmp_path, capsys):
    from llmcodec.cli_data import main

    require_engine("espeak-ng")
    rc = main(["build", str(tmp_path), "--utterances-per-voice", "1", "--engines", "espeak-ng",
               "--max-voices", "2", "--validation-speakers", "espeak:m1", "--seed", "7"])
    assert rc == 0 and "2 written" in capsys.readouterr().out
    assert len(list(tmp_path.rglob("*.wav"))) == 2 and (tmp_path / "corpus.json").is_file()
    assert main(["build", str(tmp_path), "--weight", "nope=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmcodec: error: --weight expects ENGINE=K")
