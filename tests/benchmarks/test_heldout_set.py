"""The held-out evaluation set builder (benchmarks/heldout/build_heldout_set.py) on a tiny fake corpus:
held-out speakers only, native rates kept, clips joined to 3 s, the rate x level grid, one folder per source,
the same bytes on every run, and a folder it did not write is never replaced."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from llmcodec.training.data.corpus.recorded_sources import RecordedSource
from repo_paths import REPO_ROOT


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("build_heldout_set", REPO_ROOT / "benchmarks" / "heldout" / "build_heldout_set.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _word(seconds: float, rate: int, f0: float, gain: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * np.hanning(t.size) * gain
    pad = np.zeros(int(0.3 * rate))
    return np.concatenate([pad, wave, pad]).astype(np.float32)


@pytest.fixture()
def fake(tmp_path):
    """A game with a folder per language (two held out, one trained), a prompt voice, ALSA-like clips, a demo clip."""
    words = tmp_path / "game"
    for lang, rate, f0 in (("aa", 44100, 140.0), ("bb", 8000, 200.0), ("cc", 44100, 260.0)):
        (words / lang).mkdir(parents=True)
        for i in range(9):
            sf.write(words / lang / f"w{i}.wav", _word(0.8, rate, f0 + 5 * i), rate)
    sf.write(words / "aa" / "odd.wav", _word(0.8, 22050, 150.0), 22050)  # a minority rate: left out
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for i in range(3):
        sf.write(prompts / f"p{i}.wav", _word(3.5 + i, 16000, 180.0 + 10 * i, gain=0.05), 16000)
    alsa = tmp_path / "alsa"
    alsa.mkdir()
    for name in ("Front_Left", "Rear_Right"):
        sf.write(alsa / f"{name}.wav", _word(1.0, 48000, 220.0), 48000)
    sf.write(tmp_path / "demo.wav", _word(3.4, 16000, 120.0), 16000)
    sources = (
        RecordedSource("game", "fake-game", f"{words}/*/*.wav", "GPL-2+", "many", "one per folder",
                       speaker_from_dir=0, languages=(("aa", "Aaish"), ("bb", "Bbish"), ("cc", "Ccish"))),
        RecordedSource("prompts", "fake-prompts", f"{prompts}/*.wav", "CC-BY-SA-3.0", "Promptish", "one voice"),
    )
    return {"sources": sources, "validation": ("game:aa", "game:bb", "prompts"), "alsa_dir": alsa,
            "arctic": tmp_path / "demo.wav"}


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_builds_held_out_speakers_only_one_folder_per_source(builder, fake, tmp_path):
    from llmcodec.evaluation.sources import folder_items

    out = tmp_path / "set"
    manifest = builder.build(out, seed=3, clips_per_speaker=2, **fake)
    clips = manifest["clips"]
    assert {item.domain for item in folder_items(out)} == {"game", "prompts", "conditions", "alsa", "arctic"}
    assert {c["speaker"] for c in clips if c["source"] == "game"} == {"game:aa", "game:bb"}  # cc is trained on
    assert not any("/cc/" in part for c in clips for part in c["parts"])
    for c in clips:
        info = sf.info(out / c["file"])
        assert info.samplerate == c["native_rate"] and info.frames / info.samplerate == pytest.approx(c["duration"], abs=1e-3)
        if c["source"] in ("game", "prompts"):
            assert 3.0 <= c["duration"] < 6.25 or (len(c["parts"]) == 1 and c["duration"] <= 10.0)
    by_speaker = {s: [c for c in clips if c["speaker"] == s and c["source"] == "game"] for s in ("game:aa", "game:bb")}
    assert [c["native_rate"] for c in by_speaker["game:aa"]] == [44100, 44100]  # its most common rate
    assert [c["native_rate"] for c in by_speaker["game:bb"]] == [8000, 8000]
    assert all(len(c["parts"]) >= 3 and c["language"] in ("Aaish", "Bbish") for cs in by_speaker.values() for c in cs)
    assert not any(p.endswith("odd.wav") for c in clips for p in c["parts"])
    prompt = [c for c in clips if c["source"] == "prompts"]
    assert len(prompt) == 2 and all(len(c["parts"]) == 1 for c in prompt)  # long enough alone
    assert prompt[0]["level_dbfs"] < -25  # a quiet voice keeps its level
    conditions = [c for c in clips if c["source"] == "conditions"]
    grid = {(c["condition"]["rate"], c["condition"]["level_dbfs"]) for c in conditions}
    assert grid == {(r, lv) for r in builder.CONDITION_RATES for lv in builder.CONDITION_LEVELS_DBFS}
    for c in conditions:
        assert c["native_rate"] == c["condition"]["rate"] and c["level_dbfs"] == pytest.approx(c["condition"]["level_dbfs"], abs=0.1)
        assert c["condition"]["from"].startswith("game/aa_")  # only 44.1 kHz clips feed the grid
    assert [c["file"] for c in clips if c["source"] == "alsa"] == ["alsa/Front_Left.wav", "alsa/Rear_Right.wav"]
    summary = manifest["summary"]
    assert summary["clips"] == len(clips) == len(list(out.rglob("*.wav")))
    game_minutes = sum(c["duration"] for cs in by_speaker.values() for c in cs) / 60
    assert summary["per_source"]["game"] == {"clips": 4, "speakers": 2, "languages": ["Aaish", "Bbish"],
                                             "minutes": pytest.approx(game_minutes, abs=0.01), "native_rates": [8000, 44100]}
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_rebuilding_gives_the_same_bytes_and_a_new_seed_another_draw(builder, fake, tmp_path):
    out = tmp_path / "set"
    builder.build(out, seed=3, clips_per_speaker=2, **fake)
    first = _tree(out)
    builder.build(out, seed=3, clips_per_speaker=2, **fake)
    assert _tree(out) == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".set")]  # no temporary left behind
    other = builder.build(tmp_path / "other", seed=4, clips_per_speaker=2, **fake)
    assert [c["parts"] for c in other["clips"]] != [c["parts"] for c in json.loads(first["manifest.json"])["clips"]]


def test_a_folder_it_did_not_write_is_not_replaced(builder, fake, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a held-out set built by this script"):
        builder.build(out, seed=0, clips_per_speaker=1, **fake)
    assert (out / "notes.txt").read_text() == "keep me"
    for argv in (["--output", str(out)], ["--output", str(tmp_path / "new"), "--clips-per-speaker", "0"]):
        with pytest.raises(SystemExit) as exit_info:  # one usage line, exit 2
            builder.main(argv)
        assert exit_info.value.code == 2
    assert (out / "notes.txt").read_text() == "keep me" and not (tmp_path / "new").exists()
