"""Extend an LM's tokenizer with the `<CODEC_0>` … `<CODEC_20479>` audio tokens.

The audio tokens are *normal* (non-special) added tokens, appended in code order, so `<CODEC_i>` has id
`first_id + i` with `first_id = len(base)`: 151669 + i on Qwen3 (the released artifacts, total length
172,149), 49152 + i on SmolLM2's byte-level BPE (total 69,632). Nothing here depends on the tokenizer
family: any Hugging Face tokenizer (Qwen2Tokenizer, a plain `tokenizers` backend, ...) is extended the same
way; Qwen3 is only the default base (`"offline"`) and the layout `check_qwen_layout` compares against (a
warning, with `warn_non_qwen`, that ids then differ from the released artifacts). The result is a plain
`save_pretrained` folder plus `audio_tokens_meta.json`; it loads with `AutoTokenizer.from_pretrained`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CODEC_PREFIX = "<CODEC_"
N_AUDIO_TOKENS = 20_480
META_FILENAME = "audio_tokens_meta.json"
# Legacy prefixes used by earlier exports of the original project (migrated to <CODEC_*> there too).
LEGACY_PREFIXES = ("<AUV_", "<SPEECH_")
QWEN3_BASE_LEN = 151_669  # len(Qwen3 tokenizer); <CODEC_0> lands here on the real base
QWEN3_IM_START_ID = 151_644

_CODEC_LIKE = re.compile(r"^<(AUV|SPEECH|CODEC)_(0|[1-9][0-9]*)>$")


def codec_token(code: int, prefix: str = CODEC_PREFIX) -> str:
    """The token string of one code, e.g. `codec_token(5) == "<CODEC_5>"`."""
    return f"{prefix}{code}>"


@dataclass(frozen=True)
class AudioTokensMeta:
    """Content of `audio_tokens_meta.json`: where the audio tokens sit in the vocabulary."""

    prefix: str = CODEC_PREFIX
    n_audio_tokens: int = N_AUDIO_TOKENS
    first_id: int = QWEN3_BASE_LEN

    def save(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / META_FILENAME
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> AudioTokensMeta:
        path = Path(folder) / META_FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: {folder} is not an extended LLM-Codec tokenizer folder")
        data = json.loads(path.read_text(encoding="utf-8"))
        missing = {"prefix", "n_audio_tokens"} - set(data)
        if missing:
            raise ValueError(f"{path}: missing keys {sorted(missing)}")
        # The original project's meta has no first_id; it is recovered from the tokenizer by the caller.
        return cls(prefix=data["prefix"], n_audio_tokens=int(data["n_audio_tokens"]), first_id=int(data.get("first_id", -1)))


def find_codec_like_tokens(tokenizer) -> dict[str, dict[int, int]]:
    """Codec-like tokens already in a tokenizer: {prefix: {code: token id}} for `<AUV_n>`, `<SPEECH_n>`, `<CODEC_n>`."""
    found: dict[str, dict[int, int]] = defaultdict(dict)
    for token, token_id in tokenizer.get_vocab().items():
        match = _CODEC_LIKE.match(token)
        if match:
            found[f"<{match.group(1)}_"][int(match.group(2))] = token_id
    return dict(found)


def load_base_tokenizer(base: str | os.PathLike):
    """`"offline"` → the locally built Qwen3 tokenizer; anything else → `AutoTokenizer.from_pretrained(base)`."""
    if str(base) == "offline":
        from .qwen_offline import load_offline_qwen3_tokenizer

        return load_offline_qwen3_tokenizer()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base), trust_remote_code=False)


def check_qwen_layout(tokenizer, first_id: int) -> list[str]:
    """Reasons why a tokenizer does not look like Qwen3 (ids then differ from the released artifacts)."""
    problems = []
    if first_id != QWEN3_BASE_LEN:
        problems.append(f"<CODEC_0> is id {first_id}, not {QWEN3_BASE_LEN} as on Qwen3")
    if tokenizer.convert_tokens_to_ids("<|im_start|>") != QWEN3_IM_START_ID:
        problems.append(f"<|im_start|> is not id {QWEN3_IM_START_ID}")
    return problems


def _strip_trailing_added_tokens(tokenizer, drop_ids: set[int]):
    """A copy of `tokenizer` without the added tokens `drop_ids`, which must be the highest ids."""
    from transformers import AutoTokenizer

    keep_len = len(tokenizer) - len(drop_ids)
    if min(drop_ids) != keep_len or max(drop_ids) != len(tokenizer) - 1:
        raise ValueError(
            "legacy audio tokens are not the last ids of the tokenizer; removing them would renumber other "
            "tokens. Rebuild the extended tokenizer from a clean base instead (e.g. `--base offline`)."
        )
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        tok_json = Path(tmp) / "tokenizer.json"
        data = json.loads(tok_json.read_text(encoding="utf-8"))
        data["added_tokens"] = [t for t in data["added_tokens"] if t["id"] not in drop_ids]
        tok_json.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        cfg_path = Path(tmp) / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if "added_tokens_decoder" in cfg:
            cfg["added_tokens_decoder"] = {
                k: v for k, v in cfg["added_tokens_decoder"].items() if int(k) not in drop_ids
            }
        cfg_path.write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
        for stale in ("added_tokens.json",):
            (Path(tmp) / stale).unlink(missing_ok=True)
        clean = AutoTokenizer.from_pretrained(tmp, trust_remote_code=False)
    if len(clean) != keep_len:
        raise RuntimeError(f"legacy-token removal left {len(clean)} tokens, expected {keep_len}")
    return clean


@dataclass(frozen=True)
class ExtensionReport:
    """What :func:`extend_tokenizer` did. `legacy_ids[code]` = the old id of a migrated legacy token."""

    meta: AudioTokensMeta
    action: str  # "added" | "reused" | "migrated"
    legacy_prefix: str | None = None
    legacy_ids: tuple[int, ...] | None = None


def extend_tokenizer(
    base: Any = "offline",
    n_audio_tokens: int = N_AUDIO_TOKENS,
    prefix: str = CODEC_PREFIX,
    migrate_legacy: bool = False,
    warn_non_qwen: bool = True,
):
    """Add `<CODEC_0>` … `<CODEC_{n-1}>` to a tokenizer; returns `(tokenizer, ExtensionReport)`.

    Args:
        base: a tokenizer object, `"offline"` (Qwen3 built locally), a Hub id or a local folder (any LM's
            tokenizer, e.g. the folder written by `llmcodec lm smollm2`). A tokenizer object is modified in place.
        n_audio_tokens: codebook size (20,480 for LLM-Codec).
        prefix: token prefix; keep the default to stay compatible with the released artifacts.
        migrate_legacy: if the base holds legacy `<AUV_n>`/`<SPEECH_n>` tokens (as the last ids), drop
            them and add `<CODEC_n>` in their place; their old ids are returned in the report so that
            embedding rows can be remapped. Without it, legacy tokens raise a ValueError.
        warn_non_qwen: log a warning when the ids differ from Qwen3's (allowed, but artifacts differ).

    Behaviour on bases that already hold audio tokens (never duplicates them):
        all `<CODEC_0..n-1>` present with contiguous ids → reused unchanged (action "reused");
        some present, or non-contiguous → ValueError; other codec-like prefixes → see `migrate_legacy`.
    """
    tokenizer = base if not isinstance(base, (str, os.PathLike)) else load_base_tokenizer(base)
    if n_audio_tokens <= 0:
        raise ValueError(f"n_audio_tokens must be positive, got {n_audio_tokens}")
    found = find_codec_like_tokens(tokenizer)
    own = found.pop(prefix, {})
    legacy = {p: codes for p, codes in found.items() if codes}

    if own:
        if legacy:
            raise ValueError(f"tokenizer holds both {prefix}n> and legacy {sorted(legacy)} tokens; use a clean base")
        codes = sorted(own)
        first_id = own.get(0, -1)
        complete = codes == list(range(n_audio_tokens))
        contiguous = complete and all(own[c] == first_id + c for c in codes)
        if not complete:
            raise ValueError(
                f"tokenizer already holds {len(own)} {prefix}n> tokens (codes {codes[0]}..{codes[-1]}) but a complete "
                f"set is {n_audio_tokens} tokens 0..{n_audio_tokens - 1}; refusing to add a partial/duplicate set. "
                "Start from a clean base tokenizer."
            )
        if not contiguous:
            raise ValueError(f"the {prefix}n> tokens of this tokenizer do not have consecutive ids; cannot map codes")
        meta = AudioTokensMeta(prefix=prefix, n_audio_tokens=n_audio_tokens, first_id=first_id)
        report = ExtensionReport(meta=meta, action="reused")
    else:
        legacy_prefix, legacy_codes = None, None
        if legacy:
            if len(legacy) > 1 or not migrate_legacy:
                raise ValueError(
                    f"tokenizer already holds legacy audio tokens {', '.join(p + 'n>' for p in sorted(legacy))} "
                    f"({sum(map(len, legacy.values()))} tokens). Adding {prefix}n> would give two sets of audio ids. "
                    "Pass migrate_legacy=True (CLI: --migrate-legacy) to replace them by <CODEC_n>, or start from a "
                    "clean base."
                )
            legacy_prefix, legacy_codes = next(iter(legacy.items()))
            tokenizer = _strip_trailing_added_tokens(tokenizer, set(legacy_codes.values()))
        first_id = len(tokenizer)
        added = tokenizer.add_tokens([codec_token(i, prefix) for i in range(n_audio_tokens)], special_tokens=False)
        if added != n_audio_tokens or tokenizer.convert_tokens_to_ids(codec_token(0, prefix)) != first_id:
            raise RuntimeError(f"expected {n_audio_tokens} new ids from {first_id}, the tokenizer added {added}")
        meta = AudioTokensMeta(prefix=prefix, n_audio_tokens=n_audio_tokens, first_id=first_id)
        if legacy_codes is not None:
            old = tuple(legacy_codes.get(c, -1) for c in range(n_audio_tokens))
            report = ExtensionReport(meta, "migrated", legacy_prefix, old)
        else:
            report = ExtensionReport(meta=meta, action="added")

    if warn_non_qwen:
        problems = check_qwen_layout(tokenizer, meta.first_id)
        if problems:
            logger.warning(
                "base tokenizer is not Qwen3 (%s): audio token ids differ from the released LLM-Codec artifacts",
                "; ".join(problems),
            )
    return tokenizer, report


def atomic_replace_dir(tmp_dir: Path, out_dir: Path, overwrite: bool) -> None:
    """Move a finished `tmp_dir` to `out_dir` (same filesystem), keeping the old one until the swap is done."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_dir, 0o777 & ~umask)  # mkdtemp creates 0700; give the result normal folder permissions
    if out_dir.exists():
        if not overwrite:
            raise FileExistsError(f"{out_dir} already exists (pass overwrite=True / --overwrite to replace it)")
        backup = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.rename(out_dir, backup)
        os.rename(tmp_dir, out_dir)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.rename(tmp_dir, out_dir)


# Files of an earlier tokenizer in the output folder that a new one replaces, even where it writes no file of
# the same name (a slow tokenizer's vocab files next to a fast one would be loaded instead).
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt", "merges.txt",
    "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "chat_template.json", META_FILENAME,
)


def save_extended_tokenizer(tokenizer, meta: AudioTokensMeta, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """`save_pretrained` + `audio_tokens_meta.json`, written to a temp folder beside `out_dir` and moved in.

    An existing `out_dir` with files needs `overwrite`; then only the tokenizer's files are replaced, every
    other file is kept (`llmcodec.files.install_staged_folder`). Files get the umask's permissions.
    """
    from llmcodec.files import staged_output_folder

    out = Path(out_dir).resolve()
    with staged_output_folder(out, overwrite=overwrite, stale=TOKENIZER_FILES) as tmp:
        tokenizer.save_pretrained(str(tmp))
        meta.save(tmp)
    return out


def build_extended_tokenizer(
    base: Any, out_dir: str | os.PathLike, overwrite: bool = False, migrate_legacy: bool = False
) -> tuple[Any, ExtensionReport]:
    """Load `base`, add the audio tokens, save to `out_dir`. Returns `(tokenizer, report)`."""
    tokenizer, report = extend_tokenizer(base, migrate_legacy=migrate_legacy)
    save_extended_tokenizer(tokenizer, report.meta, out_dir, overwrite=overwrite)
    return tokenizer, report


def load_extended_tokenizer(folder: str | os.PathLike):
    """Load an extended tokenizer folder with plain `AutoTokenizer`; returns `(tokenizer, meta)`.

    The metadata is checked against the tokenizer (the token strings must sit at `first_id + code`).
    """
    from transformers import AutoTokenizer

    meta = AudioTokensMeta.load(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    first_id = tokenizer.convert_tokens_to_ids(codec_token(0, meta.prefix))
    last_id = tokenizer.convert_tokens_to_ids(codec_token(meta.n_audio_tokens - 1, meta.prefix))
    if meta.first_id == -1:
        meta = AudioTokensMeta(meta.prefix, meta.n_audio_tokens, first_id)
    if first_id != meta.first_id or last_id != meta.first_id + meta.n_audio_tokens - 1:
        raise ValueError(
            f"{folder}: {META_FILENAME} says {meta.prefix}0> is id {meta.first_id} with {meta.n_audio_tokens} "
            f"tokens, but the tokenizer has ids {first_id}..{last_id}"
        )
    return tokenizer, meta
