"""The LLM-Codec model: config, model and feature extractor.

This folder is also the self-contained remote-code bundle: `save_pretrained` copies its flat files next to
the weights, so `AutoModel.from_pretrained(folder, trust_remote_code=True)` works without this package.
"""

from .configuration_llmcodec import LLMCodecConfig
from .feature_extraction_llmcodec import LLMCodecFeatureExtractor
from .modeling_llmcodec import (
    LLMCodecDecoderOutput,
    LLMCodecEncoderOutput,
    LLMCodecModel,
    LLMCodecOutput,
    LLMCodecPreTrainedModel,
)

# Register for the Auto classes so that save_pretrained writes `auto_map` and copies the code files.
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
