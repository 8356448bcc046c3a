"""Configuration of LLM-Codec (the AUV codec architecture: STFT front end, Conformer encoder,
factorized cosine VQ with one nested codebook, Conformer decoder, iSTFT head).

The defaults reproduce the released ``llm-codec.pt`` / ``auv.pt`` model exactly; every size is a
field so that tiny configurations can serve tests.
"""

from __future__ import annotations

import math
from dataclasses import field

from transformers import PreTrainedConfig


def _default_codebook_partitions() -> dict[str, list[int]]:
    # AUV's nested ("matryoshka") codebook: each domain searches a contiguous slice [start, end).
    return {
        "speech": [0, 8192],
        "vocal": [0, 12288],
        "music": [0, 20480],
        "audio": [0, 20480],
        "other": [12288, 20480],
    }


class LLMCodecConfig(PreTrainedConfig):
    r"""
    Configuration for [`LLMCodecModel`].

    Args:
        sampling_rate (`int`, defaults to 16000): audio sampling rate in Hz.
        hop_length (`int`, defaults to 320): STFT hop in samples; one code per hop (50 codes/s at 16 kHz).
        n_fft (`int`, defaults to 1280): STFT size and Hann window length of the front end and the iSTFT head.
        hidden_size (`int`, defaults to 512): width of both Conformer stacks.
        encoder_num_layers (`int`, defaults to 8): Conformer layers of the encoder.
        decoder_num_layers (`int`, defaults to 12): Conformer layers of the decoder.
        num_attention_heads (`int`, defaults to 8): attention heads per layer.
        head_dim (`int`, defaults to 64): size of one attention head (must be even for RoPE).
        ffn_mult (`int`, defaults to 4): feed-forward width as a multiple of `hidden_size`.
        conv_kernel_size (`int`, defaults to 31): depthwise convolution kernel (odd, "same" padding).
        rope_theta (`float`, defaults to 10000.0): RoPE base.
        max_position_embeddings (`int`, defaults to 4096): length of the precomputed RoPE tables (longer
            inputs compute their tables on the fly).
        layer_norm_eps (`float`, defaults to 1e-5): LayerNorm epsilon.
        batch_norm_eps (`float`, defaults to 1e-5): BatchNorm epsilon of the convolution modules.
        codebook_size (`int`, defaults to 20480): number of codes.
        codebook_dim (`int`, defaults to 8): dimension of the factorized (projected) code space.
        commitment_weight (`float`, defaults to 0.25): weight of the VQ commitment loss.
        codebook_loss_weight (`float`, defaults to 1.0): weight of the VQ codebook loss.
        commitment_angular_weight (`float`, defaults to 0.0): weight of an angular commitment loss, `1 - cos` between
            each frame's projected latent and its code (not in the released recipe). Codes are chosen by angle, and the
            squared-distance commitment can be lowered by matching norms alone; this term pulls the latent's direction
            onto its code, away from the boundary with the next code.
        codebook_partitions (`dict[str, list[int]]`): named code ranges `[start, end)` that `encode` can restrict
            the search to (`codebook_domain=`).
        max_log_magnitude_clip (`float`, defaults to 100.0): the iSTFT head clips `exp(log-magnitude)` to this.
        freeze_batchnorm_in_training (`bool`, defaults to `True`): keep BatchNorm layers in eval mode under
            `model.train()`, as the released recipe does (running statistics never change, and padded batches
            stay equivalent to single items).
        initializer_range (`float`, defaults to 0.02): std of the normal init of linear and conv weights.
        normalize_level_dbfs (`float`, *optional*): when set, `encode` scales each item to this RMS level (dBFS,
            over its unpadded samples) before coding and returns the gain it applied (`audio_scales`), and
            `decode(..., audio_scales=...)` undoes it, as EnCodec's `normalize`. Codes then no longer depend on
            the input's level. None (the default, and the released model's behaviour) codes the input as it is.
        normalize_max_gain_db (`float`, defaults to 40.0): the largest gain normalisation applies, so that near
            silence is not amplified to full level.
        spectral_floor (`float`, defaults to 0.0): magnitude floor of the front end's STFT features, in the
            units of `|STFT|` of the (normalised) input. When > 0, bins far below it (noise floors, dither,
            quantisation) barely change the features, so inaudible changes there keep the codes; 0 is the released
            model's `log(|X| + 1e-5)` with raw phase (see `stft_llmcodec.spectral_features`).
    """

    model_type = "llmcodec"

    sampling_rate: int = 16000
    hop_length: int = 320
    n_fft: int = 1280
    hidden_size: int = 512
    encoder_num_layers: int = 8
    decoder_num_layers: int = 12
    num_attention_heads: int = 8
    head_dim: int = 64
    ffn_mult: int = 4
    conv_kernel_size: int = 31
    rope_theta: float = 10000.0
    max_position_embeddings: int = 4096
    layer_norm_eps: float = 1e-5
    batch_norm_eps: float = 1e-5
    codebook_size: int = 20480
    codebook_dim: int = 8
    commitment_weight: float = 0.25
    codebook_loss_weight: float = 1.0
    commitment_angular_weight: float = 0.0
    codebook_partitions: dict = field(default_factory=_default_codebook_partitions)
    max_log_magnitude_clip: float = 100.0
    freeze_batchnorm_in_training: bool = True
    initializer_range: float = 0.02
    normalize_level_dbfs: float | None = None
    normalize_max_gain_db: float = 40.0
    spectral_floor: float = 0.0

    def __post_init__(self, **kwargs):
        self._validate_llmcodec_fields()
        super().__post_init__(**kwargs)

    def _validate_llmcodec_fields(self) -> None:
        problems = []
        if self.hop_length <= 0:
            problems.append(f"hop_length must be positive, got {self.hop_length}")
        if self.n_fft <= self.hop_length or (self.n_fft - self.hop_length) % 2:
            problems.append(
                f"n_fft ({self.n_fft}) must exceed hop_length ({self.hop_length}) by an even number of samples "
                "(the front end reflect-pads (n_fft - hop_length) / 2 on each side)"
            )
        if self.head_dim % 2:
            problems.append(f"head_dim must be even for rotary embeddings, got {self.head_dim}")
        if self.conv_kernel_size % 2 == 0:
            problems.append(f"conv_kernel_size must be odd ('same' padding), got {self.conv_kernel_size}")
        if self.codebook_size < 2:
            problems.append(f"codebook_size must be at least 2, got {self.codebook_size}")
        for name, bounds in (self.codebook_partitions or {}).items():
            if name == "all":
                problems.append("codebook partition name 'all' is reserved (it means the whole codebook)")
            if len(bounds) != 2 or not (0 <= bounds[0] < bounds[1] <= self.codebook_size):
                problems.append(
                    f"codebook partition {name!r} = {bounds} is not a range [start, end) within "
                    f"[0, {self.codebook_size})"
                )
        level = self.normalize_level_dbfs
        if level is not None and not (math.isfinite(level) and -80.0 <= level <= 0.0):
            problems.append(f"normalize_level_dbfs must be a level in [-80, 0] dBFS or None, got {level}")
        if not (math.isfinite(self.normalize_max_gain_db) and self.normalize_max_gain_db >= 0):
            problems.append(f"normalize_max_gain_db must be a finite number >= 0, got {self.normalize_max_gain_db}")
        if not (math.isfinite(self.commitment_angular_weight) and self.commitment_angular_weight >= 0):
            problems.append(f"commitment_angular_weight must be a finite number >= 0, got {self.commitment_angular_weight}")
        if not (math.isfinite(self.spectral_floor) and self.spectral_floor >= 0):
            problems.append(f"spectral_floor must be a finite number >= 0, got {self.spectral_floor}")
        if problems:
            raise ValueError("Invalid LLMCodecConfig: " + "; ".join(problems))

    @property
    def frame_rate(self) -> float:
        """Codes per second (50.0 for the released model)."""
        return self.sampling_rate / self.hop_length

    @property
    def bits_per_code(self) -> float:
        return math.log2(self.codebook_size)

    @property
    def bitrate(self) -> float:
        """Bits per second of the code stream (about 716 bps for the released model)."""
        return self.frame_rate * self.bits_per_code


__all__ = ["LLMCodecConfig"]
