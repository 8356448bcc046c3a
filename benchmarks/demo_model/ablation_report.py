"""The miniature ablation over seeds: mean and spread of each arm's token learnability and quality.

    python benchmarks/demo_model/ablation_report.py [--work runs/demo-model-eval] [--out benchmarks/demo_model/results]

Seed 0 is the reproduce script's run (``WORK/eval-ARM``); further
seeds come from ``ablation_seeds.sh`` with the same WORK (``WORK/ablation/seedN-ARM/eval``). Token learnability: ``--token-lm real`` (default) reads
``ablation_token_lm_real.sh``'s token LMs (``token-lm-real``: learned on real speech, scored on a held-out real
speaker), ``--token-lm synthetic`` the one-seed table's (``token-lm``: the small synthetic corpus). Writes
``ablation_seeds.json`` (every seed's numbers), ``ablation_seeds.md`` (mean ± sample standard deviation, n seeds)
and ``ablation_seeds.png``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ARMS, unigram_stats  # noqa: E402 - the arm labels and the unigram statistics

REPO = Path(__file__).resolve().parents[2]
DOMAINS = ("real-speech", "heldout-real")
STABILITY = ("noise", "int16", "gain", "windowed")


def seed_dirs(work: Path, arm: str, token_lm: str = "token-lm-real") -> dict[int, tuple[Path, Path]]:
    """seed -> (evaluation folder, token-LM folder), for the seeds whose results exist."""
    found = {0: (work / f"eval-{arm}", work / f"{token_lm}-{arm}")}
    for folder in sorted((work / "ablation").glob(f"seed*-{arm}")):
        seed = int(folder.name.removeprefix("seed").split("-")[0])
        found[seed] = (folder / "eval", folder / token_lm)
    return {s: d for s, d in found.items() if (d[0] / "summary.json").is_file() and (d[1] / "token_lm.json").is_file()}


def seed_numbers(eval_dir: Path, lm_dir: Path) -> dict[str, float]:
    summary = json.loads((eval_dir / "summary.json").read_text())["systems"]["llmcodec"]
    lm = json.loads((lm_dir / "token_lm.json").read_text())
    # token-lm keeps codes in codes/<codec key>-<data key>/ (older runs: codes/ itself)
    unigram = unigram_stats(lm_dir / "codes" / Path(lm.get("codes_cache", "")).name / "eval.jsonl", lm["codebook_size"])
    row = {f"{d}_{m}": summary["domains"][d][m]["mean"] for d in DOMAINS for m in ("pesq", "stoi")}
    row["code_perplexity"] = summary["codebook"]["perplexity"]
    row.update({f"stability_{k}": summary["token_stability"]["mean"][k] for k in STABILITY})
    row.update(token_lm_perplexity=lm["perplexity"], unigram_perplexity=unigram["unigram_perplexity"],
               distinct_codes=unigram["distinct"], context_gain=unigram["unigram_perplexity"] / lm["perplexity"])
    row.update({f"k{k + 1}_accuracy": a for k, a in enumerate(lm["k_step_accuracy"])})
    return row


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


COLUMNS = [  # (key, header, format of one value)
    ("real-speech_pesq", "ARCTIC + ALSA PESQ-WB", "{:.3f}"), ("real-speech_stoi", "ARCTIC + ALSA STOI", "{:.3f}"),
    ("heldout-real_pesq", "held-out speaker PESQ-WB", "{:.3f}"), ("heldout-real_stoi", "held-out speaker STOI", "{:.3f}"),
    ("code_perplexity", "code perplexity (eval speech)", "{:.0f}"), ("unigram_perplexity", "unigram perplexity", "{:.0f}"),
    ("token_lm_perplexity", "token-LM perplexity", "{:.0f}"), ("context_gain", "context gain", "{:.2f}x"),
    ("k1_accuracy", "1-step accuracy", "{:.2%}"), ("k3_accuracy", "3-step accuracy", "{:.2%}"),
    ("stability_noise", "unchanged under -70 dBFS noise", "{:.1%}"), ("stability_gain", "unchanged under +1 dB", "{:.1%}"),
]


def table(results: dict, token_lm: dict) -> str:
    rows = ["| arm | seeds | " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for arm, label in ARMS.items():
        seeds = results[arm]
        cells = []
        for key, _, fmt in COLUMNS:
            mean, sd = mean_sd([row[key] for row in seeds.values()])
            cells.append(f"{fmt.format(mean)} ± {fmt.format(sd)}" if sd == sd else fmt.format(mean))
        rows.append(f"| {label} | {len(seeds)} ({', '.join(map(str, seeds))}) | " + " | ".join(cells) + " |")
    return "\n".join(rows) + (
        "\n\nMean ± sample standard deviation over the seeds (the training seed of the stage-2 arm; the token LM uses "
        f"the same seed). Quality, code perplexity and stability: the real evaluation speech. Token LM: "
        f"{token_lm['lm_parameters'] / 1e6:.1f} M parameters trained from scratch on {token_lm['train_codes']:,} codes "
        f"({token_lm['files']['train']} files), scored on {token_lm['eval_codes']:,} codes ({token_lm['files']['eval']} "
        "files it did not train on); perplexity normalised over the audio codes; context gain = unigram perplexity / "
        "token-LM perplexity (above 1: the LM uses context).\n")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("token_lm_perplexity", "token-LM perplexity"), ("unigram_perplexity", "unigram perplexity"),
            ("real-speech_stoi", "STOI, ARCTIC + ALSA"), ("heldout-real_stoi", "STOI, held-out speaker")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4))
    for ax, (key, title) in zip(axes, keys):
        for x, (arm, label) in enumerate(ARMS.items()):
            values = [row[key] for row in results[arm].values()]
            ax.scatter([x] * len(values), values, alpha=0.7)
            ax.errorbar([x + 0.15], [statistics.fmean(values)], yerr=[statistics.stdev(values)] if len(values) > 1 else None,
                        fmt="o", color="black", capsize=4)
        ax.set_xticks(range(len(ARMS)), [label.split(" ")[0] for label in ARMS.values()])
        ax.set_title(title)
    fig.suptitle("stage-2 arms over seeds: (b) + bridge/FTP/SA, (a) GAN only")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "demo-model-eval")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "demo_model" / "results")
    ap.add_argument("--token-lm", choices=["real", "synthetic"], default="real")
    a = ap.parse_args(argv)
    folder = "token-lm-real" if a.token_lm == "real" else "token-lm"
    results = {arm: {s: seed_numbers(*d) for s, d in sorted(seed_dirs(a.work, arm, folder).items())} for arm in ARMS}
    missing = [arm for arm, seeds in results.items() if not seeds]
    if missing:
        print(f"error: no finished seed for arm(s) {', '.join(missing)} under {a.work}", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "ablation_seeds.json").write_text(json.dumps(results, indent=1) + "\n")
    first = next(iter(seed_dirs(a.work, next(iter(ARMS)), folder).values()))[1]
    lm = json.loads((first / "token_lm.json").read_text())
    (a.out / "ablation_seeds.md").write_text(table(results, lm))
    plot(results, a.out / "ablation_seeds.png")
    print(table(results, lm))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
