"""The LLM-Codec model: config, model and feature extractor.

This folder is also the self-contained remote-code bundle: `save_pretrained` copies its flat files next to
the weights, so `AutoModel.from_pretrained(folder, trust_remote_code=True)` works without this package. With the
package installed, importing it registers the classes with the Auto classes, so a folder without remote code (the
bundled default model) loads with `AutoModel.from_pretrained(folder)` and no code from the folder ever runs.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from .configuration_llmcodec import LLMCodecConfig
from .feature_extraction_llmcodec import LLMCodecFeatureExtractor
from .modeling_llmcodec import (
    LLMCodecDecoderOutput,
    LLMCodecEncoderOutput,
    LLMCodecModel,
    LLMCodecOutput,
    LLMCodecPreTrainedModel,
)

# Installed classes for the Auto classes: "llmcodec" configs load with this code, never a folder's own.
AutoConfig.register(LLMCodecConfig.model_type, LLMCodecConfig, exist_ok=True)
AutoModel.register(LLMCodecConfig, LLMCodecModel, exist_ok=True)
AutoFeatureExtractor.register(LLMCodecConfig, LLMCodecFeatureExtractor, exist_ok=True)
# And for remote code, so that save_pretrained writes `auto_map` and copies the code files (Hub-ready exports).
LLMCodecConfig.register_for_auto_class("AutoConfig")
LLMCodecModel.register_for_auto_class("AutoModel")
LLMCodecFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")

__all__ = [
    "LLMCodecConfig",
    "LLMCodecFeatureExtractor",
    "LLMCodecModel",
    "LLMCodecPreTrainedModel",
    "LLMCodecEncoderOutput",
    "LLMCodecDecoderOutput",
    "LLMCodecOutput",
]
