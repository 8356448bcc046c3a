"""Quality against training step for one `llmcodec train` run: each `checkpoint-N/` of OUTPUT_DIR scored on real
speech with the Codec-SUPERB metrics, beside the discriminator loss the run logged (issue 10, item 3).

    python benchmarks/gan_warmup/eval_checkpoints.py runs/demo-small-stage1b-gan \
        --base runs/demo-small-stage1-v2/export --data data/eval-v2 --out benchmarks/gan_warmup/results

`--base` is the codec the run started from (`codec_init`); its weights at step 0 are scored as the first point.
Writes `checkpoints.json` and `checkpoints.png` (PESQ-WB / STOI / mel distance and D loss against step).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from llmcodec.audio import load_audio
from llmcodec.evaluation.metrics import compute_metrics
from llmcodec.hub import load_codec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer_vs_loop"))
from bench_trainer_vs_loop import cpu_description  # noqa: E402 - the CPU model and whether it has native bf16


def codec_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    state = load_file(str(checkpoint / "training_state.safetensors"))
    return {k[len("codec."):]: v for k, v in state.items() if k.startswith("codec.")}


@torch.no_grad()
def score(codec, files: list[Path]) -> dict[str, float]:
    rows = []
    for path in files:
        wav, _ = load_audio(path, 16000)  # resampled to 16 kHz (the second value is the file's own rate)
        out = codec(input_values=wav.reshape(1, 1, -1))
        rows.append(compute_metrics(wav.reshape(-1), out.audio_values.reshape(-1)[: wav.numel()], 16000))
    # a clip too short for STOI (under ~0.4 s of speech) has NaN there, as in `llmcodec evaluate`: averaged without it
    return {k: float(np.nanmean([r[k] for r in rows])) for k in ("pesq", "stoi", "mel")}


def d_losses(run: Path) -> list[tuple[int, float]]:
    states = sorted(run.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    if not states:
        return []
    history = json.loads(states[-1].read_text())["log_history"]
    return [(h["step"], h["loss_d"]) for h in history if "loss_d" in h]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("data/eval-v2"))
    ap.add_argument("--groups", nargs="+", default=["real-speech", "heldout-real"])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/gan_warmup/results"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    files = {g: sorted((a.data / g).glob("*.wav")) for g in a.groups}
    if not all(files.values()):
        print(f"error: no .wav files in one of {[str(a.data / g) for g in a.groups]}", file=sys.stderr)
        return 2
    checkpoints = sorted(a.run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    codec = load_codec(str(a.base)).eval()
    points = []
    for step, source in tqdm([(0, None)] + [(int(c.name.split("-")[1]), c) for c in checkpoints], desc="checkpoints"):
        if source is not None:
            codec.load_state_dict(codec_weights(source))
        points.append({"step": step, **{g: score(codec, f) for g, f in files.items()}})
        print(json.dumps(points[-1]), flush=True)
    result = {"run": str(a.run), "base": str(a.base), "cpu": cpu_description(),
              "files": {g: len(f) for g, f in files.items()}, "points": points, "loss_d": d_losses(a.run)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "checkpoints.json").write_text(json.dumps(result, indent=1))
    plot(result, a.out / "checkpoints.png")
    return 0


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    steps = [p["step"] for p in result["points"]]
    for group in result["files"]:
        axes[0].plot(steps, [p[group]["pesq"] for p in result["points"]], "o-", label=group)
        axes[1].plot(steps, [p[group]["stoi"] for p in result["points"]], "o-", label=group)
    axes[0].set(title="PESQ-WB", xlabel="step")
    axes[1].set(title="STOI", xlabel="step")
    if result["loss_d"]:
        s, d = zip(*result["loss_d"])
        axes[2].plot(s, d)
    axes[2].axhline(16.0, ls="--", c="gray", lw=0.8)
    axes[2].set(title="discriminator hinge loss (16 = chance)", xlabel="step")
    for ax in axes[:2]:
        ax.legend()
    fig.suptitle(f"{result['run']} from {result['base']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
