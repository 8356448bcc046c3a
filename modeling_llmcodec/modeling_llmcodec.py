"""LLM-Codec model: STFT front end -> Conformer encoder -> factorized cosine VQ -> Conformer decoder -> iSTFT.

The numerics follow the reference implementation (PyPI ``auv`` 0.1.1) operation by operation, so that a
converted ``llm-codec.pt`` / ``auv.pt`` gives identical codes. On top of the reference this model batches
padded inputs exactly (each item gives the codes it gives alone), processes long audio in overlapping
windows (`windowing_llmcodec.py`), and returns what training needs (VQ loss, straight-through latents). The
checks of what `encode` / `decode` receive, and the level normalisation, are in `inputs_llmcodec.py`.

Shapes use ``B`` (batch), ``L`` (samples), ``T`` (frames = codes, one per ``hop_length`` samples),
``D`` (``hidden_size``) and ``C`` (``codebook_dim``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from transformers import initialization as init
from transformers.modeling_utils import PreTrainedAudioTokenizerBase
from transformers.utils import ModelOutput

from .configuration_llmcodec import LLMCodecConfig
from .conformer_llmcodec import (  # noqa: F401 - re-exported: the building blocks' historical home
    LLMCodecAttention,
    LLMCodecConformer,
    LLMCodecConformerLayer,
    LLMCodecConvolutionModule,
    LLMCodecFeedForward,
    LLMCodecRotaryEmbedding,
)
from .inputs_llmcodec import checked_scales, normalize_level, resolve_partitions, validate_audio, validate_codes, validate_latents
from .quantizer_llmcodec import LLMCodecVectorQuantizer
from .stft_llmcodec import LLMCodecISTFTHead, LLMCodecSTFTFrontend
from .windowing_llmcodec import decode_windowed, encode_windowed, window_sizes

# Value written into `audio_codes` at padded frames: it is never a valid code, so forgetting the mask
# fails loudly in `decode` instead of silently decoding code 0.
PAD_CODE = -1


# --------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------


@dataclass
class LLMCodecCodesOutput(ModelOutput):
    r"""
    The encoder's fields, shared by [`LLMCodecEncoderOutput`] (what `encode` returns) and [`LLMCodecOutput`]
    (what `forward` returns):

    audio_codes (`torch.LongTensor` of shape `(B, T)`): code indices in `[0, codebook_size)`; padded frames hold -1.
    audio_codes_mask (`torch.BoolTensor` of shape `(B, T)`): True for frames that belong to the input.
    latents (`torch.FloatTensor` of shape `(B, T, D)`): quantized latents (after the VQ output projection, with
        the straight-through estimator, so they carry gradient), i.e. what the decoder consumes.
    latents_before_quantization (`torch.FloatTensor` of shape `(B, T, D)`): encoder output before the VQ.
    projected_latents (`torch.FloatTensor` of shape `(B, T, C)`): encoder output projected into the code space.
    vq_loss (`torch.FloatTensor` of shape `(B,)`): commitment + codebook loss per item (training mode only).
    """

    audio_codes: torch.LongTensor | None = None
    audio_codes_mask: torch.BoolTensor | None = None
    latents: torch.FloatTensor | None = None
    latents_before_quantization: torch.FloatTensor | None = None
    projected_latents: torch.FloatTensor | None = None
    vq_loss: torch.FloatTensor | None = None


@dataclass
class LLMCodecEncoderOutput(LLMCodecCodesOutput):
    r"""
    The fields of [`LLMCodecCodesOutput`], then:

    audio_scales (`torch.FloatTensor` of shape `(B,)`): the gain level normalisation applied to each item
        (`config.normalize_level_dbfs`); pass it to `decode` to restore the input's level. None when off.
    """

    audio_scales: torch.FloatTensor | None = None


@dataclass
class LLMCodecDecoderOutput(ModelOutput):
    r"""
    audio_values (`torch.FloatTensor` of shape `(B, 1, T * hop_length)`): decoded audio; zero after each item's end.
    padding_mask (`torch.BoolTensor` of shape `(B, T * hop_length)`): True for samples decoded from valid frames.
    """

    audio_values: torch.FloatTensor | None = None
    padding_mask: torch.BoolTensor | None = None


@dataclass
class LLMCodecReconstructionOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`): batch mean of the VQ loss (commitment + codebook), training mode only.
    audio_values (`torch.FloatTensor` of shape `(B, 1, L)`): reconstruction, zero-padded to the input length `L`.
    """

    loss: torch.FloatTensor | None = None
    audio_values: torch.FloatTensor | None = None


# A dataclass collects its bases' fields in reverse MRO order: `loss` and `audio_values` come first, then the
# encoder's fields, so `to_tuple()` is `(loss, audio_values, audio_codes, ..., vq_loss)`.
@dataclass
class LLMCodecOutput(LLMCodecCodesOutput, LLMCodecReconstructionOutput):
    r"""
    The fields of [`LLMCodecReconstructionOutput`] (`loss`, `audio_values`), then those of [`LLMCodecCodesOutput`].
    """


# --------------------------------------------------------------------------------------------------
# Encoder and decoder
# --------------------------------------------------------------------------------------------------


class LLMCodecEncoder(nn.Module):
    """Waveform `(B, L)` -> encoder features `(B, T, D)`."""

    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        self.stft_frontend = LLMCodecSTFTFrontend(config)
        self.conformer = LLMCodecConformer(config, config.encoder_num_layers)

    def forward(self, waveform, lengths=None, frame_mask=None):
        return self.conformer(self.stft_frontend(waveform, lengths), frame_mask=frame_mask)


class LLMCodecDecoder(nn.Module):
    """Latents `(B, T, D)` -> waveform `(B, T * hop_length)`."""

    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        self.conformer = LLMCodecConformer(config, config.decoder_num_layers)
        self.istft_head = LLMCodecISTFTHead(config)

    def forward(self, latents, frame_mask=None):
        return self.istft_head(self.conformer(latents, frame_mask=frame_mask), frame_mask=frame_mask)


# --------------------------------------------------------------------------------------------------
# Pretrained model
# --------------------------------------------------------------------------------------------------


class LLMCodecPreTrainedModel(PreTrainedAudioTokenizerBase):
    config: LLMCodecConfig
    config_class = LLMCodecConfig
    base_model_prefix = "llmcodec"
    main_input_name = "input_values"
    supports_gradient_checkpointing = True
    _no_split_modules = ["LLMCodecConformerLayer"]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv1d) and parametrize.is_parametrized(module, "weight"):
            # Weight norm: initialise the direction v, then set the magnitude g = |v| (the state at wrap time).
            direction = module.parametrizations.weight.original1
            magnitude = module.parametrizations.weight.original0
            init.normal_(direction, mean=0.0, std=self.config.initializer_range)
            init.copy_(magnitude, torch.linalg.vector_norm(direction, dim=(1, 2), keepdim=True))
            if module.bias is not None:
                init.zeros_(module.bias)
            return
        super()._init_weights(module)
        if isinstance(module, LLMCodecVectorQuantizer):
            # Cosine lookup ignores the scale; N(0, 1) matches nn.Embedding's own init used by the reference.
            init.normal_(module.codebook.weight, mean=0.0, std=1.0)
        elif isinstance(module, LLMCodecRotaryEmbedding):
            inv_freq, cos, sin = module.compute_tables(module.max_position_embeddings, device=module.inv_freq.device)
            init.copy_(module.inv_freq, inv_freq)
            init.copy_(module.cos_cached, cos)
            init.copy_(module.sin_cached, sin)
        elif isinstance(module, (LLMCodecSTFTFrontend, LLMCodecISTFTHead)):
            init.copy_(module.window, torch.hann_window(module.n_fft, device=module.window.device))

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and getattr(self.config, "freeze_batchnorm_in_training", False):
            # The released recipe keeps BatchNorm in eval: statistics stay fixed and items stay independent.
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


class LLMCodecModel(LLMCodecPreTrainedModel):
    """The LLM-Codec codec: `encode` audio to one code per 20 ms, `decode` codes (or latents) to audio."""

    def __init__(self, config: LLMCodecConfig):
        super().__init__(config)
        self.encoder = LLMCodecEncoder(config)
        self.quantizer = LLMCodecVectorQuantizer(config)
        self.decoder = LLMCodecDecoder(config)
        self.post_init()

    # ----------------------------------------------------------------------------------- helpers

    def get_encoded_length(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Number of codes for `num_samples` samples: `floor(num_samples / hop_length)`."""
        return num_samples // self.config.hop_length

    def get_audio_codes_mask(self, padding_mask: torch.Tensor) -> torch.Tensor:
        """Right-padded sample mask `(B, L)` -> frame mask `(B, L // hop_length)` (bool)."""
        lengths = padding_mask.long().sum(-1)
        num_frames = padding_mask.shape[-1] // self.config.hop_length
        frames = torch.arange(num_frames, device=padding_mask.device)
        return frames[None, :] < self.get_encoded_length(lengths)[:, None]

    def _prepare_audio(self, input_values, padding_mask, codebook_domain):
        """The checked, level-normalised `(B, L)` audio, its lengths `(B,)`, gains `(B,)` and code partitions."""
        config = self.config
        waveform, lengths = validate_audio(input_values, padding_mask, config.hop_length, config.sampling_rate)
        waveform, scales = normalize_level(
            waveform.to(self.dtype), lengths, config.normalize_level_dbfs, config.normalize_max_gain_db
        )
        return waveform, lengths, scales, self._resolve_partitions(codebook_domain, waveform.shape[0])

    def _resolve_partitions(self, codebook_domain: str | list[str] | None, batch: int) -> list[tuple[int, int]] | None:
        """Per-item `[low, high)` code ranges of `codebook_domain` (None: all codes); raises for an unknown name."""
        return resolve_partitions(codebook_domain, batch, self.config.codebook_partitions, self.config.codebook_size)

    # ------------------------------------------------------------------------------------ encode

    def _encode_frames(self, waveform, lengths, partitions):
        """Core encoder on `(B, L)` audio with optional per-item `lengths`.

        Returns the fields of [`LLMCodecCodesOutput`] as a tuple (the windowed encoding joins these per window).
        """
        num_frames = waveform.shape[1] // self.config.hop_length
        frame_mask = None
        if lengths is not None:
            frame_mask = torch.arange(num_frames, device=waveform.device)[None, :] < (
                lengths.to(waveform.device)[:, None] // self.config.hop_length
            )
        hidden = self.encoder(waveform, lengths, frame_mask)
        latents, codes, projected, vq_loss = self.quantizer(hidden, frame_mask, partitions)
        if frame_mask is None:
            frame_mask = torch.ones_like(codes, dtype=torch.bool)
        else:
            codes = codes.masked_fill(~frame_mask, PAD_CODE)
        return codes, frame_mask, latents, hidden, projected, vq_loss

    def encode(
        self,
        input_values: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        codebook_domain: str | list[str] | None = None,
        chunk_length_s: float | None = None,
        chunk_context_s: float = 5.0,
        return_dict: bool | None = None,
    ) -> LLMCodecEncoderOutput | tuple:
        """Encodes audio to codes.

        Args:
            input_values: `(B, 1, L)` (or `(B, L)`) float audio at `config.sampling_rate`.
            padding_mask: `(B, L)`, 1 for audio and 0 for right padding. Each item's codes equal those it gets
                alone; item `i` yields `floor(len_i / hop_length)` codes.
            codebook_domain: restrict the code search to a named partition (`"speech"`, `"vocal"`, `"music"`,
                `"audio"`, `"other"`, `"all"`), one name for the batch or a list with one per item. The
                released LLM-Codec never restricts (all 20,480 codes).
            chunk_length_s: process long audio in windows of this many seconds (plus `chunk_context_s` of
                context on each side, discarded) so memory stays bounded; None encodes in one pass.
            chunk_context_s: context seconds on each side of a window.

        Returns:
            [`LLMCodecEncoderOutput`] with `audio_codes` `(B, T)` int64, `audio_codes_mask` `(B, T)` bool,
            `latents` `(B, T, D)`, `latents_before_quantization` `(B, T, D)`, `projected_latents` `(B, T, C)`,
            in training mode `vq_loss` `(B,)`, and with `config.normalize_level_dbfs` set `audio_scales` `(B,)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        waveform, lengths, scales, partitions = self._prepare_audio(input_values, padding_mask, codebook_domain)
        chunking = window_sizes(chunk_length_s, chunk_context_s, self.config.frame_rate)
        if chunking is None or waveform.shape[1] // self.config.hop_length <= chunking[0]:
            outputs = self._encode_frames(waveform, lengths, partitions)
        elif self.training:
            raise ValueError("windowed encoding (chunk_length_s) is for inference; call model.eval() or train on crops")
        else:
            outputs = encode_windowed(
                self._encode_frames, waveform, lengths, partitions, *chunking,
                hop_length=self.config.hop_length, n_fft=self.config.n_fft, pad_code=PAD_CODE,
            )
        result = LLMCodecEncoderOutput(*outputs, audio_scales=scales)
        return result if return_dict else result.to_tuple()

    # ------------------------------------------------------------------------------------ decode

    def _decode_latents(self, latents: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        return self.decoder(latents, frame_mask)

    def decode(
        self,
        audio_codes: torch.Tensor | None = None,
        audio_codes_mask: torch.Tensor | None = None,
        latents: torch.Tensor | None = None,
        chunk_length_s: float | None = None,
        chunk_context_s: float = 5.0,
        return_dict: bool | None = None,
        audio_scales: torch.Tensor | None = None,
    ) -> LLMCodecDecoderOutput | tuple:
        """Decodes codes (or quantized latents) to audio.

        Args:
            audio_codes: `(B, T)` integer codes in `[0, codebook_size)` (padded frames may hold anything when
                `audio_codes_mask` marks them).
            audio_codes_mask: `(B, T)` bool, True for valid frames (right padding).
            latents: `(B, T, D)` quantized latents, instead of `audio_codes`.
            chunk_length_s / chunk_context_s: decode long sequences in overlapping windows (see `encode`).
            audio_scales: `(B,)` gains `encode` applied (`config.normalize_level_dbfs`); the audio is divided by
                them to restore each input's level. Without them a normalising model decodes at its set level.

        Returns:
            [`LLMCodecDecoderOutput`] with `audio_values` `(B, 1, T * hop_length)` and `padding_mask`
            `(B, T * hop_length)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if (audio_codes is None) == (latents is None):
            raise ValueError("pass exactly one of audio_codes or latents")
        if audio_codes is not None:
            codes, frame_mask = validate_codes(audio_codes, audio_codes_mask, self.config.codebook_size, self.device)
            latents = self.quantizer.decode_codes(codes)
        else:
            frame_mask = validate_latents(latents, audio_codes_mask, self.config.hidden_size)
        chunking = window_sizes(chunk_length_s, chunk_context_s, self.config.frame_rate)
        hop = self.config.hop_length
        if chunking is None or latents.shape[1] <= chunking[0]:
            audio = self._decode_latents(latents, frame_mask)
        else:
            audio = decode_windowed(self._decode_latents, latents, frame_mask, *chunking, hop_length=hop)
        if frame_mask is None:
            sample_mask = torch.ones(audio.shape, dtype=torch.bool, device=audio.device)
        else:
            sample_mask = frame_mask.repeat_interleave(hop, dim=1)
        if audio_scales is not None:
            audio = audio / checked_scales(audio_scales, audio.shape[0], self.device).to(audio.dtype)[:, None]
        result = LLMCodecDecoderOutput(audio_values=audio[:, None, :], padding_mask=sample_mask)
        return result if return_dict else result.to_tuple()

    def streaming_decoder(
        self,
        *,
        chunk_frames: int | None = None,
        lookahead_frames: int | None = None,
        context_frames: int | None = None,
        max_windows_per_pass: int = 32,
    ):
        """An [`LLMCodecStreamingDecoder`]: `push(codes)` a few frames at a time, get audio as soon as it is final.

        Sizes are in frames (codes); None takes the measured default (streaming_llmcodec.py,
        benchmarks/streaming/). More lookahead is closer to offline `decode` and later audio.
        """
        from .streaming_llmcodec import LLMCodecStreamingDecoder

        return LLMCodecStreamingDecoder(
            self,
            chunk_frames=chunk_frames,
            lookahead_frames=lookahead_frames,
            context_frames=context_frames,
            max_windows_per_pass=max_windows_per_pass,
        )

    # ----------------------------------------------------------------------------------- forward

    def forward(
        self,
        input_values: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        codebook_domain: str | list[str] | None = None,
        return_dict: bool | None = None,
    ) -> LLMCodecOutput | tuple:
        """Encodes and decodes in one pass (gradients flow through the straight-through VQ).

        Returns [`LLMCodecOutput`]: `audio_values` `(B, 1, L)` zero-padded to the input length, the codes and
        their mask, the latents before/after quantization and, in training mode, `loss` (batch-mean VQ loss)
        and `vq_loss` `(B,)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        waveform, lengths, scales, partitions = self._prepare_audio(input_values, padding_mask, codebook_domain)
        encoded = LLMCodecCodesOutput(*self._encode_frames(waveform, lengths, partitions))
        audio = self._decode_latents(encoded.latents, None if lengths is None else encoded.audio_codes_mask)
        audio = F.pad(audio, (0, waveform.shape[1] - audio.shape[1]))
        if scales is not None:  # the losses compare with the input as given, at its own level
            audio = audio / scales.to(audio.dtype)[:, None]
        loss = None if encoded.vq_loss is None else encoded.vq_loss.mean()
        result = LLMCodecOutput(loss=loss, audio_values=audio[:, None, :], **encoded)
        return result if return_dict else result.to_tuple()


__all__ = [
    "LLMCodecPreTrainedModel",
    "LLMCodecModel",
    "LLMCodecEncoderOutput",
    "LLMCodecDecoderOutput",
    "LLMCodecOutput",
]
