"""Why the demo codec sounds like shaped noise: where its reconstructions lose (magnitude or phase), and whether its
codes carry pitch at all (issue 10).

    python benchmarks/pitch_probe/diagnose.py llmcodec/assets/default-model [more models ...] \
        --eval data/eval-v2 --train data/recorded/train --out benchmarks/pitch_probe/results

1. **Magnitude or phase.** The decoder's iSTFT head predicts a log-magnitude and a phase per bin. Each is swapped in
   turn with the true STFT of the input (same window, hop and padding as the head), and PESQ-WB / STOI are scored
   on real speech never trained on (``--eval``): model | model magnitude + true phase | true magnitude + model
   phase | Griffin-Lim from the model magnitude.
2. **Is pitch in the codes?** An MLP probe (7 frames of context, trained on ``--train-files`` clips of ``--train``,
   tested on ``--eval``) predicts Praat log-F0 of voiced frames from the codec's 8-dim projected latents, from the
   chosen codebook vectors, and (reference) from the input's own STFT log-magnitudes. Reported: median error in
   cents and the correlation; a constant (the training median) is the floor. Also: how many dimensions the
   projected latents really use (participation ratio of their covariance; 8 = all of them evenly).
3. A spectrogram of the bundled ARCTIC clip: input and each model's reconstruction.

Writes ``diagnose.json``, ``diagnose.md`` and ``spectrograms.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from tqdm import tqdm

from llmcodec.audio import load_audio
from llmcodec.evaluation.metrics import pesq_wb
from llmcodec.evaluation.stoi import StoiError, codec_superb_stoi
from llmcodec.hub import load_codec
from llmcodec.training.data.pitch_targets import frame_f0
from llmcodec.training.objectives.latent_isotropy import participation_ratio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer_vs_loop"))
from bench_trainer_vs_loop import cpu_description  # noqa: E402

SR = 16_000
EXAMPLE = Path("llmcodec/assets/examples/arctic_a0007.wav")


def wave16k(path: Path) -> torch.Tensor:
    wav, _ = load_audio(path, SR)  # (wave at 16 kHz, the file's own rate)
    return torch.as_tensor(wav).float().reshape(-1)


class HeadAnalysis:
    """The codec's forward split open at the iSTFT head: magnitude, phase and the synthesis they feed."""

    def __init__(self, codec) -> None:
        self.codec = codec
        self.head = codec.decoder.istft_head
        self.n_fft, self.hop = self.head.n_fft, self.head.hop_length

    @torch.no_grad()
    def run(self, wav: torch.Tensor) -> dict[str, torch.Tensor]:
        frames = wav.numel() // self.hop
        wav = wav[: frames * self.hop]
        latents, codes, projected, _ = self.codec.quantizer(self.codec.encoder(wav[None]))
        out = self.head.projection(self.codec.decoder.conformer(latents)).float().transpose(1, 2)[0]
        log_magnitude, phase = out.chunk(2, dim=0)
        return {"wav": wav, "magnitude": torch.exp(log_magnitude).clip(max=self.head.max_magnitude), "phase": phase,
                "recon": self.codec.decoder(latents)[0], "projected": projected[0], "codes": codes[0]}

    def true_spectrum(self, wav: torch.Tensor, frames: int) -> torch.Tensor:
        pad = (self.n_fft - self.hop) // 2  # the front end's and the head's "same" padding
        padded = F.pad(wav[None, None], (pad, pad), mode="reflect")[0]
        spec = torch.stft(padded, self.n_fft, self.hop, self.n_fft, self.head.window, center=False, return_complex=True)
        return spec[0, :, :frames]

    def synthesise(self, spectrum: torch.Tensor) -> torch.Tensor:
        window = self.head.window
        frames = (torch.fft.irfft(spectrum, self.n_fft, dim=0) * window[:, None])[None]
        envelope = window.square()[None, :, None].expand(1, -1, frames.shape[-1]).contiguous()
        return (self.head._overlap_add(frames) / self.head._overlap_add(envelope))[0]


def score(reference: torch.Tensor, degraded: torch.Tensor) -> tuple[float, float]:
    n = min(reference.numel(), degraded.numel())
    ref, deg = reference[:n].double(), degraded[:n].double()
    try:
        stoi = float(np.clip(codec_superb_stoi(ref.numpy(), deg.numpy(), SR), 0, 1))
    except StoiError:  # under ~0.4 s of speech: left out, as `llmcodec evaluate` does
        stoi = float("nan")
    return pesq_wb(ref, deg, SR), stoi


def swap_scores(analysis: HeadAnalysis, files: list[Path]) -> dict[str, dict[str, float]]:
    rows: dict[str, list[tuple[float, float]]] = {}
    griffin_lim = torchaudio.transforms.GriffinLim(n_fft=analysis.n_fft, hop_length=analysis.hop,
                                                   win_length=analysis.n_fft, power=1.0, n_iter=64)
    for path in tqdm(files, desc="magnitude/phase swaps", leave=False):
        r = analysis.run(wave16k(path))
        true = analysis.true_spectrum(r["wav"], r["magnitude"].shape[1])
        variants = {
            "model": r["recon"],
            "model magnitude + true phase": analysis.synthesise(torch.polar(r["magnitude"], true.angle())),
            "true magnitude + model phase": analysis.synthesise(torch.polar(true.abs(), r["phase"])),
            "Griffin-Lim from the model magnitude": griffin_lim(r["magnitude"][None])[0],
        }
        for name, audio in variants.items():
            rows.setdefault(name, []).append(score(r["wav"], audio))
    return {k: {"pesq": float(np.nanmean([p for p, _ in v])), "stoi": float(np.nanmean([s for _, s in v]))}
            for k, v in rows.items()}


def latent_dimensions(analysis: HeadAnalysis, files: list[Path]) -> float:
    """Participation ratio of the unit-normalised projected latents of every frame of ``files`` (C = isotropic)."""
    rows = [F.normalize(analysis.run(wave16k(path))["projected"], dim=-1) for path in files]
    return participation_ratio(torch.cat(rows))


def with_context(x: np.ndarray, k: int = 3) -> np.ndarray:
    padded = np.pad(x, ((k, k), (0, 0)), mode="edge")
    return np.concatenate([padded[i : i + len(x)] for i in range(2 * k + 1)], 1)


def probe_features(analysis: HeadAnalysis, files: list[Path]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    codebook = F.normalize(analysis.codec.quantizer.codebook.weight.detach().float(), dim=-1)
    features: dict[str, list[np.ndarray]] = {"latents": [], "codes": [], "input STFT": []}
    targets = []
    for path in tqdm(files, desc="probe features", leave=False):
        r = analysis.run(wave16k(path))
        f0 = frame_f0(r["wav"], SR, analysis.hop)[: r["codes"].numel()]
        voiced = f0 > 0
        if not voiced.any():
            continue
        spec = analysis.true_spectrum(r["wav"], len(f0)).abs().clamp(min=1e-5).log().T
        for name, value in (("latents", F.normalize(r["projected"], dim=-1)), ("codes", codebook[r["codes"]]),
                            ("input STFT", spec)):
            features[name].append(with_context(value[: len(f0)].detach().numpy())[voiced])
        targets.append(np.log2(f0[voiced]))
    return {k: np.concatenate(v) for k, v in features.items()}, np.concatenate(targets)


def fit_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    a, b = torch.tensor(x_train).float(), torch.tensor(x_test).float()
    mean, std = a.mean(0), a.std(0) + 1e-5
    a, b = (a - mean) / std, (b - mean) / std
    ya, yb = torch.tensor(y_train).float(), torch.tensor(y_test).float()
    net = torch.nn.Sequential(torch.nn.Linear(a.shape[1], 512), torch.nn.GELU(), torch.nn.Linear(512, 512),
                              torch.nn.GELU(), torch.nn.Linear(512, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(1500):
        i = torch.randint(0, len(a), (512,))
        loss = (net(a[i])[:, 0] - ya[i]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net(b)[:, 0]
    cents = (pred - yb).abs() * 1200
    return {"median_cents": float(cents.median()), "within_50_cents": float((cents < 50).float().mean()),
            "corr": float(np.corrcoef(pred.numpy(), yb.numpy())[0, 1])}


@torch.no_grad()
def plot_spectrograms(models: dict[str, HeadAnalysis], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wav = wave16k(EXAMPLE)[: 2 * SR]
    panels = [("input (CMU ARCTIC a0007)", wav)] + [(name, a.run(wav)["recon"]) for name, a in models.items()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.6 * len(panels)), sharex=True)
    for ax, (title, audio) in zip(np.atleast_1d(axes), panels):
        spec = torch.stft(audio, 1024, 160, window=torch.hann_window(1024), return_complex=True).abs()
        ax.imshow(spec[:200].clamp(min=1e-5).log().numpy(), origin="lower", aspect="auto", vmin=-8,
                  extent=(0, audio.numel() / SR, 0, 200 * SR / 1024))
        ax.set(title=title, ylabel="Hz")
    np.atleast_1d(axes)[-1].set_xlabel("s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="codec folders (Hub layout) to diagnose")
    ap.add_argument("--eval", type=Path, default=Path("data/eval-v2"), help="real speech never trained on (*/*.wav)")
    ap.add_argument("--train", type=Path, default=Path("data/recorded/train"), help="speech the probes train on")
    ap.add_argument("--train-files", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/pitch_probe/results"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    eval_files = sorted(a.eval.glob("*/*.wav"))
    train_files = sorted(a.train.glob("**/*.wav"))
    if not eval_files or not train_files:
        print(f"error: no .wav files under {a.eval if not eval_files else a.train}", file=sys.stderr)
        return 2
    train_files = random.Random(0).sample(train_files, min(a.train_files, len(train_files)))
    analyses = {m: HeadAnalysis(load_codec(m).eval()) for m in a.models}
    result = {"cpu": cpu_description(), "eval": str(a.eval), "eval_files": len(eval_files),
              "probe_train_files": len(train_files), "models": {}}
    for name, analysis in analyses.items():
        entry = {"swaps": swap_scores(analysis, eval_files), "latent_dims": latent_dimensions(analysis, eval_files),
                 "codebook_dim": int(analysis.codec.config.codebook_dim)}
        x_train, y_train = probe_features(analysis, train_files)
        x_test, y_test = probe_features(analysis, eval_files)
        entry["probe"] = {k: fit_probe(x_train[k], y_train, x_test[k], y_test) for k in x_train}
        entry["probe"]["constant (training median)"] = {
            "median_cents": float(np.median(np.abs(y_test - np.median(y_train))) * 1200), "within_50_cents":
            float((np.abs(y_test - np.median(y_train)) * 1200 < 50).mean()), "corr": 0.0}
        entry["voiced_frames"] = {"train": int(len(y_train)), "test": int(len(y_test))}
        result["models"][name] = entry
        print(json.dumps({name: entry}, indent=1), flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "diagnose.json").write_text(json.dumps(result, indent=1))
    (a.out / "diagnose.md").write_text(report(result))
    plot_spectrograms(analyses, a.out / "spectrograms.png")
    return 0


def report(result: dict) -> str:
    lines = [f"Real speech never trained on: {result['eval']} ({result['eval_files']} files); CPU: {result['cpu']}", ""]
    for name, entry in result["models"].items():
        lines += [f"### {name}", "", f"Effective dimensions of the unit-normalised projected latents (participation "
                  f"ratio): {entry['latent_dims']:.2f} of {entry['codebook_dim']}.", "",
                  "| decoder output | PESQ-WB | STOI |", "|---|---|---|"]
        lines += [f"| {k} | {v['pesq']:.3f} | {v['stoi']:.3f} |" for k, v in entry["swaps"].items()]
        lines += ["", f"F0 probe ({entry['voiced_frames']['test']} voiced test frames):", "",
                  "| features | median error (cents) | within 50 cents | correlation |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['median_cents']:.0f} | {v['within_50_cents']:.2f} | {v['corr']:.3f} |"
                  for k, v in entry["probe"].items()]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
