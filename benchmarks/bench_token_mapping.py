"""Benchmark: one hour of codes (180,000 at 50 codes/s) through every mapping direction.

Compares llmcodec.tokenizer.AudioTokenMap with doing the same through the extended tokenizer.
Run:  python benchmarks/bench_token_mapping.py [--n-codes 180000] [--repeats 3]
Uses the offline Qwen3 base (built and cached on first use; no network).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from llmcodec.tokenizer import AudioTokenMap, extend_tokenizer
from timing import best_of_with_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-codes", type=int, default=180_000, help="codes to map (default: 1 h at 50 codes/s)")
    parser.add_argument("--repeats", type=int, default=3, help="best-of repeats per measurement")
    args = parser.parse_args()

    tokenizer, _ = extend_tokenizer("offline")
    amap = AudioTokenMap.from_tokenizer(tokenizer)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, amap.n_codes, size=args.n_codes, dtype=np.int64)
    codes_t = torch.from_numpy(codes)
    ids = amap.codes_to_ids(codes)
    text = amap.codes_to_text(codes)
    r = args.repeats

    rows = []  # (direction, fast seconds, tokenizer seconds)
    t_fast, out = best_of_with_result(lambda: amap.codes_to_ids(codes), r)
    t_tok, ref = best_of_with_result(lambda: tokenizer.convert_tokens_to_ids(list(amap._strings[codes])), r)
    assert np.array_equal(out, ref)
    rows.append(("codes -> ids (numpy)", t_fast, t_tok))
    t_fast, out = best_of_with_result(lambda: amap.codes_to_ids(codes_t), r)
    rows.append(("codes -> ids (torch)", t_fast, t_tok))
    t_fast, out = best_of_with_result(lambda: amap.ids_to_codes(ids), r)
    t_tok, ref = best_of_with_result(
        lambda: [int(t[len(amap.prefix) : -1]) for t in tokenizer.convert_ids_to_tokens(ids.tolist())], r
    )
    assert np.array_equal(out, ref)
    rows.append(("ids -> codes", t_fast, t_tok))
    t_fast, out = best_of_with_result(lambda: amap.codes_to_text(codes), r)
    t_tok, ref = best_of_with_result(lambda: tokenizer.decode(ids.tolist()), r)
    assert out == ref
    rows.append(("codes -> text", t_fast, t_tok))
    t_fast, out = best_of_with_result(lambda: amap.text_to_codes(text), r)
    t_tok, ref = best_of_with_result(lambda: np.asarray(tokenizer(text, add_special_tokens=False).input_ids) - amap.first_id, r)
    assert np.array_equal(out, ref)
    rows.append(("text -> codes", t_fast, t_tok))

    print(f"{args.n_codes:,} codes, best of {r}")
    print(f"{'direction':<22}{'AudioTokenMap':>15}{'tokenizer':>12}{'speed-up':>10}")
    for name, fast, tok in rows:
        print(f"{name:<22}{fast * 1e3:>12.1f} ms{tok * 1e3:>9.1f} ms{tok / fast:>9.0f}x")
    dirs = [rows[0], rows[2], rows[3], rows[4]]
    total_fast, total_tok = sum(x[1] for x in dirs), sum(x[2] for x in dirs)
    print(f"{'total (4 directions)':<22}{total_fast * 1e3:>12.1f} ms{total_tok * 1e3:>9.1f} ms{total_tok / total_fast:>9.0f}x")


if __name__ == "__main__":
    main()
