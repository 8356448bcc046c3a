"""benchmarks/demo_model/ablation_report.py: each arm's seeds from WORK/seedN-ARM, scored on the held-out set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from script_loading import load_script


@pytest.fixture(scope="module")
def report():
    return load_script("benchmarks/demo_model/ablation_report.py")


def _seed(work: Path, seed: int, arm: str, stoi: float, lm_perplexity: float, codes: list[int]) -> None:
    """One finished seed: llmcodec evaluate's summary.json on the held-out set and token-lm's outputs."""
    folder = work / f"seed{seed}-{arm}"
    (folder / "eval").mkdir(parents=True)
    metrics = {"pesq": {"mean": 1.5}, "stoi": {"mean": stoi}}
    summary = {"overall": metrics, "domains": {"conditions": {"pesq": {"mean": 1.2}, "stoi": {"mean": stoi - 0.1}},
                                               "alsa": metrics},
               "codebook": {"perplexity": 4000.0},
               "token_stability": {"mean": {"noise": 0.5, "int16": 0.9, "gain": 1.0, "windowed": 0.8}}}
    (folder / "eval" / "summary.json").write_text(json.dumps({"systems": {"llmcodec": summary}}))
    lm = folder / "token-lm-real"
    (lm / "codes" / "abc-def").mkdir(parents=True)
    (lm / "codes" / "abc-def" / "eval.jsonl").write_text(json.dumps({"codes": codes}) + "\n")
    (lm / "token_lm.json").write_text(json.dumps({
        "codes_cache": "elsewhere/codes/abc-def", "codebook_size": 16, "perplexity": lm_perplexity,
        "k_step_accuracy": [0.1, 0.05, 0.02], "lm_parameters": 2e6, "train_codes": 1000, "eval_codes": len(codes),
        "files": {"train": 10, "eval": 2}}))


def test_arms_over_seeds_from_the_work_folder(report, tmp_path, capsys):
    work, out = tmp_path / "work", tmp_path / "out"
    for seed, stoi in ((0, 0.70), (1, 0.74)):
        _seed(work, seed, "ftp-sa", stoi, lm_perplexity=2.0, codes=[0, 1, 2, 3])
    _seed(work, 2, "recon-gan", 0.80, lm_perplexity=8.0, codes=[0, 0, 1, 1])
    (work / "seed1-recon-gan" / "eval").mkdir(parents=True)  # unfinished: no summary.json, left out

    assert report.main(["--work", str(work), "--out", str(out)]) == 0

    results = json.loads((out / "ablation_seeds.json").read_text())
    assert sorted(results["ftp-sa"]) == ["0", "1"] and sorted(results["recon-gan"]) == ["2"]
    row = results["ftp-sa"]["0"]
    assert row["overall_stoi"] == pytest.approx(0.70) and row["conditions_stoi"] == pytest.approx(0.60)
    assert row["unigram_perplexity"] == pytest.approx(4.0) and row["context_gain"] == pytest.approx(2.0)
    assert results["recon-gan"]["2"]["distinct_codes"] == 2
    table = (out / "ablation_seeds.md").read_text()
    assert "0.720 ± 0.028" in table  # mean and sample SD of the two ftp-sa seeds' held-out STOI
    assert "| 2 (0, 1) |" in table and "| 1 (2) |" in table
    assert "(c)" not in table  # the FTP-5x arm has no finished seed: left out of the table, named on stderr
    assert "ftp-strong" in capsys.readouterr().err
    assert (out / "ablation_seeds.png").stat().st_size > 0


def test_an_arm_without_a_finished_seed_is_an_error(report, tmp_path, capsys):
    _seed(tmp_path, 0, "ftp-sa", 0.7, lm_perplexity=2.0, codes=[0, 1])
    assert report.main(["--work", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "recon-gan" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unigram_perplexity_of_a_codes_file(report, tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"codes": [0, 1]}) + "\n" + json.dumps({"codes": [2, 3]}) + "\n")
    stats = report.unigram_stats(path, 16)
    assert stats["distinct"] == 4 and stats["unigram_perplexity"] == pytest.approx(4.0)
    assert stats["max_entropy_bits"] == pytest.approx(math.log2(16))
