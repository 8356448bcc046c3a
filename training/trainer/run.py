"""``run_training``: build everything from the arguments, train, export."""

from __future__ import annotations

import torch

from llmcodec.training.trainer.arguments import DataArguments, LLMCodecTrainingArguments, ModelArguments
from llmcodec.training.trainer.builders import TrainingComponents, build_components
from llmcodec.training.trainer.llmcodec_trainer import LLMCodecTrainer


def run_training(model_args: ModelArguments, data_args: DataArguments, args: LLMCodecTrainingArguments,
                 resume_from_checkpoint: str | bool | None = None, components: TrainingComponents | None = None) -> LLMCodecTrainer:
    """Build everything from the three argument sets, train, export (``export_at_end``). Returns the trainer."""
    if args.torch_num_threads:
        torch.set_num_threads(args.torch_num_threads)
    components = components or build_components(model_args, data_args, args)
    trainer = components.trainer(args)
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    if args.export_at_end:
        trainer.export()
    return trainer
