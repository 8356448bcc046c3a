"""The `llmcodec` command tree: every command is registered with `add_command`, run by the function bound to it and
described by that function's docstring."""

from __future__ import annotations

import argparse
import inspect

import pytest

from llmcodec import cli_codec, cli_generate, cli_train
from llmcodec.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, help line, parser) of every command below `parser`; a command with actions is not itself one."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, page in action.choices.items():
            if page._subparsers is not None:
                assert page.get_default("func") is None, (*path, name)
                yield from _commands(page, (*path, name))
            else:
                yield (*path, name), helps[name], page


def _page(*path: str) -> argparse.ArgumentParser:
    return {command: page for command, _, page in _commands(build_parser())}[path]


def test_every_command_is_run_by_its_handler_and_described_by_its_docstring():
    commands = list(_commands(build_parser()))
    assert len(commands) >= 20 and ("corpus", "build") in [path for path, _, _ in commands]
    for path, help_line, page in commands:
        handler = page.get_default("func")
        assert callable(handler), path
        # add_command's page: the handler's docstring, or the help line for a handler without one
        assert page.description == (inspect.getdoc(handler) or help_line), path


@pytest.mark.parametrize("path", [("generate",), ("train",), ("tokenizer", "build"), ("lm", "build")])
def test_commands_documented_by_their_handlers(path):
    page = _page(*path)
    assert len(page.description) > 80 and page.description == inspect.getdoc(page.get_default("func"))


def test_generate_description_names_the_file_it_writes():
    assert f"DIR/<prompt stem>{cli_generate.OUTPUT_SUFFIX}" in _page("generate").description
    assert _page("generate").formatter_class is argparse.ArgumentDefaultsHelpFormatter


def test_each_packaged_lm_is_described_with_its_own_spec():
    from llmcodec.cli_tokenizer import _cmd_lm_packaged
    from llmcodec.tokenizer.pretrained_offline import PACKAGED_LMS

    for name, spec in PACKAGED_LMS.items():
        page = _page("lm", name)
        assert page.get_default("packaged_name") == name
        assert page.get_default("func").__wrapped__ is _cmd_lm_packaged
        text = page.description
        assert "{" not in text and spec.description in text and spec.install_command in text, name


def test_file_commands_still_pass_chunk_seconds_zero_as_one_pass(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli_codec, "cmd_decode", lambda args: seen.setdefault("chunk", args.chunk_seconds) or 0)
    args = build_parser().parse_args(["decode", "a.npy", "--output-dir", "out", "--chunk-seconds", "0"])
    assert args.func(args) == 0 and seen == {"chunk": None}


def test_train_help_lists_the_fields_under_the_command_description(capsys):
    with pytest.raises(SystemExit) as exited:  # before CONFIG: the help action exits 0
        main(["train", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse refills the description
    assert " ".join(inspect.getdoc(cli_train._cmd_train).split()) in text
    assert "--max_steps" in text and "--lr_codec" in text and "--print-config" in text
