"""Dead-code restarts inside LLMCodecTrainer: codes revive after the D-only phase, and the usage state resumes."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

from llmcodec.training.trainer import build_components
from trainer_testing import tiny_args

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tokenizer():
    from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer

    tok, _ = extend_tokenizer(load_offline_qwen3_tokenizer(), n_audio_tokens=64, warn_non_qwen=False)
    return tok


class _CodebookSnapshots(TrainerCallback):
    def __init__(self, module):
        self.module, self.snapshots = module, {}

    def on_step_end(self, args, state, control, **kwargs):
        self.snapshots[state.global_step] = self.module.codec.quantizer.codebook.weight.detach().clone()


def test_restarts_move_dead_codes_only_after_the_codec_gate(tokenizer, tmp_path):
    margs, dargs, args = tiny_args(tmp_path, max_steps=4, d_only_steps=2, codebook_restart_every=2, codebook_restart_threshold=10.0, codebook_restart_decay=0.1,
                     enable_gan=False, lambda_ftp=0.0, lambda_sa_cosine=0.0, lambda_sa_contrast=0.0, lr_codec=1e-30,
                     lr_embed=1e-30, gradient_accumulation_steps=1, save_strategy="steps", save_steps=4)
    c = build_components(margs, dargs, args, tokenizer=tokenizer)
    before = c.module.codec.quantizer.codebook.weight.detach().clone()
    trainer = c.trainer(args)
    snapshots = _CodebookSnapshots(c.module)
    trainer.add_callback(snapshots)
    trainer.train()
    # lr 1e-30 (a learning rate must be > 0): no float32 weight moves by it, only restarts move the codebook. Threshold 10 makes every code "dead" once its start credit decays.
    assert torch.equal(snapshots.snapshots[2], before)  # step 2 is still inside the D-only phase
    moved = (snapshots.snapshots[4] - before).abs().sum(-1) > 0
    assert moved.any()
    restarts = [h["codebook_restarts"] for h in trainer.state.log_history if "codebook_restarts" in h]
    assert restarts and max(restarts) > 0
    state = c.module.trainable_state_dict()
    assert "codebook_restarter.usage" in state  # checkpointed with the rest of the trainable state
