"""An ONNX Runtime codec with the `encode` / `decode` interface of `LLMCodecModel` (CPU inference).

The graphs come from `llmcodec.onnx_export` (`llmcodec export-onnx`). Everything around the graphs is the
model's own code, borrowed method by method: input validation, `codebook_domain` resolution, and the
windowing of long audio (60 s windows with 5 s of context by default), so both backends cut long audio
the same way and differ only inside a window.

`load_onnx_codec(spec)` takes an export folder, or any model `load_codec` takes, which it exports once into
a cache folder keyed by the weights' hash (`$LLMCODEC_ONNX_CACHE`, default `~/.cache/llmcodec/onnx`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

from llmcodec.errors import UserError
from llmcodec.modeling import LLMCodecConfig, LLMCodecModel
from llmcodec.onnx_export import DECODER_FILE, ENCODER_FILE, META_FILE, export_onnx

BACKENDS = ("torch", "onnx")


class _CodesAsLatents:
    """Stands in for the model's quantizer in `LLMCodecModel.decode`: the decoder graph starts from codes,
    so the "latents" the windowing slices are the (masked) codes themselves."""

    @staticmethod
    def decode_codes(codes: torch.Tensor) -> torch.Tensor:
        return codes


class OnnxCodec:
    """`encode(input_values, padding_mask, codebook_domain, chunk_length_s, chunk_context_s)` and
    `decode(audio_codes, audio_codes_mask, chunk_length_s, chunk_context_s)` as `LLMCodecModel`, on ONNX Runtime.

    `encode` returns `audio_codes`, `audio_codes_mask` and `latents_before_quantization`; `latents` and
    `projected_latents` have width 0 (the graph does not compute them). `decode` takes codes, not latents.
    """

    backend = "onnx"
    training = False
    dtype = torch.float32
    device = torch.device("cpu")

    def __init__(self, folder: str | os.PathLike, num_threads: int | None = None):
        import onnxruntime

        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        config = dict(meta["config"])
        for key in ("architectures", "auto_map", "model_type", "transformers_version"):
            config.pop(key, None)
        self.config = LLMCodecConfig(**config)
        self.max_frames = int(meta["max_frames"])
        self._num_parameters = int(meta.get("num_parameters", 0))
        self.folder = folder
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: the optimizer's notes on unfoldable casts are not actionable
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        self.encoder_session = onnxruntime.InferenceSession(str(folder / ENCODER_FILE), options, providers=providers)
        self.decoder_session = onnxruntime.InferenceSession(str(folder / DECODER_FILE), options, providers=providers)
        self.quantizer = _CodesAsLatents()

    encode = LLMCodecModel.encode

    def __getattr__(self, name: str):
        # Every helper of the model's encode / decode (validation, level normalisation, code-domain
        # resolution, windowing) is the model's own code bound to this object, so both backends prepare and
        # cut audio identically and only the per-window passes differ.
        member = LLMCodecModel.__dict__.get(name)
        if isinstance(member, staticmethod):
            return member.__func__
        if callable(member):
            return types.MethodType(member, self)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def eval(self):
        return self

    def to(self, device=None, *args, **kwargs):
        if device is not None and torch.device(device).type != "cpu":
            raise UserError(f"the ONNX backend runs on the CPU (onnxruntime), not on {device}")
        return self

    def parameters(self):
        return iter(())  # the weights live in the graphs

    def num_parameters(self) -> int:
        """Parameters of the exported model (as `PreTrainedModel.num_parameters()`)."""
        return self._num_parameters

    def _check_frames(self, num_frames: int) -> None:
        if num_frames > self.max_frames:
            seconds = self.max_frames / self.config.frame_rate
            raise ValueError(
                f"the ONNX graphs take at most {self.max_frames} frames ({seconds:g} s) per pass, got {num_frames}; "
                f"encode/decode in windows (chunk_length_s plus twice the context at most {seconds:g} s)"
            )

    def _encode_frames(self, waveform, lengths, partitions):
        """`(B, L)` audio -> the model's `_encode_frames` tuple; `latents` / `projected` have width 0."""
        batch, total = waveform.shape
        self._check_frames(total // self.config.hop_length)
        if lengths is None:
            lengths = torch.full((batch,), total)
        mask = torch.arange(total)[None, :] < lengths.cpu()[:, None]
        if partitions is None:
            partitions = [(0, self.config.codebook_size)] * batch
        codes, frame_mask, hidden = self.encoder_session.run(
            None,
            {
                "input_values": waveform.detach().float().cpu().numpy(),
                "padding_mask": mask.numpy(),
                "code_range": np.asarray(partitions, dtype=np.int64),
            },
        )
        codes, frame_mask, hidden = torch.from_numpy(codes), torch.from_numpy(frame_mask), torch.from_numpy(hidden)
        empty = hidden.new_zeros(hidden.shape[:2] + (0,))
        return codes, frame_mask, empty, hidden, empty, None

    def _decode_latents(self, codes: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        """`codes` `(B, T)` -> audio `(B, T * hop)` (what the model's `_decode_latents` gives for their latents)."""
        self._check_frames(codes.shape[1])
        if frame_mask is None:
            frame_mask = torch.ones(codes.shape, dtype=torch.bool)
        (audio,) = self.decoder_session.run(
            None, {"audio_codes": codes.long().cpu().numpy(), "audio_codes_mask": frame_mask.cpu().numpy()}
        )
        return torch.from_numpy(audio)

    def decode(self, audio_codes=None, audio_codes_mask=None, latents=None, **kwargs):
        """As `LLMCodecModel.decode` (same keywords), from codes only."""
        if latents is not None or audio_codes is None:
            raise ValueError("the ONNX codec decodes audio_codes (not latents)")
        return LLMCodecModel.decode(self, audio_codes=audio_codes, audio_codes_mask=audio_codes_mask, **kwargs)


def _weights_digest(model) -> str:
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def _cache_root() -> Path:
    return Path(os.environ.get("LLMCODEC_ONNX_CACHE") or Path.home() / ".cache" / "llmcodec" / "onnx")


def export_to_folder(model, folder: str | os.PathLike) -> Path:
    """`export_onnx` into a staging folder inside `folder`, then moves the files in, the metadata last: a
    killed export leaves no half-written graph, and the metadata file marks a complete export."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=folder))
    try:
        export_onnx(model, staging)
        for name in (ENCODER_FILE, DECODER_FILE, META_FILE):
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_onnx_codec(spec: str | os.PathLike, num_threads: int | None = None) -> OnnxCodec:
    """An `OnnxCodec` from an export folder, or from a model spec (`load_codec`) exported into the cache."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise UserError("--backend onnx needs onnxruntime and onnx: pip install 'llm-codec[onnx]'") from error
    if (Path(spec) / META_FILE).is_file():
        return OnnxCodec(spec, num_threads=num_threads)
    from llmcodec.hub import load_codec

    return OnnxCodec(cached_export(load_codec(str(spec), device="cpu")), num_threads=num_threads)


def cached_export(model) -> Path:
    """The export folder of `model` in the cache, exported on first use (keyed by config and weights)."""
    folder = _cache_root() / _weights_digest(model)
    if not (folder / META_FILE).is_file():
        export_to_folder(model, folder)
    return folder


def load_backend(spec: str, backend: str = "torch", device: str = "cpu", num_threads: int | None = None):
    """The codec for `--backend`: `load_codec(spec)` (torch) or `load_onnx_codec(spec)` (onnx, CPU)."""
    if backend == "onnx":
        if torch.device(device).type != "cpu":
            raise UserError(f"--backend onnx runs on the CPU; drop --device {device} or use --backend torch")
        return load_onnx_codec(spec, num_threads=num_threads)
    if backend != "torch":
        raise UserError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    from llmcodec.hub import load_codec

    return load_codec(spec, device=device)
