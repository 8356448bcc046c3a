"""llmcodec.cli_options: the shared options read the same everywhere; old spellings stay hidden but work."""

import argparse

import pytest

from llmcodec.cli_options import (
    add_command,
    add_device_option,
    add_legacy_output_positional,
    add_model_option,
    add_output_dir_option,
    finite_float,
    non_negative_int,
    non_negative_seconds,
    positive_int,
    positive_seconds,
    take_legacy_output,
)
from llmcodec.errors import UserError


def _parser(**output):
    parser = argparse.ArgumentParser(prog="x")
    add_model_option(parser, required=True, deprecated_aliases=("--codec",))
    add_output_dir_option(parser, deprecated_aliases=("--output",), **output)
    add_device_option(parser)
    return parser


def test_deprecated_aliases_work_and_stay_out_of_the_help(capsys):
    args = _parser().parse_args(["--codec", "m", "--output", "o"])
    assert (args.model, args.output_dir, args.device) == ("m", "o", "cpu")
    args = _parser().parse_args(["--model", "m", "--output-dir", "o"])
    assert (args.model, args.output_dir) == ("m", "o")
    help_text = _parser().format_help()
    assert "--model" in help_text and "--output-dir" in help_text and "--codec" not in help_text and "--output " not in help_text
    with pytest.raises(SystemExit):
        _parser().parse_args(["--output-dir", "o"])  # --model (or its alias) is required
    assert "--model" in capsys.readouterr().err


def test_legacy_positional_output():
    parser = argparse.ArgumentParser()
    add_legacy_output_positional(parser)
    add_output_dir_option(parser, required=False)
    args = parser.parse_args(["old"])
    take_legacy_output(args)
    assert args.output_dir == "old"
    for argv, message in ((["old", "--output-dir", "new"], "not both"), ([], "required: --output-dir")):
        args = parser.parse_args(argv)
        with pytest.raises(UserError, match=message):
            take_legacy_output(args)


@pytest.mark.parametrize("kind, good, bad", [
    (positive_int, {"1": 1, "12": 12}, ["0", "-3", "1.5", "x"]),
    (non_negative_int, {"0": 0, "7": 7}, ["-1", "1.5", "x"]),
    (finite_float(0, 1, exclusive_minimum=True), {"0.5": 0.5, "1": 1.0}, ["0", "1.5", "nan", "x"]),
    (non_negative_seconds, {"0": 0.0, "2.5": 2.5}, ["-1", "nan", "inf", "x"]),
    (positive_seconds, {"0.1": 0.1}, ["0", "-1", "nan", "inf"]),
])
def test_argparse_types(kind, good, bad):
    assert {text: kind(text) for text in good} == good
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
            kind(text)


def _documented(args):
    """Says what the command does
    over two lines."""
    return 0


def test_add_command_runs_the_handler_and_describes_the_command_with_its_docstring():
    parser = argparse.ArgumentParser(prog="x")
    subparsers = parser.add_subparsers(dest="command")
    add_command(subparsers, "documented", _documented, help="one line")
    add_command(subparsers, "bare", lambda args: 1, help="the bare command")
    assert parser.parse_args(["documented"]).func is _documented
    assert parser.parse_args(["bare"]).func(None) == 1
    pages = subparsers.choices
    assert pages["documented"].description == "Says what the command does\nover two lines."
    assert "Says what the command does over two lines." in pages["documented"].format_help()  # refilled
    assert pages["bare"].description == "the bare command"  # no docstring: the help line
    assert "one line" in parser.format_help()


@pytest.mark.parametrize("command", ["metrics", "evaluate", "token-stability", "token-lm", "salmon", "paired-tests",
                                     "code-agreement", "export-onnx", "tokenize-audio"])
def test_llmcodec_commands_are_described_by_their_handlers(command):
    import inspect

    from llmcodec.cli import build_parser

    page = build_parser()._subparsers._group_actions[0].choices[command]
    handler = page.get_default("func")
    assert callable(handler) and len(page.description) > 40
    assert page.description == inspect.getdoc(handler)
