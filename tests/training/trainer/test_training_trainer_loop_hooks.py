"""The trainer loop: few host syncs per micro-batch, gates owned by the trainer (callbacks
only observe), clipping per group or joint when sharded, the recipe's periodic mel validation (``val_every``) and
the ``full_resume`` flag (the recipe's lossy resume)."""

from __future__ import annotations

import collections
import traceback
from pathlib import Path

import pytest
import torch

from llmcodec.training.trainer import build_components, run_training
from llmcodec.training.trainer.step_logs import LossPostfixCallback
from repo_paths import REPO_ROOT
from trainer_testing import tiny_args, tiny_trainer

torch.set_num_threads(1)
PROJECT = str(REPO_ROOT)
TRAINER_FILES = {str(p) for p in (Path(PROJECT) / "training" / "trainer").glob("*.py")}  # the trainer package
HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy")


@pytest.fixture(scope="module")
def tokenizer():
    from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer

    tok, _ = extend_tokenizer(load_offline_qwen3_tokenizer(), n_audio_tokens=64, warn_non_qwen=False)
    return tok


_trainer = tiny_trainer  # (tokenizer, output_dir, **overrides)


def test_a_micro_batch_reads_the_device_at_most_three_times_in_the_trainer(tokenizer, tmp_path, monkeypatch):
    """Each read of a device value (``float(t)``, ``bool(t)``, ``.item()`` …) is a GPU sync; the trainer used to make
    ~25 per micro-batch (two per loss term, the code histogram, the D loss). Counted at the trainer's own lines."""
    trainer = _trainer(tokenizer, tmp_path, codebook_restart_every=1, gradient_accumulation_steps=1)
    trainer.state.global_step = 5  # FTP, SA, GAN all on
    trainer.create_optimizer_and_scheduler(10)
    trainer.current_gradient_accumulation_steps = 1
    trainer.accelerator.gradient_state._set_sync_gradients(True)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    reads: collections.Counter = collections.Counter()

    def counting(name, original):
        def read(self, *args, **kwargs):
            stack = traceback.extract_stack()[:-1]
            ours = [f for f in stack if f.filename.startswith(PROJECT) and "site-packages" not in f.filename]
            # a read made by a line of the trainer package itself (not by the codec or a torch optimizer it calls)
            if ours and ours[-1] is stack[-1] and ours[-1].filename in TRAINER_FILES:
                reads[(Path(stack[-1].filename).name, name, stack[-1].lineno)] += 1
            return original(self, *args, **kwargs)
        return read

    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    trainer.training_step(trainer.model, batch)
    monkeypatch.undo()
    assert trainer.counters["disc_steps"] == 1  # the D step ran inside the counted call
    assert sum(reads.values()) <= 3, reads
    assert str(Path(PROJECT) / "training" / "trainer" / "llmcodec_trainer.py") in TRAINER_FILES


def test_callbacks_only_observe_and_the_gate_runs_without_clipping(tokenizer, tmp_path):
    hooks = {n for n in vars(LossPostfixCallback) if n.startswith("on_")}
    assert hooks == {"on_log"}
    # max_grad_norm 0: the Trainer never calls _clip_grad_norm, the gate must still hold the codec during d_only
    trainer = _trainer(tokenizer, tmp_path, max_steps=2, d_only_steps=2, max_grad_norm=0.0, enable_gan=True)
    before = {k: v.clone() for k, v in trainer.training_module.codec.state_dict().items()}
    trainer.train()
    after = trainer.training_module.codec.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert trainer.counters["disc_steps"] == 2


def test_codebook_restarts_follow_the_optimizer_step(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path, max_steps=4, gradient_accumulation_steps=1, codebook_restart_every=2,
                       codebook_restart_threshold=2.0, enable_gan=False)  # threshold 2: some codes are always dead
    seen = []
    original = trainer._maybe_restart_codes
    trainer._maybe_restart_codes = lambda completed: (seen.append((completed, trainer.state.global_step)), original(completed))
    trainer.train()
    assert seen == [(1, 0), (2, 1), (3, 2), (4, 3)]  # called after step k's update, before global_step moves on
    assert [h["codebook_restarts"] for h in trainer.state.log_history if "codebook_restarts" in h]
    assert all(h["codebook_restarts"] > 0 for h in trainer.state.log_history if "codebook_restarts" in h)


def test_sharded_parameters_get_the_joint_clip(tokenizer, tmp_path, monkeypatch):
    from accelerate.utils import DistributedType
    from transformers import Trainer

    trainer = _trainer(tokenizer, tmp_path)
    joint = []
    monkeypatch.setattr(Trainer, "_clip_grad_norm", lambda self, model: joint.append(model) or torch.tensor(1.0))
    for p in trainer.training_module.parameters():
        if p.requires_grad:
            p.grad = torch.ones_like(p)
    trainer._clip_grad_norm(trainer.model)
    assert not joint  # per group on one process
    monkeypatch.setattr(type(trainer.accelerator), "distributed_type", property(lambda self: DistributedType.FSDP))
    trainer._clip_grad_norm(trainer.model)
    assert len(joint) == 1


def test_val_every_logs_the_mel_loss_and_writes_audio(tokenizer, tmp_path):
    margs, dargs, args = tiny_args(tmp_path, max_steps=4, gradient_accumulation_steps=1, val_every=2, val_batches=2,
                     per_device_eval_batch_size=2, enable_gan=False)
    assert (args.eval_strategy, args.eval_steps) == ("steps", 2)
    c = build_components(margs, dargs, args, tokenizer=tokenizer)
    trainer = run_training(margs, dargs, args, components=c)
    vals = [h for h in trainer.state.log_history if "eval_mel" in h]
    assert [h["step"] for h in vals] == [2, 4]
    assert all(h["eval_batches"] == 2 and h["eval_mel"] > 0 for h in vals)
    assert vals[0]["eval_mel"] != vals[1]["eval_mel"]  # the codec trained in between; the crops are the same
    for step in (2, 4):
        assert sorted(p.name for p in (tmp_path / "val" / f"step-{step}").iterdir()) == ["batch0.wav", "batch1.wav"]
    # evaluate again at the end: the same audio gives the same loss (centred crops, no jitter, no state moved)
    again = trainer.evaluate()
    assert again["eval_mel"] == pytest.approx(vals[1]["eval_mel"], rel=1e-6)


def test_val_every_and_val_batches_are_checked(tmp_path):
    with pytest.raises(ValueError, match="val_every must be >= 0 and val_batches >= 1"):
        tiny_args(tmp_path, val_every=-1)
    with pytest.raises(ValueError, match="val_batches"):
        tiny_args(tmp_path, val_batches=0)


@pytest.mark.parametrize("full_resume", [True, False])
def test_full_resume_restores_bridge_heads_and_bank_or_reproduces_upstream(tokenizer, tmp_path, full_resume):
    common = dict(max_steps=2, save_strategy="steps", save_steps=2, sa_queue_size=4, enable_gan=False,
                  gradient_accumulation_steps=1)
    first = _trainer(tokenizer, tmp_path / "a", **common)
    first.train()
    saved = first.training_module.trainable_state_dict()
    resumed = _trainer(tokenizer, tmp_path / "b", **common, full_resume=full_resume)
    fresh = resumed.training_module.trainable_state_dict()
    resumed._load_from_checkpoint(str(tmp_path / "a" / "checkpoint-2"))
    state = resumed.training_module.trainable_state_dict()
    assert int(saved["sa.bank_count"]) > 0
    for key in state:
        lossy = key.startswith(("bridge.", "ftp.", "sa."))
        expected = fresh[key] if (lossy and not full_resume) else saved[key]
        assert torch.equal(state[key], expected), key
    assert not torch.equal(fresh["bridge.proj.weight"], saved["bridge.proj.weight"])  # the test can tell them apart
