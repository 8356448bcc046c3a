"""Checkpoints and where a run starts (``training/trainer/checkpoints.py``): a previous run's folder is refused
without --resume or --overwrite_output_dir, checkpoints appear only complete, --resume takes the newest complete
one, a missing / damaged / mismatched checkpoint is one line, files follow the umask, a diverged run exports
nothing, and no LM or tokenizer is loaded with remote code."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
import torch

from llmcodec.cli import main
from trainer_testing import FAST, TINY_CONFIG, tiny_args, tiny_trainer

torch.set_num_threads(1)
SAVE_EACH_STEP = ["--save_strategy", "steps", "--save_steps", "1", "--export_at_end", "false", "--enable_gan", "true"]


@pytest.fixture(scope="module")
def tokenizer():
    from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer

    tok, _ = extend_tokenizer(load_offline_qwen3_tokenizer(), n_audio_tokens=64, warn_non_qwen=False)
    return tok


def _train(out: Path, *extra: str) -> int:
    return main(["train", TINY_CONFIG, *FAST, "--output_dir", str(out), *extra])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmcodec: error: "), err
    return err[0]


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory) -> Path:
    """A finished 2-step run with checkpoint-1 and checkpoint-2 (copied by the tests that change it)."""
    out = tmp_path_factory.mktemp("run") / "out"
    assert _train(out, *SAVE_EACH_STEP) == 0
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, tmp_path / "out"))


def test_a_fresh_run_refuses_a_folder_holding_a_previous_run(two_checkpoints, tmp_path, capsys):
    out = _copy(two_checkpoints, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert _train(out, *SAVE_EACH_STEP) == 2
    err = _one_line_error(capsys)
    assert "holds a previous run (checkpoint-2, checkpoint-1)" in err and "--resume" in err
    assert "--overwrite_output_dir" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before  # nothing touched
    # --overwrite_output_dir starts over: the old checkpoints go, so no later resume can mix the two runs.
    assert _train(out, *SAVE_EACH_STEP, "--max_steps", "1", "--overwrite_output_dir") == 0
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-")) == ["checkpoint-1"]


def test_resume_takes_the_newest_complete_checkpoint_and_says_so(two_checkpoints, tmp_path, capsys, caplog):
    out = _copy(two_checkpoints, tmp_path)
    (out / "checkpoint-2" / "optimizer.pt").unlink()  # e.g. a copy that lost a file
    assert _train(out, *SAVE_EACH_STEP, "--resume", str(out / "checkpoint-2")) == 2
    assert f"{out / 'checkpoint-2' / 'optimizer.pt'} is missing" in _one_line_error(capsys)
    with caplog.at_level(logging.WARNING):
        assert _train(out, *SAVE_EACH_STEP, "--max_steps", "3", "--resume") == 0
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"resuming from {out / 'checkpoint-1'}, the newest complete checkpoint" in said
    assert "checkpoint-2/optimizer.pt is missing" in said
    assert (out / "checkpoint-3" / "optimizer.pt").is_file()
    assert (out / "checkpoint-2" / "optimizer.pt").is_file()  # step 2 again, from checkpoint-1: a complete one


def test_a_checkpoint_appears_only_once_complete(tokenizer, tmp_path, monkeypatch):
    from llmcodec.training.trainer import LLMCodecTrainer

    def crash(self, output_dir):
        raise OSError("disk full")  # after the model and the optimizer, before the RNG state and trainer state

    monkeypatch.setattr(LLMCodecTrainer, "_save_rng_state", crash)
    trainer = tiny_trainer(tokenizer, tmp_path, max_steps=1, gradient_accumulation_steps=1, save_strategy="steps",
                           save_steps=1, enable_gan=False)
    with pytest.raises(OSError, match="disk full"):
        trainer.train()
    assert not (tmp_path / "checkpoint-1").exists()  # only the hidden staging folder holds the partial files
    assert [p.name for p in tmp_path.iterdir() if "checkpoint" in p.name] == [".checkpoint-1.incomplete"]


@pytest.mark.parametrize("name", ["training_state.safetensors", "optimizer.pt", "discriminator.safetensors",
                                  "trainer_state.json"])
def test_a_damaged_checkpoint_file_is_one_line_naming_it(two_checkpoints, tmp_path, capsys, name):
    out = _copy(two_checkpoints, tmp_path)
    path = out / "checkpoint-2" / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    assert _train(out, *SAVE_EACH_STEP, "--max_steps", "3", "--resume", str(out / "checkpoint-2")) == 2
    err = _one_line_error(capsys)
    assert f"{path} is damaged" in err


def test_resuming_with_another_codec_config_is_one_line(two_checkpoints, tmp_path, capsys):
    out = _copy(two_checkpoints, tmp_path)
    other = FAST[FAST.index("--codec_config") + 1].replace("hidden_size: 32", "hidden_size: 48")
    assert _train(out, *SAVE_EACH_STEP, "--max_steps", "3", "--codec_config", other, "--resume") == 2
    err = _one_line_error(capsys)
    assert "does not fit this model" in err and "codec_config" in err and str(out / "checkpoint-2") in err


def test_checkpoint_files_follow_the_umask(two_checkpoints):
    old = os.umask(0o022)
    os.umask(old)
    if old != 0o022:
        pytest.skip(f"the test expects umask 022, this process has {old:03o}")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (two_checkpoints / "checkpoint-2").iterdir()}
    assert modes["training_state.safetensors"] == modes["discriminator.safetensors"] == 0o644, modes
    assert set(modes.values()) == {0o644}, modes


def test_a_diverged_run_exports_nothing(tokenizer, tmp_path):
    from llmcodec.training.trainer import TrainingSetupError

    trainer = tiny_trainer(tokenizer, tmp_path, enable_gan=False)
    with torch.no_grad():
        next(trainer.training_module.codec.decoder.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingSetupError, match=r"training diverged: 1 of \d+ weights hold NaN or Inf \(e.g. codec\."):
        trainer.export()
    assert not (tmp_path / "export").exists()


def test_the_lm_and_its_tokenizer_are_loaded_without_remote_code(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmcodec.training.trainer.builders import load_lm_for_training, load_tokenizer_for_training

    calls = []

    def record(*args, **kwargs):
        calls.append(kwargs)
        raise OSError("stop here")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", record)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", record)
    model_args = tiny_args(tmp_path, lm_name_or_path=str(tmp_path / "lm"), tokenizer_name_or_path=None)[0]
    for load in (lambda: load_tokenizer_for_training(model_args, 64), lambda: load_lm_for_training(model_args, None)):
        with pytest.raises(OSError, match="stop here"):
            load()
    assert [c.get("trust_remote_code", "unset") for c in calls] == [False, False]


def test_resume_loads_a_checkpoint_onto_an_indexed_cpu_device(two_checkpoints, tokenizer, tmp_path, monkeypatch):
    # A multi-process CPU run (accelerate launch with use_cpu) has args.device "cpu:0", which safetensors and
    # torch.load refused, so such a run could not resume.
    from safetensors.torch import load_file

    from llmcodec.training.trainer.arguments import LLMCodecTrainingArguments

    trainer = tiny_trainer(tokenizer, tmp_path, disc_channels=[4, 8, 8, 16, 16], sa_queue_size=32)  # the run's shapes
    monkeypatch.setattr(LLMCodecTrainingArguments, "device", property(lambda self: torch.device("cpu", 0)))
    trainer._load_from_checkpoint(str(two_checkpoints / "checkpoint-2"))
    saved = load_file(two_checkpoints / "checkpoint-2" / "discriminator.safetensors")
    assert all(torch.equal(v, saved[k]) for k, v in trainer.discriminator.state_dict().items())
    assert trainer.disc_optimizer.state_dict()["state"]  # the optimizer's moments came back too
