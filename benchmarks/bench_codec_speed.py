"""Encode/decode speed of LLM-Codec against the reference `auv` (same random weights, released size), CPU.

Prints real-time factors (seconds of compute per second of audio; lower is better) and the ratios
reference / ours measured in this run, batched throughput, bf16 autocast speed with its code agreement,
and peak memory (RSS growth) of a windowed 10-minute encode + decode.

    python benchmarks/bench_codec_speed.py [--seconds 10] [--threads 2] [--long-minutes 10]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
from codec_testing import reference_auv, speechlike  # noqa: E402
from timing import best_of, timed_pair  # noqa: E402

from llmcodec.conversion import model_from_reference_state_dict  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--border-seconds", type=float, default=90.0, help="clip for the window-border study")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    reference = reference_auv(released=True, seed=0)
    ours = model_from_reference_state_dict(reference.state_dict())
    audio = speechlike(int(16000 * args.seconds), seed=1)
    x = audio[None]
    print(f"released-size model, {args.seconds:g} s clip, {args.threads} threads, best of {args.repeats}")

    with torch.inference_mode():
        ref_codes = reference.tokenizer(x)["tokens"][0]
        t_ref_enc, t_our_enc = timed_pair(
            lambda: reference.encode({"sample": x, "sample_rate": 16000}), lambda: ours.encode(x[:, None]), args.repeats
        )
        t_ref_dec, t_our_dec = timed_pair(
            lambda: reference.decode_tokens(ref_codes[:, :, None]), lambda: ours.decode(ref_codes), args.repeats
        )
        rows = [
            ("encode fp32, 1 item", t_ref_enc, t_our_enc),
            ("decode fp32, 1 item", t_ref_dec, t_our_dec),
        ]

        batch = torch.stack([speechlike(int(16000 * args.seconds), seed=i) for i in range(args.batch)])[:, None]
        t_our_batch = best_of(lambda: ours.encode(batch), args.repeats, warm_up=True) / args.batch
        # The reference cannot batch: its throughput is one item at a time.
        rows.append((f"encode fp32, batch {args.batch} (per item)", t_ref_enc, t_our_batch))

        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16_codes = ours.encode(x[:, None]).audio_codes
            t_our_bf16 = best_of(lambda: ours.encode(x[:, None]), args.repeats, warm_up=True)
            t_our_bf16_dec = best_of(lambda: ours.decode(ref_codes), args.repeats, warm_up=True)
        agreement = (bf16_codes == ref_codes).float().mean().item()
        rows.append(("encode bf16 autocast, 1 item", t_ref_enc, t_our_bf16))
        rows.append(("decode bf16 autocast, 1 item", t_ref_dec, t_our_bf16_dec))

    print(f"{'case':40s} {'ref RTF':>9s} {'ours RTF':>9s} {'speed-up':>9s}")
    for name, t_ref, t_ours in rows:
        print(f"{name:40s} {t_ref / args.seconds:9.4f} {t_ours / args.seconds:9.4f} {t_ref / t_ours:8.2f}x")
    print(f"bf16 code agreement with fp32 reference: {100 * agreement:.2f} %")

    if args.border_seconds > 0:
        # Cost at window borders: codes of windowed encoding vs one whole-file pass, 30 s windows.
        clip = speechlike(int(16000 * args.border_seconds), seed=3)[None, None]
        with torch.inference_mode():
            whole = ours.encode(clip).audio_codes
            whole_audio = ours.decode(whole).audio_values
            for context in (0.0, 1.0, 2.0, 5.0):
                windowed = ours.encode(clip, chunk_length_s=30, chunk_context_s=context).audio_codes
                audio = ours.decode(whole, chunk_length_s=30, chunk_context_s=context).audio_values
                agreement = (windowed == whole).float().mean().item()
                error = ((audio - whole_audio).norm() / whole_audio.norm()).item()
                print(
                    f"window borders ({args.border_seconds:g} s clip, 30 s windows, {context:g} s context): "
                    f"code agreement {100 * agreement:.2f} %, decode relative L2 difference {error:.2e}"
                )

    minutes = args.long_minutes
    if minutes > 0:
        long_audio = speechlike(int(16000 * 60 * minutes), seed=2)[None, None]
        before = peak_rss_mb()
        start = time.perf_counter()
        with torch.inference_mode():
            codes = ours.encode(long_audio, chunk_length_s=60, chunk_context_s=5).audio_codes
            ours.decode(codes, chunk_length_s=60, chunk_context_s=5)
        elapsed = time.perf_counter() - start
        print(
            f"{minutes:g} min windowed (60 s + 2x5 s context) encode+decode: {elapsed:.1f} s, "
            f"peak RSS {peak_rss_mb():.0f} MB (was {before:.0f} MB before)"
        )


if __name__ == "__main__":
    main()
