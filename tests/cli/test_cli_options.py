"""llmcodec.cli_options: the shared options read the same everywhere; old spellings stay hidden but work."""

import argparse

import pytest

from llmcodec.cli_options import (
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
