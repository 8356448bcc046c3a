"""benchmarks/heldout/compare.py: a model counts a source only when it is at or above Codec2 1200 on both metrics."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from repo_paths import REPO_ROOT


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("heldout_compare", REPO_ROOT / "benchmarks" / "heldout" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _means(pesq: float, stoi: float) -> dict:
    return {"files": 2, "pesq": pesq, "stoi": stoi}


def _result(model: dict[str, tuple[float, float]], baseline: dict[str, tuple[float, float]] | None = None) -> dict:
    sources = {s: {"llmcodec": _means(*v)} for s, v in model.items()}
    if baseline:
        for s, v in baseline.items():
            sources[s]["codec2_1200"] = _means(*v)
    overall = {"llmcodec": _means(1.5, 0.8)}
    if baseline:
        overall["codec2_1200"] = _means(1.4, 0.79)
    return {"source": sources, "overall": overall,
            "token_stability": {k: {p: 0.5 for p in ("noise", "int16", "gain", "windowed")}
                                for k in ("mean", "speech", "ued")}}


def test_wins_need_both_metrics_at_the_reported_precision(compare, tmp_path, capsys):
    reference = {"a": (1.40, 0.800), "b": (1.40, 0.800), "c": (1.40, 0.800)}
    # a: equal at the printed precision (counts); b: better PESQ, worse STOI (does not); c: worse PESQ (does not).
    model = {"a": (1.3951, 0.8004), "b": (1.60, 0.799), "c": (1.39, 0.900)}
    (tmp_path / "base.json").write_text(json.dumps(_result(model, reference)))
    (tmp_path / "m.json").write_text(json.dumps(_result(model)))
    assert compare.main(["m", "--baselines-from", "base", "--results", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("| m |"))
    assert row.endswith("| 1 of 3 |")
    assert "| codec2_1200 | 1.40 / 0.800 |" in table
    assert "50.0 % / 50.0 % / 50.0 %" in table


def test_a_missing_result_or_baseline_is_one_line(compare, tmp_path, capsys):
    (tmp_path / "m.json").write_text(json.dumps(_result({"a": (1.0, 0.5)})))
    with pytest.raises(SystemExit) as missing:
        compare.main(["m", "--baselines-from", "nope", "--results", str(tmp_path)])
    assert missing.value.code == 2 and "nope.json not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as no_baselines:
        compare.main(["m", "--baselines-from", "m", "--results", str(tmp_path)])
    assert no_baselines.value.code == 2 and "no codec2_1200 rows" in capsys.readouterr().err
