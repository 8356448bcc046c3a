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
    from trainer_testing import tiny_args

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
    from trainer_testing import tiny_args

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


# ------------------------------------------------------------------ speakers, duplicates and held-out speakers


def _word(seconds: float, rate: int, f0: float) -> np.ndarray:
    """A voiced-sounding 'word': harmonics of f0 under a Hann envelope, 0.2 s of silence either side."""
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * np.hanning(t.size) * 0.2
    pad = np.zeros(int(0.2 * rate))
    return np.concatenate([pad, wave, pad]).astype(np.float32)


@pytest.fixture()
def kde_like(tmp_path):
    """Two KDE-like games (a folder per language) and voice packs, laid out as the real packages are."""
    letters, words, packs = tmp_path / "klettres", tmp_path / "ktuberling" / "sounds", tmp_path / "voices"
    for lang, f0 in (("fr", 110.0), ("pt_BR", 130.0), ("nb", 150.0)):
        (letters / lang / "alpha").mkdir(parents=True)
        for i in range(3):
            sf.write(letters / lang / "alpha" / f"{i}.ogg", _word(0.5, 44100, f0 + i), 44100, format="OGG")
    for lang, f0 in (("fr", 170.0), ("pt", 190.0), ("nn", 210.0), ("sr", 230.0), ("sr@latin", 230.0)):
        (words / lang).mkdir(parents=True)
        for i in range(2):
            sf.write(words / lang / f"w{i}.wav", _word(0.5, 22050, f0 + i), 22050)
    for pack, f0 in (("Default", 250.0), ("Classic", 270.0), ("Robot", 100.0), ("British", 290.0)):
        (packs / pack).mkdir(parents=True)
        sf.write(packs / pack / f"{pack}.ogg", _word(0.4, 44100, f0), 44100, format="OGG")
        sf.write(packs / pack / "Hello.ogg", _word(0.6, 44100, f0 * 1.1), 44100, format="OGG")
    (packs / "Classic" / "Ouch.ogg").write_bytes((packs / "Default" / "Default.ogg").read_bytes())  # shared grunt
    langs = (("fr", "French"), ("pt_BR", "Portuguese (BR)"), ("nb", "Norwegian Bokmål"), ("pt", "Portuguese"))
    return (
        RecordedSource("klettres", "fake-klettres-data", f"{letters}/*/*/*.ogg", "GPL-2+", "many", "one per folder",
                       speaker_from_dir=0, languages=langs, link="kde-edu:{lang}"),
        RecordedSource("ktuberling", "fake-ktuberling-data", f"{words}/*/*", "GPL-2+", "many", "one per folder",
                       speaker_from_dir=0, languages=langs, link="kde-edu:{lang}"),
        RecordedSource("hedgewars", "fake-hedgewars-data", f"{packs}/*/*.ogg", "GFDL-1.3", "English", "packs",
                       speaker_from_dir=0, exclude=r"/voices/Robot/"),
    )


def test_speaker_ids_come_from_language_folders_and_voice_packs(kde_like, tmp_path):
    letters, words, packs = kde_like
    assert {letters.speaker_of(p) for p in letters.files()} == {"klettres:fr", "klettres:pt_BR", "klettres:nb"}
    assert {words.speaker_of(p) for p in words.files()} == {f"ktuberling:{x}" for x in ("fr", "pt", "nn", "sr", "sr@latin")}
    assert {packs.speaker_of(p) for p in packs.files()} == {"hedgewars:Default", "hedgewars:Classic", "hedgewars:British"}
    assert not any("/Robot/" in p for p in packs.files())  # the processed pack is left out
    assert letters.language_of(letters.files()[0]) == "French" and packs.language_of(packs.files()[0]) == "English"
    assert letters.link_of(str(tmp_path / "klettres" / "pt_BR" / "alpha" / "0.ogg")) == "kde-edu:pt"
    assert words.link_of(str(tmp_path / "ktuberling" / "sounds" / "nn" / "w0.wav")) == "kde-edu:no"
    # fillets-ng names "<level>-<speaker>-<line>"; "<level>-<line>" names no speaker.
    dialogue = RecordedSource("d", "p", "/x/*.ogg", "GPL-2+", "Czech", "fish", speaker_from_name=1)
    assert dialogue.speaker_of("/x/let-m-oko.ogg") == "d:m" and dialogue.speaker_of("/x/zav-konec.ogg") == "d:unknown"


def test_every_catalogued_source_names_its_licence_and_the_default_split_resolves():
    from llmcodec.training.data.corpus.recorded_sources import DEFAULT_VALIDATION_SOURCES, LANGUAGE_NAMES, SOURCES

    assert all(s.licence and s.package and s.speakers for s in SOURCES)
    names = {s.name: s for s in SOURCES}
    packs = dict(names["hedgewars"].languages)
    for selector in DEFAULT_VALIDATION_SOURCES:
        source, _, field_ = selector.partition(":")
        assert source in names, selector
        if field_:
            assert field_ in (packs if source == "hedgewars" else LANGUAGE_NAMES), selector
    assert "asterisk-ru" in DEFAULT_VALIDATION_SOURCES and "asterisk-fr-armelle" in DEFAULT_VALIDATION_SOURCES


def test_identical_files_are_kept_once_and_possible_doubles_are_held_out_together(kde_like):
    from llmcodec.training.data.corpus.recorded_split import assign_splits, collect_files

    listing = collect_files(kde_like)
    assert listing.duplicates == {"ktuberling": 2, "hedgewars": 1}  # sr@latin = sr; Classic's grunt = Default's
    assert sorted(listing.shared) == [("hedgewars:Classic", "hedgewars:Default"), ("ktuberling:sr", "ktuberling:sr@latin")]
    assert "ktuberling:sr@latin" not in {f.speaker for f in listing.files}
    plan = assign_splits(listing, ["ktuberling:pt", "ktuberling:nn", "hedgewars:Default"], kde_like)
    held = {s for s, split in plan.split.items() if split == "validation"}
    # pt_BR may be the reader of pt, nb of nn (same base language in the two games); Classic shares a recording.
    assert held == {"ktuberling:pt", "ktuberling:nn", "klettres:pt_BR", "klettres:nb", "hedgewars:Default",
                    "hedgewars:Classic"}
    assert plan.reason["klettres:pt_BR"] == "may be the same person (kde-edu:pt): held out with ktuberling:pt"
    assert plan.reason["hedgewars:Classic"] == "shares recordings: held out with hedgewars:Default"
    assert plan.reason["ktuberling:pt"] == "selected"
    assert plan.split["klettres:fr"] == plan.split["ktuberling:fr"] == plan.split["hedgewars:British"] == "train"
    # A whole source is held out with its every speaker.
    assert {s for s, split in assign_splits(listing, ["hedgewars"], kde_like).split.items() if split == "validation"} \
        == {"hedgewars:Default", "hedgewars:Classic", "hedgewars:British"}


def test_unknown_validation_sources_and_speakers_are_named(kde_like):
    from llmcodec.training.data.corpus.recorded_split import assign_splits, collect_files

    listing = collect_files(kde_like)
    with pytest.raises(ValueError, match="unknown validation source 'klingon'"):
        assign_splits(listing, ["klingon"], kde_like)
    with pytest.raises(ValueError, match=r"'ktuberling:xx' not found; ktuberling has: fr, nn, pt, sr, sr@latin"):
        assign_splits(listing, ["ktuberling:xx"], kde_like)


def test_build_splits_a_source_by_speaker_and_records_why(kde_like, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_recorded, "SOURCES", kde_like)
    out = tmp_path / "corpus"
    report = build_recorded_corpus(str(out), validation_sources=("ktuberling:pt", "hedgewars:British"))
    klettres, ktuberling = report.sources["klettres"], report.sources["ktuberling"]
    assert klettres["split"] == ktuberling["split"] == "train+validation"
    assert klettres["by_split"]["validation"]["speakers"] == ["klettres:pt_BR"]
    assert ktuberling["by_split"]["validation"] == {"files": 2, "hours": pytest.approx(2 * 0.9 / 3600, abs=1e-3),
                                                    "speakers": ["ktuberling:pt"]}
    assert ktuberling["duplicates_left_out"] == 2 and ktuberling["files"] == 8
    assert report.sources["hedgewars"]["split"] == "train+validation"
    manifest = json.loads((out / "corpus.json").read_text())["report"]
    assert manifest["held_out"]["klettres:pt_BR"].startswith("may be the same person (kde-edu:pt)")
    assert ["hedgewars:Classic", "hedgewars:Default"] in manifest["shared_recordings"]
    rows = [json.loads(x) for x in (out / "validation" / "metadata.jsonl").read_text().splitlines()]
    assert {(r["speaker"], r["language"]) for r in rows} == {
        ("klettres:pt_BR", "Portuguese (BR)"), ("ktuberling:pt", "Portuguese"), ("hedgewars:British", "English")}
    train = [json.loads(x) for x in (out / "train" / "metadata.jsonl").read_text().splitlines()]
    assert not {r["speaker"] for r in train} & {r["speaker"] for r in rows}
    # Holding out nothing afterwards moves every speaker to training and drops the stale validation metadata.
    build_recorded_corpus(str(out), validation_sources=())
    assert not (out / "validation" / "metadata.jsonl").exists()
    assert len((out / "train" / "metadata.jsonl").read_text().splitlines()) == len(train) + len(rows)


def test_decoding_scales_a_signal_above_full_scale_instead_of_clipping_it(tmp_path):
    loud = 4.0 * _tone(0.5, 22050)  # peak 1.2: Vorbis and float files can hold it
    sf.write(tmp_path / "loud.wav", loud, 22050, subtype="FLOAT")
    corpus_recorded.decode_to_wav(str(tmp_path / "loud.wav"), str(tmp_path / "out.wav"))
    decoded, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 16000 and 0.95 < np.abs(decoded).max() <= 1.0
    reference = corpus_recorded.read_native(str(tmp_path / "loud.wav"))[0]
    assert np.abs(reference).max() == pytest.approx(0.99, abs=1e-4)
    t = np.arange(decoded.size) / 16000
    clean = np.sin(2 * np.pi * 220.0 * t)
    assert abs(np.corrcoef(decoded[200:-200], clean[200:-200])[0, 1]) > 0.999  # clipping would flatten the peaks


def test_a_recording_without_samples_fails_alone_with_a_plain_message(tmp_path):
    sf.write(tmp_path / "empty.ogg", np.zeros(0, dtype=np.float32), 22050, format="OGG")  # as two fillets-ng lines
    with pytest.raises(RuntimeError, match="^decoded to 0 samples$"):
        corpus_recorded.decode_to_wav(str(tmp_path / "empty.ogg"), str(tmp_path / "out" / "empty.wav"))
    assert not list((tmp_path / "out").iterdir())  # no partial file
