"""Trainer fixes found at the real scale: evaluate() leaves no training state behind, ppl_ftp
is logged, D's gradients are all-reduced in one call, ``_save`` honours the given state dict, the dataset
repeats follow ``args.world_size``, and TrainingArguments fields our optimizers override are refused."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from llmcodec.training.trainer import LLMCodecTrainingArguments
from trainer_testing import tiny_args, tiny_trainer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tokenizer():
    from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer

    tok, _ = extend_tokenizer(load_offline_qwen3_tokenizer(), n_audio_tokens=64, warn_non_qwen=False)
    return tok


_trainer = tiny_trainer  # (tokenizer, output_dir, **overrides)


def _batch(trainer):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(2)])


def test_evaluate_touches_no_training_state(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path, codebook_restart_every=1)
    trainer.state.global_step = 5  # FTP and SA on
    module = trainer.training_module
    restart_before = copy.deepcopy(module.codebook_restarter.state_dict())
    batch = _batch(trainer)
    module.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)
    assert torch.isfinite(loss)
    step = trainer.step_state
    for key, value in module.codebook_restarter.state_dict().items():
        assert torch.equal(value, restart_before[key]), key
    assert step.sa_text is None and step.restart_batch is None and step.d_batch is None and not step.nonfinite
    assert int(trainer._code_hist.sum()) == 0 and not trainer._metrics
    module.train()
    trainer.compute_loss(trainer.model, batch)  # the same call in training does record (the test can fail)
    assert step.sa_text is not None and step.restart_batch is not None and int(trainer._code_hist.sum()) > 0
    assert not torch.equal(module.codebook_restarter.state_dict()["usage"], restart_before["usage"])


def test_ppl_ftp_is_logged_as_exp_of_the_ftp_loss(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path, max_steps=2, gradient_accumulation_steps=1, enable_gan=False)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss_ftp" in h]
    assert logs
    for h in logs:
        assert h["ppl_ftp"] == pytest.approx(math.exp(min(h["loss_ftp"], 20.0)), rel=1e-6)


def test_discriminator_gradients_are_all_reduced_in_one_call(tokenizer, tmp_path, monkeypatch):
    import torch.distributed as dist

    trainer = _trainer(tokenizer, tmp_path)
    d = trainer.discriminator
    wav = torch.randn(1, 1, 8000) * 0.1
    start, opt_start = copy.deepcopy(d.state_dict()), copy.deepcopy(trainer.disc_optimizer.state_dict())
    trainer.step_state.d_batch = (wav, wav * 0.5)
    trainer._discriminator_step()
    single = copy.deepcopy(d.state_dict())
    d.load_state_dict(start)
    trainer.disc_optimizer.load_state_dict(opt_start)
    calls = []

    def fake_all_reduce(tensor, op=None, **_):  # two identical ranks: SUM doubles, MIN keeps
        calls.append((tensor.numel(), op))
        if op == dist.ReduceOp.SUM:
            tensor.mul_(2)

    monkeypatch.setattr(dist, "all_reduce", fake_all_reduce)
    monkeypatch.setattr(type(trainer.accelerator), "num_processes", property(lambda self: 2))
    trainer.step_state.d_batch = (wav, wav * 0.5)
    trainer._discriminator_step()
    n_grad = sum(p.numel() for p in d.parameters())
    assert [op for _, op in calls] == [dist.ReduceOp.MIN, dist.ReduceOp.SUM]  # skip vote + one bucket
    assert calls[1][0] == n_grad
    for key, value in d.state_dict().items():
        assert torch.allclose(value, single[key], atol=1e-7), key  # the mean of two equal ranks = one rank


def test_save_uses_the_state_dict_the_trainer_passes(tokenizer, tmp_path):
    from safetensors.torch import load_file

    trainer = _trainer(tokenizer, tmp_path)
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    key = next(k for k in state if k.startswith("codec.") and state[k].is_floating_point())
    state[key] = torch.full_like(state[key], 0.25)  # e.g. a gathered FSDP state differs from the local shard
    trainer._save(str(tmp_path / "ckpt"), state_dict=state)
    saved = load_file(str(tmp_path / "ckpt" / "training_state.safetensors"))
    assert torch.equal(saved[key], state[key])
    assert not any(k.startswith("lm.lm.") for k in saved)  # still only the trainable state


def test_dataset_repeats_follow_args_world_size(tokenizer, tmp_path, monkeypatch):
    one = len(_trainer(tokenizer, tmp_path, max_steps=40).train_dataset)
    monkeypatch.setattr(LLMCodecTrainingArguments, "world_size", property(lambda self: 4))
    four = len(_trainer(tokenizer, tmp_path, max_steps=40).train_dataset)
    assert four > 3 * one  # 40 steps x 2 x 2 x 4 ranks of 8 examples


@pytest.mark.parametrize("field,value,instead", [
    ("learning_rate", 1e-4, "lr_codec"), ("optim", "sgd", "codec_optimizer"), ("weight_decay", 0.01, "codec_weight_decay"),
    ("warmup_steps", 100, "lr_warmup_steps"), ("lr_scheduler_type", "constant", "lr_total_steps"),
    ("adam_beta2", 0.98, "embed_beta2"), ("fp16", True, "bf16"),
])
def test_trainer_fields_our_optimizers_ignore_are_refused(tmp_path, field, value, instead):
    with pytest.raises(ValueError) as raised:
        tiny_args(tmp_path, **{field: value})
    assert f"{field}" in str(raised.value) and instead in str(raised.value)
    tiny_args(tmp_path)  # the defaults stay accepted
