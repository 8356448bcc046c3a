"""Semantic Alignment: features under left/right padding, losses, recipe and FIFO banks."""

import pytest
import torch
import torch.nn.functional as F
from transformers import Qwen3Config, Qwen3ForCausalLM

from llmcodec.training.objectives.semantic_alignment import (
    SemanticAlignmentLoss,
    encode_text_features,
    last_token_indices,
    sa_layer_range,
    select_audio_features,
)

torch.set_num_threads(1)


def tiny_qwen3() -> Qwen3ForCausalLM:
    torch.manual_seed(0)
    cfg = Qwen3Config(
        vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, tie_word_embeddings=True,
    )
    return Qwen3ForCausalLM(cfg).eval()


def test_layer_range():
    assert sa_layer_range(36) == (12, 28)
    assert sa_layer_range(32) == (10, 25)
    assert sa_layer_range(3) == (1, 2)
    assert sa_layer_range(2) == (0, 1)
    with pytest.raises(ValueError, match="empty"):
        sa_layer_range(1)


def test_last_token_indices_right_and_left_padding():
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert last_token_indices(right).tolist() == [2, 4]
    assert last_token_indices(left).tolist() == [4, 4]
    assert (left.sum(1) - 1).tolist() == [2, 4]  # upstream's index: wrong under left padding
    with pytest.raises(ValueError, match="without any token"):
        last_token_indices(torch.tensor([[0, 0], [1, 0]]))


def test_text_features_agree_across_padding_sides():
    lm = tiny_qwen3()
    layers = sa_layer_range(3)
    a, b = [5, 6, 7], [9, 10, 11, 12, 13]
    singles = torch.cat(
        [encode_text_features(lm, torch.tensor([x]), torch.ones(1, len(x), dtype=torch.long), layers) for x in (a, b)],
        dim=1,
    )
    pad = 0
    right_ids = torch.tensor([a + [pad, pad], b])
    right_mask = torch.tensor([[1, 1, 1, 0, 0], [1] * 5])
    left_ids = torch.tensor([[pad, pad] + a, b])
    left_mask = torch.tensor([[0, 0, 1, 1, 1], [1] * 5])
    right = encode_text_features(lm, right_ids, right_mask, layers)
    left = encode_text_features(lm, left_ids, left_mask, layers)
    assert right.shape == (1, 2, 32) and not right.requires_grad
    assert torch.allclose(right, singles, atol=1e-5)
    assert torch.allclose(left, singles, atol=1e-5)


def test_audio_features_are_last_position_of_range_layers():
    lm = tiny_qwen3()
    out = lm(input_ids=torch.randint(0, 400, (2, 6)), output_hidden_states=True, use_cache=False)
    feats = select_audio_features(out.hidden_states, (1, 2))
    assert torch.equal(feats[0], out.hidden_states[2][:, -1])  # hidden_states[1:][1] = layer 2 output
    masked = select_audio_features(out.hidden_states, (1, 2), torch.tensor([[1, 1, 1, 1, 0, 0], [1] * 6]))
    assert torch.equal(masked[0, 0], out.hidden_states[2][0, 3]) and torch.equal(masked[0, 1], feats[0, 1])


def test_cosine_loss_values_and_gradient():
    sa = SemanticAlignmentLoss(num_layers=2, hidden_size=4)
    text = torch.randn(2, 3, 4)
    assert sa(text.clone(), text).cosine_loss.item() == pytest.approx(0.0, abs=1e-6)
    assert sa(-3.0 * text, text).cosine_loss.item() == pytest.approx(2.0, abs=1e-6)
    audio = torch.randn(2, 3, 4, requires_grad=True)
    out = sa(audio, text)
    manual = (1 - F.cosine_similarity(audio, text, dim=-1).mean(1)).mean()
    assert out.cosine_loss.item() == pytest.approx(manual.item(), rel=1e-6)
    assert not out.contrastive_active and out.contrastive_loss.item() == 0.0  # empty bank
    out.cosine_loss.backward()
    assert audio.grad.abs().sum() > 0


def test_contrastive_loss_against_manual_label_smoothing():
    torch.manual_seed(0)
    sa = SemanticAlignmentLoss(num_layers=2, hidden_size=4, queue_size=8)
    for _ in range(3):
        sa.push(torch.randn(2, 5, 4))
    audio, text = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    out = sa(audio, text)
    assert out.contrastive_active
    a, t, q = F.normalize(audio, dim=-1), F.normalize(text, dim=-1), sa.bank[:3]
    eps, per_layer = 0.1, []
    for layer in range(2):
        logits = 5.0 * torch.cat([(a[layer] * t[layer]).sum(-1, keepdim=True), a[layer] @ q.t()], dim=1)
        logp = logits.log_softmax(-1)
        k = logits.shape[1]
        per_layer.append((-(1 - eps) * logp[:, 0] - eps / k * logp.sum(-1)).mean())
    assert out.contrastive_loss.item() == pytest.approx(torch.stack(per_layer).mean().item(), rel=1e-5)


def test_recipe_bank_ema_last_slot_append_until_full_no_pop():
    sa = SemanticAlignmentLoss(num_layers=2, hidden_size=2, queue_size=3, ema_momentum=0.9)

    def text_with_last_layer(v):  # only the last layer of the range feeds the recipe bank
        feats = torch.randn(2, 2, 2) * 100
        feats[-1] = torch.tensor(v)
        return feats

    new = [torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([-1.0, 0.0]), torch.tensor([0.0, -1.0])]
    sa.push(text_with_last_layer([[2.0, 0.0], [5.0, 0.0]]))  # batch mean of normalised = [1, 0]
    assert sa.bank_size == 1 and torch.allclose(sa.bank[0], new[0])
    sa.push(text_with_last_layer([[0.0, 3.0], [0.0, 1.0]]))
    assert sa.bank_size == 2
    assert torch.allclose(sa.bank[0], 0.9 * new[0] + 0.1 * new[1])  # EMA of the then-last slot, not re-normalised
    assert torch.allclose(sa.bank[1], new[1])
    sa.push(text_with_last_layer([[-1.0, 0.0], [-1.0, 0.0]]))
    sa.push(text_with_last_layer([[0.0, -1.0], [0.0, -2.0]]))  # full: only the last slot moves
    assert sa.bank_size == 3
    assert torch.allclose(sa.bank[0], 0.9 * new[0] + 0.1 * new[1])
    assert torch.allclose(sa.bank[1], 0.9 * new[1] + 0.1 * new[2])
    assert torch.allclose(sa.bank[2], 0.9 * new[2] + 0.1 * new[3])
    assert torch.equal(sa.negatives(0), sa.negatives(1))  # shared across layers


def test_recipe_bank_momentum_zero_pops_oldest():
    sa = SemanticAlignmentLoss(num_layers=1, hidden_size=2, queue_size=2, ema_momentum=0.0)
    for v in ([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]):
        sa.push(torch.tensor([[v]]))
    assert torch.allclose(sa.bank, torch.tensor([[0.0, 1.0], [-1.0, 0.0]]))


def test_fifo_bank_is_per_layer_ring_buffer():
    sa = SemanticAlignmentLoss(num_layers=2, hidden_size=2, queue_size=3, bank="fifo")
    assert sa.bank.shape == (2, 3, 2)

    def batch(values):  # layer 0 gets +v, layer 1 gets -v, each item its own entry
        v = torch.tensor(values)
        return torch.stack([v, -v])

    sa.push(batch([[1.0, 0.0], [0.0, 1.0]]))
    assert sa.bank_size == 2 and torch.allclose(sa.negatives(0), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert torch.allclose(sa.negatives(1), -sa.negatives(0))
    sa.push(batch([[3.0, 0.0], [0.0, -5.0]]))  # 4 items into 3 slots: the oldest is overwritten
    assert sa.bank_size == 3
    assert torch.allclose(sa.bank[0], torch.tensor([[0.0, -1.0], [0.0, 1.0], [1.0, 0.0]]))
    assert int(sa.bank_ptr) == 1


@pytest.mark.parametrize("policy", ["recipe", "fifo"])
def test_bank_state_dict_round_trip(policy):
    torch.manual_seed(0)
    sa = SemanticAlignmentLoss(num_layers=2, hidden_size=4, queue_size=4, bank=policy)
    for _ in range(3):
        sa.push(torch.randn(2, 2, 4))
    state = sa.state_dict()
    assert {"bank", "bank_count", "bank_ptr"} <= set(state)
    restored = SemanticAlignmentLoss(num_layers=2, hidden_size=4, queue_size=4, bank=policy)
    restored.load_state_dict(state)
    assert restored.bank_size == sa.bank_size and torch.equal(restored.bank, sa.bank)
    audio, text = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.equal(restored(audio, text).contrastive_loss, sa(audio, text).contrastive_loss)
    nxt = torch.randn(2, 2, 4)
    sa.push(nxt)
    restored.push(nxt)
    assert torch.equal(restored.bank, sa.bank)


def test_bad_input_errors():
    sa = SemanticAlignmentLoss(num_layers=2, hidden_size=4)
    with pytest.raises(ValueError, match="n_layers=2"):
        sa(torch.randn(3, 1, 4), torch.randn(3, 1, 4))
    with pytest.raises(ValueError, match="differ"):
        sa(torch.randn(2, 1, 4), torch.randn(2, 2, 4))
    with pytest.raises(ValueError, match="bank"):
        SemanticAlignmentLoss(2, 4, bank="lifo")
    with pytest.raises(ValueError, match="does not fit"):
        select_audio_features([torch.zeros(1, 2, 4)] * 3, (1, 5))
