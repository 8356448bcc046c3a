"""Precision per part, as the recipe: with ``bf16`` only the codec runs under bf16 autocast; losses, mel
filterbanks, the bridge projection and the discriminators stay fp32, even inside an outer autocast (as
accelerate wraps the model's forward); the FTP head weights stay exact when the heads are bf16."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from llmcodec.training.trainer import build_components
from trainer_testing import tiny_args

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer

    tok, _ = extend_tokenizer(load_offline_qwen3_tokenizer(), n_audio_tokens=64, warn_non_qwen=False)
    margs, dargs, args = tiny_args(tmp_path_factory.mktemp("p"), bf16=True, lm_dtype="bfloat16")
    c = build_components(margs, dargs, args, tokenizer=tok)
    trainer = c.trainer(args)
    return trainer, tok


def _record_dtypes(root: nn.Module, kinds: tuple[type, ...]) -> tuple[list, list[torch.dtype]]:
    seen: list[torch.dtype] = []

    def hook(_, __, output):
        if isinstance(output, torch.Tensor):
            seen.append(output.dtype)

    return [m.register_forward_hook(hook) for m in root.modules() if isinstance(m, kinds)], seen


def test_only_the_codec_runs_in_bf16(setup):
    trainer, tok = setup
    m = trainer.training_module.train()
    enc = tok(["hello world", "the fox"], return_tensors="pt", padding=True, padding_side="right")
    parts = {"codec": (m.codec, (nn.Linear,)), "bridge": (m.bridge, (nn.Linear,)),
             "recon": (m.recon, (nn.Module,))}
    handles, seen = [], {}
    for name, (root, kinds) in parts.items():
        h, s = _record_dtypes(root, kinds)
        handles += h
        seen[name] = s
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):  # what accelerate puts around forward under bf16
            out = m(input_values=torch.randn(2, 1, 8000) * 0.1, text_input_ids=enc["input_ids"],
                    text_attention_mask=enc["attention_mask"], tau=0.7)
    finally:
        for h in handles:
            h.remove()
    m.push_sa_bank(out.get("sa_text_features"))
    assert seen["codec"] and set(seen["codec"]) == {torch.bfloat16}
    assert seen["bridge"] and set(seen["bridge"]) == {torch.float32}
    # mel filterbanks, STFTs (complex64 = fp32 parts), the losses
    assert seen["recon"] and set(seen["recon"]) <= {torch.float32, torch.complex64} and torch.float32 in seen["recon"]
    assert out["recon"].dtype == torch.float32
    for key in ("mel", "ms_mel", "mr_stft", "cstft", "vq", "bridge", "ftp", "sa_cos"):
        assert out[key].dtype == torch.float32, key


def test_discriminator_terms_and_step_are_fp32(setup):
    trainer, _ = setup
    h, seen = _record_dtypes(trainer.discriminator, (nn.Conv1d, nn.Conv2d))
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            wav = torch.randn(1, 1, 8000) * 0.1
            terms = trainer._generator_adversarial_terms(wav, wav.to(torch.bfloat16) * 0.5)
    finally:
        for handle in h:
            handle.remove()
    assert seen and set(seen) == {torch.float32}
    assert {t.dtype for t in terms.values()} == {torch.float32}


def test_bf16_heads_keep_exact_head_weights(setup):
    trainer, _ = setup
    ftp = trainer.training_module.ftp
    assert ftp.heads[0].weight.dtype == torch.bfloat16  # the recipe's bf16 heads
    assert ftp.head_weights.dtype == torch.float32
    assert abs(float(ftp.head_weights.sum()) - 1.0) < 1e-6
