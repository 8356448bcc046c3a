"""The LLM-Codec trainer: arguments, the training module, ``LLMCodecTrainer``, builders, distributed helpers."""

from .arguments import DataArguments, LLMCodecTrainingArguments, ModelArguments
from .builders import TrainingComponents, TrainingSetupError, build_components, build_discriminator, build_training_module
from .llmcodec_trainer import LLMCodecTrainer
from .checkpoints import export_artifacts
from .run import run_training

__all__ = [
    "DataArguments", "LLMCodecTrainer", "LLMCodecTrainingArguments", "ModelArguments", "TrainingComponents",
    "TrainingSetupError", "build_components", "build_discriminator", "build_training_module", "export_artifacts",
    "run_training",
]
