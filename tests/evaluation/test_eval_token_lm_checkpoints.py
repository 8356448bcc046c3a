"""Resumable token-LM training: a seed killed mid-training continues from its newest checkpoint on a rerun with
the same settings (and ends where an uninterrupted run ends); checkpoints of another run are never resumed."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from transformers import TrainerCallback

import llmcodec.evaluation.token_lm as token_lm
from cli_testing import exit_status
from code_stand_ins import CyclicCodec, items
from llmcodec.evaluation.token_lm import run_token_lm
from llmcodec.evaluation.token_lm_checkpoints import IDENTITY_FILE, checkpoints
from llmcodec.evaluation.token_lm_model import TokenLMConfig
from token_lm_testing import TINY_LM_SIZES

# 9 training files x 3 windows = 27 windows, 4 batches of 8 per epoch: 12 optimizer steps in 3 epochs.
RUN = dict(TINY_LM_SIZES, epochs=3, batch_size=8, learning_rate=1e-2, max_codes=32, eval_fraction=0.25,
           anchors_per_sequence=4)
TOTAL_STEPS = 12


class Killed(Exception):
    """Stands for the process being killed."""


class KillAfterSave(TrainerCallback):
    """Raises right after the Trainer has written the checkpoint of optimizer step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"killed after step {self.step}")


class StepLog(TrainerCallback):
    """Records each optimizer step a training run takes, and what the trainer folder held when it began."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.folder_at_start: list[str] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.folder_at_start = sorted(p.name for p in Path(args.output_dir).iterdir())

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def with_callbacks(monkeypatch, *callbacks) -> None:
    """Make ``run_seed`` train with these extra Trainer callbacks."""
    monkeypatch.setattr(token_lm, "train_lm", functools.partial(token_lm.train_lm, callbacks=callbacks))


def run(out, monkeypatch, *callbacks, **changes):
    with monkeypatch.context() as patch:
        with_callbacks(patch, *callbacks)
        return run_token_lm(CyclicCodec(), items(12), out, TokenLMConfig(**{**RUN, **changes}), progress=False,
                            resamples=50, save_steps=4)


def per_window_nll(out) -> list[float]:
    return json.loads((out / "seeds" / "seed0.json").read_text())["per_sequence"]["nll"]


@pytest.mark.parametrize("killed_at", [8, TOTAL_STEPS])  # mid-training, and after the last step's checkpoint
def test_an_interrupted_seed_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_run(tmp_path, monkeypatch,
                                                                                          capsys, killed_at) -> None:
    whole = StepLog()
    reference = run(tmp_path / "whole", monkeypatch, whole)
    assert whole.steps == list(range(1, TOTAL_STEPS + 1))

    with pytest.raises(Killed):
        run(tmp_path / "cut", monkeypatch, KillAfterSave(killed_at))
    trainer_dir = tmp_path / "cut" / "trainer" / "seed0"
    assert [p.name for p in checkpoints(trainer_dir)] == [f"checkpoint-{killed_at}"]  # the newest only
    assert not (tmp_path / "cut" / "seeds" / "seed0.json").exists()

    capsys.readouterr()
    rest = StepLog()
    resumed = run(tmp_path / "cut", monkeypatch, rest)
    assert rest.steps == list(range(killed_at + 1, TOTAL_STEPS + 1))  # only the remaining steps were trained
    resumed_lines = [line for line in capsys.readouterr().err.splitlines() if "resuming from" in line]
    assert len(resumed_lines) == 1, resumed_lines
    assert resumed_lines[0].endswith(f"checkpoint-{killed_at} (step {killed_at})"), resumed_lines
    # Each held-out window's NLL (a file's score is the sum over its windows), and the file-level results.
    assert per_window_nll(tmp_path / "cut") == pytest.approx(per_window_nll(tmp_path / "whole"), abs=1e-5)
    for row in ("lm", "gain_over_ngram"):
        got, want = resumed["intervals"][row], reference["intervals"][row]
        assert [got[k] for k in ("mean", "lo", "hi")] == pytest.approx([want[k] for k in ("mean", "lo", "hi")], abs=1e-5)
    assert resumed["loss"] == pytest.approx(reference["loss"], abs=1e-6)
    assert resumed["k_step_accuracy"] == reference["k_step_accuracy"]
    assert checkpoints(trainer_dir) == []  # the finished seed's checkpoints are gone; its LM is in OUT/lm
    assert (tmp_path / "cut" / "lm" / "config.json").is_file()


def test_a_trainer_folder_of_another_run_is_not_resumed_and_loses_only_its_checkpoints(tmp_path, monkeypatch,
                                                                                       capsys) -> None:
    with pytest.raises(Killed):
        run(tmp_path, monkeypatch, KillAfterSave(4), learning_rate=1e-2)
    trainer_dir = tmp_path / "trainer" / "seed0"
    first_identity = json.loads((trainer_dir / IDENTITY_FILE).read_text())
    assert [p.name for p in checkpoints(trainer_dir)] == ["checkpoint-4"]
    (trainer_dir / "notes.txt").write_text("not a checkpoint")

    capsys.readouterr()
    fresh = StepLog()
    run(tmp_path, monkeypatch, fresh, learning_rate=5e-3)  # another LM recipe: another identity
    assert fresh.steps == list(range(1, TOTAL_STEPS + 1))  # started from step 0
    assert fresh.folder_at_start == sorted([IDENTITY_FILE, "notes.txt"])  # checkpoint-4 was removed before training
    assert "resuming" not in capsys.readouterr().err
    assert (trainer_dir / "notes.txt").read_text() == "not a checkpoint"
    now = json.loads((trainer_dir / IDENTITY_FILE).read_text())
    assert now["seed"] == first_identity["seed"] == 0 and now["identity"] != first_identity["identity"]


def test_resume_point_skips_a_checkpoint_torn_mid_save_and_one_without_a_run_record(tmp_path) -> None:
    from llmcodec.evaluation.token_lm_checkpoints import resume_point

    def checkpoint(step: int, whole: bool = True) -> Path:
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")
        if whole:  # the Trainer writes its state file last
            (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        return folder

    checkpoint(3)
    assert resume_point(tmp_path, "run-a", 0) is None  # no run record: not ours, removed
    assert checkpoints(tmp_path) == []
    good, torn = checkpoint(4), checkpoint(8, whole=False)
    assert resume_point(tmp_path, "run-a", 0) == good
    assert not torn.exists() and good.is_dir()
    assert resume_point(tmp_path, "run-a", 1) is None and not good.exists()  # another seed's record


@pytest.mark.parametrize("value", ["0", "-3"])
def test_save_steps_must_be_positive(tmp_path, capsys, value) -> None:
    argv = ["token-lm", "--data", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--save-steps", value]
    assert exit_status(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "--save-steps" in lines[0] and f"must be an integer >= 1, got '{value}'" in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_save_steps_reaches_the_run(tmp_path, monkeypatch) -> None:
    class Reached(Exception):
        pass

    def fake_run(*args, **kwargs):
        raise Reached(kwargs.get("save_steps"))

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        sf.write(data / f"{i}.wav", (0.1 * np.random.default_rng(i).standard_normal(16000)).astype(np.float32), 16000)
    monkeypatch.setattr(token_lm, "run_token_lm", fake_run)
    base = ["token-lm", "--data", str(data), "--output-dir", str(tmp_path / "out")]
    for extra, wanted in (([], 50), (["--save-steps", "7"], 7)):
        with pytest.raises(Reached) as reached:
            exit_status(base + extra)
        assert reached.value.args == (wanted,)
