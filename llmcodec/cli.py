"""The ``llmcodec`` console script.

Each family of subcommands lives in its own module exposing ``add_subcommands(subparsers)``; this file
only wires them together so that the modules stay independent.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute subcommands, imported lazily so `llmcodec --help` stays fast.
SUBCOMMAND_MODULES = [
    "llmcodec.cli_codec",
    "llmcodec.cli_data",
    "llmcodec.cli_demo",
    "llmcodec.cli_evaluation",
    "llmcodec.cli_tokenizer",
    "llmcodec.cli_train",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmcodec",
        description="LLM-Codec: encode, decode and convert audio with an LLM-friendly neural codec.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_subcommands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
