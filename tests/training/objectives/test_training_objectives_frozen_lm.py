"""FrozenCausalLM: only the audio rows train, whatever the optimizer; hidden-state semantics pinned."""

import pytest
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from llmcodec.training.objectives.frozen_lm import FrozenCausalLM, find_audio_token_range

torch.set_num_threads(1)
FIRST, N_AUDIO = 300, 64


def tiny_qwen3(seed: int = 0) -> Qwen3ForCausalLM:
    torch.manual_seed(seed)
    cfg = Qwen3Config(
        vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, tie_word_embeddings=True,
    )
    return Qwen3ForCausalLM(cfg)


def _mixed_ids():
    return torch.tensor([[5, 17, 300, 333, 363, 42], [363, 301, 8, 9, 310, 310]])


def test_freezes_body_and_exposes_audio_rows():
    lm = tiny_qwen3()
    initial = lm.get_input_embeddings().weight[FIRST : FIRST + N_AUDIO].clone()
    wrapped = FrozenCausalLM(lm, FIRST, codebook_size=N_AUDIO)
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable == ["audio_embeddings"]
    assert torch.equal(wrapped.audio_token_ids, torch.arange(300, 364))
    assert wrapped.audio_embedding_rows().shape == (N_AUDIO, 32)
    assert torch.equal(wrapped.audio_embedding_rows().detach(), initial)
    assert torch.equal(wrapped.output_embedding_audio_rows(), initial)  # tied: lm_head rows == input rows
    assert wrapped.hidden_size == 32 and wrapped.num_hidden_layers == 3
    lm.model.layers = lm.model.layers[:2]  # counts the blocks actually present
    assert wrapped.num_hidden_layers == 2
    wrapped.train()
    assert not wrapped.lm.training  # the frozen body stays in eval mode


def test_adamw_weight_decay_moves_only_audio_rows():
    lm = tiny_qwen3()
    wrapped = FrozenCausalLM(lm, FIRST, codebook_size=N_AUDIO)
    frozen_before = {n: p.detach().clone() for n, p in lm.named_parameters()}
    rows_before = wrapped.audio_embeddings.detach().clone()
    opt = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)
    for step in range(3):
        # both entry points: token ids (hook) and inputs_embeds built from the audio rows (bridge path)
        out_ids = wrapped(input_ids=_mixed_ids(), output_hidden_states=True, use_cache=False)
        one_hot = torch.nn.functional.one_hot(torch.tensor([[1, 2, 3]]), N_AUDIO).float()
        out_emb = wrapped(inputs_embeds=one_hot @ wrapped.audio_embedding_rows(), use_cache=False)
        loss = out_ids.logits.pow(2).mean() + out_emb.logits.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for name, p in lm.named_parameters():
        assert torch.equal(p, frozen_before[name]), f"{name} moved"
    assert not torch.equal(wrapped.audio_embeddings.detach(), rows_before)


def test_naive_gradient_mask_is_not_enough_under_weight_decay():
    """Why the wrapper keeps a separate parameter: masking the gradient does not stop AdamW's decay."""
    lm = tiny_qwen3()
    weight = lm.get_input_embeddings().weight
    mask = torch.zeros_like(weight)
    mask[FIRST : FIRST + N_AUDIO] = 1
    weight.register_hook(lambda g: g * mask)
    before = weight.detach().clone()
    opt = torch.optim.AdamW([weight], lr=1e-2, weight_decay=0.1)
    lm(input_ids=_mixed_ids()).logits.pow(2).mean().backward()
    opt.step()
    assert not torch.equal(weight[:FIRST].detach(), before[:FIRST])


def test_hook_substitutes_trained_rows_for_audio_ids_only():
    lm = tiny_qwen3()
    wrapped = FrozenCausalLM(lm, FIRST, codebook_size=N_AUDIO)
    with torch.no_grad():
        wrapped.audio_embeddings.add_(1.0)
    ids = _mixed_ids()
    hs0 = wrapped(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states[0]
    base = lm.get_input_embeddings().weight
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            i = int(ids[b, t])
            expected = wrapped.audio_embeddings[i - FIRST] if FIRST <= i < FIRST + N_AUDIO else base[i]
            assert torch.equal(hs0[b, t], expected)


def test_hidden_state_semantics_pinned():
    """Quirk 29: hidden_states[i] = layer i output (i < L), hidden_states[L] = final-norm output."""
    lm = tiny_qwen3()
    wrapped = FrozenCausalLM(lm, FIRST, codebook_size=N_AUDIO)
    layer_outputs = []
    hooks = [
        layer.register_forward_hook(lambda m, a, o: layer_outputs.append(o[0] if isinstance(o, tuple) else o))
        for layer in lm.model.layers
    ]
    out = wrapped(input_ids=_mixed_ids(), output_hidden_states=True, use_cache=False)
    for h in hooks:
        h.remove()
    hs = out.hidden_states
    assert len(hs) == 4
    assert torch.allclose(hs[1], layer_outputs[0]) and torch.allclose(hs[2], layer_outputs[1])
    assert torch.allclose(hs[3], lm.model.norm(layer_outputs[2]))
    assert torch.allclose(lm.lm_head(hs[-1]), out.logits, atol=1e-6)


def test_hidden_states_come_from_the_decoder_without_logits():
    """Training reads hidden states only: the same tensors as the full LM, but lm_head never runs."""
    lm = tiny_qwen3()
    wrapped = FrozenCausalLM(lm, FIRST, codebook_size=N_AUDIO)
    with torch.no_grad():
        wrapped.audio_embeddings.add_(0.5)  # trained rows must be substituted on this path too
    head_calls = []
    lm.lm_head.register_forward_hook(lambda *_: head_calls.append(1))
    ids, mask = _mixed_ids(), torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    embeds = wrapped.audio_embedding_rows()[:5].unsqueeze(0)
    got_ids = wrapped.hidden_states(input_ids=ids, attention_mask=mask)
    got_emb = wrapped.hidden_states(inputs_embeds=embeds)
    assert head_calls == []
    ref_ids = wrapped(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False).hidden_states
    ref_emb = wrapped(inputs_embeds=embeds, output_hidden_states=True, use_cache=False).hidden_states
    assert len(head_calls) == 2  # the full forward does run lm_head (so the hook works)
    assert len(got_ids) == len(ref_ids) == 4
    assert all(torch.equal(a, b) for a, b in zip(got_ids, ref_ids))
    assert all(torch.equal(a, b) for a, b in zip(got_emb, ref_emb))
    got_emb[-1].pow(2).mean().backward()
    assert wrapped.audio_embeddings.grad[:5].abs().sum() > 0 and wrapped.audio_embeddings.grad[5:].abs().sum() == 0


def test_sync_and_trainable_state_round_trip():
    lm = tiny_qwen3()
    wrapped = FrozenCausalLM(lm, FIRST, codebook_size=N_AUDIO)
    with torch.no_grad():
        wrapped.audio_embeddings.mul_(3.0)
    state = wrapped.trainable_state_dict()
    wrapped.sync_audio_rows_to_lm()
    assert torch.equal(lm.get_input_embeddings().weight[FIRST : FIRST + N_AUDIO], wrapped.audio_embeddings)
    assert torch.equal(lm.lm_head.weight[FIRST : FIRST + N_AUDIO], wrapped.audio_embeddings)  # tied
    other = FrozenCausalLM(tiny_qwen3(seed=1), FIRST, codebook_size=N_AUDIO)
    other.load_trainable_state_dict(state)
    assert torch.equal(other.audio_embeddings, wrapped.audio_embeddings)
    with pytest.raises(ValueError, match="shape mismatch"):
        FrozenCausalLM(tiny_qwen3(), FIRST, codebook_size=8).load_trainable_state_dict(state)


def test_audio_rows_dtype_option():
    lm = tiny_qwen3().to(torch.bfloat16)
    assert FrozenCausalLM(lm, FIRST, N_AUDIO).audio_embeddings.dtype == torch.bfloat16  # recipe: bf16, no master
    wrapped = FrozenCausalLM(tiny_qwen3().to(torch.bfloat16), FIRST, N_AUDIO, audio_rows_dtype=torch.float32)
    assert wrapped.audio_embeddings.dtype == torch.float32
    out = wrapped(inputs_embeds=wrapped.audio_embedding_rows()[:4].unsqueeze(0), use_cache=False)
    assert out.logits.shape == (1, 4, 400)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="size mismatch"):
        FrozenCausalLM(tiny_qwen3(), first_audio_token_id=350, codebook_size=N_AUDIO)

    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    vocab = {"<|endoftext|>": 0}
    for ch in ByteLevel.alphabet():
        vocab[ch] = len(vocab)
    tok = Qwen2Tokenizer(vocab=vocab, merges=[])
    with pytest.raises(ValueError, match="no codec tokens"):
        find_audio_token_range(tok, codebook_size=N_AUDIO)
    tok.add_tokens([f"<CODEC_{i}>" for i in range(N_AUDIO)])
    assert find_audio_token_range(tok, codebook_size=N_AUDIO) == 257
    wrapped = FrozenCausalLM.from_tokenizer(tiny_qwen3(), tok, codebook_size=N_AUDIO)
    assert int(wrapped.audio_token_ids[0]) == 257
    big = tiny_qwen3()
    big.resize_token_embeddings(300)
    tok.add_tokens([f"<extra_{i}>" for i in range(100)])  # now 421 tokens > 300 rows
    with pytest.raises(ValueError, match="size mismatch"):
        FrozenCausalLM.from_tokenizer(big, tok, codebook_size=N_AUDIO)
