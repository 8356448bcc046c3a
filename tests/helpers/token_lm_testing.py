"""The tiny token LM of the evaluation and generation tests (no tests here): sizes small enough to train in
seconds on a CPU, spread into ``TokenLMConfig(**TINY_LM_SIZES, ...)`` beside each test's own recipe."""

from __future__ import annotations

# One layer, hidden 32, two query heads sharing one key/value head of 16 dimensions.
TINY_LM_SIZES = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                     num_key_value_heads=1, head_dim=16)
