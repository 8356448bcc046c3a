"""``llmcodec corpus …`` subcommands: build the offline synthetic speech corpus, collect the recorded one.

A command that cannot run (no synthesizer or recorded source installed, a bad option) is one line
``llmcodec: error: ...`` (exit status 2); a build that wrote nothing exits 1."""

from __future__ import annotations

import argparse
import json
import sys

from llmcodec.errors import UserError


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``corpus build``, ``corpus recorded`` and ``corpus voices``."""
    from llmcodec.cli_options import add_command, add_command_group
    from llmcodec.training.data.corpus.synthesis import DEFAULT_VALIDATION_SPEAKERS, CorpusConfig
    from llmcodec.training.data.corpus.voices import ENGINES

    defaults = CorpusConfig()
    sub = add_command_group(subparsers, "corpus", help="offline synthetic speech corpus (espeak-ng, flite, festival)")

    build = add_command(sub, "build", _cmd_build, help="synthesize the corpus into OUT_DIR (cached, resumable)")
    build.add_argument("out_dir", metavar="OUT_DIR")
    build.add_argument("--utterances-per-voice", type=int, default=defaults.utterances_per_voice,
                       help="utterances per espeak-ng voice; flite/festival voices get --weight times as many "
                            f"(default {defaults.utterances_per_voice})")
    build.add_argument("--seed", type=int, default=defaults.seed)
    build.add_argument("--workers", type=int, default=1, help="synthesis processes (default 1)")
    build.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    build.add_argument("--weight", action="append", default=[], metavar="ENGINE=K",
                       help=f"utterance multiplier per engine (default {defaults.engine_weights})")
    build.add_argument("--validation-speakers", nargs="+", default=list(DEFAULT_VALIDATION_SPEAKERS),
                       help="speakers (timbre groups) held out for validation")
    build.add_argument("--max-voices", type=int, default=None, help="use only N voices, spread over engines")

    from llmcodec.training.data.corpus.recorded import DEFAULT_VALIDATION_SOURCES, SOURCES

    recorded = add_command(sub, "recorded", _cmd_recorded, help="real recorded speech from installed packages into "
                           "OUT_DIR (game dialogue and voice packs, spoken words and letters in ~30 languages, "
                           "telephone prompts; resumable)")
    recorded.add_argument("out_dir", metavar="OUT_DIR")
    recorded.add_argument("--sources", nargs="+", choices=[s.name for s in SOURCES], default=None,
                          help="default: every installed source")
    recorded.add_argument("--validation-sources", nargs="+", default=list(DEFAULT_VALIDATION_SOURCES),
                          help="sources or SOURCE:SPEAKER ids (klettres:fr, hedgewars:British) held out for "
                               "validation, with every speaker who may be the same person")
    recorded.add_argument("--max-files-per-source", type=int, default=None)

    voices = add_command(sub, "voices", _cmd_voices, help="list the voices that work on this machine")
    voices.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    voices.add_argument("--workers", type=int, default=1)


def _cmd_build(args: argparse.Namespace) -> int:
    from llmcodec.training.data.corpus.synthesis import CorpusConfig, build_corpus
    from llmcodec.training.data.corpus.voices import SynthesisError

    cfg = CorpusConfig(
        utterances_per_voice=args.utterances_per_voice, seed=args.seed, engines=tuple(args.engines),
        validation_speakers=tuple(args.validation_speakers), max_voices=args.max_voices,
    )
    for item in args.weight:
        engine, _, k = item.partition("=")
        if engine not in cfg.engine_weights or not k.isdigit():
            raise UserError(f"--weight expects ENGINE=K with ENGINE in {list(cfg.engine_weights)}, got {item!r}")
        cfg.engine_weights[engine] = int(k)
    try:
        report = build_corpus(args.out_dir, cfg, workers=args.workers)
    except SynthesisError as e:  # no synthesizer installed, no working voice
        raise UserError(str(e)) from e
    hours = ", ".join(f"{k} {v:.2f} h" for k, v in sorted(report.hours_of_audio.items()))
    print(f"{len(report.voices_ok)} voices ({len(report.voices_failed)} failed the probe); "
          f"{report.written} written, {report.skipped_existing} cached, {len(report.failed)} failed; "
          f"{hours}; {report.seconds:.1f} s -> {report.out_dir}")
    for key, err in list(report.failed.items())[:5]:
        print(f"  failed {key}: {err}", file=sys.stderr)
    return 0 if report.total else 1


def _cmd_recorded(args: argparse.Namespace) -> int:
    from llmcodec.training.data.corpus.recorded import build_recorded_corpus

    try:
        report = build_recorded_corpus(args.out_dir, args.sources, args.validation_sources, args.max_files_per_source)
    except (RuntimeError, ValueError) as e:  # no source installed, an unknown validation source
        raise UserError(str(e)) from e
    for name, info in report.sources.items():
        print(f"{name}: {info['files']} files, {info['hours']:.2f} h, {info['split']}, {info['licence']} "
              f"({info['package']})")
    for name, hint in report.missing_sources.items():
        print(f"{name}: not installed ({hint})", file=sys.stderr)
    for path, err in list(report.failed.items())[:5]:
        print(f"  failed {path}: {err}", file=sys.stderr)
    print(f"{report.written} written, {report.skipped_existing} cached, {len(report.failed)} failed; "
          f"{report.seconds:.1f} s -> {report.out_dir}")
    return 0 if report.total else 1


def _cmd_voices(args: argparse.Namespace) -> int:
    from llmcodec.training.data.corpus.synthesis import working_voices
    from llmcodec.training.data.corpus.voices import SynthesisError

    try:
        ok, failed = working_voices(args.engines, workers=args.workers)
    except SynthesisError as e:
        raise UserError(str(e)) from e
    for v in ok:
        print(f"{v.key}\t{v.speaker}")
    if failed:
        print(json.dumps(failed, indent=1), file=sys.stderr)
    print(f"{len(ok)} working, {len(failed)} failed", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the corpus subcommands alone (``python -m llmcodec.cli_data build OUT``): ``llmcodec corpus ...``."""
    from llmcodec.cli import main as cli_main

    return cli_main(["corpus", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
