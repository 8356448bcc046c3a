"""Warm start of a token LM from a pretrained causal LM, the way speech LMs are usually built (TWIST, SLAM).

``build_warm_lm(WarmStart(path, vocab, init_rows, layers), n_codes, seed)`` loads any local causal-LM folder
(``trust_remote_code=False``: a folder's own code never runs), optionally keeps only its first ``layers``
transformer blocks (CPU budgets), and gives it a vocabulary for the ``N`` codes:

* ``vocab="replace"`` (TWIST, SLAM's ``resize_token_embeddings(n_units + specials)``): the text rows are
  dropped; rows ``0 … N-1`` are the codes, ``N`` is BOS (initialised from the text LM's BOS row) and ``N + 1``
  PAD (the mean text row). The softmax covers only the codes and the two specials.
* ``vocab="extend"`` (LLM-Codec's own setting): the text vocabulary stays and ``<CODEC_c>`` rows are added at
  ``first_id + c`` where ``first_id`` is the tokenizer's length (151,669 for Qwen3, so ids match the released
  artifact) or, for a folder that already is an LLM-Codec LM artifact, its ``audio_tokens_meta.json``. BOS and
  PAD are the text LM's own ids. The full-vocabulary loss of this layout is the setting of the paper's table.

Code rows (``init_rows``) start the same way for every codec, so a comparison of codecs is not a comparison of
initialisations:

* ``fresh``: ``N(0, initializer_range)`` from a generator seeded by ``seed`` alone;
* ``mean``: the mean text row plus seeded noise (a tenth of the text rows' spread);
* ``codebook``: the codec's own unit-normalised codebook vectors ``(N, d)`` through a fixed seeded Gaussian
  projection ``(d, H)``, scaled to the text rows' spread and centred on their mean, plus the ``mean`` noise —
  codes the codec finds similar start close;
* ``artifact:PATH``: the ``<CODEC_n>`` rows of an LLM-Codec LM artifact (``llmcodec`` ``lm/`` folder: weights
  + ``audio_tokens_meta.json``), e.g. the released Qwen3 with LLM-Codec's trained rows; its hidden size must
  be the warm-start LM's.

Untied output embeddings get the same rows as the input embeddings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from llmcodec.tokenizer.mapping import AudioTokenMap

VOCAB_MODES = ("replace", "extend")
ROW_SCHEMES = ("fresh", "mean", "codebook", "artifact:PATH")
NOISE_SHARE = 0.1  # seeded noise of the `mean` / `codebook` rows, relative to the text rows' spread


@dataclass
class WarmStart:
    """Where a token LM starts: a local causal-LM folder, how its vocabulary changes, how code rows start."""

    path: str
    vocab: str = "replace"
    init_rows: str = "fresh"
    layers: int | None = None

    def __post_init__(self) -> None:
        if self.vocab not in VOCAB_MODES:
            raise ValueError(f"vocabulary mode must be one of {VOCAB_MODES}, got {self.vocab!r}")
        if self.init_rows not in ROW_SCHEMES[:3] and not self.init_rows.startswith("artifact:"):
            raise ValueError(f"--init-rows must be one of {', '.join(ROW_SCHEMES)}, got {self.init_rows!r}")
        if self.layers is not None and self.layers < 1:
            raise ValueError(f"layers must be >= 1, got {self.layers}")


def load_causal_lm(path: str | os.PathLike, layers: int | None = None):
    """``AutoModelForCausalLM`` from a local folder in float32 (no remote code), cut to its first ``layers`` blocks."""
    from transformers import AutoModelForCausalLM

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a model folder (no config.json); build one with "
                                "`llmcodec lm smollm2 DIR` or save a transformers causal LM there")
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=False, dtype=torch.float32)
    if layers is not None:
        blocks = model.get_decoder().layers
        if layers > len(blocks):
            raise ValueError(f"{folder} has {len(blocks)} layers; cannot keep {layers}")
        model.get_decoder().layers = torch.nn.ModuleList(list(blocks)[:layers])
        config = model.config.get_text_config()
        config.num_hidden_layers = layers
        if getattr(config, "layer_types", None):
            config.layer_types = list(config.layer_types)[:layers]
    return model


def _text_length(folder: Path, rows: int) -> tuple[int, int | None]:
    """``(first code id, codes already present or None)`` for ``vocab="extend"``."""
    meta = folder / "audio_tokens_meta.json"
    if meta.is_file():  # already an LLM-Codec LM artifact: reuse its <CODEC_n> ids
        data = json.loads(meta.read_text(encoding="utf-8"))
        if int(data.get("first_id", -1)) >= 0:
            return int(data["first_id"]), int(data["n_audio_tokens"])
    try:
        from transformers import AutoTokenizer

        return len(AutoTokenizer.from_pretrained(folder, trust_remote_code=False)), None
    except (OSError, ValueError):  # no tokenizer beside the weights: codes go after the embedding's rows
        return rows, None


def artifact_rows(path: str | os.PathLike, n_codes: int) -> torch.Tensor:
    """``(n_codes, H)`` ``<CODEC_n>`` input-embedding rows of an LM artifact folder (read from its safetensors)."""
    from safetensors import safe_open

    folder = Path(path)
    meta_path = folder / "audio_tokens_meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder} is not an LLM-Codec LM artifact (no audio_tokens_meta.json)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    first, count = int(meta.get("first_id", -1)), int(meta["n_audio_tokens"])
    if first < 0 or count < n_codes:
        raise ValueError(f"{meta_path}: first_id {first} / n_audio_tokens {count} cannot hold {n_codes} codes")
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            names = [k for k in handle.keys() if k.endswith("embed_tokens.weight") or k.endswith("wte.weight")]
            if names:
                return handle.get_slice(names[0])[first : first + n_codes].float()
    raise ValueError(f"{folder}: no input-embedding tensor (embed_tokens.weight) in its safetensors files")


def code_rows(scheme: str, n_codes: int, text_rows: torch.Tensor, seed: int, initializer_range: float = 0.02,
              codebook: torch.Tensor | None = None) -> torch.Tensor:
    """``(n_codes, H)`` starting rows of the codes (see the module docstring); depends only on the scheme,
    ``seed``, the text rows and (``codebook``) the codec's codebook — never on which codes are trained."""
    hidden = text_rows.shape[1]
    generator = torch.Generator().manual_seed(seed)
    if scheme == "fresh":
        return torch.randn(n_codes, hidden, generator=generator) * initializer_range
    mean, spread = text_rows.mean(0), text_rows.std(0).mean()
    noise = torch.randn(n_codes, hidden, generator=generator) * spread * NOISE_SHARE
    if scheme == "mean":
        return mean + noise
    if scheme == "codebook":
        if codebook is None:
            raise ValueError("--init-rows codebook needs the codec's codebook vectors (this codec does not expose them)")
        if codebook.shape[0] < n_codes:
            raise ValueError(f"codebook has {codebook.shape[0]} vectors for {n_codes} codes")
        vectors = torch.nn.functional.normalize(codebook[:n_codes].float(), dim=1)
        projection = torch.randn(vectors.shape[1], hidden, generator=generator) / vectors.shape[1] ** 0.5
        projected = vectors @ projection
        projected = (projected - projected.mean(0)) * (spread / projected.std(0).mean().clamp(min=1e-8))
        return mean + projected + noise
    if scheme.startswith("artifact:"):
        rows = artifact_rows(scheme.removeprefix("artifact:"), n_codes)
        if rows.shape[1] != hidden:
            raise ValueError(f"the artifact's rows have hidden size {rows.shape[1]}, the warm-start LM {hidden}: "
                             "start from the artifact's own base LM")
        return rows
    raise ValueError(f"unknown row scheme {scheme!r}")


def _set_rows(model: Any, rows: torch.Tensor, start: int) -> None:
    """Write ``rows`` at ``start`` into the input embedding and, when untied, the output embedding."""
    with torch.no_grad():
        inputs = model.get_input_embeddings().weight
        inputs[start : start + rows.shape[0]] = rows
        outputs = model.get_output_embeddings()
        if outputs is not None and outputs.weight.data_ptr() != inputs.data_ptr():
            outputs.weight[start : start + rows.shape[0]] = rows


def build_warm_lm(warm: WarmStart, n_codes: int, seed: int = 0, codebook: torch.Tensor | None = None):
    """``(model, vocab)``: the pretrained LM with code rows, and its :class:`AudioTokenMap` layout.

    ``codebook``: the codec's ``(N, d)`` codebook vectors, needed by ``init_rows="codebook"`` only.
    """
    model = load_causal_lm(warm.path, warm.layers)
    text_rows = model.get_input_embeddings().weight.detach().clone()
    config = model.config.get_text_config()
    rows = code_rows(warm.init_rows, n_codes, text_rows, seed, float(getattr(config, "initializer_range", 0.02)),
                     codebook)
    bos = config.bos_token_id if config.bos_token_id is not None else config.eos_token_id
    if isinstance(bos, list):
        bos = bos[0]
    if warm.vocab == "replace":
        vocab = AudioTokenMap.for_token_lm(n_codes, "codebook")
        bos_row = text_rows[bos] if bos is not None and 0 <= bos < text_rows.shape[0] else text_rows.mean(0)
        model.resize_token_embeddings(vocab.vocab_size, mean_resizing=False)
        _set_rows(model, torch.cat([rows, bos_row[None], text_rows.mean(0)[None]]), 0)
    else:
        first, present = _text_length(Path(warm.path), text_rows.shape[0])
        if present is not None and present < n_codes:
            raise ValueError(f"{warm.path} holds {present} <CODEC_n> rows, fewer than the codec's {n_codes} codes")
        pad = config.pad_token_id if config.pad_token_id is not None else bos
        if bos is None or pad is None:
            raise ValueError(f"{warm.path}: the LM names no BOS/EOS token to start sequences with")
        size = max(text_rows.shape[0], first + n_codes)
        vocab = AudioTokenMap(first, n_codes, bos_id=int(bos), pad_id=int(pad), vocab_size=size, kind="extend")
        if size != text_rows.shape[0]:
            model.resize_token_embeddings(size, mean_resizing=False)
        _set_rows(model, rows, first)
    config = model.config.get_text_config()
    config.vocab_size = vocab.vocab_size
    config.bos_token_id, config.pad_token_id = vocab.bos_id, vocab.pad_id
    config.eos_token_id = vocab.bos_id
    return model, vocab
