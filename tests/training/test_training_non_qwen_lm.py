"""Stage 2 against a non-Qwen frozen LM with its own tokenizer (a tiny SmolLM2-like Llama, built offline):
the config path (folder -> tokenizer extended by <CODEC_n>, embeddings resized), FTP + SA through
LLMCodecTrainer, no logits computed, the layer-prefix truncation and the SA layer range it maps to."""

from __future__ import annotations

import math

import pytest
import torch
from non_qwen_lm_testing import make_tiny_llama, save_tiny_llama_folder
from trainer_testing import tiny_args
from transformers import LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

from llmcodec.training.objectives.frozen_lm import truncate_decoder_layers
from llmcodec.training.objectives.semantic_alignment import sa_layer_range
from llmcodec.training.trainer import TrainingSetupError, build_components

torch.set_num_threads(1)
N_CODES = 64  # tiny codec of trainer_testing


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return save_tiny_llama_folder(tmp_path_factory.mktemp("tiny-llama") / "lm", num_layers=6)


def _args(tmp_path, llama_dir, **overrides):
    values = dict(lm_name_or_path=str(llama_dir), tokenizer_name_or_path=str(llama_dir), enable_gan=False,
                  gradient_accumulation_steps=1, max_steps=4, lambda_ftp=0.5, lambda_sa_cosine=0.1,
                  lambda_sa_contrast=0.05, sa_ramp_steps=0, ftp_prepend_bos=True, lr_embed=1e-2)
    values.update(overrides)
    return tiny_args(tmp_path, **values)


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_trainer_runs_ftp_and_sa_against_a_llama_with_its_own_tokenizer(llama_dir, tmp_path):
    margs, dargs, args = _args(tmp_path, llama_dir)
    c = build_components(margs, dargs, args)  # loads tokenizer and LM from the folder, as a config would
    tok, m = c.tokenizer, c.module
    assert isinstance(m.lm.lm, LlamaForCausalLM)
    assert len(tok) == 320 + N_CODES and tok.convert_tokens_to_ids("<CODEC_0>") == 320
    assert m.lm.first_audio_token_id == 320
    assert m.lm.lm.get_input_embeddings().weight.shape[0] == len(tok)  # resized to the extended tokenizer
    assert m.lm.lm.lm_head.weight is m.lm.lm.get_input_embeddings().weight  # still tied
    assert m.start_token_id == tok.convert_tokens_to_ids("<|im_start|>") == 1  # FTP start token: the bos
    assert tok.pad_token == "<|im_end|>"  # no pad token of its own: SA pads transcripts with eos
    assert m.sa_layers == sa_layer_range(6) == (2, 4)

    body = {n: p.detach().clone() for n, p in m.lm.lm.named_parameters()}
    rows = m.lm.audio_embeddings.detach().clone()
    head_calls = _count_calls(m.lm.lm.lm_head)
    layer_calls = _count_calls(m.lm.lm.model.layers[0])
    trainer = c.trainer(args)
    trainer.train()

    logs = [h for h in trainer.state.log_history if "loss_ftp" in h]
    sa_logs = [h for h in logs if "loss_sa_cos" in h]
    assert len(logs) == 4 and len(sa_logs) == 3  # SA starts the step after sa_delay_steps (recipe)
    for key in ("loss", "loss_ftp", "loss_mel"):
        assert all(math.isfinite(h[key]) for h in logs), key
    for key in ("loss_sa_cos", "loss_sa_ctr"):
        assert all(math.isfinite(h[key]) for h in sa_logs), key
    assert sa_logs[-1]["loss_sa_ctr"] > 0  # the bank filled: the contrastive term is live
    assert trainer.counters["nonfinite_terms"] == 0
    assert layer_calls[0] == len(logs) + len(sa_logs)  # the LM ran: an audio pass per step, a text pass with SA
    assert head_calls[0] == 0  # ... but never its lm_head: no (B, T, vocab) logits
    assert not torch.equal(m.lm.audio_embeddings, rows)
    for name, p in m.lm.lm.named_parameters():
        assert torch.equal(p, body[name]), f"frozen LM weight {name} changed"


def test_hidden_states_path_gives_the_same_losses_as_the_full_lm(llama_dir, tmp_path):
    """The decoder-only LM block (no lm_head) reproduces what the full causal LM's hidden states gave."""
    c = build_components(*_args(tmp_path, llama_dir))
    m = c.module.train()
    wav = torch.randn(2, 1, 8000) * 0.1
    enc = c.tokenizer(["hello world", "the sea shore and the fox"], return_tensors="pt", padding=True,
                      padding_side="right")

    def run():
        torch.manual_seed(3)
        out = m(input_values=wav, text_input_ids=enc["input_ids"], text_attention_mask=enc["attention_mask"],
                tau=0.7, strict_llm_losses=True)
        m.push_sa_bank(out.get("sa_text_features"))
        return out

    m.sa.push(torch.randn(2, 2, 32))  # a non-empty bank, so the contrastive term is compared too
    bank = {k: v.clone() for k, v in m.sa.state_dict().items()}
    new = run()
    m.sa.load_state_dict(bank)
    full = lambda **kw: m.lm(**kw, output_hidden_states=True, use_cache=False).hidden_states  # noqa: E731
    m.lm.hidden_states = full  # the previous implementation: the whole LM, logits included
    ref = run()
    for key in ("ftp", "sa_cos", "sa_ctr", "bridge"):
        assert torch.allclose(new[key], ref[key], rtol=1e-6, atol=1e-7), key
    assert new["sa_ctr"] > 0


def test_layer_prefix_truncation_keeps_the_first_blocks():
    full = make_tiny_llama(vocab_size=100, num_layers=6)
    cut = make_tiny_llama(vocab_size=100, num_layers=6)
    assert truncate_decoder_layers(cut, 5) is cut
    assert len(cut.model.layers) == 5 and cut.config.num_hidden_layers == 5
    ids = torch.tensor([[3, 14, 15, 92, 65]])
    with torch.no_grad():
        ref = full(input_ids=ids, output_hidden_states=True).hidden_states
        got = cut(input_ids=ids, output_hidden_states=True).hidden_states
    assert len(got) == 6
    for i in range(5):  # embeddings and the outputs of blocks 1..4 are those of the full LM
        assert torch.equal(got[i], ref[i])
    assert torch.allclose(got[5], full.model.norm(ref[5]), atol=1e-6)  # final norm now follows block 5
    assert truncate_decoder_layers(cut, 5) is cut and len(cut.model.layers) == 5  # same depth: no-op
    with pytest.raises(ValueError, match="between 1 and the LM's 5 layers"):
        truncate_decoder_layers(cut, 6)

    qwen = Qwen3ForCausalLM(Qwen3Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=4,
                                        num_attention_heads=2, num_key_value_heads=1, head_dim=8))
    truncate_decoder_layers(qwen, 2)
    assert qwen.config.layer_types == ["full_attention"] * 2  # per-layer lists follow the depth
    assert qwen(input_ids=ids % 64).logits.shape == (1, 5, 64)


def test_sa_range_maps_onto_the_used_depth(llama_dir, tmp_path):
    assert sa_layer_range(36) == (12, 28)  # Qwen3-4B, the recipe
    assert sa_layer_range(30) == (10, 24)  # SmolLM2-135M, all layers
    assert sa_layer_range(12) == (4, 9)  # SmolLM2-135M, a 12-layer prefix
    c = build_components(*_args(tmp_path, llama_dir, lm_num_layers=4))
    m = c.module
    assert m.lm.num_hidden_layers == 4 and len(m.lm.lm.model.layers) == 4
    assert m.sa_layers == sa_layer_range(4) == (1, 3) and m.sa.num_layers == 2
    with pytest.raises(TrainingSetupError, match="between 1 and the LM's 6 layers"):
        build_components(*_args(tmp_path, llama_dir, lm_num_layers=7))
    with pytest.raises(ValueError, match="lm_num_layers must be >= 1"):
        _args(tmp_path, llama_dir, lm_num_layers=0)
