"""ONNX Runtime backend against PyTorch eager on the CPU: encode + decode of one 10 s clip and of 8 x 4 s clips.

For the released size (random weights, seeded) and the bundled default model, at 1 and 2 threads, each
backend is timed alternately in this process (the median of `--repeats` runs after a warm-up), so
background load hits both alike. Prints seconds per call and eager / ONNX (above 1: ONNX is faster), with
the CPU and the load average. The graphs are exported once into the ONNX cache ($LLMCODEC_ONNX_CACHE).

    python benchmarks/bench_onnx.py [--repeats 5] [--threads 1 2] [--models released bundled]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
from codec_testing import randomize_batchnorm  # noqa: E402

from bench_tokenize_audio import cpu_name, load_average  # noqa: E402
from llmcodec.audio import load_audio  # noqa: E402
from llmcodec.hub import load_codec  # noqa: E402
from llmcodec.modeling import LLMCodecConfig, LLMCodecModel  # noqa: E402
from llmcodec.onnx_codec import OnnxCodec, cached_export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def speech(seconds: float) -> torch.Tensor:
    """Real speech (the bundled 4 s ARCTIC clip, repeated) cut to `seconds`."""
    clip, _ = load_audio(ROOT / "llmcodec/assets/examples/arctic_a0007.wav")
    return clip.repeat(int(seconds * 16000) // clip.numel() + 1)[: int(seconds * 16000)]


def round_trip(codec, values: torch.Tensor) -> None:
    with torch.inference_mode():
        encoded = codec.encode(values)
        codec.decode(encoded.audio_codes, encoded.audio_codes_mask)


def timed_pair(first, second, repeats: int) -> tuple[float, float]:
    first(), second()
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((first, times_a), (second, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def build(name: str):
    if name == "bundled":
        return load_codec(str(ROOT / "llmcodec/assets/default-model"), device="cpu").eval()
    torch.manual_seed(0)
    model = LLMCodecModel(LLMCodecConfig()).eval()
    randomize_batchnorm(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", nargs="+", default=["released", "bundled"], choices=["released", "bundled"])
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}; load average before: {load_average()}")
    cases = {"1 x 10 s": speech(10.0)[None, None], "8 x 4 s": speech(32.0).reshape(8, 1, -1)}
    print(f"{'model':9} {'threads':>7} {'input':>9} {'eager s':>9} {'onnx s':>9} {'eager/onnx':>11}")
    for name in args.models:
        model = build(name)
        folder = cached_export(model)
        for threads in args.threads:
            torch.set_num_threads(threads)
            onnx_codec = OnnxCodec(folder, num_threads=threads)
            for label, values in cases.items():
                eager, onnx = timed_pair(lambda: round_trip(model, values), lambda: round_trip(onnx_codec, values),
                                         args.repeats)
                print(f"{name:9} {threads:>7} {label:>9} {eager:9.3f} {onnx:9.3f} {eager / onnx:10.2f}x")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
