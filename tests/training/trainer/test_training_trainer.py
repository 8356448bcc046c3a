"""LLMCodecTrainer on a tiny setup: losses fall, the codec gate, one D step per optimizer step, frozen LM,
non-finite handling, exact resume, export, bad input."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from transformers import TrainerCallback

from llmcodec.training.trainer import LLMCodecTrainer, TrainingSetupError, build_components, run_training
from trainer_testing import tiny_args

torch.set_num_threads(1)  # 2 threads on the shared 2-core machine stall badly under load


@pytest.fixture(scope="module")
def tokenizer():
    from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer

    tok, _ = extend_tokenizer(load_offline_qwen3_tokenizer(), n_audio_tokens=64, warn_non_qwen=False)
    return tok


def _train(run, tokenizer, callbacks=(), resume=None):
    """``run``: the (model, data, training) arguments of ``tiny_args``."""
    args = run[2]
    c = build_components(*run, tokenizer=tokenizer)
    trainer = c.trainer(args, callbacks=list(callbacks))
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def _losses(trainer, key="loss"):
    return {h["step"]: h[key] for h in trainer.state.log_history if key in h and "train_runtime" not in h}


def _term_off_by_default(tokenizer, folder, term):
    """Checks a default run neither builds nor computes `term`; returns a 2-item batch of its data."""
    off = build_components(*tiny_args(folder), tokenizer=tokenizer)
    batch = off.data_collator([off.train_dataset[i] for i in range(2)])
    assert term not in off.module.term_parts
    assert term not in off.module(batch["input_values"], run_lm=False, run_bridge=False)
    return batch


def _only_term_run(folder, max_steps, **term_args):
    """``tiny_args`` without GAN, FTP, bridge and SA, one micro-batch a step: the term under test stands alone."""
    return tiny_args(folder, max_steps=max_steps, enable_gan=False, lambda_ftp=0.0, lambda_bridge=0.0,
                     lambda_sa_cosine=0.0, lambda_sa_contrast=0.0, gradient_accumulation_steps=1, **term_args)


def _backpropagated_term(tokenizer, run, batch, term):
    """Builds ``run`` and backpropagates ``term`` alone on ``batch``; returns the components and the term's value."""
    c = build_components(*run, tokenizer=tokenizer)
    c.module.zero_grad()
    value = c.module(batch["input_values"], run_lm=False, run_bridge=False)[term]
    value.backward()
    return c, value


def _logged_after_training(components, run, key):
    """Trains ``components`` with ``run``'s training arguments; returns the logged ``key`` per step."""
    trainer = components.trainer(run[2])
    trainer.train()
    return _losses(trainer, key)


def test_short_run_reconstruction_and_ftp_losses_fall(tokenizer, tmp_path):
    margs, dargs, args = tiny_args(tmp_path, max_steps=16, lr_codec=3e-3, lr_embed=1e-2, enable_gan=False, lambda_ftp=1.0,
                     lambda_sa_cosine=0.0, lambda_sa_contrast=0.0, gradient_accumulation_steps=1)
    trainer = _train((margs, dargs, args), tokenizer)
    mel, ftp = _losses(trainer, "loss_mel"), _losses(trainer, "loss_ftp")
    first = lambda d: sum(list(d.values())[:3]) / 3  # noqa: E731
    last = lambda d: sum(list(d.values())[-3:]) / 3  # noqa: E731
    print(f"mel {first(mel):.3f} -> {last(mel):.3f}; ftp {first(ftp):.3f} -> {last(ftp):.3f} over {len(mel)} steps")
    assert last(mel) < first(mel) - 0.2
    assert last(ftp) < first(ftp) - 0.05
    assert trainer.counters["nonfinite_terms"] == 0 and trainer.counters["skipped_steps"] == 0


def test_gate_disc_once_per_step_and_frozen_lm(tokenizer, tmp_path):
    margs, dargs, args = tiny_args(tmp_path, max_steps=2, gradient_accumulation_steps=3, d_only_steps=100, per_device_train_batch_size=1)
    c = build_components(margs, dargs, args, tokenizer=tokenizer)
    m = c.module
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    lm_before = {n: p.detach().clone() for n, p in m.lm.lm.named_parameters()}
    d_before = [p.detach().clone() for p in c.discriminator.parameters()]
    calls = []

    trainer = c.trainer(args)
    orig = trainer._discriminator_step
    trainer._discriminator_step = lambda: (calls.append(trainer.state.global_step), orig())[1]
    trainer.train()
    assert calls == [0, 1]  # once per optimizer step, not per micro-batch (GA = 3)
    assert trainer.counters["disc_steps"] == 2
    for n, p in m.named_parameters():
        if n.startswith(("codec.", "bridge.")):
            assert torch.equal(p, before[n]), f"{n} moved during the D-only warm-up"
    assert not torch.equal(m.ftp.heads[0].weight, before["ftp.heads.0.weight"])  # FTP on: heads do train
    assert not torch.equal(m.lm.audio_embeddings, before["lm.audio_embeddings"])
    for n, p in m.lm.lm.named_parameters():  # the LM body (all rows, incl. the audio rows of the matrix)
        assert torch.equal(p, lm_before[n]), f"frozen LM weight {n} changed"
    assert any(not torch.equal(a, b) for a, b in zip(d_before, c.discriminator.parameters()))

    # After the gate the codec moves.
    args2_m, args2_d, args2 = tiny_args(tmp_path / "b", max_steps=1, gradient_accumulation_steps=1, d_only_steps=0)
    c2 = build_components(args2_m, args2_d, args2, tokenizer=tokenizer)
    enc0 = [p.detach().clone() for p in c2.module.codec.parameters()]
    c2.trainer(args2).train()
    assert any(not torch.equal(a, b) for a, b in zip(enc0, c2.module.codec.parameters()))


def test_nonfinite_term_is_zeroed_and_nonfinite_total_skips_the_step(tokenizer, tmp_path):
    margs, dargs, args = tiny_args(tmp_path, max_steps=2, gradient_accumulation_steps=1, enable_gan=False)
    c = build_components(margs, dargs, args, tokenizer=tokenizer)
    recon_forward = c.module.recon.forward

    def nan_ms_mel(wav, recon, mel_weight=1.0):
        terms = recon_forward(wav, recon, mel_weight)
        terms["ms_mel"] = terms["ms_mel"] * float("nan")
        return terms

    c.module.recon.forward = nan_ms_mel
    trainer = c.trainer(args)
    trainer.train()
    assert trainer.counters["nonfinite_terms"] == 2 and trainer.counters["skipped_steps"] == 0
    assert all(math.isfinite(v) for v in _losses(trainer).values())

    # A non-finite total (here: through a NaN weight) drops the whole step.
    margs, dargs, args = tiny_args(tmp_path / "b", max_steps=1, gradient_accumulation_steps=1, enable_gan=False, lambda_vq=float("inf"))
    c = build_components(margs, dargs, args, tokenizer=tokenizer)
    before = [p.detach().clone() for p in c.module.parameters()]
    trainer = c.trainer(args)
    trainer.train()
    assert trainer.counters["skipped_steps"] == 1
    assert all(torch.equal(a, b) for a, b in zip(before, c.module.parameters()))


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def test_resume_logs_the_same_losses_as_an_uninterrupted_run(tokenizer, tmp_path):
    common = dict(max_steps=4, save_strategy="steps", save_steps=2, r1_every=3, sa_queue_size=4)
    full = _train(tiny_args(tmp_path / "full", **common), tokenizer)
    stopped = _train(tiny_args(tmp_path / "part", **common), tokenizer, callbacks=[_StopAt(2)])
    assert stopped.state.global_step == 2
    ckpt = tmp_path / "part" / "checkpoint-2"
    for name in ("training_state.safetensors", "discriminator.safetensors", "discriminator_optimizer.pt",
                 "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        assert (ckpt / name).is_file(), name
    resumed = _train(tiny_args(tmp_path / "part", **common), tokenizer, resume=str(ckpt))
    for key in ("loss", "loss_mel", "loss_ftp", "loss_sa_ctr", "loss_d", "loss_fm"):
        a, b = _losses(full, key), _losses(resumed, key)
        assert {3, 4} <= set(b), key  # steps 1-2 come back from the checkpoint's trainer_state.json
        for step in (3, 4):
            assert a[step] == pytest.approx(b[step], rel=1e-5, abs=1e-6), (key, step, a[step], b[step])
    assert resumed.counters["disc_steps"] == full.counters["disc_steps"] == 4


def test_run_training_exports_codec_and_lm(tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    from llmcodec.hub import load_codec

    margs, dargs, args = tiny_args(tmp_path, max_steps=1, gradient_accumulation_steps=1, export_at_end=True, report_to=["tensorboard"])
    c = build_components(margs, dargs, args, tokenizer=tokenizer)
    run_training(margs, dargs, args, components=c)
    codec = load_codec(tmp_path / "export")
    assert codec.config.codebook_size == 64
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "export" / "lm", trust_remote_code=False)
    first = c.module.lm.first_audio_token_id
    assert torch.equal(lm.get_input_embeddings().weight[first:first + 64], c.module.ftp.heads[0].weight.detach())
    meta = json.loads((tmp_path / "export" / "lm" / "audio_tokens_meta.json").read_text())
    assert meta["n_audio_tokens"] == 64
    assert any("tfevents" in f for _, _, files in os.walk(tmp_path) for f in files)  # TensorBoard logging works


def test_bad_input_errors_before_training(tokenizer, tmp_path):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from llmcodec.tokenizer import load_offline_qwen3_tokenizer
    from llmcodec.training.data.audio_dataset import DataError, SpeechDataset
    from llmcodec.training.data.training_data import synthetic_speechlike_dataset

    margs, dargs, args = tiny_args(tmp_path)
    with pytest.raises(TrainingSetupError, match="no codec tokens"):
        build_components(*tiny_args(tmp_path, extend_tokenizer=False), tokenizer=load_offline_qwen3_tokenizer())
    small = Qwen3ForCausalLM(Qwen3Config(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                         num_attention_heads=4, num_key_value_heads=2, head_dim=8))
    with pytest.raises(TrainingSetupError, match="size mismatch"):
        build_components(*tiny_args(tmp_path, resize_lm_embeddings=False), tokenizer=tokenizer, lm=small)
    with pytest.raises(TrainingSetupError, match="size mismatch"):
        build_components(margs, dargs, args, tokenizer=tokenizer, lm=small)
    with pytest.raises((DataError, TrainingSetupError), match="empty"):
        c = build_components(margs, dargs, args, tokenizer=tokenizer, train_dataset=[])
        LLMCodecTrainer(c.module, args, [], tokenizer, c.discriminator, data_collator=c.data_collator)
    rows = [{"audio": r["audio"]} for r in synthetic_speechlike_dataset(2)]
    no_text = SpeechDataset(rows, text_column=None, require_text=False)
    c = build_components(margs, dargs, args, tokenizer=tokenizer, train_dataset=no_text)
    with pytest.raises(TrainingSetupError, match="no text column"):
        LLMCodecTrainer(c.module, args, no_text, tokenizer, c.discriminator, data_collator=c.data_collator)
    (tmp_path / "audio_only").mkdir()
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "audio_only" / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(DataError, match="text|transcript"):
        build_components(*tiny_args(tmp_path, dataset=str(tmp_path / "audio_only"), train_split="train",
                                   dataset_config=None), tokenizer=tokenizer)
    # without SA the same data is fine
    LLMCodecTrainer(c.module, tiny_args(tmp_path, lambda_sa_cosine=0.0, lambda_sa_contrast=0.0)[2], no_text, tokenizer,
                    c.discriminator, data_collator=c.data_collator)


def test_bridge_is_skipped_when_nothing_uses_it(tokenizer, tmp_path):
    # Its Gumbel sampling over every code cost ~40 % of a small CPU step although its weight was 0.
    from llmcodec.training.objectives.gumbel_bridge import GumbelBridge

    calls = []
    original = GumbelBridge.forward

    def counting(self, *a, **k):
        calls.append(1)
        return original(self, *a, **k)

    GumbelBridge.forward = counting
    try:
        off_m, off_d, off = tiny_args(tmp_path / "off", max_steps=2, enable_gan=False, lambda_ftp=0.0, lambda_bridge=0.0,
                        lambda_sa_cosine=0.0, lambda_sa_contrast=0.0, gradient_accumulation_steps=1)
        trainer = _train((off_m, off_d, off), tokenizer)
        assert calls == [] and not _losses(trainer, "loss_bridge")
        on_m, on_d, on = tiny_args(tmp_path / "on", max_steps=2, enable_gan=False, lambda_ftp=0.0, lambda_bridge=1.0,
                       lambda_sa_cosine=0.0, lambda_sa_contrast=0.0, gradient_accumulation_steps=1)
        trainer = _train((on_m, on_d, on), tokenizer)
        assert len(calls) == 2 and len(_losses(trainer, "loss_bridge")) == 2
    finally:
        GumbelBridge.forward = original


def test_the_lr_schedule_reaches_the_optimizers_that_step(tokenizer, tmp_path):
    # accelerate's prepare() round-trips the optimizer state, which gave the chained children new group dicts:
    # the scheduler then wrote the warm-up LR into stale dicts and every step ran at the base LR.
    seen = []
    original = torch.optim.AdamW.step

    def recording(self, *a, **k):
        seen.append([g["lr"] for g in self.param_groups])
        return original(self, *a, **k)

    margs, dargs, args = tiny_args(tmp_path, max_steps=3, enable_gan=False, lambda_ftp=0.0, lambda_bridge=0.0, lambda_sa_cosine=0.0,
                     lambda_sa_contrast=0.0, gradient_accumulation_steps=1, codec_optimizer="adamw", lr_codec=1e-3,
                     lr_warmup_steps=10, lr_total_steps=100)
    torch.optim.AdamW.step = recording
    try:
        trainer = _train((margs, dargs, args), tokenizer)
    finally:
        torch.optim.AdamW.step = original
    codec_lrs = [lrs[0] for lrs in seen if len(lrs) > 1]  # the codec optimizer (encoder, bridge, decoder groups)
    expected = [trainer.lr_scheduler.lr_lambdas[0](s) * 1e-3 for s in range(3)] if hasattr(trainer.lr_scheduler, "lr_lambdas") else None
    assert len(codec_lrs) == 3
    assert all(lr < 1e-3 * 0.5 for lr in codec_lrs), codec_lrs  # warm-up: far below the base LR of 1e-3
    assert codec_lrs[0] < codec_lrs[1] < codec_lrs[2]
    if expected is not None:
        assert codec_lrs == pytest.approx(expected, rel=1e-6)


def test_pitch_supervision_trains_its_head_and_reaches_the_encoder_only(tokenizer, tmp_path):
    # lambda_pitch > 0: the collator adds Praat F0 per frame, the head reads the quantized latents, and its loss
    # is logged and falls; off by default (no head, no targets, no term).
    off = build_components(*tiny_args(tmp_path / "off"), tokenizer=tokenizer)
    assert "pitch" not in off.module.term_parts and off.data_collator.pitch_hop == 0
    run = _only_term_run(tmp_path / "on", 12, lambda_pitch=1.0, lr_embed=1e-2)
    c = build_components(*run, tokenizer=tokenizer)
    module = c.module
    assert module.pitch is not None and c.data_collator.pitch_hop == module.codec.config.hop_length
    assert module.pitch.source == "projected" and module.pitch.head[0].in_channels == module.codec.config.codebook_dim
    head = {id(p) for p in module.pitch.parameters()}
    assert head <= {id(p) for p in module.embed_parameters()}  # stepped by the auxiliary-heads AdamW, clipped with it
    batch = c.data_collator([c.train_dataset[i] for i in range(2)])
    assert batch["pitch_f0"].shape == (2, batch["input_values"].shape[-1] // module.codec.config.hop_length)
    module.zero_grad()
    out = module(batch["input_values"], run_lm=False, run_bridge=False, pitch_f0=batch["pitch_f0"])
    out["pitch"].backward()
    encoder_grads = [p.grad for p in module.codec.encoder.parameters() if p.grad is not None]
    assert encoder_grads and any(g.abs().sum() > 0 for g in encoder_grads)  # through the straight-through estimator
    assert all(p.grad is None for p in module.codec.decoder.parameters())
    assert "pitch" not in module(batch["input_values"], run_lm=False, run_bridge=False)  # no targets: no term
    before = {n: p.detach().clone() for n, p in module.pitch.named_parameters()}
    pitch = _logged_after_training(c, run, "loss_pitch")
    assert len(pitch) == 12 and all(math.isfinite(v) for v in pitch.values())
    assert sum(list(pitch.values())[-3:]) < sum(list(pitch.values())[:3])
    assert any(not torch.equal(before[n], p) for n, p in module.pitch.named_parameters())


def test_the_pitch_head_can_read_the_quantized_latents_and_a_bad_source_is_named(tokenizer, tmp_path):
    run = tiny_args(tmp_path, lambda_pitch=1.0, pitch_input="quantized")
    c = build_components(*run, tokenizer=tokenizer)
    assert c.module.pitch.head[0].in_channels == c.module.codec.config.hidden_size
    batch = c.data_collator([c.train_dataset[i] for i in range(2)])
    out = c.module(batch["input_values"], run_lm=False, run_bridge=False, pitch_f0=batch["pitch_f0"])
    out["pitch"].backward()  # through the straight-through estimator into the encoder
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in c.module.codec.encoder.parameters())
    with pytest.raises(TrainingSetupError, match="pitch_input must be"):
        build_components(*tiny_args(tmp_path, lambda_pitch=1.0, pitch_input="latent"), tokenizer=tokenizer)
    with pytest.raises(TrainingSetupError, match="lambda_pitch must be >= 0"):
        build_components(*tiny_args(tmp_path, lambda_pitch=-1.0), tokenizer=tokenizer)


def test_latent_isotropy_term_reaches_the_encoder_only_and_is_logged(tokenizer, tmp_path):
    batch = _term_off_by_default(tokenizer, tmp_path / "off", "isotropy")
    run = _only_term_run(tmp_path / "on", 4, lambda_isotropy=1.0)
    c, value = _backpropagated_term(tokenizer, run, batch, "isotropy")
    module = c.module
    assert value.shape == () and float(value.detach()) > 0
    in_proj = [p.grad for p in module.codec.quantizer.in_proj.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in in_proj)  # before the straight-through estimator
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.codec.encoder.parameters())
    assert all(p.grad is None for p in module.codec.decoder.parameters())
    assert module.codec.quantizer.codebook.weight.grad is None
    logged = _logged_after_training(c, run, "loss_isotropy")
    assert len(logged) == 4 and all(math.isfinite(v) and v > 0 for v in logged.values())
    with pytest.raises(TrainingSetupError, match="lambda_isotropy must be >= 0"):
        build_components(*tiny_args(tmp_path, lambda_isotropy=-0.5), tokenizer=tokenizer)


def test_token_invariance_term_encodes_a_perturbed_copy_trains_the_encoder_and_is_logged(tokenizer, tmp_path):
    batch = _term_off_by_default(tokenizer, tmp_path / "off", "invariance")
    run = _only_term_run(tmp_path / "on", 3, lambda_invariance=1.0, invariance_noise_dbfs=[-40.0, -30.0], invariance_gain_db=1.0)
    c, value = _backpropagated_term(tokenizer, run, batch, "invariance")
    module = c.module
    assert module.term_parts["invariance"] == ((-40.0, -30.0), 1.0)
    assert value.shape == () and 0 < float(value.detach()) < 2
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.codec.encoder.parameters())
    assert all(p.grad is None for p in module.codec.decoder.parameters())
    module.eval()
    assert "invariance" not in module(batch["input_values"], run_lm=False, run_bridge=False)  # training only
    module.train()
    logged = _logged_after_training(c, run, "loss_invariance")
    assert len(logged) == 3 and all(math.isfinite(v) and v > 0 for v in logged.values())
    for bad, match in (({"lambda_invariance": -1.0}, "lambda_invariance must be >= 0"),
                       ({"lambda_invariance": 1.0, "invariance_noise_dbfs": [-60.0, -80.0]}, "invariance_noise_dbfs"),
                       ({"lambda_invariance": 1.0, "invariance_gain_db": -2.0}, "invariance_gain_db must be >= 0")):
        with pytest.raises(TrainingSetupError, match=match):
            build_components(*tiny_args(tmp_path, **bad), tokenizer=tokenizer)


def test_intelligibility_term_trains_the_codec_through_the_reconstruction_and_is_logged(tokenizer, tmp_path):
    batch = _term_off_by_default(tokenizer, tmp_path / "off", "stoi")
    run = _only_term_run(tmp_path / "on", 3, lambda_stoi=2.0)
    c, value = _backpropagated_term(tokenizer, run, batch, "stoi")
    module = c.module
    assert value.shape == () and 0 < float(value.detach()) <= 2
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.codec.decoder.parameters())
    assert not any(k.startswith("stoi.") for k in module.trainable_state_dict())  # nothing to save
    logged = _logged_after_training(c, run, "loss_stoi")
    assert len(logged) == 3 and all(math.isfinite(v) and 0 < v <= 2 for v in logged.values())
    with pytest.raises(TrainingSetupError, match="lambda_stoi must be >= 0"):
        build_components(*tiny_args(tmp_path, lambda_stoi=-1.0), tokenizer=tokenizer)
