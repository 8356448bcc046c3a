"""Token learnability: are a codec's codes easy for a language model to predict?

Recipe (one corpus, one LM recipe, any codec — so codecs compare on equal terms):

1. **Tokenize** the corpus with a :class:`CodeExtractor` (our ``LLMCodecModel`` with any weights via
   :class:`LLMCodecCodes`, or the reference ``auv`` package via :class:`AUVCodes`). Codes are cached in
   ``OUT/codes/<codec weights key>-<data list key>/{train,eval}.jsonl`` (resumable; shared by every LM run).
2. **Split**: ``train/`` and ``validation/`` (or ``test/`` / ``eval/``) sub-folders — the layout of
   ``llmcodec corpus build`` — are the splits; otherwise a seeded hash of each file's speaker (from
   ``metadata.jsonl``), or of its id, sends ``eval_fraction`` of them to the held-out split.
3. **Windows**: each file's codes are cut into windows of at most ``max_codes`` codes; every model below sees
   the same windows, each starting afresh (``[BOS] c_1 … c_T`` for the LMs).
4. **Baselines** on the same training windows (:mod:`.ngram`): an add-k unigram and an interpolated
   Kneser–Ney n-gram (default order 3). A neural LM that cannot beat the n-gram has learned nothing the counts
   did not.
5. **LM**, once per seed: a small ``Qwen3ForCausalLM`` from scratch (sizes in :class:`TokenLMConfig`), or a
   pretrained causal LM warm-started the TWIST/SLAM way (:mod:`.token_lm_init`: vocabulary replaced by the
   codes, or extended with ``<CODEC_n>`` rows; code rows initialised identically for every codec), trained
   with ``transformers.Trainer``. Each seed's scores and LM are kept (``OUT/seeds/``, ``OUT/lm`` for the first
   seed, ``OUT/lm-seed{s}`` for the others) and a rerun with the same settings skips finished seeds. While a
   seed trains, the Trainer checkpoints it every ``save_steps`` optimizer steps into ``OUT/trainer/seed{s}``;
   a rerun with the same settings resumes it from there (:mod:`.token_lm_checkpoints`).
6. **Scores** on the held-out windows, all in nats per code target with the softmax over the ``N`` audio codes
   only (a uniform predictor scores ``ln N``): the LM (mean of its seeds per file), the unigram, the n-gram,
   and the gains unigram − LM and n-gram − LM; each with a 95 % bootstrap interval over held-out FILES
   (:mod:`.learnability_stats`) and in bits/s (× frame rate / ln 2). Also the LM's full-vocabulary loss (what
   ``Trainer``'s ``eval_loss`` measures; the paper's normalisation with the extended Qwen3 vocabulary) and
   k-step-ahead greedy accuracy.

``llmcodec token-lm --model M --data D --output-dir OUT`` runs it all and writes ``OUT/token_lm.json`` and
``OUT/token_lm.md``; ``llmcodec salmon`` / ``paired-tests`` and ``llmcodec generate`` reuse ``OUT/lm``.

Modules: :mod:`.token_lm_data` (codecs, split, codes, windows), :mod:`.token_lm_model` (LM, training, scores),
:mod:`.token_lm_init` (warm start), :mod:`.token_lm_checkpoints` (resuming a seed's training),
:mod:`.ngram` (baselines), :mod:`.learnability_stats` (intervals),
:mod:`.token_lm_report` (Markdown), this module (the run).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from llmcodec.tokenizer.mapping import AudioTokenMap

from .learnability_stats import DEFAULT_RESAMPLES, bits_per_second, file_bootstrap, per_file_sums
from .ngram import KneserNeyLM, UnigramLM, uniform_nats, window_log_probs
from .output_folder import write_json
from .sources import AudioItem
from .token_lm_checkpoints import checkpoint_step, remove_checkpoints, resume_point
from .token_lm_data import CodeExtractor, code_windows, codes_cache_dir, split_items, to_lm_ids, tokenize_items
from .token_lm_init import WarmStart, build_warm_lm
from .token_lm_model import TokenLMConfig, build_lm, k_step_accuracy, score_lm, train_lm

LM_FILES = ("config.json", "generation_config.json", "model*.safetensors", "model.safetensors.index.json")


def frame_rate_of(codec: CodeExtractor) -> float:
    """Codes per second of ``codec`` (50 for LLM-Codec: 16 kHz / hop 320)."""
    return float(getattr(codec, "frame_rate", None) or codec.sampling_rate / 320)


def count_baselines(train: Sequence, held_out: Sequence, n_codes: int, order: int = 3,
                    unigram_k: float = 1.0) -> dict[str, list[np.ndarray]]:
    """Per-window log-probabilities of the held-out windows under an add-k unigram and a KN n-gram, both fitted
    on the training windows only."""
    unigram = UnigramLM(n_codes, unigram_k).fit(train)
    ngram = KneserNeyLM(n_codes, order).fit(train)
    return {"unigram": window_log_probs(unigram, held_out), "ngram": window_log_probs(ngram, held_out)}


def _save_lm(model: Any, vocab: AudioTokenMap, folder: Path) -> None:
    """``save_pretrained`` + ``token_lm_vocab.json`` through a staging folder (a crash leaves the old LM whole)."""
    from llmcodec.files import staged_output_folder

    with staged_output_folder(folder, overwrite=True, stale=LM_FILES) as staging:
        model.save_pretrained(staging)
        vocab.save_token_lm(staging)


def run_seed(seed: int, train_ids: list, held_ids: list, n_codes: int, config: TokenLMConfig, warm: WarmStart | None,
             out: Path, lm_dir: Path, identity: str, device: str, codebook=None,
             save_steps: int = 50) -> dict[str, Any]:
    """Train and score one seed's LM, or reuse a finished record with the same ``identity``.

    Training checkpoints every ``save_steps`` optimizer steps into ``OUT/trainer/seed{seed}`` and resumes from the
    newest checkpoint written there for the same ``identity``; the model is first built the same seeded way (so
    the warm-start ``before`` score is that of the untrained LM), then the Trainer loads the checkpoint.
    The checkpoints are removed once the seed's record is written."""
    record_path = out / "seeds" / f"seed{seed}.json"
    if record_path.is_file() and lm_dir.is_dir():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("identity") == identity:
            remove_checkpoints(out / "trainer" / f"seed{seed}")  # left by a kill after the record was written
            return record
    seeded = TokenLMConfig(**{**asdict(config), "seed": seed})
    if warm is None:
        vocab = AudioTokenMap.for_token_lm(n_codes, config.vocab)
        model = build_lm(seeded, vocab)
    else:
        model, vocab = build_warm_lm(warm, n_codes, seed, codebook)
    model = model.to(device)
    train, held = to_lm_ids(train_ids, vocab), to_lm_ids(held_ids, vocab)
    start = time.perf_counter()
    before = score_lm(model, held, vocab) if warm is not None else None
    trainer_dir = out / "trainer" / f"seed{seed}"
    resume = resume_point(trainer_dir, identity, seed)
    if resume is not None:
        print(f"token-lm seed {seed}: resuming from {resume} (step {checkpoint_step(resume)})", file=sys.stderr)
    metrics = train_lm(model, train, vocab, seeded, trainer_dir, held, device, save_steps=save_steps,
                       resume_from=resume)
    train_s = time.perf_counter() - start
    scores = score_lm(model, held, vocab)
    ksteps = k_step_accuracy(model, held, vocab, config.k_max, config.anchors_per_sequence)
    _save_lm(model, vocab, lm_dir)
    record = {
        "identity": identity, "seed": seed, "lm_dir": str(lm_dir), "vocabulary": vocab.token_lm_dict(),
        **{k: v for k, v in scores.items() if k != "per_sequence"},
        "per_sequence": scores["per_sequence"],
        "loss_before_training": None if before is None else before["loss"],
        "loss_full_vocab_before_training": None if before is None else before["loss_full_vocab"],
        "trainer_eval_loss": metrics.get("eval_loss"), "train_loss": metrics.get("train_loss"),
        "k_step_accuracy": ksteps["accuracy"], "k_step_anchors": ksteps["n_anchors"],
        "lm_parameters": int(sum(p.numel() for p in model.parameters())), "train_seconds": train_s,
    }
    write_json(record_path, record)
    remove_checkpoints(trainer_dir)  # the LM is in lm_dir now; the checkpoints would only fill the disk
    return record


def _interval_table(sums: dict[str, np.ndarray], counts: np.ndarray, resamples: int, frame_rate: float) -> dict:
    table = file_bootstrap(sums, counts, resamples=resamples)
    for row in table.values():
        row.update({f"{k}_bits_per_second": bits_per_second(row[k], frame_rate) for k in ("mean", "lo", "hi")})
    return table


def run_token_lm(codec: CodeExtractor, items: Sequence[AudioItem], output: str | os.PathLike,
                 config: TokenLMConfig | None = None, device: str = "cpu", codec_batch_size: int = 8,
                 progress: bool = True, *, warm: WarmStart | None = None, seeds: Sequence[int] | None = None,
                 speakers: dict[str, str] | None = None, ngram_order: int = 3, unigram_k: float = 1.0,
                 resamples: int = DEFAULT_RESAMPLES, save_steps: int = 50) -> dict[str, Any]:
    """Tokenize, split, fit the baselines, train and score the LM per seed (see the module docstring); writes
    ``OUT/token_lm.json`` / ``.md``. ``save_steps``: optimizer steps between training checkpoints (a rerun
    resumes an interrupted seed from its newest one). Returns the results dict."""
    from llmcodec.audio import save_text

    from .token_lm_report import render_token_lm_report

    config = config or TokenLMConfig()
    seeds = list(dict.fromkeys(seeds if seeds else [config.seed]))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    train_items, eval_items = split_items(items, config.eval_fraction, config.seed, speakers)
    if not train_items or not eval_items:
        raise ValueError(f"need files in both splits, got {len(train_items)} train and {len(eval_items)} eval")
    start = time.perf_counter()
    cache = codes_cache_dir(out, codec, train_items, eval_items)
    train_codes, train_fail = tokenize_items(codec, train_items, cache / "train.jsonl", codec_batch_size, progress)
    eval_codes, eval_fail = tokenize_items(codec, eval_items, cache / "eval.jsonl", codec_batch_size, progress)
    tokenize_s = time.perf_counter() - start
    n_codes = codec.codebook_size
    held_names = sorted(eval_codes)
    train_windows, _ = code_windows([train_codes[k] for k in sorted(train_codes)], n_codes, config.max_codes)
    held_windows, owners = code_windows([eval_codes[k] for k in held_names], n_codes, config.max_codes)
    if not train_windows or not held_windows:
        raise ValueError(f"no sequences to train/evaluate on ({len(train_windows)} train, {len(held_windows)} eval): "
                         "the files are too short or all failed")
    start = time.perf_counter()
    baselines = count_baselines(train_windows, held_windows, n_codes, ngram_order, unigram_k)
    baseline_s = time.perf_counter() - start
    n_files = len(held_names)
    sums = {name: per_file_sums([-lp for lp in values], owners, n_files)[0] for name, values in baselines.items()}
    counts = per_file_sums([w.numpy() for w in held_windows], owners, n_files)[1]

    identity = hashlib.sha256(json.dumps({"codes": cache.name, "config": {**asdict(config), "seed": None},
                                          "warm": asdict(warm) if warm else None,
                                          "batching": "length-grouped"}, sort_keys=True).encode()).hexdigest()
    codebook = None
    if warm is not None and warm.init_rows == "codebook":
        if not hasattr(codec, "codebook_vectors"):
            raise ValueError(f"--init-rows codebook: the codec {codec.name} does not expose its codebook vectors")
        codebook = codec.codebook_vectors()
    records = [run_seed(seed, train_windows, held_windows, n_codes, config, warm, out,
                        out / ("lm" if i == 0 else f"lm-seed{seed}"), identity, device, codebook, save_steps)
               for i, seed in enumerate(seeds)]

    def lm_sums(key: str, record: dict) -> np.ndarray:
        return per_file_sums(record["per_sequence"][key], owners, n_files)[0]

    frame_rate = frame_rate_of(codec)
    lm = np.mean([lm_sums("nll", r) for r in records], axis=0)
    lm_full = np.mean([lm_sums("nll_full", r) for r in records], axis=0)
    intervals = _interval_table({"lm": lm, "unigram": sums["unigram"], "ngram": sums["ngram"],
                                 "gain_over_unigram": sums["unigram"] - lm, "gain_over_ngram": sums["ngram"] - lm,
                                 "lm_full_vocab": lm_full}, counts, resamples, frame_rate)
    per_seed = []
    for record in records:
        own = lm_sums("nll", record)
        table = _interval_table({"lm": own, "gain_over_unigram": sums["unigram"] - own,
                                 "gain_over_ngram": sums["ngram"] - own}, counts, resamples, frame_rate)
        per_seed.append({"seed": record["seed"], "loss": record["loss"], "loss_full_vocab": record["loss_full_vocab"],
                         "loss_before_training": record["loss_before_training"], "intervals": table,
                         "k_step_accuracy": record["k_step_accuracy"], "train_seconds": record["train_seconds"],
                         "lm_dir": record["lm_dir"]})
    losses = np.array([r["loss"] for r in records])
    first = records[0]
    results = {
        "codec": codec.name,
        "codebook_size": n_codes,
        "frame_rate": frame_rate,
        "vocabulary": first["vocabulary"],
        "warm_start": asdict(warm) if warm else None,
        "normalisation": f"loss/perplexity: mean NLL per audio-code target, softmax over the {n_codes} audio codes "
                         "only; *_full_vocab: softmax over the LM's whole vocabulary",
        "loss": float(intervals["lm"]["mean"]),
        "perplexity": float(np.exp(intervals["lm"]["mean"])),
        "loss_full_vocab": float(intervals["lm_full_vocab"]["mean"]),
        "perplexity_full_vocab": float(np.exp(intervals["lm_full_vocab"]["mean"])),
        "uniform_loss": uniform_nats(n_codes),
        "unigram_loss": intervals["unigram"]["mean"],
        "ngram_loss": intervals["ngram"]["mean"],
        "ngram_order": ngram_order,
        "intervals": intervals,
        "resolution": {
            "lm_half_width": intervals["lm"]["half_width"],
            # Two codecs scored on this held-out set with independent intervals of this width differ
            # detectably only when their losses are about sqrt(2) half-widths apart.
            "two_arm_difference": float(np.sqrt(2) * intervals["lm"]["half_width"]),
            "paired_gain_half_width": intervals["gain_over_ngram"]["half_width"],
        },
        "seeds": {"values": seeds, "loss_mean": float(losses.mean()), "loss_sd": float(losses.std(ddof=1)) if len(losses) > 1 else 0.0,
                  "per_seed": per_seed},
        "top1_accuracy": float(np.mean([r["top1_accuracy"] for r in records])),
        "n_targets": first["n_targets"],
        "uniform_perplexity": float(n_codes),
        "trainer_eval_loss": first["trainer_eval_loss"],
        "train_loss": first["train_loss"],
        "k_step_accuracy": np.mean([r["k_step_accuracy"] for r in records], axis=0).tolist(),
        "k_step_anchors": first["k_step_anchors"],
        "chance_accuracy": 1.0 / n_codes,
        "files": {"train": len(train_codes), "eval": len(eval_codes), "failed": {**train_fail, **eval_fail}},
        "sequences": {"train": len(train_windows), "eval": len(held_windows)},
        "train_codes": int(sum(w.numel() for w in train_windows)),
        "eval_codes": int(sum(w.numel() for w in held_windows)),
        "distinct_train_codes": int(len(np.unique(np.concatenate([w.numpy() for w in train_windows])))),
        "lm_parameters": first["lm_parameters"],
        "config": asdict(config),
        "seconds": {"tokenize": tokenize_s, "baselines": baseline_s,
                    "train": float(sum(r["train_seconds"] for r in records))},
        "codes_cache": str(cache),
        "lm_dir": first["lm_dir"],
    }
    write_json(out / "token_lm.json", results)
    save_text(out / "token_lm.md", render_token_lm_report(results))
    return results
