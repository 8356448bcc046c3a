"""Training arguments from a YAML config file plus command-line overrides, with ``HfArgumentParser``.

The config is one flat mapping of the fields of ``ModelArguments``, ``DataArguments`` and
``LLMCodecTrainingArguments``; its values become the parser's defaults and ``--field value`` overrides them, with
the types of the fields (``--max_steps 10``, ``--lr_codec 1e-4``, ``--disc_channels 4 8 8 16 16``,
``--enable_gan false``, ``--codec_config '{hidden_size: 64}'``). ``TrainingArgumentParser().print_help()`` lists
every field with its help and the config's value. Every problem (a YAML syntax error, a refused ``!!python`` tag,
an unknown key, a value of the wrong type) is one line: :class:`~llmcodec.errors.UserError` or ``ValueError``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from transformers import HfArgumentParser

from llmcodec.errors import UserError
from llmcodec.training.trainer.arguments import DataArguments, LLMCodecTrainingArguments, ModelArguments

__all__ = ["TrainingArgumentParser", "load_training_arguments", "parse_training_arguments",
           "parse_training_command_line", "read_config_file"]

ARGUMENT_CLASSES = (ModelArguments, DataArguments, LLMCodecTrainingArguments)


class TrainingArgumentParser(HfArgumentParser):
    """``HfArgumentParser`` over the three argument classes, plus ``--resume`` and ``--print-config``; its errors
    raise :class:`UserError` (one line) instead of printing the usage and exiting."""

    def __init__(self, prog: str = "llmcodec train CONFIG.yaml", description: str | None = None) -> None:
        super().__init__(ARGUMENT_CLASSES, prog=prog, description=description, allow_abbrev=False)
        run = self.add_argument_group("the run")
        run.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                         help="continue from CHECKPOINT, or without a path from the newest complete checkpoint of "
                              "output_dir")
        run.add_argument("--print-config", "--print_config", action="store_true",
                         help="print the resolved arguments as JSON and exit")

    def error(self, message: str) -> None:  # argparse would print the usage and exit
        raise UserError(f"{message} (see llmcodec train CONFIG.yaml --help)")


def field_names() -> set[str]:
    return {f.name for cls in ARGUMENT_CLASSES for f in dataclasses.fields(cls) if f.init}


def _check_known(values: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(values) - field_names())
    if unknown:
        raise ValueError(f"unknown training argument(s) {where}: {', '.join(unknown)} (see ModelArguments, "
                         "DataArguments and LLMCodecTrainingArguments, or llmcodec train CONFIG.yaml --help)")


def read_config_file(path: str) -> dict[str, Any]:
    """The mapping of a YAML config (``yaml.safe_load``: plain values only, never Python objects)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            values = yaml.safe_load(fh)
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read the config {path}: {error}") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path}: {_yaml_problem(error)}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserError(f"{path} must hold a mapping of argument names to values, not a {type(values).__name__}")
    return values


def _yaml_problem(error: Exception) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    problem = " ".join(str(getattr(error, "problem", None) or error).split())
    tag = re.search(r"'(tag:yaml\.org,2002:python/[^']*)'", problem)
    if tag:
        return (f"the tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')} is refused{where}: a config holds plain "
                "values (numbers, strings, lists, mappings), never Python objects")
    return f"not valid YAML{where}: {problem}"


def parse_training_command_line(config: str | None, argv: Sequence[str] = (), values: Mapping[str, Any] | None = None,
                                 ) -> tuple[ModelArguments, DataArguments, LLMCodecTrainingArguments, argparse.Namespace]:
    """``config`` (a YAML file, or None) + ``values`` (Python values, e.g. from a script) + ``argv`` (``--field value``
    strings), each overriding the one before -> the three argument sets and the run options (``resume``,
    ``print_config``)."""
    file_values = read_config_file(config) if config is not None else {}
    _check_known(file_values, f"in {config}")
    _check_known(values or {}, "given")
    parser = TrainingArgumentParser()
    parser.set_defaults(**{**file_values, **(values or {})})
    *parsed, options, remaining = parser.parse_args_into_dataclasses(
        list(argv), return_remaining_strings=True, look_for_args_file=False)
    if remaining:
        raise UserError(f"unknown training argument(s): {' '.join(remaining)} (see llmcodec train CONFIG.yaml --help)")
    model_args, data_args, training_args = parsed
    return model_args, data_args, training_args, options


def load_training_arguments(config: str, overrides: Mapping[str, Any] | Sequence[str] | None = None,
                            ) -> tuple[ModelArguments, DataArguments, LLMCodecTrainingArguments]:
    """``config`` + overrides (a mapping of Python values, or ``--field value`` strings) -> the three argument sets."""
    if isinstance(overrides, Mapping):
        return parse_training_command_line(config, (), overrides)[:3]
    return parse_training_command_line(config, overrides or ())[:3]


def parse_training_arguments(values: Mapping[str, Any]) -> tuple[ModelArguments, DataArguments, LLMCodecTrainingArguments]:
    """One flat mapping of field names (Python values) -> ``(ModelArguments, DataArguments, LLMCodecTrainingArguments)``.

    Unknown names raise ``ValueError`` naming them."""
    _check_known(values, "given")
    return HfArgumentParser(ARGUMENT_CLASSES).parse_dict(dict(values), allow_extra_keys=False)
