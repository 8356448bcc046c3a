"""``run_training``: build everything from the arguments, train, export."""

from __future__ import annotations

import torch

from llmcodec.training.trainer.arguments import DataArguments, LLMCodecTrainingArguments, ModelArguments
from llmcodec.training.trainer.checkpoint_files import refuse_previous_run
from llmcodec.training.trainer.builders import TrainingComponents, build_components
from llmcodec.training.trainer.llmcodec_trainer import LLMCodecTrainer


def run_training(model_args: ModelArguments, data_args: DataArguments, args: LLMCodecTrainingArguments,
                 resume_from_checkpoint: str | bool | None = None, components: TrainingComponents | None = None) -> LLMCodecTrainer:
    """Build everything from the three argument sets, train, export (``export_at_end``). Returns the trainer.

    ``resume_from_checkpoint``: a checkpoint folder, or True for the newest complete one in ``output_dir``; without
    it an ``output_dir`` holding a previous run is refused unless ``overwrite_output_dir``. Raises
    ``TrainingSetupError`` (one line) for a bad setup, a damaged checkpoint, or weights that diverged (nothing
    is exported then)."""
    if resume_from_checkpoint is None or resume_from_checkpoint is False:
        refuse_previous_run(args.output_dir, args.overwrite_output_dir)  # before minutes of loading
    if args.torch_num_threads:
        torch.set_num_threads(args.torch_num_threads)
    components = components or build_components(model_args, data_args, args)
    trainer = components.trainer(args)
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    if args.export_at_end:
        trainer.export()
    return trainer
