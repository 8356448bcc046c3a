"""Checking an exported folder's config.json against the shapes in its safetensors header, before any model is built.

A config that does not fit its weights would otherwise build a model of its own size first (minutes and
gigabytes for a mistyped layer count) and then fail with a long traceback, or silently initialise missing
layers at random. The header (keys and shapes) is read without loading a tensor.
"""

from __future__ import annotations

import re
from pathlib import Path

from llmcodec.errors import ModelLoadError

_SIZE_FIELDS = (
    "hidden_size", "n_fft", "hop_length", "codebook_size", "codebook_dim", "num_attention_heads", "head_dim",
    "ffn_mult", "conv_kernel_size", "encoder_num_layers", "decoder_num_layers",
)


def _expected_shapes(config) -> dict[str, tuple[int, ...]]:
    """Shapes of a few weights that together pin every size in the config (read from the config alone)."""
    hidden, bins = config.hidden_size, config.n_fft + 2
    shapes = {
        "encoder.stft_frontend.projection.weight": (hidden, bins),
        "decoder.istft_head.projection.weight": (bins, hidden),
        "quantizer.codebook.weight": (config.codebook_size, config.codebook_dim),
    }
    for side in ("encoder", "decoder"):
        layer = f"{side}.conformer.layers.0"
        shapes[f"{layer}.attn.to_qkv.weight"] = (3 * config.num_attention_heads * config.head_dim, hidden)
        shapes[f"{layer}.ffn1.up_proj.weight"] = (config.ffn_mult * hidden, hidden)
        shapes[f"{layer}.conv_module.depthwise_conv.weight"] = (hidden, 1, config.conv_kernel_size)
    return shapes


def check_config_matches_weights(folder: Path, config) -> None:
    """Compares the config's sizes with the weight shapes in the safetensors header, before building the model.

    A config that does not fit its weights would otherwise build a model of its own size first (minutes and
    gigabytes for a mistyped layer count) and then fail, or silently initialise missing layers at random.
    """
    for name in _SIZE_FIELDS:
        value = getattr(config, name, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ModelLoadError(f"{folder / 'config.json'}: invalid config.json ({name} must be an integer >= 1, got {value!r})")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return  # sharded or missing weights: from_pretrained reports them
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError) as error:
        raise ModelLoadError(
            f"{weights}: cannot read the weights ({error}); the file may be truncated or corrupt: download or "
            "export it again"
        ) from error
    problems = []
    for side, configured in (("encoder", config.encoder_num_layers), ("decoder", config.decoder_num_layers)):
        pattern = re.compile(rf"^{side}\.conformer\.layers\.(\d+)\.")
        layers = len({match.group(1) for key in shapes if (match := pattern.match(key))})
        if layers != configured:
            problems.append(f"{side}_num_layers is {configured} but the weights hold {layers} {side} layers")
    for key, expected in _expected_shapes(config).items():
        if key in shapes and shapes[key] != expected:
            problems.append(f"{key} is {list(shapes[key])} in the weights, {list(expected)} by the config")
    if problems:
        raise ModelLoadError(
            f"{folder / 'config.json'}: does not match the weights in model.safetensors: {'; '.join(problems[:3])}"
        )
