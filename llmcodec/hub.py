"""Loading, exporting and publishing LLM-Codec models.

Exported ("Hub-ready") folder layout — one repo serves both the codec and the LM side:

    <repo>/
      config.json                 LLMCodecConfig, with auto_map for AutoConfig / AutoModel
      model.safetensors           codec weights
      preprocessor_config.json    LLMCodecFeatureExtractor, with auto_map for AutoFeatureExtractor
      configuration_llmcodec.py   remote code (flat, copied by save_pretrained)
      modeling_llmcodec.py
      feature_extraction_llmcodec.py
      streaming_llmcodec.py       (copied because modeling_llmcodec.py imports it)
      README.md                   model card with the metadata block
      lm/                         optional: Qwen-compatible causal LM + extended tokenizer
                                  (AutoModelForCausalLM.from_pretrained(repo, subfolder="lm"))

Our own loader always uses the installed classes (`LLMCodecModel.from_pretrained`) and never executes code
that came with a downloaded repo.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import torch

from llmcodec.conversion import model_from_reference_checkpoint
from llmcodec.cli_options import DEFAULT_MODEL_DIR
from llmcodec.config_check import check_config_matches_weights
from llmcodec.errors import ModelLoadError, UserError
from llmcodec.files import disk_full_message, failed_for_space, install_staged_folder, staging_folder
from llmcodec.modeling import LLMCodecConfig, LLMCodecFeatureExtractor, LLMCodecModel

RAW_CHECKPOINT_NAMES = ("llm-codec.pt", "auv.pt")
LM_SUBFOLDER = "lm"


# What `huggingface_hub.utils.validate_repo_id` accepts, minus names that are surely paths (checkpoint files).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


def _read_config(folder: Path) -> dict | None:
    """`folder/config.json` as a dict (None when absent); a config.json that is not a JSON object raises."""
    config = folder / "config.json"
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{config}: invalid config.json ({error})") from error
    if not isinstance(data, dict):
        raise ModelLoadError(f"{config}: invalid config.json (a JSON object expected, got {type(data).__name__})")
    return data


def _is_codec_folder(folder: Path) -> bool:
    config = _read_config(folder)
    return config is not None and config.get("model_type") == LLMCodecConfig.model_type


def _raw_checkpoint_in(folder: Path) -> Path | None:
    for name in RAW_CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def _from_pretrained(folder: Path) -> LLMCodecModel:
    """`LLMCodecModel.from_pretrained` with errors that name the broken file."""
    from safetensors import SafetensorError

    try:
        config = LLMCodecConfig.from_pretrained(folder, trust_remote_code=False)
    except Exception as error:  # noqa: BLE001 - transformers raises many types for a bad config
        raise ModelLoadError(f"{folder / 'config.json'}: invalid config.json ({error})") from error
    check_config_matches_weights(folder, config)
    try:
        return LLMCodecModel.from_pretrained(folder, config=config, trust_remote_code=False)
    except (SafetensorError, OSError) as error:
        weights = folder / "model.safetensors"
        raise ModelLoadError(
            f"{weights if weights.is_file() else folder}: cannot read the weights ({error}); the file may be "
            "truncated or corrupt: download or export it again"
        ) from error
    except (TypeError, ValueError) as error:  # the config's values do not build a model
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelLoadError(f"{folder / 'config.json'}: invalid config.json ({message})") from error
    except RuntimeError as error:  # load_state_dict: shapes the header check does not cover
        lines = [line.strip() for line in str(error).splitlines() if "size mismatch" in line] or [type(error).__name__]
        raise ModelLoadError(
            f"{folder / 'config.json'}: does not match the weights in model.safetensors ({lines[0]})"
        ) from error


def _load_file(path: Path) -> LLMCodecModel:
    if path.suffix == ".safetensors":
        hint = f"pass the folder {path.parent}" if _is_codec_folder(path.parent) else "pass the exported folder"
        raise ModelLoadError(
            f"{path}: a .safetensors file holds weights without the model's config; {hint} (config.json and "
            "model.safetensors), or a raw llm-codec.pt / auv.pt state dict"
        )
    return model_from_reference_checkpoint(path)


def _load_folder(path: Path) -> LLMCodecModel:
    config = _read_config(path)
    if config is not None and config.get("model_type") == LLMCodecConfig.model_type:
        return _from_pretrained(path)
    if (raw := _raw_checkpoint_in(path)) is not None:
        return model_from_reference_checkpoint(raw)
    found = "" if config is None else f"; its config.json is model_type {config.get('model_type')!r}"
    raise ModelLoadError(
        f"{path} is neither an LLM-Codec folder (config.json with model_type 'llmcodec') nor a folder "
        f"holding {' or '.join(RAW_CHECKPOINT_NAMES)}{found}"
    )


def _looks_like_hub_id(spec: str) -> bool:
    """True for `owner/name` that cannot be a local path the user mistyped (those get "no such file")."""
    if not _HUB_ID.match(spec) or "--" in spec or ".." in spec or spec.endswith(_CHECKPOINT_SUFFIXES):
        return False
    return not Path(spec.split("/")[0]).exists()  # `exported/modle` beside a real `exported/` is a typo


def _hub_unreachable(repo_id: str, error: Exception) -> ModelLoadError:
    from huggingface_hub.constants import is_offline_mode

    if is_offline_mode():
        return ModelLoadError(
            f"{repo_id!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE "
            "to download it, or pass a local folder or .pt file with --model"
        )
    cause = error.__cause__ or error.__context__ or error
    return ModelLoadError(
        f"cannot reach the Hugging Face Hub to fetch {repo_id!r} ({type(cause).__name__}); check the network "
        "and HF_ENDPOINT, or work offline: set HF_HUB_OFFLINE=1 to use the local cache, or pass a local folder "
        "or .pt file with --model"
    )


def _hub_download(repo_id: str, filename: str) -> Path | None:
    """Downloads one file (None if the repo does not have it); network and access failures raise ModelLoadError."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        return Path(hf_hub_download(repo_id, filename))
    except LocalEntryNotFoundError as error:  # an EntryNotFoundError, but it means "could not ask the Hub"
        raise _hub_unreachable(repo_id, error) from error
    except EntryNotFoundError:
        return None
    except GatedRepoError as error:
        raise ModelLoadError(
            f"{repo_id!r} is a gated Hub repo: accept its terms on huggingface.co and log in "
            "(huggingface-cli login or HF_TOKEN)"
        ) from error
    except RepositoryNotFoundError as error:
        raise ModelLoadError(
            f"{repo_id!r}: no such local file or folder, and no such Hub repo (or it is private: log in with "
            "huggingface-cli login or HF_TOKEN)"
        ) from error
    except Exception as error:  # noqa: BLE001 - HTTP errors, timeouts ...
        raise ModelLoadError(
            f"cannot fetch {repo_id}/{filename} from the Hugging Face Hub ({type(error).__name__}: {error})"
        ) from error


# Hub repos known to hold only a raw reference checkpoint: fetched straight away (no config.json probe).
# SWivid/AUV is the LLM-Codec recipe's base codec (its training script expects `--auv_ckpt ./auv.pt`).
KNOWN_RAW_CHECKPOINT_REPOS = {"SWivid/AUV": "auv.pt"}


def _load_from_hub(repo_id: str) -> LLMCodecModel:
    if (known := KNOWN_RAW_CHECKPOINT_REPOS.get(repo_id)) is not None:
        raw = _hub_download(repo_id, known)
        if raw is None:
            raise ModelLoadError(f"{repo_id!r} no longer holds {known}")
        return model_from_reference_checkpoint(raw)
    config_path = _hub_download(repo_id, "config.json")
    if config_path is not None and _is_codec_folder(config_path.parent):
        weights = _hub_download(repo_id, "model.safetensors")
        if weights is None:
            raise ModelLoadError(f"{repo_id!r} has an LLM-Codec config.json but no model.safetensors")
        _hub_download(repo_id, "preprocessor_config.json")
        return _from_pretrained(weights.parent)
    # A repo with a raw reference checkpoint (e.g. voidful/llm-codec, whose root config.json is the Qwen3 LM):
    # fetch the raw file (cached by huggingface_hub) and convert it in memory.
    for name in RAW_CHECKPOINT_NAMES:
        raw = _hub_download(repo_id, name)
        if raw is not None:
            return model_from_reference_checkpoint(raw)
    raise ModelLoadError(f"{repo_id!r} holds neither an LLM-Codec config.json nor one of {RAW_CHECKPOINT_NAMES}")


def _check_finite_weights(model: LLMCodecModel, spec: str) -> None:
    """A NaN/Inf weight makes every output NaN (written as a constant -1 wav): refuse the model at load."""
    bad = [name for name, tensor in model.state_dict().items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ModelLoadError(f"model {spec}: non-finite (NaN or Inf) weights in {shown}; the checkpoint is corrupt")


def load_codec(
    model: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LLMCodecModel:
    """Resolves `model` to an `LLMCodecModel` in eval mode.

    `model` may be: an exported folder (config.json of model_type "llmcodec"); a raw reference checkpoint
    (`llm-codec.pt` / `auv.pt` / any `.pt` state dict); a folder holding such a raw file; or a Hub repo id
    (exported repo, or a repo with a raw checkpoint, converted in memory). ``None`` loads the bundled
    default model (``DEFAULT_MODEL_DIR``).
    """
    if model is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise ModelLoadError(f"no default model is bundled with this install ({DEFAULT_MODEL_DIR} is missing)")
        model = DEFAULT_MODEL_DIR
    spec = os.fspath(model)
    path = Path(spec).expanduser()
    if path.is_file():
        loaded = _load_file(path)
    elif path.is_dir():
        loaded = _load_folder(path)
    elif _looks_like_hub_id(spec):
        loaded = _load_from_hub(spec)
    else:
        raise ModelLoadError(f"{spec}: no such file or folder")
    _check_finite_weights(loaded, spec)
    return loaded.to(device=device, dtype=dtype).eval()


def render_model_card(config: LLMCodecConfig, *, source: str | None = None, extra: str = "") -> str:
    """A model card (README.md) with the Hub metadata block."""
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: audio-to-audio",
        "license: mit",
        "tags:",
        "  - audio",
        "  - speech",
        "  - neural-codec",
        "  - audio-tokenizer",
        "  - llm-codec",
        "---",
        "",
        "# LLM-Codec",
        "",
        f"A neural speech codec: {config.sampling_rate // 1000} kHz mono, {config.frame_rate:g} codes/s from one "
        f"codebook of {config.codebook_size:,} codes (about {config.bitrate:.0f} bps). Its codes appear to an LLM as "
        f"the added tokens `<CODEC_0>` … `<CODEC_{config.codebook_size - 1}>`.",
        "",
    ]
    if source:
        lines += [f"Converted from `{source}`.", ""]
    lines += [
        "## Usage",
        "",
        "```python",
        "from transformers import AutoFeatureExtractor, AutoModel",
        "",
        'model = AutoModel.from_pretrained("PATH_OR_REPO", trust_remote_code=True).eval()',
        'fe = AutoFeatureExtractor.from_pretrained("PATH_OR_REPO", trust_remote_code=True)',
        f'inputs = fe(waveform, sampling_rate={config.sampling_rate}, return_tensors="pt")',
        'codes = model.encode(inputs["input_values"], inputs["padding_mask"])',
        "audio = model.decode(codes.audio_codes, codes.audio_codes_mask).audio_values",
        "```",
        "",
        "## Architecture",
        "",
        f"STFT front end (n_fft {config.n_fft}, hop {config.hop_length}), {config.encoder_num_layers}-layer Conformer "
        f"encoder (d={config.hidden_size}), factorized cosine VQ ({config.codebook_size} x {config.codebook_dim}), "
        f"{config.decoder_num_layers}-layer Conformer decoder, iSTFT head.",
        "",
        f"If present, the subfolder `{LM_SUBFOLDER}/` holds a Qwen-compatible causal LM with the extended tokenizer: "
        f'`AutoModelForCausalLM.from_pretrained("PATH_OR_REPO", subfolder="{LM_SUBFOLDER}")`.',
        "",
    ]
    if extra:
        lines += [extra.rstrip(), ""]
    return "\n".join(lines)


def _save_with_storage_dtype(model: LLMCodecModel, folder: Path, storage_dtype: torch.dtype) -> None:
    if not storage_dtype.is_floating_point:
        raise ValueError(f"storage_dtype must be a floating-point dtype, got {storage_dtype}")
    compute_dtype = next(model.parameters()).dtype
    stored = copy.deepcopy(model).to(storage_dtype)
    stored.save_pretrained(folder)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = str(compute_dtype).removeprefix("torch.")
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


# Files of an earlier export that this one replaces even where it does not write a file of the same name.
CODEC_EXPORT_FILES = ("model*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin", "*_llmcodec.py")


def save_codec_folder(
    model: LLMCodecModel,
    out_dir: str | os.PathLike,
    *,
    source: str | None = None,
    card_extra: str = "",
    overwrite: bool = False,
    storage_dtype: torch.dtype | None = None,
) -> Path:
    """Writes a Hub-ready folder: built in a temporary sibling folder, then moved into place.

    A new (or empty) `out_dir` appears in one rename. With `overwrite`, an existing `out_dir` gets each
    written file replaced (one rename per file) and keeps every other file (an `lm/` subfolder, notes ...).
    Files get the umask's permissions. A full disk raises `UserError` and leaves `out_dir` as it was.

    ``storage_dtype`` (e.g. ``torch.float16``) stores the floating-point weights in that dtype to halve the
    folder, while ``config.json`` keeps ``dtype: float32`` so ``from_pretrained`` upcasts them on load
    (the model computes in float32; only the weights are rounded).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True / --overwrite to replace it)")
    staging = staging_folder(out_dir)
    try:
        if storage_dtype is None:
            model.save_pretrained(staging)
        else:
            _save_with_storage_dtype(model, staging, storage_dtype)
        LLMCodecFeatureExtractor(
            sampling_rate=model.config.sampling_rate, hop_length=model.config.hop_length
        ).save_pretrained(staging)
        (staging / "README.md").write_text(render_model_card(model.config, source=source, extra=card_extra))
        install_staged_folder(staging, out_dir, overwrite=overwrite, stale=CODEC_EXPORT_FILES)
    except Exception as error:
        if not isinstance(error, UserError) and failed_for_space(error, staging):
            raise UserError(disk_full_message(out_dir)) from error
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def push_folder(folder: str | os.PathLike, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Uploads an exported folder to the Hub; returns the commit URL."""
    folder = Path(folder)
    missing = [name for name in ("config.json", "model.safetensors") if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(f"{folder} is not an exported LLM-Codec folder (missing {', '.join(missing)})")
    if repo_id.count("/") != 1:
        raise ValueError(f"repo id must look like 'owner/name', got {repo_id!r}")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="Upload LLM-Codec")
    except Exception as error:
        raise ConnectionError(
            f"could not upload to the Hugging Face Hub ({type(error).__name__}: {error}). Check the network, "
            "HF_ENDPOINT and your token (huggingface-cli login or HF_TOKEN)."
        ) from error
    return str(getattr(info, "commit_url", info))
