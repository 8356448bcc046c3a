"""The codec commands' compute dtype: bfloat16 autocast only where the device runs bf16 natively.

On a CPU without bf16 instructions (AVX2 only, no AVX512-BF16 / AMX) bf16 matmuls are emulated and the
codec runs about 6x slower than in float32, so `--dtype auto` (the default) picks float32 there.
"""

from __future__ import annotations

import warnings

# x86: AVX512-BF16 and AMX-BF16; aarch64: the ARMv8.6 BF16 extension ("bf16" in /proc/cpuinfo Features).
NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
DTYPE_CHOICES = ("auto", "bfloat16", "float32")


class SlowPrecisionWarning(UserWarning):
    """bfloat16 was forced on a device that only emulates it."""


def _cpu_flags() -> set[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where there is none: not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def has_native_bf16(device) -> bool:
    """Whether `device` computes bfloat16 in hardware (CUDA with bf16 support, or a CPU with bf16 instructions)."""
    import torch  # here, not at the top: the CLI names DTYPE_CHOICES while building its parser

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(_cpu_flags() & NATIVE_BF16_CPU_FLAGS)
    return False  # mps, xpu ...: not measured here, float32 is the safe choice


def resolve_dtype(name: str, device) -> str:
    """`--dtype` value -> "bfloat16" or "float32"; warns when bfloat16 is forced where it is emulated."""
    if name not in DTYPE_CHOICES:
        raise ValueError(f"dtype must be one of {DTYPE_CHOICES}, got {name!r}")
    if name == "auto":
        return "bfloat16" if has_native_bf16(device) else "float32"
    if name == "bfloat16" and not has_native_bf16(device):
        warnings.warn(
            f"--dtype bfloat16 on {device} without native bf16 support: it is emulated and typically "
            "several times slower than float32 (--dtype auto picks float32 here)",
            SlowPrecisionWarning,
            stacklevel=2,
        )
    return name
