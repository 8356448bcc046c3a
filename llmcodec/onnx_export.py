"""Export an `LLMCodecModel` to two ONNX graphs: `encoder.onnx` (audio -> codes) and `decoder.onnx` (codes -> audio).

Both graphs take a dynamic batch and length and always carry a padding mask, so one graph serves single
clips and padded batches. The wrappers below compute exactly what the model computes, written with
operators every ONNX runtime has:

- the STFT front end is a strided convolution with a windowed DFT basis (torch.stft's FFT is not in the
  exportable op set with its complex outputs), followed by the model's own log-magnitude / phase features;
- the iSTFT head's inverse real FFT is a matmul with the inverse DFT basis, and its overlap-add sums the
  `n_fft / hop_length` shifted quarter-frames (what `F.fold` computes) instead of a col2im;
- per-item reflect padding always takes the model's per-item path (its batch-wide shortcut branches on
  data, which a graph cannot);
- the code search runs over all frames at once, with an optional `[low, high)` code range per item
  (the model's `codebook_domain`).

Rounding differs from PyTorch's FFT in the last bits, so a frame whose two best codes are nearly tied may
pick the other one; tests/modeling/test_onnx_codec.py bounds how often, and the audio difference.

Graph interfaces (B = batch, L = samples, T = frames = L // hop_length):

- encoder: `input_values` (B, L) float32, `padding_mask` (B, L) bool, `code_range` (B, 2) int64 ->
  `audio_codes` (B, T) int64 (-1 at padded frames), `audio_codes_mask` (B, T) bool,
  `latents_before_quantization` (B, T, D) float32.
- decoder: `audio_codes` (B, T) int64, `audio_codes_mask` (B, T) bool -> `audio_values` (B, T * hop) float32
  (zero after each item's end).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from llmcodec.modeling.stft_llmcodec import mirror_pad, spectral_features

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
META_FILE = "llmcodec_onnx.json"
OPSET = 18


def _dft_basis(n_fft: int, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Windowed forward basis `(2F, 1, n_fft)` (real rows, then imaginary rows, F = n_fft // 2 + 1) and the
    windowed inverse real-FFT basis `(2F, n_fft)` (norm "backward"), computed in float64 then rounded once."""
    bins = n_fft // 2 + 1
    k = torch.arange(bins, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * torch.remainder(k * n, n_fft) / n_fft  # exact integer phase, then the angle
    w = window.double()[None, :]
    sin = torch.sin(angle)
    sin[0] = 0.0
    if n_fft % 2 == 0:
        sin[-1] = 0.0  # sin(pi * n) is 1e-16, not 0, in floating point: the Nyquist bin is real
    forward = torch.cat((torch.cos(angle) * w, -sin * w))[:, None, :]
    # irfft: x[n] = (1/N) * sum_k c_k (Re X_k cos - Im X_k sin), c_k = 1 at DC and Nyquist, else 2; irfft
    # ignores the imaginary part of those two bins, which the sin rows (zero there) reproduce.
    weight = torch.full((bins, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    inverse = torch.cat((torch.cos(angle) * weight, -sin * weight)) / n_fft * w
    return forward.float(), inverse.float()


def _overlap_add(frames: torch.Tensor, hop: int, n_fft: int) -> torch.Tensor:
    """`frames` `(B, T, n_fft)` -> `(B, T * hop)`: overlap-add with stride `hop`, "same" padding trimmed."""
    batch, num_frames, _ = frames.shape
    ratio = n_fft // hop
    quarters = frames.reshape(batch, num_frames, ratio, hop)
    summed = sum(F.pad(quarters[:, :, j], (0, 0, j, ratio - 1 - j)) for j in range(ratio))
    pad = (n_fft - hop) // 2
    flat = summed.reshape(batch, (num_frames + ratio - 1) * hop)
    return flat[:, pad : flat.shape[1] - pad]


def _atan2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`torch.atan2` from Atan and Where, with its signs: atan2(+0, x < 0) = +pi (the exporter's own
    decomposition gives -pi there, which flips the phase of every real STFT bin with a negative value)."""
    ratio = torch.atan(y / torch.where(x == 0, torch.ones_like(x), x))
    left = torch.where(y >= 0, ratio + math.pi, ratio - math.pi)
    vertical = torch.where(y > 0, torch.full_like(y, math.pi / 2), torch.where(y < 0, -math.pi / 2, 0.0))
    return torch.where(x > 0, ratio, torch.where(x < 0, left, vertical))


class _RotaryTable(nn.Module):
    """RoPE from the model's cached tables only (the model computes longer tables on the fly, a branch on
    the length that a graph cannot hold; the exported graphs accept at most `max_position_embeddings` frames)."""

    def __init__(self, rotary):
        super().__init__()
        self.cos_cached, self.sin_cached = rotary.cos_cached, rotary.sin_cached

    def forward(self, seq_len, dtype):
        return self.cos_cached[:seq_len].to(dtype), self.sin_cached[:seq_len].to(dtype)


def _exportable_copy(model) -> nn.Module:
    """A float32 eval copy with weight norm folded into plain weights and table-only RoPE."""
    # A fresh instance rather than a deepcopy: a deepcopy shares the parametrized module classes, and
    # removing weight norm from it would strip the `weight` property from the caller's model too.
    source = model
    model = type(source)(copy.deepcopy(source.config)).float().eval()
    model.load_state_dict({k: v.float().cpu() for k, v in source.state_dict().items()})
    for module in list(model.modules()):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        if hasattr(module, "rotary_embed"):
            module.rotary_embed = _RotaryTable(module.rotary_embed)
    return model


class LLMCodecOnnxEncoder(nn.Module):
    """`(input_values (B, L), padding_mask (B, L), code_range (B, 2))` -> codes, their mask, encoder output."""

    def __init__(self, model):
        super().__init__()
        config = model.config
        self.hop, self.n_fft = config.hop_length, config.n_fft
        frontend = model.encoder.stft_frontend
        self.spectral_floor = frontend.spectral_floor
        basis, _ = _dft_basis(self.n_fft, frontend.window)
        self.register_buffer("stft_basis", basis)
        # The FFT's DC and Nyquist bins have an imaginary part of exactly +0, so a negative real part gives a
        # phase of +pi; a sum of signed zeros could give -0 and -pi, so those bins are set to +0 explicitly.
        bins = self.n_fft // 2 + 1
        real_bins = torch.zeros(bins, 1, dtype=torch.bool)
        real_bins[0] = True
        real_bins[-1] = self.n_fft % 2 == 0
        self.register_buffer("real_bins", real_bins)
        self.projection = frontend.projection
        self.conformer = model.encoder.conformer
        quantizer = model.quantizer
        self.in_proj = quantizer.in_proj
        codebook = F.normalize(quantizer.codebook.weight.float())
        self.register_buffer("codebook_t", codebook.t().contiguous())
        self.register_buffer("codebook_sq", codebook.pow(2).sum(1)[None, None, :])

    def forward(self, input_values, padding_mask, code_range):
        lengths = padding_mask.long().sum(-1)
        padded = mirror_pad(input_values.float(), lengths, (self.n_fft - self.hop) // 2)
        spec = F.conv1d(padded[:, None, :], self.stft_basis, stride=self.hop)  # (B, 2F, T)
        real, imag = spec.chunk(2, dim=1)
        imag = torch.where(self.real_bins, torch.zeros_like(imag), imag)
        features = spectral_features(real, imag, self.spectral_floor, _atan2).transpose(1, 2)
        num_frames = features.shape[1]
        frame_mask = torch.arange(num_frames)[None, :] < (lengths // self.hop)[:, None]
        hidden = self.conformer(self.projection(features), frame_mask=frame_mask)
        projected = self.in_proj(hidden.transpose(1, 2)).transpose(1, 2)  # (B, T, C)
        rows = F.normalize(projected, dim=-1)
        # Same expression as the model (|e|^2 - 2 e.c + |c|^2) so near-ties break the same way.
        distance = rows.pow(2).sum(-1, keepdim=True) - 2 * rows @ self.codebook_t + self.codebook_sq
        index = torch.arange(self.codebook_t.shape[1])[None, None, :]
        outside = (index < code_range[:, None, :1]) | (index >= code_range[:, None, 1:])
        distance = torch.where(outside, torch.full_like(distance, float("inf")), distance)
        codes = torch.argmax(-distance, dim=-1)
        codes = torch.where(frame_mask, codes, torch.full_like(codes, -1))
        return codes, frame_mask, hidden


class LLMCodecOnnxDecoder(nn.Module):
    """`(audio_codes (B, T), audio_codes_mask (B, T))` -> audio `(B, T * hop)`, zero after each item's end."""

    def __init__(self, model):
        super().__init__()
        config = model.config
        self.hop, self.n_fft = config.hop_length, config.n_fft
        self.codebook = model.quantizer.codebook
        self.out_proj = model.quantizer.out_proj
        self.conformer = model.decoder.conformer
        head = model.decoder.istft_head
        self.projection, self.max_magnitude = head.projection, head.max_magnitude
        _, inverse = _dft_basis(self.n_fft, head.window)
        self.register_buffer("istft_basis", inverse)
        self.register_buffer("window_sq", head.window.float().square())

    def forward(self, audio_codes, audio_codes_mask):
        frame_mask = audio_codes_mask.bool()
        codes = torch.where(frame_mask, audio_codes, torch.zeros_like(audio_codes))
        latents = self.out_proj(F.embedding(codes, self.codebook.weight).transpose(1, 2)).transpose(1, 2)
        x = self.projection(self.conformer(latents, frame_mask=frame_mask)).float()
        log_magnitude, phase = x.chunk(2, dim=-1)
        magnitude = torch.clip(torch.exp(log_magnitude), max=self.max_magnitude)
        spectrum = torch.cat((magnitude * torch.cos(phase), magnitude * torch.sin(phase)), dim=-1)
        weights = frame_mask[:, :, None].float()
        frames = (spectrum @ self.istft_basis) * weights  # windowed inverse-FFT frames (B, T, n_fft)
        audio = _overlap_add(frames, self.hop, self.n_fft)
        envelope = _overlap_add(self.window_sq[None, None, :] * weights, self.hop, self.n_fft)
        valid = envelope > 1e-11
        audio = torch.where(valid, audio / torch.where(valid, envelope, torch.ones_like(envelope)), 0.0)
        sample_mask = frame_mask[:, :, None].expand(-1, -1, self.hop).reshape(audio.shape)
        return audio * sample_mask


def _export(module: nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_shapes) -> None:
    # The exporter's own notices (missing torchvision ops, pytree deprecations, axis renames) say nothing about
    # this model; errors still raise.
    with warnings.catch_warnings(), _quiet_logger("torch.onnx"), _quiet_logger("torch.export"):
        warnings.simplefilter("ignore")
        _run_export(module, args, path, input_names, output_names, dynamic_shapes)


@contextlib.contextmanager
def _quiet_logger(name: str):
    log = logging.getLogger(name)
    previous = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(previous)


def _run_export(module, args, path, input_names, output_names, dynamic_shapes) -> None:
    torch.onnx.export(
        module,
        args,
        str(path),
        input_names=input_names,
        output_names=output_names,
        dynamic_shapes=dynamic_shapes,
        opset_version=OPSET,
        dynamo=True,
        external_data=False,
        optimize=True,
        verbose=False,
    )


def export_onnx(model, output_dir: str | os.PathLike) -> Path:
    """Writes `encoder.onnx`, `decoder.onnx` and `llmcodec_onnx.json` (the model config) into `output_dir`.

    The graphs take any batch and any length up to `config.max_position_embeddings` frames (81.92 s for the
    released model; the ONNX codec encodes and decodes longer audio in the model's 60 s windows).
    """
    config = model.config
    if config.n_fft % config.hop_length:
        raise ValueError(
            f"ONNX export needs n_fft ({config.n_fft}) to be a multiple of hop_length ({config.hop_length})"
        )
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    plain = _exportable_copy(model)
    hop, max_frames = config.hop_length, config.max_position_embeddings
    batch = torch.export.Dim("batch", min=1, max=4096)
    frames = torch.export.Dim("frames", min=2, max=max_frames)
    samples = torch.export.Dim("samples", min=2 * hop, max=hop * (max_frames + 1) - 1)
    audio = torch.randn(2, 40 * hop) * 0.1
    mask = torch.ones(2, 40 * hop, dtype=torch.bool)
    mask[1, 30 * hop :] = False
    code_range = torch.tensor([[0, config.codebook_size]] * 2)
    with torch.no_grad():
        _export(
            LLMCodecOnnxEncoder(plain).eval(), (audio, mask, code_range), out / ENCODER_FILE,
            ["input_values", "padding_mask", "code_range"],
            ["audio_codes", "audio_codes_mask", "latents_before_quantization"],
            ({0: batch, 1: samples}, {0: batch, 1: samples}, {0: batch}),
        )
        codes = torch.randint(0, config.codebook_size, (2, 40))
        codes_mask = torch.ones(2, 40, dtype=torch.bool)
        codes_mask[1, 30:] = False
        _export(
            LLMCodecOnnxDecoder(plain).eval(), (codes, codes_mask), out / DECODER_FILE,
            ["audio_codes", "audio_codes_mask"], ["audio_values"],
            ({0: batch, 1: frames}, {0: batch, 1: frames}),
        )
    meta = {
        "format": 1, "opset": OPSET, "max_frames": max_frames,
        "num_parameters": sum(p.numel() for p in model.parameters()), "config": config.to_dict(),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out
