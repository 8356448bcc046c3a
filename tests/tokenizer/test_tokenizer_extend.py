"""Extending a tokenizer with <CODEC_n>: ids, save/load with plain AutoTokenizer, existing codec tokens."""

from __future__ import annotations

import json
import logging

import pytest
from tokenizer_fixtures import extended_dir, extended_tokenizer, make_tiny_byte_tokenizer  # noqa: F401
from transformers import AutoTokenizer

from llmcodec.tokenizer import (
    META_FILENAME,
    AudioTokensMeta,
    extend_tokenizer,
    find_codec_like_tokens,
    load_extended_tokenizer,
    save_extended_tokenizer,
)


def test_extended_ids_on_qwen3(extended_tokenizer):
    assert len(extended_tokenizer) == 172_149
    assert extended_tokenizer.convert_tokens_to_ids("<CODEC_0>") == 151_669
    assert extended_tokenizer.convert_tokens_to_ids("<CODEC_20479>") == 172_148
    token = extended_tokenizer.added_tokens_decoder[151_669]
    assert str(token) == "<CODEC_0>" and token.special is False  # normal added tokens, as the original
    # The base vocabulary is untouched.
    assert extended_tokenizer("Hello, world!", add_special_tokens=False).input_ids == [9707, 11, 1879, 0]


def test_saved_folder_loads_with_plain_autotokenizer(extended_dir, extended_tokenizer):
    meta = json.loads((extended_dir / META_FILENAME).read_text())
    assert meta == {"prefix": "<CODEC_", "n_audio_tokens": 20480, "first_id": 151669}
    config = json.loads((extended_dir / "tokenizer_config.json").read_text())
    assert "auto_map" not in config  # no custom code
    loaded = AutoTokenizer.from_pretrained(extended_dir)
    assert type(loaded).__name__ == "Qwen2Tokenizer"
    assert len(loaded) == 172_149
    text = "say <CODEC_7><CODEC_20479> ok"
    assert loaded(text).input_ids == extended_tokenizer(text).input_ids
    tok, meta_obj = load_extended_tokenizer(extended_dir)
    assert meta_obj == AudioTokensMeta("<CODEC_", 20480, 151669)
    assert [p.name for p in extended_dir.parent.iterdir()] == ["tok"]  # atomic write left no temp folder


def test_complete_codec_set_is_reused(extended_tokenizer):
    tokenizer, report = extend_tokenizer(extended_tokenizer)
    assert report.action == "reused"
    assert tokenizer is extended_tokenizer and len(tokenizer) == 172_149
    assert report.meta.first_id == 151_669


def test_partial_codec_set_is_an_error():
    tok = make_tiny_byte_tokenizer()
    tok.add_tokens([f"<CODEC_{i}>" for i in range(5)])
    with pytest.raises(ValueError, match="already holds 5 <CODEC_n> tokens"):
        extend_tokenizer(tok, n_audio_tokens=16, warn_non_qwen=False)
    assert len(tok) == 257 + 5  # nothing duplicated


def test_legacy_tokens_error_then_migrate():
    tok = make_tiny_byte_tokenizer()
    tok.add_tokens([f"<AUV_{i}>" for i in range(16)])
    with pytest.raises(ValueError, match="legacy audio tokens <AUV_n>.*migrate_legacy"):
        extend_tokenizer(tok, n_audio_tokens=16, warn_non_qwen=False)
    migrated, report = extend_tokenizer(tok, n_audio_tokens=16, migrate_legacy=True, warn_non_qwen=False)
    assert report.action == "migrated" and report.legacy_prefix == "<AUV_"
    assert report.legacy_ids == tuple(range(257, 273))
    assert len(migrated) == 273
    assert set(find_codec_like_tokens(migrated)) == {"<CODEC_"}
    assert migrated.convert_tokens_to_ids("<CODEC_3>") == 260
    assert migrated("<CODEC_3>x").input_ids[0] == 260


def test_legacy_tokens_not_trailing_are_refused():
    tok = make_tiny_byte_tokenizer()
    tok.add_tokens([f"<SPEECH_{i}>" for i in range(4)] + ["<other>"])
    with pytest.raises(ValueError, match="not the last ids"):
        extend_tokenizer(tok, n_audio_tokens=4, migrate_legacy=True, warn_non_qwen=False)


def test_non_qwen_base_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="llmcodec.tokenizer.extend"):
        tok, report = extend_tokenizer(make_tiny_byte_tokenizer(), n_audio_tokens=8)
    assert report.meta.first_id == 257 and len(tok) == 265
    assert "not Qwen3" in caplog.text and "<CODEC_0> is id 257" in caplog.text


def test_non_qwen_byte_level_bpe_base_with_its_own_specials(tmp_path):
    """A SmolLM2-like tokenizer (plain `tokenizers` backend, real merges, bos/eos specials): ids follow its
    length, its own text and specials tokenize as before, and the saved folder round-trips."""
    from non_qwen_lm_testing import make_tiny_bpe_tokenizer

    base = make_tiny_bpe_tokenizer()
    text = "hello world, the quick brown fox"
    before = base(text).input_ids
    specials = base.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    tok, report = extend_tokenizer(base, n_audio_tokens=32, warn_non_qwen=False)
    assert report.action == "added" and report.meta == AudioTokensMeta("<CODEC_", 32, 320)
    assert len(tok) == 352 and tok.convert_tokens_to_ids(["<CODEC_0>", "<CODEC_31>"]) == [320, 351]
    assert tok(text).input_ids == before and tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]) == specials
    mixed = tok("fox<CODEC_3><CODEC_31> dog", add_special_tokens=False).input_ids
    assert mixed[: len(tok("fox", add_special_tokens=False).input_ids)] == tok("fox", add_special_tokens=False).input_ids
    assert [i for i in mixed if i >= 320] == [323, 351]  # one id per code, even glued to a word
    save_extended_tokenizer(tok, report.meta, tmp_path / "tok")
    loaded, meta = load_extended_tokenizer(tmp_path / "tok")
    assert type(loaded).__name__ != "Qwen2Tokenizer" and meta.first_id == 320
    assert loaded("fox<CODEC_3><CODEC_31> dog", add_special_tokens=False).input_ids == mixed
    assert loaded.bos_token == "<|im_start|>" and loaded.eos_token == "<|im_end|>"


def test_overwrite_and_meta_checks(tmp_path):
    tok, report = extend_tokenizer(make_tiny_byte_tokenizer(), n_audio_tokens=8, warn_non_qwen=False)
    out = tmp_path / "tok"
    save_extended_tokenizer(tok, report.meta, out)
    with pytest.raises(FileExistsError, match="already exists"):
        save_extended_tokenizer(tok, report.meta, out)
    save_extended_tokenizer(tok, report.meta, out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok"]
    assert load_extended_tokenizer(out)[1].first_id == 257
    # Metadata that disagrees with the tokenizer is caught.
    AudioTokensMeta("<CODEC_", 8, 300).save(out)
    with pytest.raises(ValueError, match="says <CODEC_0> is id 300"):
        load_extended_tokenizer(out)
    (out / META_FILENAME).unlink()
    with pytest.raises(FileNotFoundError, match="not an extended LLM-Codec tokenizer"):
        load_extended_tokenizer(out)
