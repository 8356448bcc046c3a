"""Streaming decode: algorithmic latency, compute per chunk, real-time factor and distance to offline decode.

For each (chunk, lookahead, context) setting, the codes of real recorded speech (the bundled CMU ARCTIC clip,
the eight spoken ALSA test clips, and all nine joined into one ~15 s stream so long contexts are exercised)
are pushed one chunk at a time through `model.streaming_decoder(...)`; the audio is compared with offline
`model.decode` of the *same codes* (mel distance, SNR, PESQ-WB between the two: how far streaming is from
offline, not from the original recording). Compute per chunk is the best-of-`--repeats` time of one push
that completes a chunk, single-threaded by default; the real-time factor is that time over the chunk's
duration (< 1 keeps up with playback).

    OMP_NUM_THREADS=1 python benchmarks/streaming/bench_streaming.py [--model M] [--threads 1]

Writes benchmarks/streaming/results/{results.json, results.md, latency_quality.png}.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from llmcodec.audio import load_audio, save_text
from llmcodec.evaluation.metrics import pesq_wb
from llmcodec.evaluation.spectral_losses import mel_distance
from llmcodec.hub import load_codec
from llmcodec.modeling.streaming_llmcodec import (
    DEFAULT_CHUNK_FRAMES,
    DEFAULT_CONTEXT_FRAMES,
    DEFAULT_LOOKAHEAD_FRAMES,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speech_clips import ALSA_SOUNDS, ALSA_SPEECH, EXAMPLE_CLIP  # noqa: E402

# (chunk, lookahead, context) frames; 20 ms each.
DEFAULT_GRID = [
    (4, 0, 100), (4, 8, 100), (4, 16, 100), (4, 24, 100), (4, 32, 100), (4, 48, 100), (8, 32, 100),
    (4, 32, 250), (8, 32, 250),
]
DEFAULT = (DEFAULT_CHUNK_FRAMES, DEFAULT_LOOKAHEAD_FRAMES, DEFAULT_CONTEXT_FRAMES)


def cpu_description() -> str:
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, flags=re.MULTILINE)
        model = match.group(1).strip() if match else model
        first = re.search(r"^flags\s*:\s*(.+)$", text, flags=re.MULTILINE)
        flags = set(first.group(1).split()) if first else set()
    except OSError:
        pass
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile") if f in flags]
    return f"{model}; {torch.get_num_threads()} thread(s); flags: {', '.join(wanted) or 'none of avx2/avx512/amx'}"


def load_clips() -> dict[str, torch.Tensor]:
    clips = {"arctic_a0007": load_audio(EXAMPLE_CLIP)[0]}
    for name in ALSA_SPEECH:
        if (ALSA_SOUNDS / f"{name}.wav").is_file():
            clips[f"alsa_{name}"] = load_audio(ALSA_SOUNDS / f"{name}.wav")[0]
    clips["all_joined"] = torch.cat(list(clips.values()))
    return clips


def stream(model, codes: torch.Tensor, chunk: int, lookahead: int, context: int) -> tuple[torch.Tensor, list[float]]:
    """Streams `(1, T)` codes one chunk per push; returns the audio `(L,)` and the time of each push that emitted."""
    decoder = model.streaming_decoder(chunk_frames=chunk, lookahead_frames=lookahead, context_frames=context)
    pieces, times = [], []
    for start in range(0, codes.shape[1], chunk):
        begin = time.process_time()  # CPU time: the benchmark machine may be shared with other jobs
        out = decoder.push(codes[:, start : start + chunk])
        elapsed = time.process_time() - begin
        if out.audio_values.shape[-1]:
            times.append(elapsed)
        pieces.append(out.audio_values[0, 0])
    pieces.append(decoder.flush().audio_values[0, 0])
    return torch.cat(pieces), times


def snr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    noise = (reference - other).pow(2).sum().clamp(min=1e-20)
    return float(10 * torch.log10(reference.pow(2).sum() / noise))


def measure(model, clips, offline, codes, setting, repeats: int) -> dict:
    chunk, lookahead, context = setting
    per_clip, runs = {}, []
    for name in clips:
        audio, times = stream(model, codes[name], chunk, lookahead, context)
        if name == "all_joined":
            runs.append(times)
        if audio.numel() != offline[name].numel():
            raise AssertionError(f"{name}: streaming gave {audio.numel()} samples, offline {offline[name].numel()}")
        per_clip[name] = {
            "mel": mel_distance(offline[name], audio, model.config.sampling_rate),
            "snr_db": snr_db(offline[name], audio),
            "pesq_wb": pesq_wb(offline[name], audio, model.config.sampling_rate),
            # Against the recording itself (the model was trained on 2 s crops, so offline decode of a long
            # clip is not necessarily the better of the two).
            "pesq_wb_vs_recording": pesq_wb(clips[name], audio[: clips[name].numel()], model.config.sampling_rate),
        }
    # Steady-state cost of one chunk: the long stream, best of `repeats` runs per push, median over pushes.
    runs += [stream(model, codes["all_joined"], chunk, lookahead, context)[1] for _ in range(repeats - 1)]
    per_push = [min(values) for values in zip(*runs)]
    chunk_ms = 1000 * statistics.median(per_push)
    chunk_seconds = chunk * model.config.hop_length / model.config.sampling_rate
    decoder = model.streaming_decoder(chunk_frames=chunk, lookahead_frames=lookahead, context_frames=context)
    short = [v for k, v in per_clip.items() if k != "all_joined"]
    return {
        "chunk_frames": chunk, "lookahead_frames": lookahead, "context_frames": context,
        "algorithmic_latency_ms": decoder.algorithmic_latency_ms,
        "compute_per_chunk_ms": chunk_ms,
        "real_time_factor": chunk_ms / 1000 / chunk_seconds,
        "pesq_wb_mean": statistics.mean(v["pesq_wb"] for v in short),
        "pesq_wb_min": min(v["pesq_wb"] for v in short),
        "pesq_wb_long": per_clip["all_joined"]["pesq_wb"],
        "pesq_wb_vs_recording_mean": statistics.mean(v["pesq_wb_vs_recording"] for v in short),
        "mel_mean": statistics.mean(v["mel"] for v in short),
        "snr_db_mean": statistics.mean(v["snr_db"] for v in short),
        "per_clip": per_clip,
    }


def is_default(row: dict) -> bool:
    return (row["chunk_frames"], row["lookahead_frames"], row["context_frames"]) == DEFAULT


def render_markdown(results: dict) -> str:
    rows = [
        "# Streaming decode: latency vs distance to offline decode", "",
        f"Model: `{results['model']}`. CPU: {results['cpu']}.", "",
        f"Clips: {', '.join(results['clips'])} (real recordings, 16 kHz); `all_joined` = all of them in one "
        f"{results['long_seconds']:.1f} s stream. Distances compare streaming with offline `decode` of the same "
        "codes; PESQ-WB mean/min over the single clips, `long` = the joined stream.", "",
        "Latency = (chunk + lookahead) x 20 ms + 30 ms iSTFT overlap, without compute. Compute per chunk: CPU "
        "time of one push that completes a chunk (median over the pushes of the joined stream, best of the "
        "repeats); RTF = compute / chunk duration. Last column: PESQ-WB of streaming against the *recording* "
        f"(offline decode scores {results['offline_pesq_vs_recording']:.2f} on the same clips).", "",
        "| chunk | lookahead | context | latency (ms) | compute / chunk (ms) | RTF | PESQ-WB mean | PESQ-WB min "
        "| PESQ-WB long | mel | SNR (dB) | PESQ-WB vs recording |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["settings"]:
        mark = " **(default)**" if is_default(r) else ""
        rows.append(
            f"| {r['chunk_frames']}{mark} | {r['lookahead_frames']} | {r['context_frames']} | "
            f"{r['algorithmic_latency_ms']:.0f} | {r['compute_per_chunk_ms']:.1f} | {r['real_time_factor']:.3f} | "
            f"{r['pesq_wb_mean']:.2f} | {r['pesq_wb_min']:.2f} | {r['pesq_wb_long']:.2f} | {r['mel_mean']:.3f} | "
            f"{r['snr_db_mean']:.1f} | {r['pesq_wb_vs_recording_mean']:.2f} |"
        )
    rows += ["", f"Offline decode of the joined stream: {results['offline_decode_ms']:.0f} ms "
             f"(RTF {results['offline_rtf']:.3f}).", "", f"Command: `{results['command']}`", ""]
    return "\n".join(rows)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for context in sorted({r["context_frames"] for r in results["settings"]}):
        for chunk in sorted({r["chunk_frames"] for r in results["settings"]}):
            points = sorted((r["algorithmic_latency_ms"], r["pesq_wb_mean"]) for r in results["settings"]
                            if r["context_frames"] == context and r["chunk_frames"] == chunk)
            if points:
                ax.plot(*zip(*points), marker="o", label=f"chunk {chunk}, context {context}")
    default = next(r for r in results["settings"] if is_default(r))
    ax.scatter([default["algorithmic_latency_ms"]], [default["pesq_wb_mean"]], s=160, facecolors="none",
               edgecolors="black", label="default", zorder=5)
    ax.set_xlabel("algorithmic latency (ms)")
    ax.set_ylabel("PESQ-WB, streaming vs offline decode")
    ax.set_title("LLM-Codec streaming decode (bundled default model)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="codec (default: the bundled default model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--render-only", action="store_true",
                        help="re-render results.md and the plot from OUTPUT/results.json (e.g. after changing the default)")
    args = parser.parse_args()
    out = Path(args.output)
    if args.render_only:
        results = json.loads((out / "results.json").read_text())
        save_text(out / "results.md", render_markdown(results))
        plot(results, out / "latency_quality.png")
        return
    torch.set_num_threads(args.threads)
    model = load_codec(args.model)
    clips = load_clips()
    with torch.inference_mode():
        codes = {name: model.encode(wave[None, None]).audio_codes for name, wave in clips.items()}
        offline = {name: model.decode(c).audio_values[0, 0] for name, c in codes.items()}
        begin = time.process_time()
        model.decode(codes["all_joined"])
        offline_s = time.process_time() - begin
    rate = model.config.sampling_rate
    offline_vs_recording = statistics.mean(
        pesq_wb(clips[n], offline[n][: clips[n].numel()], rate) for n in clips if n != "all_joined"
    )
    grid = DEFAULT_GRID if DEFAULT in DEFAULT_GRID else [*DEFAULT_GRID, DEFAULT]
    settings = []
    for setting in grid:
        row = measure(model, clips, offline, codes, setting, args.repeats)
        settings.append(row)
        print(f"chunk {setting[0]:2d} lookahead {setting[1]:2d} context {setting[2]:3d}: "
              f"{row['algorithmic_latency_ms']:.0f} ms, {row['compute_per_chunk_ms']:.1f} ms/chunk, "
              f"PESQ-WB {row['pesq_wb_mean']:.2f} (min {row['pesq_wb_min']:.2f}, long {row['pesq_wb_long']:.2f})",
              file=sys.stderr, flush=True)
    long_seconds = clips["all_joined"].numel() / model.config.sampling_rate
    results = {
        "model": args.model or "bundled default model",
        "cpu": cpu_description(),
        "torch": torch.__version__,
        "clips": [name for name in clips if name != "all_joined"],
        "long_seconds": long_seconds,
        "offline_decode_ms": 1000 * offline_s,
        "offline_rtf": offline_s / long_seconds,
        "offline_pesq_vs_recording": offline_vs_recording,
        "command": "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 " + " ".join(["python", *sys.argv]),
        "settings": settings,
    }
    save_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    save_text(out / "results.md", render_markdown(results))
    plot(results, out / "latency_quality.png")
    print(render_markdown(results))


if __name__ == "__main__":
    main()
