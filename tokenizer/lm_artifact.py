"""The Qwen-compatible LM artifact: a causal LM whose vocabulary includes the `<CODEC_n>` tokens.

Steps (mirroring the original export, with the size choice made explicit):
1. check that LM and tokenizer belong together (the LM has a row for every base token);
2. resize the embeddings with `mean_resizing=False` (new rows ~ N(0, initializer_range), as the original);
3. optionally write given audio-token rows, a (n_audio_tokens, hidden) tensor, at `first_id …`;
4. keep input/output embeddings tied when the config says so;
5. save model + tokenizer + `audio_tokens_meta.json` as a Hub-ready folder (atomic rename).

Size policy (`vocab_policy`):
    "max"   (default) new rows = max(len(tokenizer), current rows): never shrinks a padded matrix
            (Qwen3 has 151,936 rows for 151,669 tokens; adding < 267 tokens would otherwise shrink it).
    "exact" new rows = len(tokenizer), what the original does; on Qwen3 + 20,480 tokens both give 172,149.
            Shrinking drops only padding rows (ids ≥ len(tokenizer)) and is logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import torch

from .extend import TOKENIZER_FILES, AudioTokensMeta, check_qwen_layout
from .mapping import AudioTokenMap

logger = logging.getLogger(__name__)

QWEN_MODEL_TYPES = {"qwen2", "qwen3", "qwen3_moe", "qwen2_moe"}

# Tiny random Qwen3 for tests and smoke runs: Qwen3's padded vocabulary, 3 layers (so a [L//3, 0.8L)
# layer range is non-empty), explicit head_dim (the default of 128 would inflate attention), tied.
TINY_QWEN3_KWARGS = dict(
    vocab_size=151_936,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=512,
    tie_word_embeddings=True,
    eos_token_id=151_645,
    pad_token_id=151_643,
)


def tiny_random_qwen3(seed: int = 0):
    """A randomly initialised `Qwen3ForCausalLM` (hidden 32, 3 layers, vocab 151,936, tied). ~4.9 M params."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    return Qwen3ForCausalLM(Qwen3Config(**TINY_QWEN3_KWARGS))


def _embedding_rows(model) -> int:
    return model.get_input_embeddings().weight.shape[0]


def _is_tied(model) -> bool:
    out = model.get_output_embeddings()
    return out is not None and out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def check_lm_tokenizer_pair(model, tokenizer, meta: AudioTokensMeta) -> list[str]:
    """Raise on an LM/tokenizer pair that cannot belong together; return warnings for allowed oddities."""
    rows = _embedding_rows(model)
    if rows < meta.first_id:
        raise ValueError(
            f"LM/tokenizer size mismatch: the tokenizer has {meta.first_id} tokens before <CODEC_0> but the LM "
            f"embedding has only {rows} rows; this tokenizer was not built from this LM's base tokenizer"
        )
    if len(tokenizer) != meta.first_id + meta.n_audio_tokens:
        raise ValueError(
            f"tokenizer has {len(tokenizer)} tokens but its audio tokens end at {meta.first_id + meta.n_audio_tokens}: "
            "tokens were added after <CODEC_*>; rebuild the extended tokenizer"
        )
    warnings = check_qwen_layout(tokenizer, meta.first_id)
    model_type = getattr(model.config, "model_type", None)
    if model_type not in QWEN_MODEL_TYPES:
        warnings.append(f"LM model_type is {model_type!r}, not a Qwen model")
    # An LM with more rows than the base tokenizer by far is likely a different (bigger-vocab) family.
    cfg_vocab = model.config.get_text_config().vocab_size
    if rows > len(tokenizer) and rows - meta.first_id > 4096 and rows != cfg_vocab:
        warnings.append(f"LM has {rows} embedding rows, far more than the tokenizer's {len(tokenizer)} tokens")
    return warnings


def resize_lm_for_audio_tokens(
    model,
    tokenizer,
    meta: AudioTokensMeta | None = None,
    audio_embeddings: torch.Tensor | None = None,
    vocab_policy: Literal["max", "exact"] = "max",
    pad_to_multiple_of: int | None = None,
):
    """Resize `model`'s embeddings for the extended `tokenizer`, in place; returns the model.

    Args:
        model: a `PreTrainedModel` causal LM (e.g. Qwen3ForCausalLM).
        tokenizer: the extended tokenizer (see `extend_tokenizer`).
        meta: its audio-token layout; read from the tokenizer when None.
        audio_embeddings: optional (n_audio_tokens, hidden) tensor written into the input embedding rows
            `first_id … first_id + n - 1` (and so into `lm_head` when tied; an untied `lm_head` is kept).
        vocab_policy: "max" or "exact", see the module docstring.
        pad_to_multiple_of: forwarded to `resize_token_embeddings` (rounds the row count up).
    """
    if meta is None:
        amap = AudioTokenMap.from_tokenizer(tokenizer)
        meta = AudioTokensMeta(amap.prefix, amap.n_codes, amap.first_id)
    warnings = check_lm_tokenizer_pair(model, tokenizer, meta)
    if warnings:
        logger.warning(
            "LM/tokenizer pair is not Qwen3 (%s): allowed, but token ids differ from the released LLM-Codec "
            "artifacts", "; ".join(warnings),
        )
    rows = _embedding_rows(model)
    if vocab_policy == "max":
        target = max(len(tokenizer), rows)
    elif vocab_policy == "exact":
        target = len(tokenizer)
        if target < rows:
            logger.warning("vocab_policy='exact' shrinks the embedding from %d to %d rows (padding rows only)", rows, target)
    else:
        raise ValueError(f"vocab_policy must be 'max' or 'exact', got {vocab_policy!r}")
    was_tied = bool(model.config.get_text_config().tie_word_embeddings)
    model.resize_token_embeddings(target, pad_to_multiple_of=pad_to_multiple_of, mean_resizing=False)
    if was_tied:
        model.tie_weights()
        if not _is_tied(model):
            raise RuntimeError("input and output embeddings are no longer tied after resizing")
    if audio_embeddings is not None:
        write_audio_embeddings(model, meta, audio_embeddings)
    return model


def write_audio_embeddings(model, meta: AudioTokensMeta, audio_embeddings: torch.Tensor) -> None:
    """Copy a (n_audio_tokens, hidden) tensor into the audio rows of the input embedding."""
    weight = model.get_input_embeddings().weight
    expected = (meta.n_audio_tokens, weight.shape[1])
    if not isinstance(audio_embeddings, torch.Tensor) or tuple(audio_embeddings.shape) != expected:
        got = tuple(audio_embeddings.shape) if isinstance(audio_embeddings, torch.Tensor) else type(audio_embeddings)
        raise ValueError(f"audio_embeddings must be a tensor of shape {expected} (n_audio_tokens, hidden), got {got}")
    if not audio_embeddings.dtype.is_floating_point:
        raise ValueError(f"audio_embeddings must be floating point, got {audio_embeddings.dtype}")
    if weight.shape[0] < meta.first_id + meta.n_audio_tokens:
        raise ValueError(f"embedding has {weight.shape[0]} rows; resize before writing audio rows")
    with torch.no_grad():
        weight[meta.first_id : meta.first_id + meta.n_audio_tokens] = audio_embeddings.to(device=weight.device, dtype=weight.dtype)


# Files of an earlier artifact in the output folder that a new one replaces even where it writes no file of
# the same name (a stale shard or index would be loaded with the new weights).
LM_ARTIFACT_FILES = TOKENIZER_FILES + (
    "config.json", "generation_config.json", "model*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin",
)


def save_lm_artifact(model, tokenizer, meta: AudioTokensMeta, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Save model + tokenizer + meta into `out_dir` via a temp folder beside it.

    An existing `out_dir` with files needs `overwrite`; then only the artifact's files are replaced, every
    other file is kept. Every file gets the umask's permissions (`save_pretrained` writes the weights
    through a 0600 temporary file).
    """
    from llmcodec.files import staged_output_folder

    out = Path(out_dir).resolve()
    with staged_output_folder(out, overwrite=overwrite, stale=LM_ARTIFACT_FILES) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "added_tokens.json").unlink(missing_ok=True)  # stale slow-tokenizer file; tokenizer.json is the truth
        meta.save(tmp)
    return out


def build_lm_artifact(
    model,
    tokenizer,
    out_dir: str | os.PathLike,
    meta: AudioTokensMeta | None = None,
    audio_embeddings: torch.Tensor | None = None,
    vocab_policy: Literal["max", "exact"] = "max",
    overwrite: bool = False,
) -> Path:
    """Resize (see :func:`resize_lm_for_audio_tokens`), optionally write audio rows, save a Hub-ready folder.

    The folder loads with `AutoModelForCausalLM.from_pretrained(out_dir)` and
    `AutoTokenizer.from_pretrained(out_dir)`.
    """
    if meta is None:
        amap = AudioTokenMap.from_tokenizer(tokenizer)
        meta = AudioTokensMeta(amap.prefix, amap.n_codes, amap.first_id)
    resize_lm_for_audio_tokens(model, tokenizer, meta, audio_embeddings=audio_embeddings, vocab_policy=vocab_policy)
    return save_lm_artifact(model, tokenizer, meta, out_dir, overwrite=overwrite)


def load_audio_embeddings(path: str | os.PathLike, key: str | None = None) -> torch.Tensor:
    """Read a (n_audio_tokens, hidden) tensor from a safetensors file (the only tensor, or `key`)."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    if key is not None:
        if key not in tensors:
            raise KeyError(f"{path}: no tensor named {key!r} (has {sorted(tensors)})")
        return tensors[key]
    if len(tensors) != 1:
        raise ValueError(f"{path} holds {len(tensors)} tensors {sorted(tensors)}; name one with key=/--audio-embeddings-key")
    return next(iter(tensors.values()))
