"""Why codes change under inaudible perturbations: latent shift against code spacing (token stability).

    python benchmarks/token_stability/latent_margin.py llmcodec/assets/default-model [MODEL ...] \
        --data data/heldout --out benchmarks/token_stability/results

For each model and every file of ``--data`` (real speech never trained on, by default the held-out set built by
``benchmarks/heldout/build_heldout_set.py``; the file tree `llmcodec evaluate` reads):

- **by loudness**: the share of codes unchanged under white noise at -70 dBFS and under a 1 dB gain change (the
  perturbations of `llmcodec evaluate`'s token stability, same seeds), split by the RMS of each code's 20 ms frame;
- **geometry**: how far the perturbation turns the unit-normalised projected latent (degrees, the angle the cosine VQ
  compares), against the angle between a frame's nearest and second-nearest code (how far it may turn before its
  code changes), the angle to its nearest code and the angle between neighbouring codes of the codebook.

A code survives the perturbation only where the shift is smaller than about half of that gap. Writes
``latent_margin.{json,md}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "streaming"))
from bench_streaming import cpu_description  # noqa: E402

LOUDNESS_BINS_DBFS = (-200.0, -60.0, -50.0, -40.0, -30.0, -20.0, 0.1)


def _load(path: Path, rate: int) -> torch.Tensor:
    from llmcodec.audio import load_audio

    audio, _ = load_audio(path, target_sr=rate)  # mono, resampled as `llmcodec evaluate` reads it
    return audio.reshape(-1)


def _degrees(cosine: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.acos(cosine.clamp(-1.0, 1.0)))


@torch.no_grad()
def probe(model_dir: str, files: list[Path]) -> dict:
    from llmcodec.evaluation.token_stability import quantize_pcm, safe_gain_db, white_noise
    from llmcodec.modeling import LLMCodecModel

    model = LLMCodecModel.from_pretrained(model_dir).eval()
    hop = int(model.config.hop_length)
    codebook = F.normalize(model.quantizer.codebook.weight.float())
    similarity = codebook @ codebook.t()
    similarity.fill_diagonal_(-2.0)
    neighbour = _degrees(similarity.max(1).values)
    del similarity

    def latents(signal: torch.Tensor) -> torch.Tensor:
        return F.normalize(model.encode(signal[None, None]).projected_latents[0].float(), dim=-1)

    counts = {k: np.zeros((len(LOUDNESS_BINS_DBFS) - 1, 2)) for k in ("noise", "gain")}
    shift, gap, to_code = [], [], []
    for path in tqdm(files, desc=Path(model_dir).name, unit="file"):
        reference = quantize_pcm(_load(path, int(model.config.sampling_rate)), 24)
        gain_db = safe_gain_db(reference, 1.0)
        clean = latents(reference)
        variants = {"noise": latents(reference + white_noise(reference.numel(), -70.0, 0)),
                    "gain": latents(reference * 10.0 ** (gain_db / 20.0))}
        scores = clean @ codebook.t()
        top = scores.topk(2, dim=1).values
        codes = scores.argmax(1)
        frames = codes.numel()
        framed = F.pad(reference, (0, max(0, frames * hop - reference.numel())))[: frames * hop].reshape(frames, hop)
        loudness = (10 * torch.log10(framed.pow(2).mean(1) + 1e-20)).numpy()
        which = np.digitize(loudness, LOUDNESS_BINS_DBFS[1:-1])
        for name, moved in variants.items():
            same = ((moved @ codebook.t()).argmax(1) == codes).numpy()
            for b in range(len(LOUDNESS_BINS_DBFS) - 1):
                counts[name][b] += [(which == b).sum(), same[which == b].sum()]
        shift.append(_degrees((clean * variants["noise"]).sum(1)))
        gap.append(_degrees(top[:, 1]) - _degrees(top[:, 0]))
        to_code.append(_degrees(top[:, 0]))
    shift, gap, to_code = (torch.cat(x) for x in (shift, gap, to_code))
    q = lambda x, p: float(x.quantile(p))  # noqa: E731
    by_loudness = {
        name: [{"low_dbfs": LOUDNESS_BINS_DBFS[b], "high_dbfs": min(0.0, LOUDNESS_BINS_DBFS[b + 1]),
                "frames": int(c[b, 0]), "unchanged": float(c[b, 1] / c[b, 0]) if c[b, 0] else None}
               for b in range(len(c))] for name, c in counts.items()}
    return {
        "model": model_dir, "files": len(files), "frames": int(shift.numel()),
        "unchanged": {name: float(c[:, 1].sum() / c[:, 0].sum()) for name, c in counts.items()},
        "by_loudness": by_loudness,
        "noise_shift_deg": {"median": q(shift, 0.5), "p90": q(shift, 0.9)},
        "second_code_gap_deg": {"median": q(gap, 0.5), "p90": q(gap, 0.9)},
        "nearest_code_deg": {"median": q(to_code, 0.5)},
        "code_neighbour_deg": {"median": q(neighbour, 0.5), "p10": q(neighbour, 0.1)},
    }


def markdown(results: list[dict], data: str) -> str:
    lines = [f"Real speech never trained on: `{data}`; CPU: {cpu_description()}.", "",
             "| model | unchanged: noise / gain | noise shift, median / p90 | gap to 2nd code, median | "
             "angle to nearest code | code spacing |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| `{r['model']}` | {100 * r['unchanged']['noise']:.1f} / {100 * r['unchanged']['gain']:.1f} % | "
                     f"{r['noise_shift_deg']['median']:.2f} / {r['noise_shift_deg']['p90']:.2f} deg | "
                     f"{r['second_code_gap_deg']['median']:.2f} deg | {r['nearest_code_deg']['median']:.2f} deg | "
                     f"{r['code_neighbour_deg']['median']:.2f} deg |")
    lines += ["", "Unchanged under -70 dBFS noise by frame loudness (frame RMS, dBFS):", "",
              "| model | " + " | ".join(f"{b['low_dbfs']:g}..{b['high_dbfs']:g}" for b in results[0]["by_loudness"]["noise"])
              + " |", "|---|" + "---|" * len(results[0]["by_loudness"]["noise"])]
    for r in results:
        cells = [f"{100 * b['unchanged']:.0f} % ({b['frames']})" if b["unchanged"] is not None else "-"
                 for b in r["by_loudness"]["noise"]]
        lines.append(f"| `{r['model']}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="LLMCodecModel folders")
    parser.add_argument("--data", default="data/heldout", help="folder of .wav files (searched recursively)")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    files = sorted(Path(args.data).rglob("*.wav"))
    if not files:
        raise SystemExit(f"error: no .wav files under {args.data}")
    results = [probe(m, files) for m in args.models]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latent_margin.json").write_text(json.dumps({"cpu": cpu_description(), "data": args.data,
                                                        "results": results}, indent=1))
    (out / "latent_margin.md").write_text(markdown(results, args.data))
    print(markdown(results, args.data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
