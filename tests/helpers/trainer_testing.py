"""Tiny setups shared by the trainer tests (no tests here): codec hidden 32, 64 codes, tiny Qwen3, 0.5 s crops;
the tiny config file and the ``llmcodec train`` options that shrink it further."""

from __future__ import annotations

from typing import Any

from llmcodec.training.trainer import build_components
from llmcodec.training.trainer.argument_parsing import parse_training_arguments
from llmcodec.training.trainer.arguments import DataArguments, LLMCodecTrainingArguments, ModelArguments
from repo_paths import REPO_ROOT

TINY_CONFIG = str(REPO_ROOT / "configs" / "tiny-cpu.yaml")
# The tiny config on the in-memory fallback data, shrunk further for a test.
FAST = ["--dataset", "synthetic", "--synthetic_num_examples", "8", "--build_corpus_if_missing", "false",
        "--max_steps", "2", "--gradient_accumulation_steps", "2", "--per_device_train_batch_size", "1",
        "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--d_only_steps", "0",
        "--ftp_delay_steps", "0", "--sa_delay_steps", "0", "--torch_num_threads", "1",
        "--codec_config", "{hidden_size: 32, encoder_num_layers: 1, decoder_num_layers: 1, num_attention_heads: 2, "
        "head_dim: 16, conv_kernel_size: 7, codebook_size: 64, codebook_partitions: {speech: [0, 64]}}"]

TINY_CODEC = dict(hidden_size=32, encoder_num_layers=1, decoder_num_layers=1, num_attention_heads=2, head_dim=16,
                  conv_kernel_size=7, codebook_size=64, codebook_partitions={"speech": [0, 64]})


def tiny_args(output_dir: Any, **overrides: Any) -> tuple[ModelArguments, DataArguments, LLMCodecTrainingArguments]:
    """``(model_args, data_args, training_args)`` of the tiny setup with ``overrides`` (any field of the three)."""
    values = dict(
        output_dir=str(output_dir), codec_init="random", codec_config=dict(TINY_CODEC),
        lm_name_or_path="tiny-random-qwen3", tokenizer_name_or_path="offline", lm_dtype="float32",
        dataset="synthetic", synthetic_num_examples=8, segment_seconds=0.5, per_device_train_batch_size=2,
        gradient_accumulation_steps=2, max_steps=4, d_only_steps=0, ftp_delay_steps=0, ftp_ramp_steps=0,
        sa_delay_steps=0, sa_ramp_steps=1, sa_queue_size=8, lr_warmup_steps=0, lr_total_steps=1000, lr_codec=1e-3,
        lr_embed=1e-3, disc_channels=[4, 4, 8, 8, 8], r1_every=2, tau_steps=50, save_strategy="no", report_to=[],
        use_cpu=True, disable_tqdm=True, export_at_end=False, logging_steps=1,
    )
    values.update(overrides)
    return parse_training_arguments(values)


def tiny_trainer(tokenizer: Any, output_dir: Any, **overrides: Any):
    """An ``LLMCodecTrainer`` over the tiny setup (``overrides``: any argument of the three)."""
    model_args, data_args, args = tiny_args(output_dir, **overrides)
    return build_components(model_args, data_args, args, tokenizer=tokenizer).trainer(args)
