"""Code agreement between two codecs: frame share and unit edit distance on known sequences, and the command."""

from __future__ import annotations

import json

import pytest

from code_stand_ins import CyclicCodec, RandomCodec, items
from llmcodec.evaluation.code_agreement import code_agreement, run_code_agreement


def test_known_agreement_and_edit_distance() -> None:
    a = {"x": [1, 1, 2, 2, 3, 3], "y": [4, 4, 4, 5]}
    same = code_agreement(a, a, resamples=100)
    assert same["frame_agreement"]["mean"] == 1.0 and same["ued"]["mean"] == 0.0
    # A boundary moved by one frame: one frame differs, but the deduplicated strings are equal (UED 0).
    moved = code_agreement(a, {"x": [1, 2, 2, 2, 3, 3], "y": [4, 4, 4, 5]}, resamples=100)
    assert moved["frame_agreement"]["mean"] == pytest.approx(9 / 10) and moved["ued"]["mean"] == 0.0
    # Relabelled codes: no frame agrees; x's dedup string 1 2 3 -> 7 8 9 is 3 substitutions of 3, y's 2 of 2.
    relabelled = code_agreement(a, {"x": [7, 7, 8, 8, 9, 9], "y": [6, 6, 6, 0]}, resamples=100)
    assert relabelled["frame_agreement"]["mean"] == 0.0 and relabelled["ued"]["mean"] == pytest.approx(1.0)
    assert code_agreement(a, {"x": [1, 1, 2, 2, 3]}, resamples=10)["length_mismatch_files"] == 1
    with pytest.raises(ValueError, match="in common"):
        code_agreement(a, {"z": [1]})


def test_run_code_agreement_writes_a_report(tmp_path) -> None:
    result = run_code_agreement(CyclicCodec(), RandomCodec(), items(5), tmp_path, progress=False)
    assert result["files"] == 5 and result["frame_agreement"]["mean"] < 0.3
    assert json.loads((tmp_path / "code_agreement.json").read_text())["codec_b"] == "random"
    again = run_code_agreement(CyclicCodec(), CyclicCodec(), items(5), tmp_path / "same", progress=False)
    assert again["frame_agreement"]["mean"] == 1.0
