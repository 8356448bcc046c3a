"""Quality and latent dimensions against training step for `llmcodec train` runs (issue 10, latent isotropy).

    python benchmarks/pitch_probe/isotropy_curve.py runs/demo-small-stage1-v3 runs/demo-small-stage1-v3-scratch \
        --base runs/demo-small-stage1-v2/export --out benchmarks/pitch_probe/results

Every `checkpoint-N/` of each run is loaded into the codec of `--base` (same configuration; `--base` itself is
scored once, as the reference point) and scored on all files of `--data` (real speech never trained on): mean
PESQ-WB and STOI over the files, the code perplexity of all their frames, and the participation ratio of the
unit-normalised projected latents (how many of the VQ's dimensions they really use). Already scored checkpoints are
kept in `isotropy_curve.json` and not scored again, so the script can be rerun while a run is still training.
Writes `isotropy_curve.{json,md,png}` to `--out`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch
from tqdm import tqdm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "gan_warmup"))
sys.path.insert(0, str(HERE.parent / "trainer_vs_loop"))
from bench_trainer_vs_loop import cpu_description  # noqa: E402
from eval_checkpoints import codec_weights  # noqa: E402
from quantizer_probe import evaluate  # noqa: E402

from llmcodec.hub import load_codec  # noqa: E402


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in run.glob("checkpoint-*") if (m := re.fullmatch(r"checkpoint-(\d+)", p.name))]
    return sorted(found)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, points in result["runs"].items():
        steps = [p["step"] for p in points]
        for ax, key in zip(axes, ("stoi", "perplexity", "latent_dims")):
            ax.plot(steps, [p[key] for p in points], marker=".", label=Path(name).name)
    base = result["base_scores"]
    for ax, key, label in zip(axes, ("stoi", "perplexity", "latent_dims"),
                              ("STOI (33 real files)", "code perplexity", "latent dimensions used (of 8)")):
        ax.axhline(base[key], color="grey", linestyle="--", label=f"base ({Path(result['base']).parent.name})")
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--base", type=Path, required=True, help="a codec folder with the runs' configuration")
    ap.add_argument("--data", type=Path, default=Path("data/eval-v2"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/pitch_probe/results"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    files = sorted(a.data.rglob("*.wav"))
    if not files:
        print(f"error: no .wav files under {a.data}", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    store = a.out / "isotropy_curve.json"
    result = json.loads(store.read_text()) if store.exists() else {}
    if result.get("base") != str(a.base) or result.get("files") != len(files):
        result = {"base": str(a.base), "data": str(a.data), "files": len(files), "cpu": cpu_description(), "runs": {}}
    codec = load_codec(a.base).eval()
    reference = {k: v.clone() for k, v in codec.state_dict().items()}
    if "base_scores" not in result:
        result["base_scores"] = evaluate(codec, files)
    todo = [(run, step, path) for run in a.runs for step, path in checkpoints(run)
            if step not in {p["step"] for p in result["runs"].get(str(run), [])}]
    for run, step, path in tqdm(todo, desc="checkpoints"):
        codec.load_state_dict(reference)
        missing = codec.load_state_dict(codec_weights(path), strict=False).missing_keys
        if missing:
            print(f"error: {path} lacks codec weights {missing[:3]}", file=sys.stderr)
            return 2
        points = result["runs"].setdefault(str(run), [])
        points.append({"step": step, **evaluate(codec.eval(), files)})
        points.sort(key=lambda p: p["step"])
        store.write_text(json.dumps(result, indent=1))
    store.write_text(json.dumps(result, indent=1))
    base = result["base_scores"]
    lines = [f"Scored on {result['data']} ({result['files']} files, real speech never trained on); CPU: {result['cpu']}.",
             "", "| run | step | PESQ-WB | STOI | code perplexity | latent dims |", "|---|---|---|---|---|---|",
             f"| base `{result['base']}` | – | {base['pesq']:.3f} | {base['stoi']:.3f} | {base['perplexity']:.0f} | "
             f"{base['latent_dims']:.2f} |"]
    for name, points in result["runs"].items():
        lines += [f"| `{name}` | {p['step']} | {p['pesq']:.3f} | {p['stoi']:.3f} | {p['perplexity']:.0f} | "
                  f"{p['latent_dims']:.2f} |" for p in points]
    (a.out / "isotropy_curve.md").write_text("\n".join(lines) + "\n")
    plot(result, a.out / "isotropy_curve.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
