"""Conversion of reference AUV / LLM-Codec state dicts (``auv.pt``, ``llm-codec.pt``) to `LLMCodecModel`.

The reference keys (``tokenizer.*`` encoder side, ``token2wav.*`` decoder) map one to one onto this model's
parameter names; the STFT windows (persistent buffers in the reference, rebuilt here) are checked, not copied.
Weight-norm parametrizations (g, v) and BatchNorm running statistics are carried over exactly.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping

import torch

from llmcodec.modeling import LLMCodecConfig, LLMCodecModel

# (reference regex, our template) applied in order; the first match wins.
_KEY_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^tokenizer\.stft_head\.inp\.(weight|bias)$"), r"encoder.stft_frontend.projection.\1"),
    (re.compile(r"^tokenizer\.conformer\.(.+)$"), r"encoder.conformer.\1"),
    (re.compile(r"^tokenizer\.vq\.quantizers\.0\._codebook\.weight$"), r"quantizer.codebook.weight"),
    (re.compile(r"^tokenizer\.vq\.quantizers\.0\.((?:in|out)_proj\..+)$"), r"quantizer.\1"),
    (re.compile(r"^token2wav\.conformer\.(.+)$"), r"decoder.conformer.\1"),
    (re.compile(r"^token2wav\.istft_head\.out\.(weight|bias)$"), r"decoder.istft_head.projection.\1"),
]
# Reference buffers that this model rebuilds from the config instead of storing.
_WINDOW_KEYS = ("tokenizer.stft_head.stft.window", "token2wav.istft_head.istft.window")


class CheckpointMismatchError(ValueError):
    """A reference checkpoint does not fit the model: lists missing, unexpected and mis-shaped keys."""


def load_reference_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Loads an ``auv.pt`` / ``llm-codec.pt`` state dict safely (``weights_only=True``).

    Accepts a plain state dict or a training checkpoint holding one under ``"auv"`` (as the LLM-Codec
    training script writes).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message advises weights_only=False (arbitrary code execution): give our own instead.
        raise CheckpointMismatchError(
            f"cannot read {path} as a PyTorch state dict: it is not a plain file of tensors that loads safely "
            f"({_unpickling_reason(error)}); pass a raw llm-codec.pt / auv.pt state dict or an exported folder"
        ) from error
    except Exception as error:  # corrupt zip, truncated file ...
        raise CheckpointMismatchError(f"cannot read {path} as a PyTorch state dict ({error})") from error
    if isinstance(obj, Mapping) and "auv" in obj and isinstance(obj["auv"], Mapping):
        obj = obj["auv"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointMismatchError(f"{path} does not hold a state dict of tensors")
    return dict(obj)


def _unpickling_reason(error: Exception) -> str:
    """The reason inside torch's weights-only message, without its advice to load unsafely."""
    lines = [line.strip() for line in str(error).split("WeightsUnpickler error:")[-1].splitlines() if line.strip()]
    reason = lines[0].split(". Please")[0] if lines and "weights_only" not in lines[0] else type(error).__name__
    return f"safe loading refused it: {reason}"


def convert_key(key: str) -> str | None:
    """Maps one reference key to this model's key (None if the key has no counterpart)."""
    for pattern, template in _KEY_RULES:
        if pattern.match(key):
            return pattern.sub(template, key)
    return None


def _count_layers(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    indices = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"\.layers\.(\d+)\.", k))}
    return max(indices) + 1 if indices else 0


def infer_config(state: Mapping[str, torch.Tensor], **overrides) -> LLMCodecConfig:
    """Reads the architecture sizes off a reference state dict (the released checkpoints give the defaults)."""
    try:
        hidden, inp_dim = state["tokenizer.stft_head.inp.weight"].shape
        codebook_size, codebook_dim = state["tokenizer.vq.quantizers.0._codebook.weight"].shape
        ffn = state["tokenizer.conformer.layers.0.ffn1.up_proj.weight"].shape[0]
        qkv = state["tokenizer.conformer.layers.0.attn.to_qkv.weight"].shape[0]
        kernel = state["tokenizer.conformer.layers.0.conv_module.depthwise_conv.weight"].shape[-1]
    except KeyError as error:
        raise CheckpointMismatchError(
            f"not an AUV / LLM-Codec checkpoint: key {error.args[0]!r} is missing"
        ) from error
    n_fft = inp_dim - 2
    values = dict(
        hidden_size=hidden,
        n_fft=n_fft,
        hop_length=n_fft // 4,  # AUV ties n_fft = 4 * hop
        encoder_num_layers=_count_layers(state, "tokenizer.conformer"),
        decoder_num_layers=_count_layers(state, "token2wav.conformer"),
        ffn_mult=ffn // hidden,
        conv_kernel_size=kernel,
        codebook_size=codebook_size,
        codebook_dim=codebook_dim,
    )
    head_dim = overrides.get("head_dim", 64)
    values["num_attention_heads"] = (qkv // 3) // head_dim
    if codebook_size != 20480:
        # The released partitions only make sense for the 20,480-entry codebook.
        values["codebook_partitions"] = {}
    values.update(overrides)
    return LLMCodecConfig(**values)


def convert_state_dict(
    state: Mapping[str, torch.Tensor], model: LLMCodecModel
) -> dict[str, torch.Tensor]:
    """Renames reference keys and checks them against `model`; raises `CheckpointMismatchError` listing problems."""
    expected = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    unexpected, mismatched, seen = [], [], set()
    for key, tensor in state.items():
        if key in _WINDOW_KEYS:
            reference_window = torch.hann_window(model.config.n_fft)
            if tensor.shape != reference_window.shape or not torch.allclose(tensor.float(), reference_window, atol=1e-6):
                mismatched.append(f"{key}: expected a Hann window of length {model.config.n_fft}")
            continue
        new_key = convert_key(key)
        if new_key is None or new_key not in expected:
            unexpected.append(key)
            continue
        seen.add(new_key)
        if tuple(tensor.shape) != tuple(expected[new_key].shape):
            mismatched.append(f"{key}: checkpoint {tuple(tensor.shape)} vs model {tuple(expected[new_key].shape)}")
            continue
        converted[new_key] = tensor
    missing = sorted(set(expected) - seen)
    if missing or unexpected or mismatched:
        lines = ["checkpoint does not match the LLM-Codec architecture:"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched)):
            if items:
                shown = items[:20] + ([f"... and {len(items) - 20} more"] if len(items) > 20 else [])
                lines.append(f"  {title} ({len(items)}): " + ", ".join(shown))
        raise CheckpointMismatchError("\n".join(lines))
    return converted


def model_from_reference_state_dict(state: Mapping[str, torch.Tensor], **config_overrides) -> LLMCodecModel:
    """Builds an `LLMCodecModel` (eval mode) holding exactly the reference weights."""
    config = infer_config(state, **config_overrides)
    model = LLMCodecModel(config)
    converted = convert_state_dict(state, model)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def model_from_reference_checkpoint(path: str | os.PathLike, **config_overrides) -> LLMCodecModel:
    return model_from_reference_state_dict(load_reference_state_dict(path), **config_overrides)
