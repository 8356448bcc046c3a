"""Token learnability: train a small causal LM from scratch on a codec's code sequences and score it.

Recipe (one corpus, one LM recipe, any codec — so codecs compare on equal terms):

1. **Tokenize** the corpus with a :class:`CodeExtractor` (our ``LLMCodecModel`` with any weights via
   :class:`LLMCodecCodes`, or the reference ``auv`` package via :class:`AUVCodes`). Codes are cached in
   ``OUT/codes/{train,eval}.jsonl`` (resumable).
2. **Split**: when the data folder has ``train/`` and ``validation/`` (or ``test/`` / ``eval/``)
   sub-folders — the layout of ``llmcodec corpus build`` — they are the splits; otherwise a
   deterministic hash of each file id (with the seed) sends ``eval_fraction`` of the files to eval.
3. **Sequences**: each file's codes are cut into windows of at most ``max_codes`` codes; one example is
   ``[BOS] c_1 … c_T``. Vocabulary: ``"codebook"`` (default) = code ids ``0 … N-1`` plus BOS and PAD
   (``N + 2`` rows); ``"qwen"`` = the extended Qwen3 tokenizer ids (``<CODEC_c>`` = 151,669 + c, BOS/PAD
   ``<|endoftext|>`` = 151,643, 172,149 rows for N = 20,480), as in the paper's setting.
4. **Train** a ``Qwen3ForCausalLM`` (a small ``Qwen3Config``, sizes in :class:`TokenLMConfig`) from
   scratch for ``epochs`` with ``transformers.Trainer``; deterministic with ``seed``.
5. **Score** on the eval split (:func:`score_lm`):

   * ``loss`` / ``perplexity``: mean negative log-likelihood (nats) per audio-code target, with the
     softmax **normalised over the N audio codes only** (logits of specials / text ids are dropped), and
     ``exp(loss)``. A uniform predictor scores exactly ``N``; this is the headline number.
   * ``loss_full_vocab`` / ``perplexity_full_vocab``: the same targets, softmax over the whole LM
     vocabulary (what ``Trainer``'s ``eval_loss`` measures; with ``vocab="qwen"`` this is the
     172,149-way normalisation that the paper's baseline numbers appear to use).
   * ``k_step_accuracy[k-1]`` for k = 1..5 (:func:`k_step_accuracy`): from a prefix ending at code t,
     greedy-decode (over codes only) k steps; correct when the k-th generated code equals c_{t+k}.

``llmcodec token-lm --model M --data D --output-dir OUT`` runs it all and writes ``OUT/token_lm.json``,
``OUT/token_lm.md`` and the trained LM in ``OUT/lm/`` (with ``token_lm_vocab.json``, the
:class:`~llmcodec.tokenizer.mapping.AudioTokenMap` layout), which ``llmcodec salmon`` and ``llmcodec generate`` reuse.

Modules: :mod:`.token_lm_data` (codecs, split, codes, sequences), :mod:`.token_lm_model` (LM, training, scores),
this module (the run and its report).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmcodec.tokenizer.mapping import AudioTokenMap

from .output_folder import write_json
from .sources import AudioItem
from .token_lm_data import CodeExtractor, make_sequences, split_items, tokenize_items
from .token_lm_model import TokenLMConfig, build_lm, k_step_accuracy, score_lm, train_lm


def run_token_lm(codec: CodeExtractor, items: Sequence[AudioItem], output: str | os.PathLike,
                 config: TokenLMConfig | None = None, device: str = "cpu", codec_batch_size: int = 8,
                 progress: bool = True) -> dict[str, Any]:
    """Tokenize, split, train and score (see the module docstring); writes ``OUT/token_lm.json`` / ``.md``
    and the LM to ``OUT/lm``. Returns the results dict."""
    from llmcodec.audio import save_text

    config = config or TokenLMConfig()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    train_items, eval_items = split_items(items, config.eval_fraction, config.seed)
    if not train_items or not eval_items:
        raise ValueError(f"need files in both splits, got {len(train_items)} train and {len(eval_items)} eval")
    start = time.perf_counter()
    train_codes, train_fail = tokenize_items(codec, train_items, out / "codes" / "train.jsonl", codec_batch_size, progress)
    eval_codes, eval_fail = tokenize_items(codec, eval_items, out / "codes" / "eval.jsonl", codec_batch_size, progress)
    tokenize_s = time.perf_counter() - start
    vocab = AudioTokenMap.for_token_lm(codec.codebook_size, config.vocab)
    train = make_sequences([train_codes[k] for k in sorted(train_codes)], vocab, config.max_codes)
    evaluation = make_sequences([eval_codes[k] for k in sorted(eval_codes)], vocab, config.max_codes)
    if not train or not evaluation:
        raise ValueError(f"no sequences to train/evaluate on ({len(train)} train, {len(evaluation)} eval): "
                         "the files are too short or all failed")
    model = build_lm(config, vocab).to(device)
    start = time.perf_counter()
    trainer_metrics = train_lm(model, train, vocab, config, out / "trainer", evaluation, device)
    train_s = time.perf_counter() - start
    scores = score_lm(model, evaluation, vocab)
    ksteps = k_step_accuracy(model, evaluation, vocab, config.k_max, config.anchors_per_sequence)
    lm_dir = out / "lm"
    model.save_pretrained(lm_dir)
    vocab.save_token_lm(lm_dir)
    results = {
        "codec": codec.name,
        "codebook_size": codec.codebook_size,
        "vocabulary": vocab.token_lm_dict(),
        "normalisation": f"loss/perplexity: mean NLL per audio-code target, softmax over the {codec.codebook_size} "
                         "audio codes only; *_full_vocab: softmax over the LM's whole vocabulary",
        **scores,
        "trainer_eval_loss": trainer_metrics.get("eval_loss"),
        "train_loss": trainer_metrics.get("train_loss"),
        "k_step_accuracy": ksteps["accuracy"],
        "k_step_anchors": ksteps["n_anchors"],
        "chance_accuracy": 1.0 / codec.codebook_size,
        "files": {"train": len(train_codes), "eval": len(eval_codes), "failed": {**train_fail, **eval_fail}},
        "sequences": {"train": len(train), "eval": len(evaluation)},
        "train_codes": int(sum(s.numel() - 1 for s in train)),
        "eval_codes": int(sum(s.numel() - 1 for s in evaluation)),
        "lm_parameters": int(sum(p.numel() for p in model.parameters())),
        "config": asdict(config),
        "seconds": {"tokenize": tokenize_s, "train": train_s},
        "lm_dir": str(lm_dir),
    }
    write_json(out / "token_lm.json", results)
    save_text(out / "token_lm.md", render_token_lm_report(results))
    return results


def render_token_lm_report(results: dict[str, Any]) -> str:
    """A short Markdown summary of :func:`run_token_lm` results."""
    acc = " / ".join(f"{100 * a:.1f}" for a in results["k_step_accuracy"])
    return "\n".join([
        f"# Token learnability: `{results['codec']}`", "",
        f"Tiny Qwen3 LM ({results['lm_parameters'] / 1e6:.2f} M parameters) trained from scratch for "
        f"{results['config']['epochs']:g} epochs on {results['train_codes']} codes "
        f"({results['sequences']['train']} sequences); scored on {results['eval_codes']} held-out codes.", "",
        "| metric | value |", "|---|---|",
        f"| eval loss (nats/code, softmax over the {results['codebook_size']} audio codes) | {results['loss']:.4f} |",
        f"| perplexity (normalised over the audio codes; uniform = {results['codebook_size']}) | {results['perplexity']:.2f} |",
        f"| eval loss, full LM vocabulary ({results['vocabulary']['vocab_size']}) | {results['loss_full_vocab']:.4f} |",
        f"| perplexity, full LM vocabulary | {results['perplexity_full_vocab']:.2f} |",
        f"| k-step-ahead accuracy %, k = 1..{len(results['k_step_accuracy'])} | {acc} |",
        f"| chance accuracy % | {100 * results['chance_accuracy']:.4f} |", "",
    ])
