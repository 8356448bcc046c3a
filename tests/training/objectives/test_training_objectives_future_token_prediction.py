"""Future Token Prediction heads: weights, alignment (no-BOS vs start token), init, masking."""

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from transformers import Qwen3Config, Qwen3ForCausalLM

from llmcodec.training.objectives.frozen_lm import FrozenCausalLM
from llmcodec.training.objectives.future_token_prediction import (
    FutureTokenPredictionHeads,
    ftp_head_weights,
    prepend_start_embedding,
)

torch.set_num_threads(1)
N = 16  # codebook size for the synthetic alignment tests (hidden size = N, one-hot hidden states)


def test_head_weights_are_harmonic_and_normalised():
    expected = [Fraction(60, 137), Fraction(30, 137), Fraction(20, 137), Fraction(15, 137), Fraction(12, 137)]
    assert torch.allclose(ftp_head_weights(5), torch.tensor([float(x) for x in expected]))
    assert ftp_head_weights(5).sum().item() == pytest.approx(1.0)
    assert ftp_head_weights(5)[0].item() == pytest.approx(0.438, abs=1e-3)
    with pytest.raises(ValueError):
        ftp_head_weights(0)


def _shift_heads(num_heads: int, shift_of_head, prepend: bool) -> FutureTokenPredictionHeads:
    """Heads whose weight maps one-hot(c) to the logit of (c + shift) mod N."""
    heads = FutureTokenPredictionHeads(N, N, num_heads=num_heads, prepend_start_token=prepend)
    with torch.no_grad():
        for j, head in enumerate(heads.heads):
            head.weight.copy_(torch.roll(torch.eye(N), shifts=shift_of_head(j), dims=0))
    return heads


def _successor_codes(T: int = 10) -> torch.Tensor:
    return ((torch.arange(T) + 3) % N).unsqueeze(0)  # code i+1 = code i + 1


def test_default_alignment_head_j_predicts_j_ahead():
    codes = _successor_codes()
    hidden = 10.0 * F.one_hot(codes, N).float()  # position i "has consumed" code i
    heads = _shift_heads(5, lambda j: j, prepend=False)
    out = heads(hidden, codes)
    assert torch.equal(out.per_head_accuracy, torch.ones(5))  # head 0 identifies the current code
    wrong = _shift_heads(5, lambda j: j + 1, prepend=False)(hidden, codes)
    assert torch.equal(wrong.per_head_accuracy, torch.zeros(5))


def test_start_token_alignment_head_j_predicts_j_plus_1_ahead():
    codes = _successor_codes()
    T = codes.shape[1]
    hidden = prepend_start_embedding(10.0 * F.one_hot(codes, N).float(), torch.zeros(N))  # (1, T+1, N)
    assert hidden.shape == (1, T + 1, N)
    out = _shift_heads(5, lambda j: j + 1, prepend=True)(hidden, codes)
    # every position but the start one (zero logits -> argmax 0, never the target) is right
    expected = torch.tensor([(T - j - 1) / (T - j) for j in range(5)])
    assert torch.allclose(out.per_head_accuracy, expected)


def test_loss_matches_explicit_per_position_computation():
    torch.manual_seed(0)
    heads = FutureTokenPredictionHeads(8, N, num_heads=3)
    hidden = torch.randn(2, 7, 8, requires_grad=True)
    codes = torch.randint(0, N, (2, 7))
    out = heads(hidden, codes)
    w = ftp_head_weights(3)
    manual = 0.0
    for j, head in enumerate(heads.heads):
        terms = [
            F.cross_entropy(head(hidden[b, i]).unsqueeze(0), codes[b, i + j].unsqueeze(0))
            for b in range(2)
            for i in range(7 - j)
        ]
        ce_j = torch.stack(terms).mean()
        assert out.per_head_loss[j].item() == pytest.approx(ce_j.item(), rel=1e-5)
        manual = manual + w[j] * ce_j
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-5)
    out.loss.backward()
    assert hidden.grad.abs().sum() > 0 and all(h.weight.grad.abs().sum() > 0 for h in heads.heads)
    assert not out.per_head_loss.requires_grad and out.per_head_accuracy.shape == (3,)


def test_code_mask_excludes_padded_targets():
    torch.manual_seed(0)
    heads = FutureTokenPredictionHeads(8, N, num_heads=2)
    hidden, codes = torch.randn(1, 6, 8), torch.randint(0, N, (1, 6))
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    out = heads(hidden, codes, mask)
    ref = heads(hidden[:, :4], codes[:, :4])  # right padding: same as cutting the sequence
    assert torch.allclose(out.per_head_loss, ref.per_head_loss)
    all_masked = heads(hidden, codes, torch.zeros(1, 6, dtype=torch.bool))
    assert torch.equal(all_masked.per_head_loss, torch.zeros(2))  # no NaN from empty heads


def test_init_from_lm_output_rows_and_default_shapes():
    torch.manual_seed(0)
    cfg = Qwen3Config(
        vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, tie_word_embeddings=True,
    )
    lm = FrozenCausalLM(Qwen3ForCausalLM(cfg), 300, codebook_size=64)
    heads = FutureTokenPredictionHeads(32, 64)
    assert heads.num_heads == 5 and all(h.bias is None for h in heads.heads)
    heads.init_from_output_embedding_rows(lm.output_embedding_audio_rows())
    for head in heads.heads:
        assert torch.equal(head.weight, lm.lm.lm_head.weight[300:364])
    # on the LM's last hidden state: initial head 0 == the LM's own audio logits
    codes = torch.randint(0, 64, (1, 8))
    hs = lm(inputs_embeds=lm.audio_embedding_rows()[codes], output_hidden_states=True, use_cache=False)
    logits0 = heads.heads[0](hs.hidden_states[-1])
    assert torch.allclose(logits0, hs.logits[..., 300:364], atol=1e-5)
    out = heads(hs.hidden_states[-1], codes)
    assert torch.isfinite(out.loss) and out.loss.requires_grad
    with pytest.raises(ValueError, match="audio rows"):
        heads.init_from_output_embedding_rows(torch.zeros(63, 32))


def test_bad_input_errors():
    heads = FutureTokenPredictionHeads(8, N, num_heads=5)
    with pytest.raises(ValueError, match="too short"):
        heads(torch.randn(1, 4, 8), torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden must be"):
        heads(torch.randn(1, 9, 8), torch.zeros(1, 8, dtype=torch.long))
    start = FutureTokenPredictionHeads(8, N, num_heads=2, prepend_start_token=True)
    with pytest.raises(ValueError, match="start token"):
        start(torch.randn(1, 8, 8), torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="start_embedding"):
        prepend_start_embedding(torch.randn(1, 3, 8), torch.zeros(7))
