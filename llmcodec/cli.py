"""The ``llmcodec`` console script, and the one convention every subcommand follows.

Each family of subcommands lives in its own module exposing ``add_subcommands(subparsers)``; this file
only wires them together so that the modules stay independent. A module registers every command with
`llmcodec.cli_options.add_command`, which binds the function that runs it; that function's docstring is the
command's ``--help`` description (a command with actions, such as ``corpus``, is made by `add_command_group`).
Building the parser imports no torch (`llmcodec --help` stays fast): subcommand modules import heavy libraries
inside their functions.

Options (added with the helpers of `llmcodec.cli_options`, so they read the same everywhere):
    --model MODEL       the codec: an exported folder, a raw llm-codec.pt / auv.pt or a Hub repo id
                        (default: $LLMCODEC_MODEL, else the bundled default model). Never --codec.
    --output-dir DIR    where a command writes (created if missing). Never --output or a positional output.
    --device DEVICE     a torch device; the default is cpu for every command.
    --overwrite         replace outputs that exist; without it a command never replaces a file it did not
                        write in this run, and never an input or a folder that holds an input.
    --skip-existing     (file commands) keep outputs that exist and do only what is missing.
    Counts are integers >= 1 and durations finite seconds, checked by the argparse types of cli_options.
    An old spelling kept for existing scripts is hidden from --help and warns that it is deprecated.

Errors: a command raises `llmcodec.errors.UserError` (or OSError / ValueError) for anything the user can fix;
it is printed as one line `llmcodec: error: ...` (the traceback only with `--debug`). A command never
prints its own `error:` line.

Exit status:
    0    success
    1    some input files failed (each reported as `failed: FILE: reason`, the rest done)
    2    the command was refused (bad option, missing model, unwritable output ...), nothing or little done
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from llmcodec.errors import UserError

# Exceptions that mean "the user's input or environment is wrong", reported in one line without a traceback.
USER_ERRORS = (UserError, OSError, ValueError)

# Modules that contribute subcommands, imported lazily so `llmcodec --help` stays fast.
SUBCOMMAND_MODULES = [
    "llmcodec.cli_codec",
    "llmcodec.cli_data",
    "llmcodec.cli_demo",
    "llmcodec.cli_export",
    "llmcodec.cli_evaluation",
    "llmcodec.cli_generate",
    "llmcodec.cli_onnx",
    "llmcodec.cli_tokenize_audio",
    "llmcodec.cli_tokenizer",
    "llmcodec.cli_train",
]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (the usage is one `--help` away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llmcodec",
        description="LLM-Codec: encode, decode and convert audio with an LLM-friendly neural codec.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback when a command fails")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_subcommands(subparsers)
    return parser


def _one_line_warnings(previous):
    """A `warnings.showwarning` that prints our own warnings (suspicious audio, slow precision) in one line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if category.__module__.startswith("llmcodec."):
            from tqdm import tqdm  # its write() keeps the line apart from a running progress bar

            tqdm.write(f"llmcodec: warning: {message}", file=sys.stderr)
        else:
            previous(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous_show_warning = warnings.showwarning
    warnings.showwarning = _one_line_warnings(previous_show_warning)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(f"llmcodec: error: {error or type(error).__name__}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = previous_show_warning
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
