"""The offline Qwen3 base tokenizer: known ids, special tokens, chat template, tiktoken agreement, cache."""

from __future__ import annotations

import os
import random
import unicodedata

import pytest
from tokenizer_fixtures import base_tokenizer, tiktoken_encoding  # noqa: F401  (fixtures)
from tokenizers import pre_tokenizers

from llmcodec.tokenizer import qwen_offline
from llmcodec.tokenizer.qwen_offline import QWEN3_ADDED_TOKENS, bytes_to_unicode, load_qwen_ranks


def test_known_qwen3_ids(base_tokenizer):
    assert len(base_tokenizer) == 151_669
    assert base_tokenizer("Hello world", add_special_tokens=False).input_ids == [9707, 1879]
    assert base_tokenizer("Hello, world!", add_special_tokens=False).input_ids == [9707, 11, 1879, 0]
    assert base_tokenizer.convert_tokens_to_ids("<|im_start|>") == 151644
    assert base_tokenizer.convert_tokens_to_ids("</think>") == 151668
    assert base_tokenizer("<|im_start|>user", add_special_tokens=False).input_ids[0] == 151644


def test_special_tokens_and_roles(base_tokenizer):
    ids = base_tokenizer.convert_tokens_to_ids([c for c, _ in QWEN3_ADDED_TOKENS])
    assert ids == list(range(151643, 151669))
    assert base_tokenizer.eos_token == "<|im_end|>" and base_tokenizer.eos_token_id == 151645
    assert base_tokenizer.pad_token == "<|endoftext|>" and base_tokenizer.pad_token_id == 151643
    assert base_tokenizer.bos_token is None
    # Qwen3 marks <tool_call>…</think> non-special: they survive skip_special_tokens.
    text = "<|im_start|>a<think>b</think><|im_end|>"
    decoded = base_tokenizer.decode(base_tokenizer(text).input_ids, skip_special_tokens=True)
    assert decoded == "a<think>b</think>"
    # No BOS/EOS is added around plain text.
    assert base_tokenizer("hi").input_ids == base_tokenizer("hi", add_special_tokens=False).input_ids


def test_chat_template_chatml(base_tokenizer):
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Again"},
    ]
    text = base_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nAgain<|im_end|>\n<|im_start|>assistant\n"
    )
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    calls = [{"role": "user", "content": "x"},
             {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
             {"role": "tool", "content": "42"}]
    text = base_tokenizer.apply_chat_template(calls, tools=tools, tokenize=False)
    assert text.startswith("<|im_start|>system\n# Tools\n") and "<tools>\n{" in text
    assert '<|im_start|>assistant\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call><|im_end|>\n' in text
    assert text.endswith("<|im_start|>user\n<tool_response>\n42\n</tool_response><|im_end|>\n")


CROSS_CHECK = [
    "Hello world", "  leading spaces", "trailing spaces   ", "tabs\tand\t\ttabs", "line\nbreaks\r\n\r\nmore\n\n\n",
    "1234567890 3.14159 -42 1e-9 1,000,000 ٣٤٥ ⅷ", "你好，世界！这是一个测试。", "こんにちは世界 カタカナ", "안녕하세요 세계",
    "Привет, мир! Ελληνικά العربية עברית हिन्दी ไทย", "emoji 🎉🚀👨‍👩‍👧‍👦 🇫🇷 ❤️ ok",
    "def f(x):\n    return {'a': [x ** 2 for x in range(10)]}  # comment\n",
    "#include <stdio.h>\nint main(){printf(\"%d\\n\", 1<<3);}", "I'm can't WE'LL you'd They'RE", "   \n   \n\t \u3000 x",
    "mixed中文English123数字 and <html><body>tags</body></html>", "https://example.com/path?q=1&r=%20#frag",
    "naïve café résumé e\u0301", "ſtraße ÅNGSTRÖM ﬁ", "\x00\x01\x7f control", "a" * 500, " " * 50, "😀" * 20,
    "<|im_start|>", "Mr. O'Neil's 's 'S", "x = y if z else w;;;;!!!???...", "\u200b\u200d zero width",
]


@pytest.mark.parametrize("text", CROSS_CHECK)
def test_matches_tiktoken(base_tokenizer, tiktoken_encoding, text):
    # The HF tokenizer NFC-normalises (as Qwen3's does); tiktoken does not, so compare on NFC text.
    # Special tokens are disallowed in tiktoken's ordinary encode; compare them as plain text there.
    nfc = unicodedata.normalize("NFC", text)
    ours = base_tokenizer(text, add_special_tokens=False).input_ids
    ref = tiktoken_encoding.encode(nfc, allowed_special="all")
    assert ours == ref
    assert base_tokenizer.decode(ours) == nfc


def test_matches_tiktoken_random_text(base_tokenizer, tiktoken_encoding):
    rng = random.Random(1234)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x4E00, 0x4FFF), (0x3040, 0x30FF),
              (0xAC00, 0xAD00), (0x1F300, 0x1F64F), (0x600, 0x6FF)]
    texts = []
    for _ in range(200):
        parts = []
        for _ in range(rng.randint(1, 30)):
            lo, hi = rng.choice(blocks)
            parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 8))))
            parts.append(rng.choice([" ", "  ", "\n", "", "\t", " \n "]))
        texts.append(unicodedata.normalize("NFC", "".join(parts)))
    ours = base_tokenizer(texts, add_special_tokens=False).input_ids
    ref = tiktoken_encoding.encode_ordinary_batch(texts)
    mismatches = [t for t, a, b in zip(texts, ours, ref) if a != b]
    assert not mismatches, mismatches[:3]


def test_byte_alphabet_matches_tokenizers():
    mapping = bytes_to_unicode()
    assert len(mapping) == 256 and len(set(mapping.values())) == 256
    assert set(mapping.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    assert mapping[ord(" ")] == "Ġ" and mapping[ord("\n")] == "Ċ"


def test_merges_one_per_token():
    ranks = load_qwen_ranks()
    merges = qwen_offline.derive_merges(ranks)
    assert len(merges) == len(ranks) - 256
    # Each merge joins two lower-ranked tokens into the next multi-byte token, in rank order.
    multi = sorted((r, t) for t, r in ranks.items() if len(t) > 1)
    for (rank, token), (a, b) in zip(multi[::997], merges[::997]):
        assert a + b == token and ranks[a] < rank and ranks[b] < rank


def test_cached_build_is_atomic_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCODEC_CACHE", str(tmp_path / "cache"))
    folder = qwen_offline.offline_qwen3_dir()  # build speed: benchmarks/bench_tokenizer_build.py
    assert folder.parent == tmp_path / "cache"
    assert sorted(p.name for p in folder.iterdir()) == ["tokenizer.json", "tokenizer_config.json"]
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temp folders left behind
    mtime = os.path.getmtime(folder / "tokenizer.json")
    assert qwen_offline.offline_qwen3_dir() == folder
    assert os.path.getmtime(folder / "tokenizer.json") == mtime  # reused, not rebuilt


def test_bad_rank_file_is_rejected(tmp_path):
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("IQ== 0\nIg== 5\n")
    with pytest.raises(ValueError, match="expected ranks"):
        load_qwen_ranks(bad)
