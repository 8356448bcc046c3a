"""llmcodec.precision: --dtype auto picks bf16 only where the device has it natively; forced bf16 warns."""

import warnings

import pytest

import llmcodec.precision as precision

AVX2_ONLY = {"fpu", "sse2", "avx", "avx2", "fma", "avx512f"}  # AVX-512 without its BF16 extension


@pytest.mark.parametrize(
    "flags, native",
    [
        (AVX2_ONLY, False),
        (AVX2_ONLY | {"avx512_bf16"}, True),
        (AVX2_ONLY | {"amx_tile", "amx_bf16"}, True),
        ({"fp", "asimd", "bf16"}, True),  # aarch64 "Features" line
        (set(), False),  # no /proc/cpuinfo
    ],
)
def test_cpu_detection_and_auto(monkeypatch, flags, native):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: set(flags))
    assert precision.has_native_bf16("cpu") is native
    assert precision.resolve_dtype("auto", "cpu") == ("bfloat16" if native else "float32")
    assert precision.resolve_dtype("float32", "cpu") == "float32"


def test_cpuinfo_parsing_reads_x86_and_arm_lines(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nFeatures\t: fp bf16\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    assert precision._cpu_flags() == {"fpu", "avx2", "amx_bf16", "fp", "bf16"}


def test_forcing_bf16_without_native_support_warns(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: set(AVX2_ONLY))
    with pytest.warns(precision.SlowPrecisionWarning, match="emulated"):
        assert precision.resolve_dtype("bfloat16", "cpu") == "bfloat16"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: AVX2_ONLY | {"amx_bf16"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.resolve_dtype("bfloat16", "cpu") == "bfloat16"


def test_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype must be one of"):
        precision.resolve_dtype("float16", "cpu")
