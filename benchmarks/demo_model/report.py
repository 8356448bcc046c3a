"""Collects the default model's measurements (issue 6) into committed result files.

    python benchmarks/demo_model/report.py [--work runs/demo-model-eval] [--out benchmarks/demo_model/results]

Reads what ``benchmarks/demo_model/reproduce.sh`` produced:

- ``runs/demo-small-*/runs/*/events.*``: steps and wall time of each training stage (TensorBoard logs);
- ``WORK/eval-{ftp-sa,recon-gan}/summary.json``: ``llmcodec evaluate`` on ``data/eval`` (held-out synthetic
  voices and real recordings; the ftp-sa run also scores Codec2 700C / 1200 / 3200);
- ``WORK/token-lm-{ftp-sa,recon-gan}/token_lm.json``: ``llmcodec token-lm`` on the held-out corpus.

Writes ``OUT/results.json`` (everything), ``OUT/quality.md`` and ``OUT/ablation.md`` (the README tables),
``OUT/model-card.md`` (appended to the default model's card) and two plots.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARMS = {
    "ftp-sa": "(b) recon + GAN + FTP + SA (shipped)",
    "recon-gan": "(a) recon + GAN only",
}
STAGES = {
    "stage 1 (recon only, from scratch)": ("runs/demo-small-stage1", "configs/demo-small-stage1.yaml"),
    "stage 2 (b): + GAN, FTP, SA (shipped)": ("runs/demo-small-stage2-ftp-sa", "configs/demo-small-stage2-ftp-sa.yaml"),
    "stage 2 (a): + GAN only (ablation)": ("runs/demo-small-stage2-recon-gan", "configs/demo-small-stage2-recon-gan.yaml"),
}
BASELINES = ["codec2_700C", "codec2_1200", "codec2_3200"]
DOMAINS = {"heldout-voices": "held-out synthetic voices", "real-speech": "real recorded speech"}


def training_stats(run_dir: Path) -> dict | None:
    """Steps, wall time and the last logged losses of one `llmcodec train` run, from its TensorBoard log."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    event_dirs = sorted((run_dir / "runs").glob("*"))
    if not event_dirs:
        return None
    accumulator = EventAccumulator(str(event_dirs[-1]))
    accumulator.Reload()
    loss = accumulator.Scalars("train/loss_mel")
    last_wall = max(accumulator.Scalars(tag)[-1].wall_time for tag in accumulator.Tags()["scalars"])
    stats = {
        "steps": int(loss[-1].step),
        "wall_time_s": last_wall - accumulator.FirstEventTimestamp(),
        "final_loss_mel": loss[-1].value,
    }
    for tag in ("train/codebook_unique", "train/loss_ftp", "train/loss_d"):
        if tag in accumulator.Tags()["scalars"]:
            stats[f"final_{tag.removeprefix('train/')}"] = accumulator.Scalars(tag)[-1].value
    return stats


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


def _metric(summary: dict, system: str, domain: str, name: str) -> float:
    return summary["systems"][system]["domains"][domain][name]["mean"]


def quality_table(summary_b: dict, summary_a: dict) -> tuple[str, dict]:
    rows = []
    table = {}
    systems = [("LLM-Codec demo (b, shipped)", summary_b, "llmcodec"), ("ablation arm (a)", summary_a, "llmcodec")]
    systems += [(name.replace("codec2_", "Codec2 "), summary_b, name) for name in BASELINES]
    header = "| system | bitrate (bps) | " + " | ".join(
        f"{DOMAINS[d]}: PESQ-WB / STOI / mel" for d in DOMAINS
    ) + " |"
    rows.append(header)
    rows.append("|---|---|" + "---|" * len(DOMAINS))
    for label, summary, system in systems:
        info = summary["systems"][system]
        bitrate = info.get("bitrate_bps") or info.get("measured_bitrate_bps") or float("nan")
        cells = []
        for domain in DOMAINS:
            values = {m: _metric(summary, system, domain, m) for m in ("pesq", "stoi", "mel")}
            table.setdefault(label, {})[domain] = values
            cells.append(f"{values['pesq']:.2f} / {values['stoi']:.3f} / {values['mel']:.2f}")
        table[label]["bitrate_bps"] = bitrate
        rows.append(f"| {label} | {bitrate:.0f} | " + " | ".join(cells) + " |")
    counts = {d: summary_b["systems"]["llmcodec"]["domains"][d]["files"] for d in DOMAINS}
    note = (f"\nFiles: {counts['heldout-voices']} held-out synthetic voices (one utterance each, speakers never "
            f"trained on) and {counts['real-speech']} real recordings (the bundled CMU ARCTIC clip and the eight "
            "spoken ALSA test clips). Codec-SUPERB metric definitions (`llmcodec metrics`); mel = mel distance, "
            "lower is better.\n")
    return "\n".join(rows) + "\n" + note, table


def ablation_table(results: dict) -> str:
    rows = [
        "| arm | fine-tune steps | held-out PESQ-WB / STOI / mel | real PESQ-WB / STOI / mel | distinct codes "
        "(held-out corpus) | unigram perplexity | token-LM perplexity | context gain | k-step accuracy k=1..5 (%) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, label in ARMS.items():
        r = results["ablation"][arm]
        q = r["quality"]
        acc = " / ".join(f"{100 * a:.1f}" for a in r["token_lm"]["k_step_accuracy"])
        rows.append(
            f"| {label} | {r['steps']} | {q['heldout-voices']['pesq']:.2f} / {q['heldout-voices']['stoi']:.3f} / "
            f"{q['heldout-voices']['mel']:.2f} | {q['real-speech']['pesq']:.2f} / {q['real-speech']['stoi']:.3f} / "
            f"{q['real-speech']['mel']:.2f} | {r['unigram']['distinct']:,} | {r['unigram']['unigram_perplexity']:.0f} | "
            f"{r['token_lm']['perplexity']:.0f} | {r['unigram']['unigram_perplexity'] / r['token_lm']['perplexity']:.2f}x | "
            f"{acc} |"
        )
    lm = results["ablation"]["ftp-sa"]["token_lm"]
    note = (f"\nToken LM: the same {lm['lm_parameters'] / 1e6:.1f} M-parameter Qwen3 trained from scratch on each "
            f"arm's codes of the held-out corpus ({lm['train_codes']:,} training codes, {lm['eval_codes']:,} "
            f"evaluation codes from files it did not train on); perplexity is normalised over the "
            f"{lm['codebook_size']:,} audio codes; k-step accuracy is greedy k codes ahead. Chance accuracy is "
            f"{100 * lm['chance_accuracy']:.3f} %. Unigram perplexity (2^entropy of the code histogram) is the "
            "perplexity of a model that ignores context: a codec that uses fewer codes gets a lower token-LM "
            "perplexity without its tokens being more predictable from context, so read the two together; "
            "context gain = unigram perplexity / token-LM perplexity.\n")
    return "\n".join(rows) + "\n" + note


def training_table(results: dict) -> str:
    rows = ["| stage | config | steps | wall time (2-core CPU) | final mel loss | final D hinge loss |",
            "|---|---|---|---|---|---|"]
    for label, stats in results["training"].items():
        if stats is None:
            continue
        d_loss = f"{stats['final_loss_d']:.2f}" if "final_loss_d" in stats else "(no GAN)"
        rows.append(f"| {label} | `{stats['config']}` | {stats['steps']:,} | {stats['wall_time_s'] / 60:.0f} min | "
                    f"{stats['final_loss_mel']:.2f} | {d_loss} |")
    return "\n".join(rows) + "\n"


def plots(results: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for arm, label in ARMS.items():
        acc = results["ablation"][arm]["token_lm"]["k_step_accuracy"]
        ax.plot(range(1, len(acc) + 1), [100 * a for a in acc], marker="o", label=label)
    ax.set_xlabel("k (codes ahead)")
    ax.set_ylabel("token-LM accuracy (%)")
    ax.set_title("Token learnability on held-out voices")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "k_step_accuracy.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
    labels = list(results["quality"])
    for ax, metric in zip(axes, ("pesq", "stoi")):
        for offset, domain in enumerate(DOMAINS):
            values = [results["quality"][label][domain][metric] for label in labels]
            positions = [i + 0.38 * offset for i in range(len(labels))]
            ax.bar(positions, values, width=0.38, label=DOMAINS[domain])
        ax.set_xticks([i + 0.19 for i in range(len(labels))])
        ax.set_xticklabels([label.replace(" (b, shipped)", "").replace("LLM-Codec ", "") for label in labels],
                           rotation=30, ha="right", fontsize=7)
        ax.set_title("PESQ-WB" if metric == "pesq" else "STOI")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = out / "quality.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "demo-model-eval")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "demo_model" / "results")
    args = parser.parse_args(argv)

    summaries = {arm: json.loads((args.work / f"eval-{arm}" / "summary.json").read_text()) for arm in ARMS}
    token_lms = {arm: json.loads((args.work / f"token-lm-{arm}" / "token_lm.json").read_text()) for arm in ARMS}
    quality_md, quality = quality_table(summaries["ftp-sa"], summaries["recon-gan"])
    training = {}
    for label, (run, config) in STAGES.items():
        stats = training_stats(REPO / run)
        training[label] = None if stats is None else {**stats, "config": config}
    results = {"quality": quality, "training": training, "ablation": {}}
    stage_keys = {"ftp-sa": "stage 2 (b): + GAN, FTP, SA (shipped)", "recon-gan": "stage 2 (a): + GAN only (ablation)"}
    for arm in ARMS:
        lm = token_lms[arm]
        results["ablation"][arm] = {
            "steps": (training[stage_keys[arm]] or {}).get("steps"),
            "quality": quality["LLM-Codec demo (b, shipped)" if arm == "ftp-sa" else "ablation arm (a)"],
            "unigram": unigram_stats(args.work / f"token-lm-{arm}" / "codes" / "eval.jsonl", lm["codebook_size"]),
            "token_lm": {key: lm[key] for key in ("perplexity", "loss", "perplexity_full_vocab", "k_step_accuracy",
                                                  "k_step_anchors", "chance_accuracy", "train_codes", "eval_codes",
                                                  "lm_parameters", "codebook_size", "files", "config")},
            "eval_codebook": summaries[arm]["systems"]["llmcodec"]["codebook"],
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    ablation_md = ablation_table(results)
    training_md = training_table(results)
    (args.out / "quality.md").write_text(quality_md)
    (args.out / "ablation.md").write_text(ablation_md)
    card = ["## About this model", "",
            "The small default model bundled with the LLM-Codec toolkit (`llmcodec/assets/default-model`): the released "
            "codec's interface (16 kHz, 50 codes/s, 20,480 codes) at 6.8 M parameters (hidden 256, 3 + 3 Conformer "
            "layers), trained on a 2-core CPU on synthetic speech only. It is a demo and a test fixture: on PESQ-WB and "
            "STOI it is below Codec2 700C (its mel distance is lower than every Codec2 mode). The weights are stored "
            "as float16 and load as float32.", "",
            "## Training", "", "Trained on CPU with `llmcodec train` on the offline synthetic speech corpus "
            "(`llmcodec corpus build`: espeak-ng, flite and festival voices, 2.24 h of training speech; the speakers "
            "of the validation split are held out). Reproduce with `bash benchmarks/demo_model/reproduce.sh`.", "",
            training_md, "## Quality", "", quality_md, "## Token learnability (miniature ablation)", "", ablation_md]
    (args.out / "model-card.md").write_text("\n".join(card))
    for path in plots(results, args.out):
        print(f"wrote {path}")
    print(training_md)
    print(quality_md)
    print(ablation_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
