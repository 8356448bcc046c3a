"""LLM-Codec model: STFT front end -> Conformer encoder -> factorized cosine VQ -> Conformer decoder -> iSTFT.

The numerics follow the reference implementation (PyPI ``auv`` 0.1.1) operation by operation, so that a
converted ``llm-codec.pt`` / ``auv.pt`` gives identical codes. On top of the reference this model batches
padded inputs exactly (each item gives the codes it gives alone), processes long audio in overlapping
windows, and returns what training needs (VQ loss, straight-through latents).

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
from .quantizer_llmcodec import LLMCodecVectorQuantizer
from .stft_llmcodec import LLMCodecISTFTHead, LLMCodecSTFTFrontend

# Value written into `audio_codes` at padded frames: it is never a valid code, so forgetting the mask
# fails loudly in `decode` instead of silently decoding code 0.
PAD_CODE = -1


def _checked_mask(mask: torch.Tensor, like: torch.Tensor, name: str, like_name: str, hint: str = "") -> torch.Tensor:
    """`mask` as a bool tensor, after checking it has the shape of `like` (the tensor it masks)."""
    if mask.shape != like.shape:
        raise ValueError(f"{name} shape {tuple(mask.shape)} does not match {like_name} {tuple(like.shape)}{hint}")
    return mask.bool()


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

    def _validate_audio(
        self, input_values: torch.Tensor, padding_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Checks `(B, 1, L)` / `(B, L)` float audio; returns `(B, L)` audio and per-item lengths `(B,)` or None."""
        if not isinstance(input_values, torch.Tensor):
            raise TypeError(
                f"input_values must be a torch.Tensor of shape (batch, 1, samples), got {type(input_values).__name__}; "
                "use LLMCodecFeatureExtractor to turn raw arrays into tensors"
            )
        if input_values.dim() == 3:
            if input_values.shape[1] != 1:
                raise ValueError(
                    f"input_values has {input_values.shape[1]} channels; LLM-Codec is mono. Downmix first "
                    "(LLMCodecFeatureExtractor averages channels)"
                )
            waveform = input_values[:, 0]
        elif input_values.dim() == 2:
            waveform = input_values
        else:
            raise ValueError(
                f"input_values must have shape (batch, 1, samples) or (batch, samples), got {tuple(input_values.shape)}"
            )
        if not waveform.is_floating_point():
            raise TypeError(
                f"input_values must be floating point audio in [-1, 1], got dtype {waveform.dtype}; "
                "convert integer PCM first (int16: divide by 32768), e.g. with LLMCodecFeatureExtractor"
            )
        if waveform.shape[0] == 0 or waveform.shape[1] == 0:
            raise ValueError(f"input_values is empty (shape {tuple(input_values.shape)})")
        if not torch.isfinite(waveform).all():
            raise ValueError("input_values contains NaN or Inf samples")
        lengths = None
        if padding_mask is not None:
            mask = _checked_mask(padding_mask, waveform, "padding_mask", "the audio shape", " (expected (batch, samples))")
            lengths = mask.long().sum(-1)
            positions = torch.arange(mask.shape[1], device=mask.device)
            if not torch.equal(mask, positions[None, :] < lengths[:, None]):
                raise ValueError("padding_mask must be right-padded: ones for the audio, then zeros")
        hop = self.config.hop_length
        item_lengths = lengths if lengths is not None else torch.full((waveform.shape[0],), waveform.shape[1])
        too_short = (item_lengths < hop).nonzero().flatten().tolist()
        if too_short:
            shown = {i: int(item_lengths[i]) for i in too_short[:5]}
            raise ValueError(
                f"audio shorter than one hop ({hop} samples = {1000 * hop / self.config.sampling_rate:.0f} ms) "
                f"cannot be encoded; item: samples = {shown}"
            )
        waveform = waveform.to(self.dtype)
        if lengths is not None and bool((lengths == waveform.shape[1]).all()):
            lengths = None
        return waveform, lengths

    def _normalize_level(
        self, waveform: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scales each item of `(B, L)` audio to `config.normalize_level_dbfs` RMS; returns it and the gains `(B,)`.

        The RMS is taken over each item's unpadded samples, so padding never changes an item's gain; the gain is
        capped at `config.normalize_max_gain_db` so near silence stays quiet.
        """
        level = self.config.normalize_level_dbfs
        if level is None:
            return waveform, None
        power = waveform.float().pow(2)
        if lengths is None:
            mean_power = power.mean(dim=1)
        else:
            valid = torch.arange(waveform.shape[1], device=waveform.device)[None, :] < lengths[:, None]
            mean_power = (power * valid).sum(dim=1) / lengths.clamp(min=1)
        target = 10.0 ** (level / 20.0)
        max_gain = 10.0 ** (self.config.normalize_max_gain_db / 20.0)
        scales = (target / mean_power.sqrt().clamp(min=1e-12)).clamp(max=max_gain)
        return waveform * scales.to(waveform.dtype)[:, None], scales

    def _prepare_audio(self, input_values, padding_mask, codebook_domain):
        """The checked, level-normalised `(B, L)` audio, its lengths `(B,)`, gains `(B,)` and code partitions."""
        waveform, lengths = self._validate_audio(input_values, padding_mask)
        waveform, scales = self._normalize_level(waveform, lengths)
        return waveform, lengths, scales, self._resolve_partitions(codebook_domain, waveform.shape[0])

    def _resolve_partitions(
        self, codebook_domain: str | list[str] | None, batch: int
    ) -> list[tuple[int, int]] | None:
        if codebook_domain is None:
            return None
        domains = [codebook_domain] * batch if isinstance(codebook_domain, str) else list(codebook_domain)
        if len(domains) != batch:
            raise ValueError(f"codebook_domain has {len(domains)} entries for a batch of {batch}")
        known = dict(self.config.codebook_partitions or {})
        known["all"] = [0, self.config.codebook_size]
        unknown = sorted({d for d in domains if d not in known})
        if unknown:
            raise ValueError(f"unknown codebook_domain {unknown}; known domains: {sorted(known)}")
        return [tuple(known[d]) for d in domains]

    @staticmethod
    def _window_grid(num_frames: int, chunk_frames: int, context_frames: int) -> list[tuple[int, int, int, int]]:
        """Windows `(start, end, left, right)`: frames `[start, end)` are kept, `[left, right)` adds the context."""
        return [
            (start, end, max(0, start - context_frames), min(num_frames, end + context_frames))
            for start in range(0, num_frames, chunk_frames)
            for end in [min(start + chunk_frames, num_frames)]
        ]

    def _chunk_frames(self, chunk_length_s: float | None, chunk_context_s: float) -> tuple[int, int] | None:
        if chunk_length_s is None:
            return None
        if chunk_length_s <= 0 or chunk_context_s < 0:
            raise ValueError(
                f"chunk_length_s must be > 0 and chunk_context_s >= 0, got {chunk_length_s} and {chunk_context_s}"
            )
        rate = self.config.frame_rate
        return max(1, int(round(chunk_length_s * rate))), int(round(chunk_context_s * rate))

    # ------------------------------------------------------------------------------------ encode

    def _encode_frames(self, waveform, lengths, partitions):
        """Core encoder on `(B, L)` audio with optional per-item `lengths`; returns the fields of `LLMCodecCodesOutput` as a tuple."""
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

    def _encode_windowed(self, waveform, lengths, partitions, chunk_frames, context_frames):
        hop = self.config.hop_length
        batch, total = waveform.shape
        item_lengths = lengths if lengths is not None else torch.full((batch,), total, device=waveform.device)
        item_frames = item_lengths // hop
        num_frames = total // hop
        parts: list[list] = []
        for start, end, left, right in self._window_grid(num_frames, chunk_frames, context_frames):
            # Items whose audio has ended before this window contribute padding only.
            active = (item_frames > start).nonzero().flatten()
            # Real audio past the window's last frame (up to the STFT reach) instead of a reflection, and the
            # item's true end where the window reaches it: the same edge an item gets when encoded whole.
            reach = (self.config.n_fft - hop) // 2
            piece = waveform[active, left * hop : min(total, right * hop + reach)]
            piece_lengths = (item_lengths[active] - left * hop).clamp(min=0, max=piece.shape[1])
            sub_partitions = None if partitions is None else [partitions[i] for i in active.tolist()]
            outputs = self._encode_frames(
                piece, None if bool((piece_lengths == piece.shape[1]).all()) else piece_lengths, sub_partitions
            )
            keep = slice(start - left, start - left + (end - start))
            codes_w = torch.full((batch, end - start), PAD_CODE, dtype=torch.long, device=waveform.device)
            mask_w = torch.zeros((batch, end - start), dtype=torch.bool, device=waveform.device)
            tensors_w = []
            for tensor in outputs[2:5]:
                full = tensor.new_zeros((batch, end - start, tensor.shape[-1]))
                full[active] = tensor[:, keep]
                tensors_w.append(full)
            codes_w[active] = outputs[0][:, keep]
            mask_w[active] = outputs[1][:, keep]
            parts.append((codes_w, mask_w, *tensors_w))
        codes = torch.cat([p[0] for p in parts], dim=1)
        mask = torch.cat([p[1] for p in parts], dim=1)
        latents, hidden, projected = (torch.cat([p[i] for p in parts], dim=1) for i in (2, 3, 4))
        return codes, mask, latents, hidden, projected, None

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
        chunking = self._chunk_frames(chunk_length_s, chunk_context_s)
        if chunking is None or waveform.shape[1] // self.config.hop_length <= chunking[0]:
            outputs = self._encode_frames(waveform, lengths, partitions)
        elif self.training:
            raise ValueError("windowed encoding (chunk_length_s) is for inference; call model.eval() or train on crops")
        else:
            outputs = self._encode_windowed(waveform, lengths, partitions, *chunking)
        result = LLMCodecEncoderOutput(*outputs, audio_scales=scales)
        return result if return_dict else result.to_tuple()

    # ------------------------------------------------------------------------------------ decode

    def _validate_codes(self, audio_codes: torch.Tensor, audio_codes_mask: torch.Tensor | None):
        if not isinstance(audio_codes, torch.Tensor):
            raise TypeError(f"audio_codes must be a torch.Tensor, got {type(audio_codes).__name__}")
        if audio_codes.is_floating_point() or audio_codes.is_complex() or audio_codes.dtype == torch.bool:
            raise TypeError(f"audio_codes must be an integer tensor, got dtype {audio_codes.dtype}")
        if audio_codes.dim() == 3 and audio_codes.shape[1] == 1:
            audio_codes = audio_codes[:, 0]  # accept (B, 1, T), the (B, n_quantizers, T) layout of other codecs
        if audio_codes.dim() == 1:
            audio_codes = audio_codes[None]
        if audio_codes.dim() != 2:
            raise ValueError(f"audio_codes must have shape (batch, frames), got {tuple(audio_codes.shape)}")
        if audio_codes.shape[0] == 0:
            raise ValueError(f"audio_codes is an empty batch (shape {tuple(audio_codes.shape)}): nothing to decode")
        if audio_codes.shape[1] == 0:
            raise ValueError("audio_codes has no frames")
        mask = None
        if audio_codes_mask is not None:
            mask = _checked_mask(audio_codes_mask, audio_codes, "audio_codes_mask", "audio_codes")
            if not mask.any(dim=1).all():
                raise ValueError("audio_codes_mask marks an item with no valid frame")
        # Compare in int64: against a uint8/int8 tensor the bound 20480 would wrap in 8-bit arithmetic.
        valid = (audio_codes if mask is None else audio_codes[mask]).long()
        bad = (valid < 0) | (valid >= self.config.codebook_size)
        if bad.any():
            raise ValueError(
                f"audio_codes outside [0, {self.config.codebook_size}): found values "
                f"{sorted(set(valid[bad].tolist()))[:8]} (padded frames need an audio_codes_mask)"
            )
        codes = audio_codes.long().to(self.device)
        if mask is not None:
            codes = codes.masked_fill(~mask.to(codes.device), 0)
            if bool(mask.all()):
                mask = None
        return codes, None if mask is None else mask.to(self.device)

    def _checked_scales(self, audio_scales: torch.Tensor, batch: int) -> torch.Tensor:
        scales = torch.as_tensor(audio_scales, device=self.device).float().reshape(-1)
        if scales.numel() != batch:
            raise ValueError(f"audio_scales must hold one gain per item ({batch}), got shape {tuple(audio_scales.shape)}")
        if not bool((torch.isfinite(scales) & (scales > 0)).all()):
            raise ValueError("audio_scales must be finite and positive")
        return scales

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
            codes, frame_mask = self._validate_codes(audio_codes, audio_codes_mask)
            latents = self.quantizer.decode_codes(codes)
        else:
            if latents.dim() != 3 or latents.shape[-1] != self.config.hidden_size or 0 in latents.shape[:2]:
                raise ValueError(
                    f"latents must have shape (batch, frames, {self.config.hidden_size}) with batch, frames >= 1, "
                    f"got {tuple(latents.shape)}"
                )
            frame_mask = None if audio_codes_mask is None else audio_codes_mask.bool().to(latents.device)
            if frame_mask is not None and bool(frame_mask.all()):
                frame_mask = None
        chunking = self._chunk_frames(chunk_length_s, chunk_context_s)
        num_frames = latents.shape[1]
        hop = self.config.hop_length
        if chunking is None or num_frames <= chunking[0]:
            audio = self._decode_latents(latents, frame_mask)
        else:
            chunk_frames, context_frames = chunking
            pieces = []
            for start, end, left, right in self._window_grid(num_frames, chunk_frames, context_frames):
                sub_mask = None if frame_mask is None else frame_mask[:, left:right]
                active = torch.arange(latents.shape[0], device=latents.device)
                if sub_mask is not None:
                    active = sub_mask.any(dim=1).nonzero().flatten()
                    sub_mask = sub_mask[active]
                piece = self._decode_latents(latents[active, left:right], sub_mask)
                full = piece.new_zeros((latents.shape[0], (end - start) * hop))
                full[active] = piece[:, (start - left) * hop : (end - left) * hop]
                pieces.append(full)
            audio = torch.cat(pieces, dim=1)
        if frame_mask is None:
            sample_mask = torch.ones(audio.shape, dtype=torch.bool, device=audio.device)
        else:
            sample_mask = frame_mask.repeat_interleave(hop, dim=1)
        if audio_scales is not None:
            audio = audio / self._checked_scales(audio_scales, audio.shape[0]).to(audio.dtype)[:, None]
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
