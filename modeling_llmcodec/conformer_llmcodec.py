"""Conformer of the LLM-Codec encoder and decoder: rotary self-attention, feed-forward and convolution modules.

Shapes: ``B`` batch, ``T`` frames, ``D`` ``hidden_size``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_llmcodec import LLMCodecConfig


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class LLMCodecRotaryEmbedding(nn.Module):
    """NeoX-style rotary position embedding with precomputed `(max_positions, head_dim)` cos/sin tables.

    The tables are non-persistent buffers (absent from checkpoints) and are rebuilt in `_init_weights`.
    """

    def __init__(self, head_dim: int, max_position_embeddings: int, base: float):
        super().__init__()
        self.head_dim = head_dim
        self.max_position_embeddings = max_position_embeddings
        self.base = base
        inv_freq, cos, sin = self.compute_tables(max_position_embeddings)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("cos_cached", cos, persistent=False)
        self.register_buffer("sin_cached", sin, persistent=False)

    def compute_tables(self, num_positions: int, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns `inv_freq` `(head_dim / 2,)`, `cos` and `sin` `(num_positions, head_dim)` in float32."""
        inv_freq = 1.0 / (self.base ** (torch.arange(0, self.head_dim, 2, device=device).float() / self.head_dim))
        positions = torch.arange(num_positions, device=device, dtype=inv_freq.dtype)
        freqs = torch.outer(positions, inv_freq)
        angles = torch.cat((freqs, freqs), dim=-1)
        return inv_freq, angles.cos(), angles.sin()

    def forward(self, seq_len: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns cos and sin of shape `(seq_len, head_dim)`."""
        if seq_len > self.cos_cached.shape[0]:
            # Longer than the cached tables: compute on the fly (the reference rebuilds its cache instead).
            _, cos, sin = self.compute_tables(seq_len, device=self.inv_freq.device)
        else:
            cos, sin = self.cos_cached[:seq_len], self.sin_cached[:seq_len]
        return cos.to(dtype), sin.to(dtype)


class LLMCodecAttention(nn.Module):
    """Multi-head self-attention with a fused bias-free QKV projection and RoPE on queries and keys."""

    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        inner = self.num_heads * self.head_dim
        self.to_qkv = nn.Linear(config.hidden_size, 3 * inner, bias=False)
        self.to_out = nn.Linear(inner, config.hidden_size)
        self.rotary_embed = LLMCodecRotaryEmbedding(
            config.head_dim, config.max_position_embeddings, config.rope_theta
        )

    def forward(self, hidden_states: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`hidden_states` `(B, T, D)`; `key_mask` `(B, T)` bool (True = attend) or None. Returns `(B, T, D)`."""
        batch, length, _ = hidden_states.shape
        q, k, v = self.to_qkv(hidden_states).chunk(3, dim=-1)
        q, k, v = (t.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        cos, sin = self.rotary_embed(length, dtype=k.dtype)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=1.0 / math.sqrt(self.head_dim))
        out = out.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim)
        return self.to_out(out)


class LLMCodecFeedForward(nn.Module):
    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        self.up_proj = nn.Linear(config.hidden_size, config.hidden_size * config.ffn_mult)
        self.down_proj = nn.Linear(config.hidden_size * config.ffn_mult, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.gelu(self.up_proj(hidden_states), approximate="tanh"))


class LLMCodecConvolutionModule(nn.Module):
    """LayerNorm -> pointwise conv -> GLU -> depthwise conv -> BatchNorm -> GELU -> pointwise conv."""

    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        dim = config.hidden_size
        self.layer_norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.pointwise_conv1 = nn.Conv1d(dim, 2 * dim, kernel_size=1, bias=False)
        self.depthwise_conv = nn.Conv1d(
            dim, dim, config.conv_kernel_size, padding=(config.conv_kernel_size - 1) // 2, groups=dim, bias=False
        )
        self.conv_norm = nn.BatchNorm1d(dim, eps=config.batch_norm_eps)
        self.pointwise_conv2 = nn.Conv1d(dim, dim, kernel_size=1, bias=False)

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`hidden_states` `(B, T, D)`, `frame_mask` `(B, T)` bool or None. Returns `(B, T, D)`."""
        # The 1x1 convolutions run as matmuls in time-major layout (same weights, faster than a conv on CPU).
        x = F.linear(self.layer_norm(hidden_states), self.pointwise_conv1.weight.squeeze(-1))
        x = F.glu(x, dim=-1)
        if frame_mask is not None:
            # Zero padded frames so the depthwise conv sees exactly the zero padding an item gets alone.
            x = x.masked_fill(~frame_mask[:, :, None], 0.0)
        x = self.depthwise_conv(x.transpose(1, 2))
        x = F.gelu(self.conv_norm(x), approximate="tanh").transpose(1, 2)
        x = F.linear(x, self.pointwise_conv2.weight.squeeze(-1))
        if frame_mask is not None:
            x = x.masked_fill(~frame_mask[:, :, None], 0.0)
        return x


class LLMCodecConformerLayer(nn.Module):
    """Macaron Conformer layer: half FFN, self-attention, convolution, half FFN, final LayerNorm."""

    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        dim, eps = config.hidden_size, config.layer_norm_eps
        self.ffn1_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn1 = LLMCodecFeedForward(config)
        self.attn_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.attn = LLMCodecAttention(config)
        self.conv_module = LLMCodecConvolutionModule(config)
        self.ffn2_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn2 = LLMCodecFeedForward(config)
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = hidden_states + self.ffn1(self.ffn1_layer_norm(hidden_states)) * 0.5
        h = h + self.attn(self.attn_layer_norm(h), key_mask=frame_mask)
        h = h + self.conv_module(h, frame_mask=frame_mask)
        h = h + 0.5 * self.ffn2(self.ffn2_layer_norm(h))
        return self.final_layer_norm(h)


class LLMCodecConformer(nn.Module):
    """A stack of Conformer layers followed by a LayerNorm. `(B, T, D)` -> `(B, T, D)`."""

    def __init__(self, config: LLMCodecConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList([LLMCodecConformerLayer(config) for _ in range(num_layers)])
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.gradient_checkpointing = False

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                hidden_states = torch.utils.checkpoint.checkpoint(
                    layer, hidden_states, frame_mask, use_reentrant=False
                )
            else:
                hidden_states = layer(hidden_states, frame_mask=frame_mask)
        return self.layer_norm(hidden_states)
