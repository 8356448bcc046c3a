"""Markdown report of a token-learnability run (:func:`.token_lm.run_token_lm` results)."""

from __future__ import annotations

from typing import Any


def _row(label: str, row: dict[str, float], bits: bool = True) -> str:
    text = f"| {label} | {row['mean']:.4f} [{row['lo']:.4f}, {row['hi']:.4f}] |"
    if bits:
        text += (f" {row['mean_bits_per_second']:.1f} [{row['lo_bits_per_second']:.1f}, "
                 f"{row['hi_bits_per_second']:.1f}] |")
    return text


def _lm_description(results: dict[str, Any]) -> str:
    warm = results.get("warm_start")
    if not warm:
        return f"A Qwen3 LM trained from scratch ({results['lm_parameters'] / 1e6:.2f} M parameters)"
    layers = f", first {warm['layers']} layers" if warm.get("layers") else ""
    return (f"A warm-started LM ({warm['path']}{layers}; vocabulary {warm['vocab']}d, code rows "
            f"{warm['init_rows']}; {results['lm_parameters'] / 1e6:.2f} M parameters)")


def render_token_lm_report(results: dict[str, Any]) -> str:
    """A short Markdown summary: headline table with file-bootstrap intervals, per-seed rows, resolution."""
    n = results["codebook_size"]
    rate = results["frame_rate"]
    intervals = results["intervals"]
    seeds = results["seeds"]
    acc = " / ".join(f"{100 * a:.1f}" for a in results["k_step_accuracy"])
    lines = [
        f"# Token learnability: `{results['codec']}`", "",
        f"{_lm_description(results)}, {results['config']['epochs']:g} epochs on "
        f"{results['train_codes']} codes ({results['sequences']['train']} windows, {results['distinct_train_codes']} "
        f"distinct codes) from {results['files']['train']} files; scored on {results['eval_codes']} held-out codes "
        f"from {results['files']['eval']} files. Seeds: {', '.join(str(s) for s in seeds['values'])}.", "",
        f"Nats per code, softmax over the {n} audio codes only (uniform: ln {n} = {results['uniform_loss']:.4f}); "
        f"bits/s at {rate:g} codes/s. Brackets: 95 % bootstrap intervals over held-out files. A gain is the "
        "baseline's loss minus the LM's (positive: the LM predicts better).", "",
        "| model | nats/code | bits/s |", "|---|---|---|",
        _row(f"LM (mean of {len(seeds['values'])} seed(s) per file)", intervals["lm"]),
        _row("unigram (add-one)", intervals["unigram"]),
        _row(f"Kneser–Ney {results['ngram_order']}-gram", intervals["ngram"]),
        _row("gain of the LM over the unigram", intervals["gain_over_unigram"]),
        _row(f"gain of the LM over the {results['ngram_order']}-gram", intervals["gain_over_ngram"]), "",
        "| seed | LM nats/code | gain over unigram | gain over n-gram | before training |", "|---|---|---|---|---|",
    ]
    for row in seeds["per_seed"]:
        table = row["intervals"]
        before = "" if row["loss_before_training"] is None else f"{row['loss_before_training']:.4f}"
        lines.append(f"| {row['seed']} | {table['lm']['mean']:.4f} [{table['lm']['lo']:.4f}, {table['lm']['hi']:.4f}] | "
                     f"{table['gain_over_unigram']['mean']:+.4f} [{table['gain_over_unigram']['lo']:+.4f}, "
                     f"{table['gain_over_unigram']['hi']:+.4f}] | {table['gain_over_ngram']['mean']:+.4f} "
                     f"[{table['gain_over_ngram']['lo']:+.4f}, {table['gain_over_ngram']['hi']:+.4f}] | {before} |")
    resolution = results["resolution"]
    lines += [
        "", f"Across seeds: LM loss {seeds['loss_mean']:.4f} ± {seeds['loss_sd']:.4f} (sd).", "",
        "| other metric | value |", "|---|---|",
        f"| LM perplexity, normalised over the audio codes (uniform = {n}) | {results['perplexity']:.2f} |",
        f"| LM loss, full LM vocabulary ({results['vocabulary']['vocab_size']} rows) | "
        f"{intervals['lm_full_vocab']['mean']:.4f} [{intervals['lm_full_vocab']['lo']:.4f}, {intervals['lm_full_vocab']['hi']:.4f}] |",
        f"| LM perplexity, full LM vocabulary | {results['perplexity_full_vocab']:.2f} |",
        f"| k-step-ahead accuracy %, k = 1..{len(results['k_step_accuracy'])} (chance {100 / n:.4f}) | {acc} |", "",
        "Resolution of this held-out set: the LM's interval half-width is "
        f"{resolution['lm_half_width']:.4f} nats/code, so two codecs scored here differ detectably only when their "
        f"losses are ≳ {resolution['two_arm_difference']:.4f} nats/code apart (√2 half-widths); the paired gain "
        f"over the n-gram is resolved to ± {resolution['paired_gain_half_width']:.4f}.", "",
    ]
    return "\n".join(lines)
