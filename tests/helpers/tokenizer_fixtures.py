"""Shared fixtures for the tokenizer tests (imported explicitly by the tests that use them).

Tests import the fixtures they use by name: `from tokenizer_fixtures import extended_tokenizer, ...`.
"""

from __future__ import annotations

import pytest
from tokenizers import pre_tokenizers

from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer


@pytest.fixture(scope="session")
def base_tokenizer():
    """The offline Qwen3 base tokenizer (len 151,669). Shared: do not mutate it."""
    return load_offline_qwen3_tokenizer()


@pytest.fixture(scope="session")
def extended_tokenizer():
    """Qwen3 + <CODEC_0..20479> (len 172,149), built from a fresh offline base. Shared: do not mutate it."""
    tokenizer, report = extend_tokenizer(load_offline_qwen3_tokenizer())
    assert report.action == "added"
    return tokenizer


@pytest.fixture(scope="session")
def extended_dir(extended_tokenizer, tmp_path_factory):
    """A saved extended tokenizer folder (save_pretrained + audio_tokens_meta.json)."""
    from llmcodec.tokenizer import AudioTokenMap, AudioTokensMeta, save_extended_tokenizer

    amap = AudioTokenMap.from_tokenizer(extended_tokenizer)
    out = tmp_path_factory.mktemp("extended") / "tok"
    save_extended_tokenizer(extended_tokenizer, AudioTokensMeta(amap.prefix, amap.n_codes, amap.first_id), out)
    return out


@pytest.fixture(scope="session")
def tiktoken_encoding():
    from llmcodec.tokenizer.qwen_offline import qwen_tiktoken_encoding

    return qwen_tiktoken_encoding()


def make_tiny_byte_tokenizer():
    """A non-Qwen byte-level BPE tokenizer with 257 tokens (no merges): cheap base for error-path tests."""
    from transformers import Qwen2Tokenizer

    vocab = {"<|endoftext|>": 0}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    return Qwen2Tokenizer(vocab=vocab, merges=[])
