"""The LLM-Codec trainer: arguments, the training module, ``LLMCodecTrainer``, builders, distributed helpers."""

from .arguments import DataArguments, LLMCodecTrainingArguments, ModelArguments
from .argument_parsing import load_training_arguments, parse_training_arguments
from .builders import TrainingComponents, build_components, build_discriminator, build_training_module
from .checkpoints import export_artifacts
from .errors import TrainingSetupError
from .llmcodec_trainer import LLMCodecTrainer
from .run import run_training

__all__ = [
    "DataArguments", "LLMCodecTrainer", "LLMCodecTrainingArguments", "ModelArguments", "TrainingComponents",
    "TrainingSetupError", "build_components", "build_discriminator", "build_training_module", "export_artifacts",
    "load_training_arguments", "parse_training_arguments", "run_training",
]
