"""Public names of the LLM-Codec training objectives, re-exported from their one-job modules.

``from llmcodec.training.objectives import GumbelBridge, FutureTokenPredictionHeads, ...``
"""

from llmcodec.training.objectives.adversarial import (
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    r1_penalty,
)
from llmcodec.training.objectives.discriminators import (
    CombinedDiscriminator,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    PeriodDiscriminator,
    ScaleDiscriminator,
)
from llmcodec.training.objectives.frozen_lm import FrozenCausalLM, find_audio_token_range
from llmcodec.training.objectives.future_token_prediction import FTPOutput, FutureTokenPredictionHeads, ftp_head_weights, prepend_start_embedding
from llmcodec.training.objectives.gumbel_bridge import BridgeOutput, GumbelBridge, bridge_cross_entropy
from llmcodec.training.objectives.loss_terms import LOSS_TERMS, LossTerm
from llmcodec.training.objectives.pitch_supervision import PitchSupervision
from llmcodec.training.objectives.reconstruction import (
    ComplexSTFTLoss,
    MelL1Loss,
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
    ReconstructionLosses,
    ReconstructionLossWeights,
    prepare_reconstruction,
)
from llmcodec.training.objectives.schedules import (
    codec_update_enabled,
    cosine_with_warmup_factor,
    cosine_with_warmup_lambda,
    ftp_weight,
    gumbel_temperature,
    lambda_ramp,
    mel_weight,
    r1_due,
    sa_weights,
)
from llmcodec.training.objectives.semantic_alignment import (
    SAOutput,
    SemanticAlignmentLoss,
    encode_text_features,
    last_token_indices,
    sa_layer_range,
    select_audio_features,
    select_text_features,
)

__all__ = [
    "BridgeOutput",
    "CombinedDiscriminator",
    "ComplexSTFTLoss",
    "FTPOutput",
    "FrozenCausalLM",
    "FutureTokenPredictionHeads",
    "GumbelBridge",
    "MelL1Loss",
    "MultiPeriodDiscriminator",
    "MultiResolutionSTFTLoss",
    "MultiScaleDiscriminator",
    "MultiScaleMelLoss",
    "PeriodDiscriminator",
    "PitchSupervision",
    "LOSS_TERMS",
    "LossTerm",
    "ReconstructionLossWeights",
    "ReconstructionLosses",
    "SAOutput",
    "ScaleDiscriminator",
    "SemanticAlignmentLoss",
    "bridge_cross_entropy",
    "codec_update_enabled",
    "cosine_with_warmup_factor",
    "cosine_with_warmup_lambda",
    "discriminator_adversarial_loss",
    "encode_text_features",
    "feature_matching_loss",
    "find_audio_token_range",
    "ftp_head_weights",
    "ftp_weight",
    "generator_adversarial_loss",
    "gumbel_temperature",
    "lambda_ramp",
    "last_token_indices",
    "mel_weight",
    "prepare_reconstruction",
    "prepend_start_embedding",
    "r1_due",
    "r1_penalty",
    "sa_layer_range",
    "sa_weights",
    "select_audio_features",
    "select_text_features",
]
