"""``llmcodec train``: the command that runs the LLM-Codec training recipe (what it does: `_cmd_train`).

``-h`` / ``--help`` lists the fields of the training arguments rather than this parser's own options, since
every field is an option of the command.
"""

from __future__ import annotations

import argparse
import inspect
import sys


class _FieldsHelp(argparse.Action):
    """``-h`` / ``--help`` before CONFIG: the help of every training field, with their defaults."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        _print_fields_help(None)
        parser.exit()


def _print_fields_help(config: str | None) -> None:
    """Every field of the three argument classes with its help; with ``config``, its values as the defaults."""
    from llmcodec.training.trainer.argument_parsing import TrainingArgumentParser, read_config_file

    parser = TrainingArgumentParser(description=inspect.getdoc(_cmd_train))
    if config is not None:
        parser.set_defaults(**read_config_file(config))
    parser.print_help()


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train``."""
    from llmcodec.cli_options import add_command

    train = add_command(
        subparsers, "train", _cmd_train,
        help="train the codec against a frozen LM (recipe: FTP, SA, Gumbel bridge, GAN)",
        formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False,
    )
    train.add_argument("-h", "--help", action=_FieldsHelp, help="list every training field with its help")
    train.add_argument("config", metavar="CONFIG.yaml")
    train.add_argument("overrides", nargs=argparse.REMAINDER, metavar="--field value",
                       help="override any field of the config; also --resume [CHECKPOINT] and --print-config")


def _cmd_train(args: argparse.Namespace) -> int:
    """``llmcodec train CONFIG.yaml [--field value ...]``: run the LLM-Codec training recipe.

    The YAML file holds fields of ``ModelArguments``, ``DataArguments`` and ``LLMCodecTrainingArguments`` (the
    recipe knobs plus any ``transformers.TrainingArguments`` field); ``--field value`` overrides one of them, read
    with the field's type by ``HfArgumentParser`` (``--max_steps 10``, ``--lr_codec 1e-4``, ``--report_to
    tensorboard``, ``--disc_channels 4 8 8 16 16``, ``--codec_config '{hidden_size: 64}'``). ``llmcodec train
    CONFIG.yaml --help`` lists every field with its help and the config's value. ``--resume [CHECKPOINT]`` continues
    a run (the newest complete checkpoint of ``output_dir`` without a path); an ``output_dir`` holding a previous
    run is refused otherwise, unless ``--overwrite_output_dir``. ``--print-config`` prints the resolved arguments.
    Works under ``accelerate launch`` (``python -m llmcodec.cli train …``).
    """
    from llmcodec.training.trainer.argument_parsing import parse_training_command_line

    if any(token in ("-h", "--help") for token in args.overrides):
        _print_fields_help(args.config)
        return 0
    model_args, data_args, targs, options = parse_training_command_line(args.config, args.overrides)
    if options.print_config:
        import dataclasses
        import json

        print(json.dumps({"model": dataclasses.asdict(model_args), "data": dataclasses.asdict(data_args),
                          "training": json.loads(targs.to_json_string())}, indent=2))
        return 0
    from llmcodec.training.trainer import run_training

    trainer = run_training(model_args, data_args, targs, resume_from_checkpoint=options.resume)
    if trainer.is_world_process_zero():
        exported = f"; exported to {targs.output_dir}/export" if targs.export_at_end else ""
        print(f"done: {trainer.state.global_step} steps on {trainer.accelerator.num_processes} process(es) "
              f"({trainer.accelerator.distributed_type}); output in {targs.output_dir}{exported}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m llmcodec.cli_train CONFIG.yaml [--field value ...]``."""
    from llmcodec.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])
