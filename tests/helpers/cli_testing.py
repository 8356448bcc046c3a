"""Helpers for CLI tests: the exit status of `llmcodec ARGV`, whether it returns or argparse exits."""

from __future__ import annotations

from llmcodec.cli import main


def exit_status(argv: list[str]) -> int:
    """`llmcodec ARGV`'s exit status (argparse's own errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code
