"""The options every `llmcodec` command spells the same way (the convention is documented in `llmcodec.cli`).

`add_command` (a subcommand and the function that runs it), `add_command_group` (a command with actions),
`add_model_option`, `add_output_dir_option`, `add_device_option`, `add_overwrite_option`, `add_data_options` and
the argparse types `positive_int`, `non_negative_int`, `finite_float`, `non_negative_seconds`, `positive_seconds`.
Nothing here imports torch: building the parser must stay fast (`llmcodec --help`).
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
from pathlib import Path

from llmcodec.errors import ModelLoadError, UserError

# The bundled model, the default `--model` (after $LLMCODEC_MODEL).
DEFAULT_MODEL_DIR = Path(__file__).parent / "assets" / "default-model"
DEFAULT_DEVICE = "cpu"
MODEL_HELP = (
    "exported folder, raw llm-codec.pt / auv.pt, or Hub repo id (default: $LLMCODEC_MODEL, else the bundled "
    "default model)"
)


def resolve_model_spec(spec: str | None) -> str:
    """`--model`, else $LLMCODEC_MODEL, else the bundled default model."""
    if spec:
        return spec
    if os.environ.get("LLMCODEC_MODEL"):
        return os.environ["LLMCODEC_MODEL"]
    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        return str(DEFAULT_MODEL_DIR)
    raise ModelLoadError(
        "no model given and no default model is bundled with this install; pass --model "
        "(an exported folder, a raw llm-codec.pt / auv.pt, or a Hub repo id) or set LLMCODEC_MODEL"
    )


# ----------------------------------------------------------------------------------------- argparse types


def _integer(text: str, minimum: int) -> int:
    """An integer >= `minimum` parsed from `text`, else ArgumentTypeError."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _integer(text, minimum=1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _integer(text, minimum=0)


def finite_float(minimum: float | None = None, maximum: float | None = None, *, exclusive_minimum: bool = False):
    """argparse type factory: a finite number in ``[minimum, maximum]`` (``(minimum, ...`` when exclusive)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        low_ok = minimum is None or (value > minimum if exclusive_minimum else value >= minimum)
        if not math.isfinite(value) or not low_ok or (maximum is not None and value > maximum):
            low = "" if minimum is None else f"{'>' if exclusive_minimum else '>='} {minimum:g}"
            high = "" if maximum is None else f"<= {maximum:g}"
            bounds = " and ".join(b for b in (low, high) if b)
            raise argparse.ArgumentTypeError(f"must be a finite number{' ' + bounds if bounds else ''}, got {text!r}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def _seconds(text: str, allow_zero: bool) -> float:
    """A finite number of seconds > 0 (>= 0 with `allow_zero`) parsed from `text`, else ArgumentTypeError."""
    bound = ">= 0" if allow_zero else "> 0"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds {bound}, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0."""
    return _seconds(text, allow_zero=True)


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    return _seconds(text, allow_zero=False)


# ----------------------------------------------------------------------------------------------- commands


def add_command(
    subparsers: argparse._SubParsersAction, name: str, handler, *, help: str, **parser_options
) -> argparse.ArgumentParser:
    """The subcommand `name`, run by `handler(args) -> exit status`; returns its parser for the options.

    `help` is its line in `llmcodec --help`; its own `--help` page describes it with the handler's docstring
    (argparse refills the text), so what a command does is written once, beside the code that does it.
    `parser_options` go to the parser (`formatter_class`, `add_help`).
    """
    parser = subparsers.add_parser(name, help=help, description=inspect.getdoc(handler) or help, **parser_options)
    parser.set_defaults(func=handler)
    return parser


def add_command_group(subparsers: argparse._SubParsersAction, name: str, *, help: str) -> argparse._SubParsersAction:
    """``llmcodec NAME ACTION ...``: registers NAME and returns the holder of its actions (one is required),
    each added with `add_command`."""
    group = subparsers.add_parser(name, help=help)
    actions = group.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return actions


# ------------------------------------------------------------------------------------------------ options


def _add_with_aliases(parser, option: str, aliases, *, required: bool, **kwargs):
    """`option` with hidden deprecated `aliases` (same `dest`, absent from --help, still accepted so that
    existing scripts run); a required option then needs one of them (an argparse group)."""
    target = parser
    if required and aliases:
        target = parser.add_mutually_exclusive_group(required=True)
        required = False
    action = target.add_argument(option, required=required, **kwargs)
    for alias in aliases:
        target.add_argument(
            alias, dest=action.dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, metavar=action.metavar
        )
    return action


def add_model_option(parser, *, required: bool = False, help: str = MODEL_HELP, deprecated_aliases=()) -> None:
    """`--model`: the codec (an exported folder, a raw .pt or a Hub id); default resolved by `resolve_model_spec`."""
    _add_with_aliases(parser, "--model", deprecated_aliases, required=required, default=None, help=help)


def add_output_dir_option(
    parser, *, required: bool = True, default: str | None = None, help: str = "folder for the outputs",
    deprecated_aliases=(), metavar: str = "DIR",
) -> None:
    """`--output-dir`: where a command writes (created if missing)."""
    if default is not None:
        help = f"{help} (default: {default})"
    _add_with_aliases(
        parser, "--output-dir", deprecated_aliases, required=required and default is None, default=default,
        metavar=metavar, help=help,
    )


def add_legacy_output_positional(parser) -> None:
    """A hidden optional positional OUTPUT_DIR, the old spelling of `--output-dir` (see `take_legacy_output`)."""
    parser.add_argument("legacy_output_dir", nargs="?", default=None, help=argparse.SUPPRESS)


def take_legacy_output(args) -> None:
    """Moves a positional OUTPUT_DIR (deprecated, hidden) into `args.output_dir`; requires exactly one of the two."""
    legacy = getattr(args, "legacy_output_dir", None)
    if legacy is not None:
        if args.output_dir is not None:
            raise UserError(f"give the output folder once: --output-dir {args.output_dir} or {legacy}, not both")
        args.output_dir = legacy
    if args.output_dir is None:
        raise UserError("the following arguments are required: --output-dir")


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--data`` / ``--dataset`` and the dataset's columns (evaluate, token-lm, salmon, paired-tests, code-agreement)."""
    parser.add_argument("--data", default=None, help="folder of audio files (recursive; domain = first sub-folder)")
    parser.add_argument("--dataset", default=None,
                        help="HF dataset: a save_to_disk folder, a folder of data files or a Hub id (loading scripts are never run)")
    parser.add_argument("--split", default=None, help="dataset split")
    parser.add_argument("--audio-column", default="audio")
    parser.add_argument("--domain-column", default=None, help="column giving each row's domain / split folder")
    parser.add_argument("--id-column", default=None, help="column with unique ids (default: the row index)")


def add_device_option(parser, *, default: str = DEFAULT_DEVICE, help: str | None = None) -> None:
    """`--device`: the torch device (default: cpu)."""
    parser.add_argument("--device", default=default, help=help or f"torch device, e.g. cpu, cuda, cuda:1 (default: {default})")


def add_overwrite_option(parser, *, help: str = "replace outputs that already exist") -> None:
    """`--overwrite`: replace existing outputs (never an input)."""
    parser.add_argument("--overwrite", action="store_true", help=help)


def check_device(name: str) -> None:
    """Raises `UserError` for a `--device` that is not a torch device, or CUDA where there is none."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UserError(f"--device {name!r} is not a torch device ({error})") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
