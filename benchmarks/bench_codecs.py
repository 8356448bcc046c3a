"""Compute cost of LLM-Codec against the reference `auv` and transformers' EnCodec, DAC and Mimi.

Every model has random weights (compute cost only, not quality): ours in the released size (8 + 12
Conformer layers, 20,480 codes), the reference `auv` with the *same* weights, and
`EncodecModel` / `DacModel` / `MimiModel` from their default configs. Each codec runs in its own
subprocess so peak memory is not shared, on a speech-like clip at the codec's own sampling rate:

* RTF encode / decode: best-of-``--repeats`` wall time / audio duration (lower is better; < 1 is faster
  than real time), after one warm-up;
* peak memory: CPU — peak RSS growth over the RSS after loading the model (``VmHWM`` after resetting
  it through ``/proc/self/clear_refs``), i.e. the working memory of encode + decode; CUDA — ``torch.cuda.max_memory_allocated``;
* ratios: each codec's RTF divided by ours (> 1 means ours is faster).

Writes ``OUT/bench_codecs.md`` (table), ``OUT/bench_codecs.json`` and ``OUT/bench_codecs.png``.

    python benchmarks/bench_codecs.py [--seconds 4] [--repeats 2] [--threads 2] [--device cpu]
                                      [--codecs llmcodec,auv,encodec,dac,mimi] [--output bench_out]

The default run (4 s clips, 2 repeats, 2 threads) takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
CODECS = ("llmcodec", "auv", "encodec", "dac", "mimi")


def _speechlike(num_samples: int, sample_rate: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / sample_rate
    f0 = 120 + 40 * torch.sin(2 * torch.pi * 0.7 * t)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / sample_rate
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * torch.sin(2 * torch.pi * 3 * t))
    return (0.1 * voiced + 0.005 * torch.randn(num_samples, generator=generator)).float()


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """VmHWM (peak RSS since the last reset), else ``ru_maxrss`` (peak since start)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _build(name: str, device: str) -> tuple[int, Any, Any, int]:
    """``(sample_rate, encode(x (1, 1, L)) -> codes, decode(codes) -> audio, parameters)`` for one codec."""
    if name in ("llmcodec", "auv"):
        sys.path.insert(0, str(ROOT / "tests" / "helpers"))
        from codec_testing import reference_auv

        from llmcodec.conversion import model_from_reference_state_dict

        reference = reference_auv(released=True, seed=0)
        if name == "auv":
            model = reference.to(device)
            return (16_000, lambda x: model.tokenizer(x[:, 0], input_sample_rate=16_000)["tokens"],
                    lambda codes: model.decode_tokens(codes.transpose(1, 2)), _count(model))
        model = model_from_reference_state_dict(reference.state_dict()).to(device).eval()
        del reference
        return (16_000, lambda x: model.encode(x).audio_codes, lambda codes: model.decode(codes).audio_values,
                _count(model))
    import transformers

    classes = {"encodec": ("EncodecConfig", "EncodecModel"), "dac": ("DacConfig", "DacModel"),
               "mimi": ("MimiConfig", "MimiModel")}
    config_cls, model_cls = (getattr(transformers, c) for c in classes[name])
    torch.manual_seed(0)
    config = config_cls()
    model = model_cls(config).to(device).eval()
    if name == "encodec":
        return (config.sampling_rate, lambda x: model.encode(x).audio_codes,
                lambda codes: model.decode(codes, [None]).audio_values, _count(model))
    return (config.sampling_rate, lambda x: model.encode(x).audio_codes,
            lambda codes: model.decode(audio_codes=codes).audio_values, _count(model))


def _measure(name: str, seconds: float, repeats: int, threads: int, device: str, queue: Any) -> None:
    try:
        torch.set_num_threads(threads)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        rate, encode, decode, parameters = _build(name, device)
        x = _speechlike(int(seconds * rate), rate)[None, None].to(device)
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        import gc

        gc.collect()
        _reset_peak_rss()  # so building the model (e.g. a temporary reference copy) does not count
        loaded_rss = _rss_mb()
        loaded_cuda = torch.cuda.memory_allocated() / 2**20 if device.startswith("cuda") else 0.0

        def best(fn) -> float:
            fn()
            sync()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                sync()
                times.append(time.perf_counter() - start)
            return min(times)

        with torch.inference_mode():
            codes = encode(x)
            t_encode = best(lambda: encode(x))
            t_decode = best(lambda: decode(codes))
        if device.startswith("cuda"):
            peak = torch.cuda.max_memory_allocated() / 2**20 - loaded_cuda
        else:
            peak = _peak_rss_mb() - loaded_rss
        frames = codes.shape[-1]
        queue.put({"codec": name, "sample_rate": rate, "seconds": seconds, "rtf_encode": t_encode / seconds,
                   "rtf_decode": t_decode / seconds, "peak_memory_mb": max(peak, 0.0),
                   "codes_shape": list(codes.shape), "frame_rate": frames / seconds, "parameters": parameters})
    except Exception as error:  # noqa: BLE001 - one missing package must not stop the others
        queue.put({"codec": name, "error": f"{type(error).__name__}: {error}"})


def run(codecs: list[str], seconds: float, repeats: int, threads: int, device: str) -> list[dict[str, Any]]:
    """Measure each codec in a fresh (spawned) process; returns one dict per codec."""
    context = mp.get_context("spawn")
    results = []
    for name in codecs:
        queue = context.Queue()
        process = context.Process(target=_measure, args=(name, seconds, repeats, threads, device, queue))
        start = time.perf_counter()
        process.start()
        process.join()
        result = queue.get() if not queue.empty() else {"codec": name, "error": f"process exited with {process.exitcode}"}
        result["wall_s"] = time.perf_counter() - start
        print(f"  {name}: " + (result.get("error") or f"RTF enc {result['rtf_encode']:.4f} dec {result['rtf_decode']:.4f}, "
                               f"peak +{result['peak_memory_mb']:.0f} MB"), file=sys.stderr)
        results.append(result)
    return results


def to_markdown(results: list[dict[str, Any]], header: str) -> str:
    ours = next((r for r in results if r["codec"] == "llmcodec" and "error" not in r), None)
    lines = [header, "",
             "| codec | params (M) | rate (Hz) | codes shape | RTF encode | RTF decode | peak memory (MB) | encode ×ours | decode ×ours |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['codec']} | – | – | – | – | – | – | – | {r['error'][:80]} |")
            continue
        ratio_e = f"{r['rtf_encode'] / ours['rtf_encode']:.2f}" if ours else "–"
        ratio_d = f"{r['rtf_decode'] / ours['rtf_decode']:.2f}" if ours else "–"
        lines.append(f"| {r['codec']} | {r['parameters'] / 1e6:.1f} | {r['sample_rate']} | {tuple(r['codes_shape'])} | {r['rtf_encode']:.4f} | "
                     f"{r['rtf_decode']:.4f} | {r['peak_memory_mb']:.0f} | {ratio_e} | {ratio_d} |")
    lines += ["", "RTF = compute seconds per second of audio (lower is better). ×ours = that codec's RTF / "
              "LLM-Codec's (> 1: LLM-Codec is faster). Random weights: compute cost only.", ""]
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if "error" not in r]
    names = [r["codec"] for r in ok]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    try:
        positions = range(len(ok))
        axes[0].bar([p - 0.2 for p in positions], [r["rtf_encode"] for r in ok], width=0.4, label="encode")
        axes[0].bar([p + 0.2 for p in positions], [r["rtf_decode"] for r in ok], width=0.4, label="decode")
        axes[0].set_xticks(list(positions), names)
        axes[0].set_ylabel("real-time factor (lower is better)")
        axes[0].legend()
        axes[1].bar(names, [r["peak_memory_mb"] for r in ok], color="tab:green")
        axes[1].set_ylabel("peak memory over loaded model (MB)")
        figure.suptitle(title)
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats after one warm-up (best-of)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--codecs", default=",".join(CODECS), help=f"comma list from {', '.join(CODECS)}")
    parser.add_argument("--output", default="bench_out", help="folder for the table, JSON and plot")
    args = parser.parse_args(argv)
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in CODECS]
    if unknown:
        parser.error(f"unknown codec(s) {unknown}; choose from {list(CODECS)}")
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU, {args.threads} threads"
    header = (f"### Codec compute cost: {args.seconds:g} s clip, {device_name}, best of {args.repeats}, "
              f"torch {torch.__version__}")
    print(header, file=sys.stderr)
    results = run(codecs, args.seconds, args.repeats, args.threads, args.device)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    table = to_markdown(results, header)
    (out / "bench_codecs.md").write_text(table)
    (out / "bench_codecs.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    if any("error" not in r for r in results):
        plot(results, out / "bench_codecs.png", header.removeprefix("### "))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
