"""The stage-2 ablation over seeds: mean and spread of each arm's token learnability and quality.

    python benchmarks/demo_model/ablation_report.py [--work runs/ablation-v7] [--out benchmarks/demo_model/results]

Reads the seeds of ``ablation_seeds.sh`` (``WORK/seedN-ARM/eval``: ``llmcodec evaluate`` on the held-out set
``data/heldout``) and ``ablation_token_lm_real.sh`` (``WORK/seedN-ARM/token-lm-real``: a token LM learned on real
speech, scored on the recorded corpus' held-out speakers) with the same WORK. Writes ``ablation_seeds.json`` (every
seed's numbers), ``ablation_seeds.md`` (mean ± sample standard deviation, n seeds) and ``ablation_seeds.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARMS = {
    "ftp-sa": "(b) recon + GAN + bridge/FTP/SA vs SmolLM2 (shipped)",
    "recon-gan": "(a) recon + GAN only",
    "ftp-strong": "(c) as (b) with FTP weighted 5x",
}
# The held-out set as a whole and its grid of 5 sample rates x 3 levels (conditions/)
DOMAINS = ("overall", "conditions")
STABILITY = ("noise", "int16", "gain", "windowed")


def unigram_stats(codes_file: Path, codebook_size: int) -> dict:
    """Distinct codes, unigram entropy (bits) and unigram perplexity of a `token-lm` codes file."""
    counts: Counter[int] = Counter()
    with open(codes_file) as handle:
        for line in handle:
            counts.update(json.loads(line)["codes"])
    total = sum(counts.values())
    entropy = -sum(c / total * math.log2(c / total) for c in counts.values())
    return {"codes": total, "distinct": len(counts), "entropy_bits": entropy, "unigram_perplexity": 2**entropy,
            "max_entropy_bits": math.log2(codebook_size)}


def seed_dirs(work: Path, arm: str) -> dict[int, tuple[Path, Path]]:
    """seed -> (evaluation folder, token-LM folder), for the seeds whose results exist."""
    found = {}
    for folder in sorted(work.glob(f"seed*-{arm}")):
        seed = folder.name.removeprefix("seed").removesuffix(f"-{arm}")
        if seed.isdigit():
            found[int(seed)] = (folder / "eval", folder / "token-lm-real")
    return {s: d for s, d in sorted(found.items())
            if (d[0] / "summary.json").is_file() and (d[1] / "token_lm.json").is_file()}


def seed_numbers(eval_dir: Path, lm_dir: Path) -> dict[str, float]:
    summary = json.loads((eval_dir / "summary.json").read_text())["systems"]["llmcodec"]
    lm = json.loads((lm_dir / "token_lm.json").read_text())
    # token-lm keeps codes in codes/<codec key>-<data key>/
    unigram = unigram_stats(lm_dir / "codes" / Path(lm["codes_cache"]).name / "eval.jsonl", lm["codebook_size"])
    scores = {"overall": summary["overall"], "conditions": summary["domains"]["conditions"]}
    row = {f"{d}_{m}": scores[d][m]["mean"] for d in DOMAINS for m in ("pesq", "stoi")}
    row["code_perplexity"] = summary["codebook"]["perplexity"]
    row.update({f"stability_{k}": summary["token_stability"]["mean"][k] for k in STABILITY})
    row.update(token_lm_perplexity=lm["perplexity"], unigram_perplexity=unigram["unigram_perplexity"],
               distinct_codes=unigram["distinct"], context_gain=unigram["unigram_perplexity"] / lm["perplexity"])
    row.update({f"k{k + 1}_accuracy": a for k, a in enumerate(lm["k_step_accuracy"])})
    return row


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


COLUMNS = [  # (key, header, format of one value)
    ("overall_pesq", "held-out PESQ-WB", "{:.3f}"), ("overall_stoi", "held-out STOI", "{:.3f}"),
    ("conditions_pesq", "rate x level grid PESQ-WB", "{:.3f}"), ("conditions_stoi", "rate x level grid STOI", "{:.3f}"),
    ("code_perplexity", "code perplexity (held-out set)", "{:.0f}"),
    ("unigram_perplexity", "unigram perplexity", "{:.0f}"),
    ("token_lm_perplexity", "token-LM perplexity", "{:.0f}"), ("context_gain", "context gain", "{:.2f}x"),
    ("k1_accuracy", "1-step accuracy", "{:.2%}"), ("k3_accuracy", "3-step accuracy", "{:.2%}"),
    ("stability_noise", "unchanged under -70 dBFS noise", "{:.1%}"), ("stability_gain", "unchanged under +1 dB", "{:.1%}"),
]


def table(results: dict, token_lm: dict) -> str:
    rows = ["| arm | seeds | " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for arm, label in ARMS.items():
        if arm not in results:
            continue
        seeds = results[arm]
        cells = []
        for key, _, fmt in COLUMNS:
            mean, sd = mean_sd([row[key] for row in seeds.values()])
            cells.append(f"{fmt.format(mean)} ± {fmt.format(sd)}" if sd == sd else fmt.format(mean))
        rows.append(f"| {label} | {len(seeds)} ({', '.join(map(str, seeds))}) | " + " | ".join(cells) + " |")
    return "\n".join(rows) + (
        "\n\nMean ± sample standard deviation over the seeds (the training seed of the stage-2 arm; the token LM uses "
        "the same seed). Quality, code perplexity and stability: `llmcodec evaluate` on the held-out set "
        "(data/heldout; the grid: its conditions/ clips, 5 sample rates x 3 levels). Token LM, real speech: "
        f"{token_lm['lm_parameters'] / 1e6:.1f} M parameters trained from scratch on {token_lm['train_codes']:,} codes "
        f"({token_lm['files']['train']} files of the recorded corpus' training split), scored on "
        f"{token_lm['eval_codes']:,} codes ({token_lm['files']['eval']} files of its held-out speakers); perplexity "
        "normalised over the audio codes; context gain = unigram perplexity / token-LM perplexity (above 1: the LM uses context).\n")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("token_lm_perplexity", "token-LM perplexity"), ("unigram_perplexity", "unigram perplexity"),
            ("overall_stoi", "STOI, held-out set"), ("conditions_stoi", "STOI, rate x level grid")]
    arms = {arm: label for arm, label in ARMS.items() if arm in results}
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4))
    for ax, (key, title) in zip(axes, keys):
        for x, (arm, label) in enumerate(arms.items()):
            values = [row[key] for row in results[arm].values()]
            ax.scatter([x] * len(values), values, alpha=0.7)
            ax.errorbar([x + 0.15], [statistics.fmean(values)], yerr=[statistics.stdev(values)] if len(values) > 1 else None,
                        fmt="o", color="black", capsize=4)
        ax.set_xticks(range(len(arms)), [label.split(" ")[0] for label in arms.values()])
        ax.set_title(title)
    fig.suptitle("stage-2 arms over seeds: (a) GAN only, (b) + bridge/FTP/SA, (c) FTP 5x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "ablation-v7")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "demo_model" / "results")
    a = ap.parse_args(argv)
    results = {arm: {s: seed_numbers(*d) for s, d in seed_dirs(a.work, arm).items()} for arm in ARMS}
    missing = [arm for arm, seeds in results.items() if not seeds]
    # The control arm and at least one LLM-facing arm make a comparison; arms still running are left out and named.
    if "recon-gan" in missing or len(missing) > len(ARMS) - 2:
        print(f"error: no finished seed for arm(s) {', '.join(missing)} under {a.work}", file=sys.stderr)
        return 2
    if missing:
        print(f"not finished yet, left out: {', '.join(missing)}", file=sys.stderr)
    results = {arm: seeds for arm, seeds in results.items() if seeds}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "ablation_seeds.json").write_text(json.dumps(results, indent=1) + "\n")
    first = next(iter(seed_dirs(a.work, next(iter(ARMS))).values()))[1]
    lm = json.loads((first / "token_lm.json").read_text())
    (a.out / "ablation_seeds.md").write_text(table(results, lm))
    plot(results, a.out / "ablation_seeds.png")
    print(table(results, lm))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
