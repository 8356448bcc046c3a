"""Is the quantizer what keeps pitch out of the demo codec? Equal-budget fine-tunes with three bottlenecks (issue 10).

    python benchmarks/pitch_probe/quantizer_probe.py --arm vq         --minutes 15 --out runs/quantizer-probe
    python benchmarks/pitch_probe/quantizer_probe.py --arm continuous --minutes 15 --out runs/quantizer-probe
    python benchmarks/pitch_probe/quantizer_probe.py --arm product    --minutes 15 --out runs/quantizer-probe
    python benchmarks/pitch_probe/quantizer_probe.py --report runs/quantizer-probe --results benchmarks/pitch_probe/results

Every arm starts from the same codec (``--init``, default the bundled model), trains on the same real speech
(``--config``'s dataset, same seed, same losses and weights as ``llmcodec train``), with AdamW at one constant LR,
and differs only in the bottleneck between encoder and decoder:

* ``vq``: the model's own factorized cosine VQ (20,480 codes in 8 dims), with its dead-code restarts;
* ``continuous``: no quantization: the decoder reads the 8-dim projection itself (an upper bound: infinite bitrate);
* ``product``: the same 8 dims split into two 4-dim cosine codebooks of 160 and 128 codes; the code is
  ``a * 128 + b``, still one of 20,480 per frame (716 bps), but each small codebook is easy to keep fully used.

Every ``--eval-every`` seconds of training time (process CPU time, one thread, evaluation excluded) each arm scores
PESQ-WB / STOI of whole files of ``--eval`` (real speech never trained on) and the code perplexity there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "trainer_vs_loop"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_trainer_vs_loop import cpu_description  # noqa: E402
from diagnose import score, wave16k  # noqa: E402

from llmcodec.training.objectives.latent_isotropy import participation_ratio  # noqa: E402


class ContinuousBottleneck(nn.Module):
    """The model's projections with nothing in between: the decoder reads the projected latents."""

    def __init__(self, vq: nn.Module) -> None:
        super().__init__()
        self.vq = vq

    def forward(self, hidden, frame_mask=None, partitions=None):
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            projected = self.vq.in_proj(hidden.float().transpose(1, 2))
            codes = self.vq.nearest_codes(projected, None)  # for the perplexity column only
            latents = self.vq.out_proj(projected).transpose(1, 2)
        loss = torch.zeros(hidden.shape[0]) if self.training else None
        return latents, codes, projected.transpose(1, 2), loss


class ProductQuantizer(nn.Module):
    """Two cosine codebooks over halves of the projection; code = ``a * sizes[1] + b``."""

    def __init__(self, vq: nn.Module, sizes=(160, 128), seed_latents: torch.Tensor | None = None) -> None:
        super().__init__()
        self.in_proj, self.out_proj = vq.in_proj, vq.out_proj
        self.commitment_weight, self.codebook_loss_weight = vq.commitment_weight, vq.codebook_loss_weight
        dim = vq.codebook.weight.shape[1]
        self.sizes, self.split = tuple(sizes), dim // len(sizes)
        rows = []
        for g, n in enumerate(self.sizes):
            part = seed_latents[:, g * self.split : (g + 1) * self.split]
            rows.append(nn.Parameter(part[torch.randperm(part.shape[0])[:n]].clone()))
        self.codebooks = nn.ParameterList(rows)
        self.usage = [torch.full((n,), 1.0 / n) for n in self.sizes]

    def forward(self, hidden, frame_mask=None, partitions=None):
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            projected = self.in_proj(hidden.float().transpose(1, 2))  # (B, C, T)
            parts, codes, quantized = projected.split(self.split, dim=1), 0, []
            for g, (part, book) in enumerate(zip(parts, self.codebooks)):
                sim = torch.einsum("bct,nc->btn", F.normalize(part, dim=1), F.normalize(book, dim=1))
                index = sim.argmax(-1)  # (B, T)
                quantized.append(F.embedding(index, book).transpose(1, 2))
                codes = codes * self.sizes[g] + index
                if self.training:
                    counts = torch.bincount(index.reshape(-1), minlength=self.sizes[g]).float()
                    self.usage[g] = 0.95 * self.usage[g] + 0.05 * counts / counts.sum()
            quantized = torch.cat(quantized, dim=1)
            loss = None
            if self.training:
                commitment = F.mse_loss(projected, quantized.detach(), reduction="none").mean((1, 2))
                codebook = F.mse_loss(quantized, projected.detach(), reduction="none").mean((1, 2))
                loss = self.commitment_weight * commitment + self.codebook_loss_weight * codebook
            quantized = projected + (quantized - projected).detach()
            latents = self.out_proj(quantized).transpose(1, 2)
        return latents, codes, projected.transpose(1, 2), loss

    @torch.no_grad()
    def restart(self, projected: torch.Tensor) -> int:
        """Re-seed codes used under 10 % of the average from this batch's latents; returns how many moved."""
        flat, moved = projected.reshape(-1, projected.shape[-1]), 0
        for g, book in enumerate(self.codebooks):
            dead = (self.usage[g] < 0.1 / self.sizes[g]).nonzero().flatten()
            if dead.numel():
                pick = flat[torch.randint(0, flat.shape[0], (dead.numel(),)), g * self.split : (g + 1) * self.split]
                book.data[dead] = pick + 0.01 * pick.std() * torch.randn_like(pick)
                self.usage[g][dead] = 1.0 / self.sizes[g]
                moved += dead.numel()
        return moved


class KeepProjected(nn.Module):
    """Passes through a bottleneck and keeps its projected latents with their graph (the module's are detached)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.live = inner, None

    def forward(self, hidden, frame_mask=None, partitions=None):
        out = self.inner(hidden, frame_mask, partitions)
        self.live = out[2]
        return out

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)


def covariance_matching_loss(projected: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``mean((C * cov(unit latents) - I)^2)``: the first form of the isotropy loss, which the committed probe runs
    used (``--isotropy``). Its gradient vanishes as the latents collapse, so training uses the std hinge of
    ``llmcodec.training.objectives.latent_isotropy`` instead; kept here so those results reproduce."""
    unit = F.normalize(projected.float(), dim=-1)
    unit = unit[mask] if mask is not None else unit.reshape(-1, unit.shape[-1])
    centred = unit - unit.mean(0, keepdim=True)
    cov = centred.t() @ centred / max(1, centred.shape[0] - 1)
    eye = torch.eye(cov.shape[0], device=cov.device)
    return (cov.shape[0] * cov - eye).pow(2).mean()


def perplexity(codes: list[torch.Tensor]) -> float:
    counts = torch.bincount(torch.cat(codes)).double()
    p = counts[counts > 0] / counts.sum()
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def evaluate(codec, files: list[Path]) -> dict[str, float]:
    was = codec.training
    codec.eval()
    pesq, stoi, codes, latents = [], [], [], []
    for path in files:
        wav = wave16k(path)
        wav = wav[: wav.numel() // 320 * 320]
        decoded, c, projected, _ = codec.quantizer(codec.encoder(wav[None]))
        recon = codec.decoder(decoded)[0]
        latents.append(projected[0])
        p, s = score(wav, recon)
        pesq.append(p), stoi.append(s), codes.append(c.reshape(-1))
    codec.train(was)
    return {"pesq": float(np.nanmean(pesq)), "stoi": float(np.nanmean(stoi)), "perplexity": perplexity(codes),
            "latent_dims": participation_ratio(torch.cat(latents))}


def run_arm(a: argparse.Namespace) -> dict:
    from llmcodec.cli_train import load_training_arguments
    from llmcodec.training.trainer import build_components

    overrides = dict(output_dir=str(a.out / f"run-{a.arm}"), max_steps=100_000, save_strategy="no", report_to=[],
                     disable_tqdm=True, export_at_end=False, torch_num_threads=1, codec_init=str(a.init))
    margs, dargs, args = load_training_arguments(a.config, overrides)
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    c = build_components(margs, dargs, args)
    trainer, module = c.trainer(args), c.module
    codec = module.codec
    files = sorted(Path(a.eval).rglob("*.wav"))
    loader = trainer.get_train_dataloader()
    restarter = getattr(module, "codebook_restarter", None)
    if a.arm == "continuous":
        codec.quantizer, restarter = ContinuousBottleneck(codec.quantizer), None
    elif a.arm == "product":
        with torch.no_grad():
            wav = next(iter(loader))["input_values"]
            hidden = codec.encoder(wav.reshape(wav.shape[0], -1))
            seed = codec.quantizer.in_proj(hidden.transpose(1, 2)).transpose(1, 2)
            seed = seed.reshape(-1, seed.shape[-1])
        codec.quantizer, restarter = ProductQuantizer(codec.quantizer, seed_latents=seed), None
    codec.quantizer = KeepProjected(codec.quantizer)
    opt = torch.optim.AdamW([p for p in codec.parameters() if p.requires_grad], lr=a.lr, betas=(0.8, 0.99))
    curve, train_seconds, next_eval, budget = [], 0.0, 0.0, a.minutes * 60
    module.train()
    last, step = time.process_time(), 0
    while train_seconds < budget:
        for batch in loader:
            step += 1
            for group in opt.param_groups:
                group["lr"] = a.lr * min(1.0, step / 20)
            w = trainer._weights(step - 1)
            out = module(input_values=batch["input_values"], run_lm=False, run_bridge=False)
            loss = (w["lambda_mel"] * out["mel"] + args.lambda_ms_mel * out["ms_mel"] + args.lambda_mr_stft * out["mr_stft"]
                    + args.lambda_cstft * out["cstft"] + args.lambda_vq * out["vq"])
            if a.isotropy:
                loss = loss + a.isotropy * covariance_matching_loss(codec.quantizer.live, out["codes_mask"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(codec.parameters(), args.max_grad_norm)
            opt.step()
            if restarter is not None:
                restarter.update(out["codes"], out["codes_mask"])
                if step % args.codebook_restart_every == 0:
                    restarter.restart(codec.quantizer.inner.codebook.weight.data, out["projected"], out["codes_mask"])
            elif a.arm == "product" and step % args.codebook_restart_every == 0:
                codec.quantizer.inner.restart(out["projected"].detach())
            now = time.process_time()
            train_seconds, last = train_seconds + now - last, now
            if train_seconds >= next_eval or train_seconds >= budget:
                point = {"seconds": round(train_seconds, 1), "step": step, "mel": round(float(out["mel"].detach()), 4),
                         **evaluate(codec, files)}
                curve.append(point)
                print(json.dumps(point), flush=True)
                next_eval += a.eval_every
                last = time.process_time()
            if train_seconds >= budget:
                break
    return {"arm": a.name or a.arm, "isotropy": a.isotropy, "init": str(a.init), "cpu": cpu_description(), "lr": a.lr, "curve": curve,
            "eval": a.eval, "eval_files": len(files)}


def report(runs: Path, results: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [json.loads(p.read_text()) for p in sorted(runs.glob("arm-*.json"))]
    done = {arm["arm"] for arm in arms}
    for log in sorted(runs.glob("*.log")):  # an arm stopped before its budget: its evaluations so far
        curve = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        if log.stem not in done and curve:
            arms.append({"arm": log.stem, "cpu": cpu_description(), "curve": curve, "eval_files": None,
                         "stopped_early": True})
    results.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    rows = ["| arm | steps | CPU s | PESQ-WB start → end | STOI start → end | code perplexity end | latent dims "
            "start → end |", "|---|---|---|---|---|---|---|"]
    for arm in arms:
        curve = arm["curve"]
        minutes = [p["seconds"] / 60 for p in curve]
        for ax, key in zip(axes, ("pesq", "stoi")):
            ax.plot(minutes, [p[key] for p in curve], marker=".", label=arm["arm"])
        first, last = curve[0], curve[-1]
        dims = (f"{first['latent_dims']:.2f} → {last['latent_dims']:.2f}" if "latent_dims" in first else "–")
        rows.append(f"| {arm['arm']} | {last['step']} | {last['seconds']:.0f} | {first['pesq']:.3f} → {last['pesq']:.3f} | "
                    f"{first['stoi']:.3f} → {last['stoi']:.3f} | {last['perplexity']:.0f} | {dims} |")
    for ax, name in zip(axes, ("PESQ-WB", "STOI")):
        ax.set_xlabel("training time (CPU min, one thread)")
        ax.set_ylabel(name + " on held-out real speech")
        ax.legend()
    fig.tight_layout()
    fig.savefig(results / "quantizer_probe.png", dpi=120)
    cpu = arms[0]["cpu"] if arms else "unknown"
    source = next((f"{arm['eval']} ({arm['eval_files']} files)" for arm in arms if arm.get("eval")),
                  "the default --eval (data/eval-v2, 33 files)")
    text = "\n".join(rows) + (f"\n\nScored on {source}: real speech never trained on. CPU: {cpu}; one thread per "
                              "arm. Arms stopped before their budget are read from their logs.\n")
    (results / "quantizer_probe.md").write_text(text)
    (results / "quantizer_probe.json").write_text(json.dumps(arms, indent=1))
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arm", choices=["vq", "continuous", "product"])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo-small-stage1-v2.yaml"))
    parser.add_argument("--init", type=Path, default=ROOT / "llmcodec" / "assets" / "default-model")
    parser.add_argument("--eval", default=str(ROOT / "data" / "eval-v2"))
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--isotropy", type=float, default=0.0,
                        help="weight of the covariance-matching isotropy loss (the first form; see its docstring)")
    parser.add_argument("--name", default=None, help="arm name in the results (default: --arm)")
    parser.add_argument("--eval-every", type=float, default=180.0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bottleneck")
    parser.add_argument("--report", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "pitch_probe" / "results")
    a = parser.parse_args(argv)
    if a.report is not None:
        report(a.report, a.results)
        return 0
    if a.arm is None:
        parser.error("give --arm or --report")
    a.out.mkdir(parents=True, exist_ok=True)
    result = run_arm(a)
    (a.out / f"arm-{a.name or a.arm}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
