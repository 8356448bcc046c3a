"""``llmcodec train CONFIG.yaml [--key value ...]``: run the LLM-Codec training recipe.

The YAML file holds the fields of ``ModelArguments``, ``DataArguments`` and ``LLMCodecTrainingArguments``
(``llmcodec.training.trainer.arguments``: the recipe knobs plus any ``transformers.TrainingArguments`` field).
Each ``--key value`` override replaces one field; values are parsed as YAML (``--max_steps 10``,
``--report_to '[tensorboard]'``, ``--codec_config '{hidden_size: 64}'``). ``--resume [CHECKPOINT]`` resumes (the latest checkpoint in
``output_dir`` when no path is given). Works under ``accelerate launch`` (``python -m llmcodec.cli train …``).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train``."""
    train = subparsers.add_parser(
        "train", help="train the codec against a frozen LM (recipe: FTP, SA, Gumbel bridge, GAN)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("config", metavar="CONFIG.yaml")
    train.add_argument("overrides", nargs=argparse.REMAINDER, metavar="--key value",
                       help="override any argument of the config; also --resume [CHECKPOINT] (latest checkpoint "
                            "in output_dir without a path) and --print-config (print the resolved arguments, exit)")
    train.set_defaults(func=_cmd_train)


_SCI = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _coerce(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` as a string; read scientific notation as a float."""
    return float(value) if isinstance(value, str) and _SCI.fullmatch(value) else value


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """``["--a", "1", "--b=x", "--flag"]`` -> ``{"a": 1, "b": "x", "flag": True}`` (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) < 3:
            raise ValueError(f"expected --key value overrides, got {token!r}")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                value, i = tokens[i + 1], i + 1
            else:
                value = "true"
        # YAML 1.1 would turn no/yes/on/off into booleans (``--save_strategy no``); keep them as strings.
        parsed = value if value.lower() in ("no", "yes", "on", "off", "y", "n") else yaml.safe_load(value)
        out[key.replace("-", "_")] = _coerce(parsed)
        i += 1
    return out


def load_training_arguments(config: str, overrides: dict[str, Any] | None = None):
    """YAML file + overrides -> ``(ModelArguments, DataArguments, LLMCodecTrainingArguments)``, parsed with
    ``HfArgumentParser`` (unknown keys raise ``ValueError``)."""
    import yaml

    from llmcodec.training.trainer.arguments import parse_training_arguments

    with open(config) as fh:
        values = yaml.safe_load(fh) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{config} must hold a mapping of argument names to values")
    values = {k: _coerce(v) for k, v in values.items()}
    values.update(overrides or {})
    return parse_training_arguments(values)


def _cmd_train(args: argparse.Namespace) -> int:
    try:
        overrides = parse_overrides(args.overrides)
        resume = overrides.pop("resume", None)
        print_config = bool(overrides.pop("print_config", False))
        model_args, data_args, targs = load_training_arguments(args.config, overrides)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if print_config:
        import dataclasses
        import json

        print(json.dumps({"model": dataclasses.asdict(model_args), "data": dataclasses.asdict(data_args),
                          "training": json.loads(targs.to_json_string())}, indent=2))
        return 0
    from llmcodec.training.data.audio_dataset import DataError
    from llmcodec.training.trainer import TrainingSetupError, run_training

    try:
        trainer = run_training(model_args, data_args, targs, resume_from_checkpoint=resume)
    except (TrainingSetupError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if trainer.is_world_process_zero():
        print(f"done: {trainer.state.global_step} steps on {trainer.accelerator.num_processes} process(es) "
              f"({trainer.accelerator.distributed_type}); output in {targs.output_dir}")
    return 0
