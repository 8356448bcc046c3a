"""Learning speed of ``llmcodec train`` against a plain PyTorch loop at equal wall time (issue 10, item 1).

    python benchmarks/trainer_vs_loop/bench_trainer_vs_loop.py --arm trainer   --minutes 8 --out runs/tvl
    python benchmarks/trainer_vs_loop/bench_trainer_vs_loop.py --arm loop      --minutes 8 --out runs/tvl
    python benchmarks/trainer_vs_loop/bench_trainer_vs_loop.py --arm trainer-prefix --minutes 8 --out runs/tvl
    python benchmarks/trainer_vs_loop/bench_trainer_vs_loop.py --report runs/tvl --results benchmarks/trainer_vs_loop/results

Every arm trains the same codec (``--config``, default the stage-1 config of the default model) from the same seed
on the same data, with the same losses, weights, optimizer, LR schedule and dead-code restarts:

* ``trainer``: ``LLMCodecTrainer`` as ``llmcodec train`` runs it;
* ``trainer-prefix``: the trainer's per-step work before the fix: it ran the Gumbel bridge (logits over every code,
  Gumbel noise, one-hot @ LM rows) on every step although its weight was 0 (reproduced with ``lambda_bridge``
  1e-12: the same work, no effect on the result). (The other defect found on the way, an LR schedule that never
  reached the optimizers, shows at the end of a run, not in a short budget; it has its own test.)
* ``loop``: a plain loop: the same module's forward, ``loss.backward()``, clipping, ``optimizer.step()``, nothing else.

Every ``--eval-every`` seconds of training time (the process's CPU time, one thread, evaluation excluded: robust
to the load of a shared machine) each arm scores the mel L1 distance of its reconstructions of fixed held-out
crops (the corpus' validation split: speakers never trained on). ``--report`` plots held-out mel against
training time and writes a table. The CPU (and whether it has native bf16) is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def cpu_description() -> str:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")), platform.processor())
    native = "native bf16 (AVX512-BF16/AMX)" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "no native bf16"
    return f"{model}; {native}"


def held_out_crops(folder: Path, n: int, seconds: float) -> torch.Tensor:
    from llmcodec.training.data.audio_dataset import load_audio_text_dataset
    from llmcodec.training.data.collator import crop_or_pad

    ds = load_audio_text_dataset(str(folder), split="validation", require_text=False)
    step = max(1, len(ds) // n)
    crops = [crop_or_pad(ds[i * step]["audio"], int(seconds * 16000), random_crop=False)[0] for i in range(n)]
    return torch.stack([c.reshape(1, -1) for c in crops])


class Recorder:
    """Training-time clock (evaluation excluded) and the held-out mel curve.

    The clock is the process's CPU time: every arm runs one thread, so CPU time is its compute, and unlike wall
    time it does not depend on what else the shared machine runs (the arms run side by side).
    """

    def __init__(self, codec, crops: torch.Tensor, every: float) -> None:
        from llmcodec.training.objectives.reconstruction import MelL1Loss, prepare_reconstruction

        self.codec, self.crops, self.every = codec, crops, every
        self.mel, self.prepare = MelL1Loss(), prepare_reconstruction
        self.train_seconds, self.last = 0.0, time.process_time()
        self.next_eval, self.curve = 0.0, []

    @torch.no_grad()
    def tick(self, step: int) -> None:
        now = time.process_time()
        self.train_seconds += now - self.last
        if self.train_seconds >= self.next_eval:
            was = self.codec.training
            self.codec.eval()
            out = self.codec(input_values=self.crops).audio_values
            mel = float(self.mel(self.crops, self.prepare(out, self.crops.shape[-1])))
            self.codec.train(was)
            self.curve.append({"seconds": round(self.train_seconds, 1), "step": step, "heldout_mel": round(mel, 4)})
            print(json.dumps(self.curve[-1]), flush=True)
            self.next_eval += self.every
        self.last = time.process_time()


def run_arm(arm: str, a: argparse.Namespace) -> dict:
    from transformers import TrainerCallback

    from llmcodec.cli_train import load_training_arguments
    from llmcodec.training.trainer import build_components

    overrides = dict(output_dir=str(a.out / f"run-{arm}"), max_steps=a.max_steps, save_strategy="no", report_to=[],
                     disable_tqdm=True, export_at_end=False, logging_steps=50, torch_num_threads=1,
                     lr_warmup_steps=a.warmup)
    if arm == "trainer-prefix":
        overrides["lambda_bridge"] = 1e-12
    margs, dargs, args = load_training_arguments(a.config, overrides)
    torch.set_num_threads(1)
    c = build_components(margs, dargs, args)
    crops = held_out_crops(Path(dargs.dataset), a.eval_files, dargs.segment_seconds)
    trainer = c.trainer(args)
    rec = Recorder(c.module.codec, crops, a.eval_every)
    budget = a.minutes * 60

    if arm in ("trainer", "trainer-prefix"):
        class Clock(TrainerCallback):
            def on_step_end(self, _args, state, control, **kwargs):
                rec.tick(state.global_step)
                control.should_training_stop = rec.train_seconds >= budget

        trainer.add_callback(Clock())
        rec.last = time.process_time()
        trainer.train()
    else:
        plain_loop(trainer, rec, budget)
    return {"arm": arm, "config": a.config, "cpu": cpu_description(), "curve": rec.curve}


def plain_loop(trainer, rec: Recorder, budget: float) -> None:
    """The same module, data, optimizer, schedule and restarts, without the Trainer around them."""
    from transformers import set_seed

    module, args = trainer.training_module, trainer.args
    set_seed(args.seed)  # as Trainer.train does before it builds its loader
    trainer.create_optimizer_and_scheduler(num_training_steps=args.max_steps)
    opt, sched = trainer.optimizer, trainer.lr_scheduler
    loader = trainer.get_train_dataloader()
    restarter = getattr(module, "codebook_restarter", None)
    module.train()
    rec.last = time.process_time()
    for step, batch in enumerate(loader, start=1):
        w = trainer._weights(step - 1)
        out = module(input_values=batch["input_values"], run_lm=False, run_bridge=False)
        loss = (w["lambda_mel"] * out["mel"] + args.lambda_ms_mel * out["ms_mel"] + args.lambda_mr_stft * out["mr_stft"]
                + args.lambda_cstft * out["cstft"] + args.lambda_vq * out["vq"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            torch.nn.utils.clip_grad_norm_(group["params"], args.max_grad_norm)
        opt.step()
        sched.step()
        if restarter is not None:
            restarter.update(out["codes"], out["codes_mask"])
            if step % args.codebook_restart_every == 0:
                restarter.restart(module.codec.quantizer.codebook.weight.data, out["projected"], out["codes_mask"])
        rec.tick(step)
        if rec.train_seconds >= budget or step >= args.max_steps:
            break


def report(runs: Path, results: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [json.loads(p.read_text()) for p in sorted(runs.glob("arm-*.json"))]
    results.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    rows = ["| arm | steps in budget | CPU s/step | held-out mel at the end | best held-out mel |", "|---|---|---|---|---|"]
    for arm in arms:
        curve = arm["curve"]
        ax.plot([p["seconds"] / 60 for p in curve], [p["heldout_mel"] for p in curve], label=arm["arm"], marker=".")
        last = curve[-1]
        rows.append(f"| {arm['arm']} | {last['step']} | {last['seconds'] / max(last['step'], 1):.2f} | "
                    f"{last['heldout_mel']:.3f} | {min(p['heldout_mel'] for p in curve):.3f} |")
    ax.set_xlabel("training time (CPU min, one thread, evaluation excluded)")
    ax.set_ylabel("held-out mel L1 (lower is better)")
    ax.set_title("llmcodec train vs a plain loop, same config and data")
    ax.legend()
    fig.tight_layout()
    fig.savefig(results / "trainer_vs_loop.png", dpi=120)
    cpu = arms[0]["cpu"] if arms else "unknown"
    (results / "trainer_vs_loop.md").write_text("\n".join(rows) + f"\n\nCPU: {cpu}; one thread per arm; time is "
                                                "each process's CPU time.\n")
    (results / "trainer_vs_loop.json").write_text(json.dumps(arms, indent=1))
    print("\n".join(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arm", choices=["trainer", "trainer-prefix", "loop"])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo-small-stage1.yaml"))
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--max-steps", type=int, default=3600, help="the schedule's length (as in the config)")
    parser.add_argument("--warmup", type=int, default=20, help="LR warm-up steps (short, so a short budget learns)")
    parser.add_argument("--eval-every", type=float, default=60.0, help="seconds of training time")
    parser.add_argument("--eval-files", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "trainer-vs-loop")
    parser.add_argument("--report", type=Path, default=None, help="merge the arms found in this folder")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "trainer_vs_loop" / "results")
    a = parser.parse_args(argv)
    if a.report is not None:
        report(a.report, a.results)
        return 0
    if a.arm is None:
        parser.error("give --arm or --report")
    a.out.mkdir(parents=True, exist_ok=True)
    result = run_arm(a.arm, a)
    (a.out / f"arm-{a.arm}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
