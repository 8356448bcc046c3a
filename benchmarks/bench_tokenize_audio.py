"""`llmcodec tokenize-audio` throughput beside a plain sorted encode loop, and its scaling over shards (CPU).

Builds a corpus of synthetic speech (espeak-ng, 22.05 kHz, so every file is decoded and resampled): by default
160 files of 3-9 s. Then, timing whole processes (start-up and model load included), alternately:

- A: `llmcodec tokenize-audio CORPUS` (one process, default options, no dataset written);
- B: a plain script: read every file with `load_audio`, sort by length, encode batches of 16 with padding masks;

and prints audio seconds per wall second of each, the ratio A/B per pair and its median. Then the same
corpus as one process with one thread against two shard processes (`--num-shards 2`) of one thread each
started together. The CPU and the load average are printed beside the numbers.

    python benchmarks/bench_tokenize_audio.py [--files 160] [--pairs 3] [--model DIR] [--backend torch|onnx]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAW_LOOP = """
import sys, torch
from llmcodec.audio import load_audio
from llmcodec.batching import encode_batch
from llmcodec.hub import load_codec
from llmcodec.audio import find_audio_files
model = load_codec(sys.argv[2], device="cpu").eval()
waves = sorted((load_audio(p, target_sr=16000)[0] for p in find_audio_files([sys.argv[1]])), key=len)
total = 0
for start in range(0, len(waves), 16):
    total += sum(c.size for c in encode_batch(model, waves[start:start + 16], sampling_rate=16000,
                                              warn_out_of_range=False))
print(total)
"""

WORDS = (
    "the quick brown fox jumps over a lazy dog while seven bright stars shine above quiet hills and rivers "
    "people often speak of distant cities where music fills the evening air with gentle sound"
).split()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def build_corpus(folder: Path, files: int, seed: int = 0) -> float:
    """`files` clips of 3-9 s cut from espeak-ng speech into `folder`; returns their total seconds."""
    import random

    import numpy as np
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("*.wav"))
    if len(existing) == files:
        return sum(soundfile.info(p).duration for p in existing)
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed to synthesise the corpus (apt-get install espeak-ng)")
    rng = random.Random(seed)
    total = 0.0
    for i in range(files):
        target = rng.uniform(3.0, 9.0)
        text = " ".join(rng.choice(WORDS) for _ in range(int(target * 4) + 8))
        voice = rng.choice(["en-us", "en-gb", "en-gb-scotland"])
        with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rng.randint(150, 190)), "-w", handle.name, text],
                           check=True)
            audio, rate = soundfile.read(handle.name, dtype="float32")
        audio = audio[: int(target * rate)]
        soundfile.write(folder / f"utt{i:04d}.wav", audio, rate, subtype="PCM_16")
        total += len(audio) / rate
    return total


def run(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def run_together(commands: list[list[str]], env: dict) -> float:
    start = time.perf_counter()
    processes = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env) for c in commands]
    if any(p.wait() for p in processes):
        sys.exit("a shard process failed")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=160)
    parser.add_argument("--pairs", type=int, default=3, help="alternated A/B runs (after one warm-up pair)")
    parser.add_argument("--corpus", default=None, help="corpus folder (default: a temporary folder)")
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "llmcodec/assets/default-model"))
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-tokenize-"))
    corpus = Path(args.corpus) if args.corpus else work / "corpus"
    seconds = build_corpus(corpus, args.files)
    llmcodec = [sys.executable, "-m", "llmcodec.cli"]
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average before: {load_average()}")
    print(f"corpus: {args.files} files, {seconds:.0f} s of speech; model {args.model}; backend {args.backend}")

    def tokenize(out: Path, *extra: str) -> list[str]:
        return [*llmcodec, "tokenize-audio", str(corpus), "--output-dir", str(out), "--model", args.model,
                "--backend", args.backend, "--no-progress", "--no-dataset", *extra]

    raw = [sys.executable, "-c", RAW_LOOP, str(corpus), args.model]
    ratios, times_a, times_b = [], [], []
    for pair in range(args.pairs + 1):
        out = work / f"out-{pair}"
        a = run(tokenize(out))
        b = run(raw)
        shutil.rmtree(out)
        if pair:  # the first pair warms the file cache
            times_a.append(a), times_b.append(b), ratios.append(b / a)
    a, b = statistics.median(times_a), statistics.median(times_b)
    print(f"tokenize-audio: {seconds / a:6.1f} audio s per s (median wall {a:.2f} s)")
    print(f"sorted raw loop: {seconds / b:6.1f} audio s per s (median wall {b:.2f} s)")
    print(f"throughput tokenize-audio / raw loop: median {statistics.median(ratios):.2f}x "
          f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)})")

    if not args.skip_scaling:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        one = statistics.median(run(tokenize(work / f"one-{i}"), env) for i in range(2))
        two = statistics.median(
            run_together([tokenize(work / f"two-{i}", "--num-shards", "2", "--shard-index", str(k)) for k in (0, 1)],
                         env)
            for i in range(2)
        )
        print(f"1 process x 1 thread: {one:.2f} s; 2 shard processes x 1 thread: {two:.2f} s; "
              f"scaling {one / two:.2f}x")
    print(f"load average after: {load_average()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
