"""``llmcodec evaluate``: report files, per-domain means, resume, bad files, baselines, datasets."""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil

import numpy as np
import pytest
import soundfile as sf

from codec_testing import tiny_model
from llmcodec import cli_evaluation
from llmcodec.evaluation.evaluate import EvaluateConfig, evaluate
from llmcodec.evaluation.output_folder import JsonlLog
from llmcodec.evaluation.report import codebook_statistics
from llmcodec.evaluation.sources import dataset_items, folder_items, load_hf_dataset
from llmcodec.errors import UserError
from llmcodec.hub import save_codec_folder

SR = 16_000
METRICS = ("mel", "stft", "waveform", "pesq", "stoi", "f0corr")


def voiced(seconds: float, f0: float, seed: int, sample_rate: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(f0 + 20 * np.sin(2 * np.pi * 0.9 * t)) / sample_rate
    envelope = 0.3 + 0.7 * np.sin(2 * np.pi * 2.0 * t) ** 2
    x = 0.1 * envelope * sum(np.sin(k * phase) / k for k in range(1, 8)) + 0.003 * rng.standard_normal(t.size)
    return x.astype(np.float32)


@pytest.fixture()
def corpus(tmp_path):
    """speech/ (2 files, one at 24 kHz), music/ (1 file), a root file and an unreadable one."""
    root = tmp_path / "data"
    (root / "speech").mkdir(parents=True)
    (root / "music").mkdir()
    sf.write(root / "speech" / "a.wav", voiced(1.0, 120, 0), SR)
    sf.write(root / "speech" / "b.flac", voiced(1.2, 180, 1, 24_000), 24_000)
    sf.write(root / "music" / "c.wav", voiced(0.8, 220, 2), SR)
    sf.write(root / "d.wav", voiced(0.9, 150, 3), SR)
    (root / "speech" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    return root


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=0)


def read_rows(out):
    return [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]


def test_evaluate_writes_reports_with_correct_means(corpus, model, tmp_path) -> None:
    out = tmp_path / "out"
    items = folder_items(corpus)
    assert sorted(i.domain for i in items) == ["default", "music", "speech", "speech", "speech"]
    summary = evaluate(model, items, out, EvaluateConfig(batch_size=2, num_plots=2, progress=False))

    for name in ("rows.jsonl", "rows.csv", "codes.jsonl", "summary.json", "report.md"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    rows = read_rows(out)
    assert len(rows) == 5
    broken = [r for r in rows if r["id"].endswith("broken.wav")]
    assert len(broken) == 1 and broken[0]["status"] == "error" and broken[0]["error"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 4

    entry = summary["systems"]["llmcodec"]
    assert (entry["files"], entry["ok"], entry["failed"]) == (5, 4, 1)
    assert list(entry["failures"]) == ["speech/broken.wav"]
    # Per-domain and overall means equal hand-computed means over the rows.
    for metric in ("mel", "stft", "waveform"):
        speech = [r[metric] for r in ok if r["domain"] == "speech"]
        assert len(speech) == 2
        assert entry["domains"]["speech"][metric]["mean"] == pytest.approx(sum(speech) / 2)
        assert entry["domains"]["speech"][metric]["count"] == 2
        assert entry["overall"][metric]["mean"] == pytest.approx(sum(r[metric] for r in ok) / 4)
    assert entry["domains"]["speech"]["files"] == 3
    # The 24 kHz file is scored at its native rate.
    assert next(r for r in ok if r["id"] == "speech/b.flac")["sample_rate"] == 24_000

    # Codes and rates: 16 kHz / 320 hop -> floor(L / 320) codes per file.
    codes = {c["id"]: c["codes"] for c in map(json.loads, (out / "codes.jsonl").read_text().splitlines())}
    assert len(codes["speech/a.wav"]) == SR // 320
    assert entry["bitrate_bps"] == pytest.approx(50 * math.log2(256))
    total_codes = sum(r["n_codes"] for r in ok)
    assert entry["token_rate_hz"] == pytest.approx(total_codes / sum(r["duration_s"] for r in ok))
    assert 49 < entry["token_rate_hz"] <= 50
    assert entry["codebook"]["n_codes"] == total_codes
    assert entry["codebook"]["used_codes"] == len({c for v in codes.values() for c in v})
    assert entry["rtf_encode"] > 0 and entry["rtf_decode"] > 0

    with open(out / "rows.csv", newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert len(csv_rows) == 5 and float(csv_rows[0]["mel"]) == pytest.approx(rows[0]["mel"])
    pngs = sorted((out / "plots").glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    report = (out / "report.md").read_text()
    assert "| llmcodec |" in report and f"](plots/{pngs[0].name})" in report and "broken.wav" in report


def test_evaluate_resumes_and_drops_torn_line(corpus, model, tmp_path) -> None:
    out = tmp_path / "out"
    items = folder_items(corpus)
    evaluate(model, items[:2], out, EvaluateConfig(batch_size=1, num_plots=0, progress=False))
    assert len(read_rows(out)) == 2
    with open(out / "rows.jsonl", "a") as handle:  # an interrupted append
        handle.write('{"system": "llmcodec", "id": "x", "dom')
    calls: list[str] = []
    wrapped = [type(i)(i.id, i.domain, (lambda i=i: (calls.append(i.id), i.load())[1])) for i in items]
    summary = evaluate(model, wrapped, out, EvaluateConfig(batch_size=2, num_plots=0, progress=False))
    assert sorted(calls) == sorted(i.id for i in items[2:])  # the first two files were not read again
    rows = read_rows(out)
    assert len(rows) == 5 and len({r["id"] for r in rows}) == 5
    assert summary["systems"]["llmcodec"]["files"] == 5


def test_jsonl_log_roundtrip_with_nan(tmp_path) -> None:
    log = JsonlLog(tmp_path / "x.jsonl")
    log.append([{"a": float("nan"), "b": 1.5}])
    assert log.read() == [{"a": None, "b": 1.5}]


def test_codebook_statistics() -> None:
    stats = codebook_statistics([[0, 1, 2, 3], [0, 1, 2, 3]], codebook_size=16)
    assert stats["used_codes"] == 4 and stats["usage"] == 0.25
    assert stats["entropy_bits"] == pytest.approx(2.0) and stats["normalized_entropy"] == pytest.approx(0.5)


@pytest.mark.skipif(shutil.which("opusenc") is None, reason="opus-tools not installed")
def test_evaluate_with_baseline_and_dataset(model, tmp_path) -> None:
    from datasets import Audio, Dataset

    data = Dataset.from_dict({
        "audio": [{"array": voiced(1.0, 130, i), "sampling_rate": SR} for i in range(3)],
        "split": ["Speech", "Speech", "Music"],
        "key": ["u0", "u1", "u2"],
    }).cast_column("audio", Audio(sampling_rate=SR))
    data.save_to_disk(tmp_path / "ds")
    items = dataset_items(load_hf_dataset(str(tmp_path / "ds")), "audio", "split", "key")
    assert [(i.id, i.domain) for i in items] == [("u0", "Speech"), ("u1", "Speech"), ("u2", "Music")]
    out = tmp_path / "out"
    summary = evaluate(model, items, out, EvaluateConfig(baselines=["opus_6kbps"], num_plots=0, progress=False))
    assert set(summary["systems"]) == {"llmcodec", "opus_6kbps"}
    opus = summary["systems"]["opus_6kbps"]
    assert opus["ok"] == 3 and opus["bitrate_bps"] == 6000.0
    assert opus["overall"]["pesq"]["mean"] > summary["systems"]["llmcodec"]["overall"]["pesq"]["mean"]
    assert "| opus_6kbps |" in (out / "report.md").read_text()


def test_evaluate_cli(corpus, model, tmp_path, capsys) -> None:
    save_codec_folder(model, tmp_path / "model")
    parser = argparse.ArgumentParser(prog="llmcodec")
    cli_evaluation.add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate", "--model", str(tmp_path / "model"), "--data", str(corpus),
                              "--output", str(tmp_path / "out"), "--num-plots", "1"])
    code = args.func(args)
    assert code == 1  # the broken file is reported in the exit status
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["systems"]["llmcodec"]["files"] == 5 and summary["systems"]["llmcodec"]["failed"] == 1
    assert "1 failed" in capsys.readouterr().err
    args = parser.parse_args(["evaluate", "--model", str(tmp_path / "model"), "--output", str(tmp_path / "o2")])
    with pytest.raises(UserError, match="--data"):
        args.func(args)


def test_f0corr_convention_is_reported_and_switchable(model, tmp_path) -> None:
    """A clip without voiced frames: F0Corr 0.0 in the means by default (Codec-SUPERB), left out with strict."""
    from llmcodec.evaluation.metrics import MetricOptions

    root = tmp_path / "data"
    root.mkdir()
    sf.write(root / "voiced.wav", voiced(1.0, 140, 0), SR)
    sf.write(root / "hiss.wav", (0.05 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32), SR)
    results = {}
    for name, options in (("default", MetricOptions.codec_superb()), ("strict", MetricOptions(f0corr_fallback=False))):
        out = tmp_path / name
        summary = evaluate(model, folder_items(root), out, EvaluateConfig(num_plots=0, progress=False, metric_options=options))
        results[name] = (summary, {r["id"]: r for r in read_rows(out)}, (out / "report.md").read_text())
    summary, rows, report = results["default"]
    assert summary["metric_options"]["f0corr_failures"].startswith("0.0 (Codec-SUPERB")
    assert "F0Corr of a clip without voiced frames: 0.0 (Codec-SUPERB" in report
    assert rows["hiss.wav"]["f0corr"] == 0.0 and "no voiced frames" in rows["hiss.wav"]["metric_errors"]["f0corr"]
    overall = summary["systems"]["llmcodec"]["overall"]["f0corr"]
    assert overall["count"] == 2 and overall["fallback"] >= 1
    assert overall["mean"] == pytest.approx(np.mean([r["f0corr"] for r in rows.values()]))
    summary, rows, report = results["strict"]
    assert summary["metric_options"]["f0corr_failures"].startswith("null") and "F0Corr of a clip without voiced frames: null" in report
    assert rows["hiss.wav"]["f0corr"] is None
    overall = summary["systems"]["llmcodec"]["overall"]["f0corr"]
    assert overall["failed"] >= 1 and overall["fallback"] == 0


def test_resume_refuses_another_model_or_other_metric_options(corpus, model, tmp_path, capsys) -> None:
    from codec_testing import tiny_model
    from llmcodec.cli import main

    save_codec_folder(model, tmp_path / "first")
    save_codec_folder(tiny_model(seed=1), tmp_path / "other")
    out = tmp_path / "ev"
    common = ["evaluate", "--data", str(corpus), "--output", str(out), "--num-plots", "0", "--no-token-stability"]
    assert main([*common, "--model", str(tmp_path / "first")]) == 1  # the broken file
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["path"] == str(tmp_path / "first") and len(run["model"]["weights_sha256"]) == 64
    assert run["metric_options"]["stoi_backend"] == "codec_superb"
    rows = (out / "rows.jsonl").read_text()
    capsys.readouterr()
    for change in (["--model", str(tmp_path / "other")], ["--model", str(tmp_path / "first"), "--textbook"]):
        assert main([*common, *change]) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("llmcodec: error:")]
        assert len(lines) == 1 and str(out) in lines[0] and "Traceback" not in err, err
        assert (out / "rows.jsonl").read_text() == rows  # nothing mixed in
        assert json.loads((out / "summary.json").read_text())["model"] == str(tmp_path / "first")
    # The same weights under another path are the same model: the run resumes (nothing left to do).
    shutil.copytree(tmp_path / "first", tmp_path / "copy")
    assert main([*common, "--model", str(tmp_path / "copy")]) == 1
    assert (out / "rows.jsonl").read_text() == rows


def test_a_file_name_that_is_not_utf8_gets_an_error_row_and_the_rest_go_on(model, tmp_path) -> None:
    import os

    root = tmp_path / "data"
    root.mkdir()
    sf.write(root / "a.wav", voiced(0.8, 120, 0), SR)
    sf.write(root / "b.wav", voiced(0.8, 150, 1), SR)
    os.rename(os.fsencode(root / "b.wav"), os.fsencode(root) + b"/b\xff.wav")
    sf.write(root / "c.wav", voiced(0.8, 180, 2), SR)
    out = tmp_path / "out"
    config = EvaluateConfig(num_plots=1, progress=False, token_stability=None)
    summary = evaluate(model, folder_items(root), out, config)
    rows = read_rows(out)
    assert len(rows) == 3 and summary["systems"]["llmcodec"]["files"] == 3
    named = [r for r in rows if r["id"] not in ("a.wav", "c.wav")]
    assert len(named) == 1 and "\\xff" in named[0]["id"]  # the file is named, its bad byte shown escaped
    assert all(r["status"] == "ok" for r in rows if r["id"] in ("a.wav", "c.wav"))
    codes = (out / "codes.jsonl").read_text()
    evaluate(model, folder_items(root), out, config)  # a rerun finds every file done
    assert read_rows(out) == rows and (out / "codes.jsonl").read_text() == codes
    # The audio readers cannot open such a name: an error row that names the file; the other files go on.
    assert named[0]["status"] == "error" and "b\\xff.wav" in named[0]["error"]
    assert "`b\\xff.wav`" in (out / "report.md").read_text()
