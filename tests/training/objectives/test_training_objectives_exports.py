"""The LLM-side objectives composed on a tiny Qwen3: bridge -> frozen LM -> FTP + SA, one AdamW step."""

import torch

import llmcodec.training.objectives as objectives
from llmcodec.training.objectives import (
    FrozenCausalLM,
    FutureTokenPredictionHeads,
    GumbelBridge,
    gumbel_temperature,
    SemanticAlignmentLoss,
    bridge_cross_entropy,
    encode_text_features,
    sa_layer_range,
    select_audio_features,
)

torch.set_num_threads(1)
N, D, H = 64, 16, 32


def test_public_names_resolve():
    for name in objectives.__all__:
        assert getattr(objectives, name) is not None


def test_composed_llm_objectives_train_only_what_they_should():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen3Config(
        vocab_size=400, hidden_size=H, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, tie_word_embeddings=True,
    )
    qwen = Qwen3ForCausalLM(cfg)
    lm = FrozenCausalLM(qwen, 300, codebook_size=N)
    encoder = torch.nn.Linear(8, D)  # stand-in for the codec encoder up to the quantized latent
    bridge = GumbelBridge(D, N)
    heads = FutureTokenPredictionHeads(H, N, num_heads=3)
    heads.init_from_output_embedding_rows(lm.output_embedding_audio_rows())
    layers = sa_layer_range(cfg.num_hidden_layers)
    sa = SemanticAlignmentLoss(layers[1] - layers[0], H, queue_size=4)
    ftp_weight_, (sa_cos, sa_ctr) = objectives.ftp_weight(14_000), objectives.sa_weights(14_000)  # the recipe's
    weights = {"tau": gumbel_temperature(14_000), "lambda_ftp": ftp_weight_, "lambda_sa_cos": sa_cos, "lambda_sa_ctr": sa_ctr}

    frozen_before = {n: p.detach().clone() for n, p in qwen.named_parameters()}
    opt = torch.optim.AdamW(
        [lm.audio_embeddings, *heads.parameters()], lr=1e-3, weight_decay=0.1
    )
    latent = encoder(torch.randn(2, 6, 8))
    codes = torch.randint(0, N, (2, 6))  # the VQ tokens (targets, no gradient)
    out = bridge(latent, lm.audio_embedding_rows(), tau=weights["tau"])
    hs = lm(inputs_embeds=out.inputs_embeds, output_hidden_states=True, use_cache=False).hidden_states
    ftp = heads(hs[-1], codes)
    text = encode_text_features(qwen, torch.tensor([[5, 6, 7, 0], [8, 9, 10, 11]]), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]), layers)
    sa.push(text)  # seed the bank so the contrastive term is active
    sa_out = sa(select_audio_features(hs, layers), text)
    loss = (
        bridge_cross_entropy(out.logits, codes)
        + weights["lambda_ftp"] * ftp.loss
        + weights["lambda_sa_cos"] * sa_out.cosine_loss
        + weights["lambda_sa_ctr"] * sa_out.contrastive_loss
    )
    assert sa_out.contrastive_active and torch.isfinite(loss)
    loss.backward()
    for module in (encoder, bridge):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    assert lm.audio_embeddings.grad.abs().sum() > 0
    assert all(h.weight.grad.abs().sum() > 0 for h in heads.heads)
    opt.step()
    for name, p in qwen.named_parameters():
        assert torch.equal(p, frozen_before[name]), f"frozen LM parameter {name} moved"
