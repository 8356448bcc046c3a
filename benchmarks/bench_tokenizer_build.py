"""Benchmark: building the offline Qwen3 tokenizer (first use, uncached) against loading the built one.

The build (rank file -> merges -> tokenizer.json) runs once per machine and is then cached; it should stay a
small multiple of simply loading the result (the baseline, measured in the same run, so the ratio does not
depend on the machine). The tests check the build's output and caching, not its speed.
Run:  python benchmarks/bench_tokenizer_build.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from llmcodec.tokenizer import qwen_offline
from timing import best_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="best-of repeats per measurement")
    args = parser.parse_args()
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="bench-qwen-build-") as tmp:
        folders = iter(Path(tmp) / f"build{i}" for i in range(args.repeats))
        build = best_of(lambda: qwen_offline.build_offline_qwen3_folder(next(folders)), args.repeats)
        built = Path(tmp) / "build0"
        load_fast = best_of(lambda: Tokenizer.from_file(str(built / "tokenizer.json")), args.repeats)
        load_auto = best_of(lambda: AutoTokenizer.from_pretrained(built), args.repeats)
    print(f"best of {args.repeats}")
    print(f"{'step':<44}{'seconds':>9}{'x load':>9}")
    for name, seconds in (
        ("build from the rank file (uncached)", build),
        ("baseline: tokenizers.Tokenizer.from_file", load_fast),
        ("AutoTokenizer.from_pretrained(built)", load_auto),
    ):
        print(f"{name:<44}{seconds:>9.2f}{seconds / load_fast:>8.1f}x")


if __name__ == "__main__":
    main()
