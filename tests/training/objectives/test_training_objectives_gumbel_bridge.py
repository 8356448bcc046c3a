"""Gumbel bridge: one-hot sampling, straight-through gradients, the path to the encoder."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import Qwen3Config, Qwen3ForCausalLM

from llmcodec.training.objectives.frozen_lm import FrozenCausalLM
from llmcodec.training.objectives.gumbel_bridge import GumbelBridge, bridge_cross_entropy, gumbel_temperature

torch.set_num_threads(1)
N, D, H = 64, 16, 32


def tiny_lm(seed: int = 0) -> FrozenCausalLM:
    torch.manual_seed(seed)
    cfg = Qwen3Config(
        vocab_size=400, hidden_size=H, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, tie_word_embeddings=True,
    )
    return FrozenCausalLM(Qwen3ForCausalLM(cfg), 300, codebook_size=N)


@pytest.mark.parametrize("mode", ["gumbel", "ste", "detach"])
def test_outputs_are_one_hot_rows(mode):
    torch.manual_seed(0)
    bridge = GumbelBridge(D, N, mode=mode)
    rows = torch.randn(N, H)
    out = bridge(torch.randn(2, 5, D), rows, tau=0.7)
    assert out.logits.shape == (2, 5, N) and out.one_hot.shape == (2, 5, N) and out.inputs_embeds.shape == (2, 5, H)
    assert torch.equal(out.one_hot.detach().sum(-1), torch.ones(2, 5))
    assert set(out.one_hot.detach().unique().tolist()) <= {0.0, 1.0}
    picked = out.one_hot.detach().argmax(-1)
    assert torch.allclose(out.inputs_embeds, rows[picked])
    if mode != "gumbel":  # deterministic modes pick the argmax
        assert torch.equal(picked, out.logits.argmax(-1))


def test_gumbel_samples_follow_the_softmax():
    torch.manual_seed(0)
    bridge = GumbelBridge(2, 2, mode="gumbel")
    logits = torch.log(torch.tensor([0.7, 0.3])).expand(20_000, 2)
    freq = bridge.sample_one_hot(logits, tau=0.3)[:, 0].mean().item()
    assert freq == pytest.approx(0.7, abs=0.02)


def test_ste_gradient_is_the_softmax_gradient():
    torch.manual_seed(0)
    bridge = GumbelBridge(D, N, mode="ste")
    logits = torch.randn(3, N, requires_grad=True)
    weights = torch.randn(N)
    (bridge.sample_one_hot(logits, tau=1.0) * weights).sum().backward()
    ref = logits.detach().clone().requires_grad_(True)
    (ref.softmax(-1) * weights).sum().backward()
    assert torch.allclose(logits.grad, ref.grad)


def test_gumbel_gradient_matches_tempered_soft_sample_gradient():
    torch.manual_seed(0)
    bridge = GumbelBridge(D, N, mode="gumbel")
    logits = torch.randn(4, N, requires_grad=True)
    weights = torch.randn(N)
    torch.manual_seed(123)
    (bridge.sample_one_hot(logits, tau=0.5) * weights).sum().backward()
    # same noise -> gradient of the soft Gumbel sample softmax((logits + g) / tau)
    ref = logits.detach().clone().requires_grad_(True)
    torch.manual_seed(123)
    (F.gumbel_softmax(ref, tau=0.5, hard=False) * weights).sum().backward()
    assert torch.allclose(logits.grad, ref.grad, atol=1e-6)


@pytest.mark.parametrize("mode, reaches_encoder", [("gumbel", True), ("ste", True), ("detach", False)])
def test_lm_loss_reaches_the_encoder_through_the_bridge(mode, reaches_encoder):
    lm = tiny_lm()
    torch.manual_seed(1)
    encoder = torch.nn.Linear(8, D)  # stands in for everything upstream of the quantized latent
    bridge = GumbelBridge(D, N, mode=mode)
    latent = encoder(torch.randn(2, 6, 8))
    out = bridge(latent, lm.audio_embedding_rows(), tau=gumbel_temperature(10_000))
    hidden = lm(inputs_embeds=out.inputs_embeds, output_hidden_states=True, use_cache=False).hidden_states[-1]
    loss = hidden.pow(2).mean()
    loss.backward()
    assert lm.audio_embeddings.grad is not None and lm.audio_embeddings.grad.abs().sum() > 0
    grad = encoder.weight.grad
    if reaches_encoder:
        assert grad is not None and grad.abs().sum() > 0 and torch.isfinite(grad).all()
        assert bridge.proj.weight.grad.abs().sum() > 0
    else:
        assert grad is None and bridge.proj.weight.grad is None


def test_bridge_cross_entropy_values_mask_and_gradient():
    torch.manual_seed(0)
    encoder = torch.nn.Linear(8, D)
    bridge = GumbelBridge(D, N, mode="detach")
    out = bridge(encoder(torch.randn(2, 4, 8)), torch.randn(N, H))
    codes = torch.randint(0, N, (2, 4))
    ce = bridge_cross_entropy(out.logits, codes)
    manual = -out.logits.log_softmax(-1).gather(-1, codes.unsqueeze(-1)).mean()
    assert ce.item() == pytest.approx(manual.item(), rel=1e-6)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    masked_manual = -out.logits.log_softmax(-1).gather(-1, codes.unsqueeze(-1)).squeeze(-1)[mask].mean()
    assert bridge_cross_entropy(out.logits, codes, mask).item() == pytest.approx(masked_manual.item(), rel=1e-6)
    ce.backward()  # the CE trains the bridge and reaches the encoder even in detach mode
    assert encoder.weight.grad.abs().sum() > 0
    assert ce.item() == pytest.approx(math.log(N), rel=0.2)  # fresh bridge ~ uniform


def test_bad_input_errors():
    bridge = GumbelBridge(D, N)
    with pytest.raises(ValueError, match=r"\(B, T, 16\)"):
        bridge(torch.randn(2, D, 5), torch.randn(N, H))  # channels-first layout is rejected
    with pytest.raises(ValueError, match="audio_embedding_rows"):
        bridge(torch.randn(2, 5, D), torch.randn(N + 1, H))
    with pytest.raises(ValueError, match="temperature"):
        bridge(torch.randn(2, 5, D), torch.randn(N, H), tau=0.0)
    with pytest.raises(ValueError, match="mode"):
        GumbelBridge(D, N, mode="soft")
    with pytest.raises(ValueError, match="disagree"):
        bridge_cross_entropy(torch.randn(2, 5, N), torch.zeros(2, 4, dtype=torch.long))
