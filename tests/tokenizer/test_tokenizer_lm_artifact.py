"""The LM artifact: resize without shrinking, tied weights, written audio rows, loadable folder, bad pairs."""

from __future__ import annotations

import logging

import pytest
import torch
from tokenizer_fixtures import extended_tokenizer, make_tiny_byte_tokenizer  # noqa: F401
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

from llmcodec.tokenizer import (
    META_FILENAME,
    build_lm_artifact,
    extend_tokenizer,
    load_audio_embeddings,
    resize_lm_for_audio_tokens,
    tiny_random_qwen3,
)


def _tiny(vocab_size: int, tied: bool = True) -> Qwen3ForCausalLM:
    torch.manual_seed(0)
    return Qwen3ForCausalLM(Qwen3Config(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=64, tie_word_embeddings=tied,
    ))


def test_artifact_loads_with_automodel(extended_tokenizer, tmp_path):
    model = tiny_random_qwen3()
    assert model.config.vocab_size == 151_936 and model.config.head_dim == 8
    base_rows = model.get_input_embeddings().weight[:151_669].clone()
    audio = torch.randn(20_480, 32)
    out = build_lm_artifact(model, extended_tokenizer, tmp_path / "lm", audio_embeddings=audio)
    assert (out / META_FILENAME).is_file() and (out / "model.safetensors").is_file()
    assert not (out / "added_tokens.json").exists()

    loaded = AutoModelForCausalLM.from_pretrained(out)
    weight = loaded.get_input_embeddings().weight
    assert type(loaded).__name__ == "Qwen3ForCausalLM"
    assert weight.shape == (172_149, 32) and loaded.config.vocab_size == 172_149
    assert torch.equal(weight[151_669:], audio)  # the audio rows are the ones written
    assert torch.equal(weight[:151_669], base_rows)  # text rows untouched
    assert loaded.get_output_embeddings().weight.data_ptr() == weight.data_ptr()  # still tied
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("hi <CODEC_3><CODEC_20479>", return_tensors="pt").input_ids
    logits = loaded(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], 172_149) and torch.isfinite(logits).all()
    assert [p.name for p in tmp_path.iterdir()] == ["lm"]


def test_vocab_policy_and_shrink_pitfall(caplog):
    # 257 base + 16 audio = 273 tokens into a padded 400-row model: the classic shrink case.
    tok, report = extend_tokenizer(make_tiny_byte_tokenizer(), n_audio_tokens=16, warn_non_qwen=False)
    kept = resize_lm_for_audio_tokens(_tiny(400), tok, report.meta, vocab_policy="max")
    assert kept.get_input_embeddings().weight.shape[0] == 400
    with caplog.at_level(logging.WARNING, logger="llmcodec.tokenizer.lm_artifact"):
        exact = resize_lm_for_audio_tokens(_tiny(400), tok, report.meta, vocab_policy="exact")
    assert exact.get_input_embeddings().weight.shape[0] == 273 and exact.config.vocab_size == 273
    assert "shrinks the embedding from 400 to 273" in caplog.text
    assert "not Qwen3" in caplog.text  # non-Qwen base: allowed, but said
    grown = resize_lm_for_audio_tokens(_tiny(260), tok, report.meta)
    assert grown.get_input_embeddings().weight.shape[0] == 273
    assert grown.lm_head.weight.data_ptr() == grown.get_input_embeddings().weight.data_ptr()
    with pytest.raises(ValueError, match="vocab_policy"):
        resize_lm_for_audio_tokens(_tiny(400), tok, report.meta, vocab_policy="bogus")


def test_untied_model_keeps_its_head():
    tok, report = extend_tokenizer(make_tiny_byte_tokenizer(), n_audio_tokens=8, warn_non_qwen=False)
    model = _tiny(257, tied=False)
    rows = torch.ones(8, 32)
    resize_lm_for_audio_tokens(model, tok, report.meta, audio_embeddings=rows)
    assert torch.equal(model.get_input_embeddings().weight[257:], rows)
    assert model.lm_head.weight.shape == (265, 32)
    assert not torch.equal(model.lm_head.weight[257:], rows)


def test_mismatched_pair_and_bad_embeddings(extended_tokenizer):
    with pytest.raises(ValueError, match="size mismatch.*151669 tokens before <CODEC_0>.*only 1000 rows"):
        resize_lm_for_audio_tokens(_tiny(1000), extended_tokenizer)
    tok, report = extend_tokenizer(make_tiny_byte_tokenizer(), n_audio_tokens=8, warn_non_qwen=False)
    with pytest.raises(ValueError, match=r"shape \(8, 32\)"):
        resize_lm_for_audio_tokens(_tiny(257), tok, report.meta, audio_embeddings=torch.zeros(8, 16))
    with pytest.raises(ValueError, match="floating point"):
        resize_lm_for_audio_tokens(_tiny(257), tok, report.meta, audio_embeddings=torch.zeros(8, 32, dtype=torch.long))
    tok.add_tokens(["<extra>"])
    with pytest.raises(ValueError, match="tokens were added after <CODEC_\\*>"):
        resize_lm_for_audio_tokens(_tiny(257), tok, report.meta)


def test_load_audio_embeddings(tmp_path):
    one = tmp_path / "one.safetensors"
    save_file({"emb": torch.ones(4, 2)}, str(one))
    assert torch.equal(load_audio_embeddings(one), torch.ones(4, 2))
    two = tmp_path / "two.safetensors"
    save_file({"a": torch.ones(4, 2), "b": torch.zeros(4, 2)}, str(two))
    with pytest.raises(ValueError, match="holds 2 tensors"):
        load_audio_embeddings(two)
    assert torch.equal(load_audio_embeddings(two, key="b"), torch.zeros(4, 2))
    with pytest.raises(KeyError, match="no tensor named 'c'"):
        load_audio_embeddings(two, key="c")
