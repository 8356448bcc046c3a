"""Exact, vectorised mapping between codec codes, LLM token ids and `<CODEC_n>` text.

Because the audio tokens are contiguous (`<CODEC_i>` = `first_id + i`), codes ↔ ids is an offset and
text ↔ codes is string formatting/parsing; none of it needs the tokenizer at run time. Inputs may be
Python lists, numpy arrays or torch tensors of shape (T,) or (B, T); outputs keep the array library
(and device, for torch). Masks are boolean, same shape, True = real position, False = padding.

Text rule: an audio token is exactly a string the tokenizer has, `<CODEC_n>` with `n` in canonical decimal
(no sign, spaces or leading zeros) and `0 <= n < n_codes`. Anything else (`<CODEC_05>`, `<CODEC_20480>`,
`<CODEC_` + 400 digits + `>`) is not an audio token: `invalid="raise"` raises ValueError naming it,
`invalid="drop"` drops it with the other non-audio text. Never OverflowError, however long the number.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from .extend import CODEC_PREFIX, N_AUDIO_TOKENS, QWEN3_BASE_LEN, AudioTokensMeta, codec_token
from .qwen_offline import QWEN3_SPECIAL_START_ID

TOKEN_LM_VOCAB_FILENAME = "token_lm_vocab.json"  # the layout of a token LM (`llmcodec token-lm` writes it)
QWEN3_EXTENDED_VOCAB = QWEN3_BASE_LEN + N_AUDIO_TOKENS  # 172,149 rows: Qwen3 + the audio tokens
TOKEN_LM_KINDS = ("codebook", "qwen")

try:  # torch is optional for this module
    import torch
except ImportError:  # pragma: no cover
    torch = None


def _is_torch(x: Any) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _cpu_torch_via_numpy(method):
    """Run CPU-tensor calls through numpy on zero-copy views and wrap the results back as tensors.

    Why: on small CPU boxes torch's intra-op thread pool can stall for tens of ms on these tiny elementwise
    ops when other thread pools (e.g. the tokenizers' rayon pool) are busy; single-threaded numpy does not.
    """

    def convert(x):
        return x.numpy() if _is_torch(x) and x.device.type == "cpu" and not x.requires_grad else x

    def wrap(y):
        if isinstance(y, tuple):
            return tuple(wrap(v) for v in y)
        return torch.from_numpy(np.ascontiguousarray(y)) if isinstance(y, np.ndarray) else y

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if not any(_is_torch(a) and a.device.type == "cpu" for a in (*args, *kwargs.values())):
            return method(self, *args, **kwargs)
        return wrap(method(self, *(convert(a) for a in args), **{k: convert(v) for k, v in kwargs.items()}))

    return run


def _as_int_array(x: Any, what: str):
    """Return (array, is_torch) for an integer array-like; float/bool dtypes raise ValueError."""
    if _is_torch(x):
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise ValueError(f"{what} must be an integer tensor, got dtype {x.dtype}")
        return x.long(), True
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            return arr.astype(np.int64), False
        raise ValueError(f"{what} must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False), False


def _as_mask(mask: Any, shape, is_torch: bool, device=None):
    if mask is None:
        return None
    if _is_torch(mask):
        m = mask.to(device=device, dtype=torch.bool)
    else:
        m = np.asarray(mask).astype(bool)
        if is_torch:
            m = torch.from_numpy(m).to(device)
    if tuple(m.shape) != tuple(shape):
        raise ValueError(f"mask shape {tuple(m.shape)} does not match data shape {tuple(shape)}")
    return m


def _first_bad(bad, values) -> str:
    """Describe the first offending element (position and value) for error messages."""
    if _is_torch(bad):
        bad, values = bad.cpu().numpy(), values.cpu().numpy()
    pos = tuple(int(i) for i in np.argwhere(bad)[0])
    n = int(bad.sum())
    return f"{n} value(s), first {int(values[pos])} at position {pos if len(pos) > 1 else pos[0]}"


class AudioTokenMap:
    """Codes ↔ ids ↔ text for one LM vocabulary layout (prefix, count, first id; optional special ids).

    Build it with :meth:`from_tokenizer` (checks every token id), :meth:`from_meta`, or :meth:`for_token_lm`
    (the vocabulary of a token LM trained from scratch, saved beside it with :meth:`save_token_lm`).

    Attributes:
        first_id / n_codes / end_id: code ``c`` is id ``first_id + c``; audio ids are ``[first_id, end_id)``.
        bos_id / pad_id: the id every sequence starts with and the padding id (None when not part of the layout).
        vocab_size: rows of the LM's embedding (default ``end_id``).
        kind: ``"codebook"`` / ``"qwen"`` for a token LM, else None.
    """

    def __init__(self, first_id: int, n_codes: int = N_AUDIO_TOKENS, prefix: str = CODEC_PREFIX, *,
                 bos_id: int | None = None, pad_id: int | None = None, vocab_size: int | None = None,
                 kind: str | None = None):
        if first_id < 0 or n_codes <= 0:
            raise ValueError(f"invalid layout first_id={first_id} n_codes={n_codes}")
        self.first_id = int(first_id)
        self.n_codes = int(n_codes)
        self.prefix = prefix
        self.end_id = self.first_id + self.n_codes  # exclusive
        self.bos_id = None if bos_id is None else int(bos_id)
        self.pad_id = None if pad_id is None else int(pad_id)
        self.vocab_size = self.end_id if vocab_size is None else int(vocab_size)
        self.kind = kind
        if self.vocab_size < self.end_id or any(i is not None and not 0 <= i < self.vocab_size for i in (self.bos_id, self.pad_id)):
            raise ValueError(f"invalid layout: ids {self.first_id}..{self.end_id - 1}, bos {self.bos_id}, pad {self.pad_id} "
                             f"in a vocabulary of {self.vocab_size}")
        # Object array of token strings: fancy indexing + "".join is the fastest codes → text path.
        self._strings = np.array([codec_token(i, prefix) for i in range(n_codes)], dtype=object)
        # Canonical decimal only (no leading zeros): "<CODEC_05>" is not a token of the tokenizer.
        self._token_re = re.compile(re.escape(prefix) + r"(0|[1-9][0-9]*)>")
        self._strict_re = re.compile(r"(?:" + re.escape(prefix) + r"(?:0|[1-9][0-9]*)>)*")
        self._max_digits = len(str(self.n_codes - 1))  # longer digit strings are out of range (and may not fit int64)

    @classmethod
    def from_meta(cls, meta: AudioTokensMeta) -> AudioTokenMap:
        return cls(meta.first_id, meta.n_audio_tokens, meta.prefix)

    @classmethod
    def from_tokenizer(cls, tokenizer, n_codes: int = N_AUDIO_TOKENS, prefix: str = CODEC_PREFIX) -> AudioTokenMap:
        """Read the layout from a tokenizer and verify all `n_codes` tokens are at consecutive ids."""
        ids = np.asarray(tokenizer.convert_tokens_to_ids([codec_token(i, prefix) for i in range(n_codes)]))
        unk = tokenizer.unk_token_id
        first = int(ids[0]) if ids[0] is not None else -1
        if first < 0 or first == unk or not np.array_equal(ids, first + np.arange(n_codes)):
            raise ValueError(
                f"tokenizer does not hold {prefix}0> … {prefix}{n_codes - 1}> at consecutive ids; "
                "build it with llmcodec.tokenizer.extend_tokenizer"
            )
        return cls(first, n_codes, prefix)

    # ---- token LM vocabularies -------------------------------------------------------------------
    @classmethod
    def for_token_lm(cls, codebook_size: int, kind: str = "codebook") -> AudioTokenMap:
        """The vocabulary of a token LM trained from scratch on ``codebook_size`` codes.

        ``"codebook"``: code ids ``0 … N-1``, BOS ``N``, PAD ``N + 1`` (``N + 2`` rows). ``"qwen"``: the extended
        Qwen3 tokenizer's ids (``<CODEC_c>`` = 151,669 + c; BOS = PAD = ``<|endoftext|>`` = 151,643; 172,149 rows
        for N = 20,480), the paper's setting.
        """
        if kind == "codebook":
            return cls(0, codebook_size, bos_id=codebook_size, pad_id=codebook_size + 1,
                       vocab_size=codebook_size + 2, kind=kind)
        if kind == "qwen":
            return cls(QWEN3_BASE_LEN, codebook_size, bos_id=QWEN3_SPECIAL_START_ID, pad_id=QWEN3_SPECIAL_START_ID,
                       vocab_size=max(QWEN3_EXTENDED_VOCAB, QWEN3_BASE_LEN + codebook_size), kind=kind)
        raise ValueError(f"vocabulary must be one of {TOKEN_LM_KINDS}, got {kind!r}")

    def token_lm_dict(self) -> dict[str, Any]:
        """The layout as ``token_lm_vocab.json`` stores it (``code_offset`` is ``first_id``)."""
        return {"codebook_size": self.n_codes, "code_offset": self.first_id, "bos_id": self.bos_id,
                "pad_id": self.pad_id, "vocab_size": self.vocab_size, "kind": self.kind}

    def save_token_lm(self, folder: str | os.PathLike) -> Path:
        """Writes ``folder/token_lm_vocab.json`` atomically."""
        from llmcodec.files import write_atomically

        text = json.dumps(self.token_lm_dict(), indent=2) + "\n"
        return write_atomically(Path(folder) / TOKEN_LM_VOCAB_FILENAME,
                                lambda target: Path(target).write_text(text, encoding="utf-8"), ".json")

    @classmethod
    def load_token_lm(cls, folder: str | os.PathLike) -> AudioTokenMap:
        """Reads ``folder/token_lm_vocab.json``; FileNotFoundError when absent, ValueError when malformed."""
        path = Path(folder) / TOKEN_LM_VOCAB_FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {folder} an LM written by `llmcodec token-lm`?")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            values = {key: data[key] for key in ("codebook_size", "code_offset", "bos_id", "pad_id", "vocab_size", "kind")}
            if not all(isinstance(values[k], int) for k in ("codebook_size", "code_offset", "bos_id", "pad_id", "vocab_size")):
                raise ValueError("ids must be integers")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path} is not a token-LM vocabulary ({type(error).__name__}: {error})") from error
        return cls(values["code_offset"], values["codebook_size"], bos_id=values["bos_id"], pad_id=values["pad_id"],
                   vocab_size=values["vocab_size"], kind=values["kind"])

    # ---- codes <-> ids -------------------------------------------------------------------------
    @_cpu_torch_via_numpy
    def check_codes(self, codes: Any):
        """Validate codes (integers in [0, n_codes)); returns the int64 array/tensor."""
        arr, is_t = _as_int_array(codes, "codes")
        bad = (arr < 0) | (arr >= self.n_codes)
        if bool(bad.any()):
            raise ValueError(f"codes outside [0, {self.n_codes}): {_first_bad(bad, arr)}")
        return arr

    @_cpu_torch_via_numpy
    def codes_to_ids(self, codes: Any, mask: Any = None, pad_id: int | None = None):
        """Codes (T,) or (B, T) → token ids, same shape and array type (int64).

        Positions where `mask` is False are ignored by validation and set to `pad_id` (required then).
        """
        arr, is_t = _as_int_array(codes, "codes")
        m = _as_mask(mask, arr.shape, is_t, arr.device if is_t else None)
        if m is not None:
            if pad_id is None:
                raise ValueError("pad_id is required when a mask is given (value for padding positions)")
            arr = torch.where(m, arr, 0) if is_t else np.where(m, arr, 0)
        self.check_codes(arr)
        ids = arr + self.first_id
        if m is not None:
            ids = torch.where(m, ids, pad_id) if is_t else np.where(m, ids, pad_id)
        return ids

    @_cpu_torch_via_numpy
    def is_audio_id(self, ids: Any):
        """Boolean array/tensor: which ids are audio tokens."""
        arr, _ = _as_int_array(ids, "token ids")
        return (arr >= self.first_id) & (arr < self.end_id)

    @_cpu_torch_via_numpy
    def ids_to_codes(
        self, ids: Any, mask: Any = None, invalid: Literal["raise", "drop"] = "raise", pad_code: int = 0
    ):
        """Token ids → codes. Masked-out positions become `pad_code`.

        invalid="raise": a non-audio id at a real position raises ValueError (position and id named).
        invalid="drop": 1-D input only; non-audio and masked positions are removed (filtering option).
        For batches with mixed content use :meth:`extract_codes`, which returns a mask instead.
        """
        arr, is_t = _as_int_array(ids, "token ids")
        audio = (arr >= self.first_id) & (arr < self.end_id)
        m = _as_mask(mask, arr.shape, is_t, arr.device if is_t else None)
        if invalid == "drop":
            if arr.ndim != 1:
                raise ValueError("invalid='drop' needs 1-D ids; use extract_codes() for batches")
            keep = audio if m is None else audio & m
            return arr[keep] - self.first_id
        if invalid != "raise":
            raise ValueError(f"invalid must be 'raise' or 'drop', got {invalid!r}")
        bad = ~audio if m is None else (~audio & m)
        if bool(bad.any()):
            raise ValueError(
                f"ids are not audio tokens (expected {self.first_id}..{self.end_id - 1}): {_first_bad(bad, arr)}; "
                "pass invalid='drop' or use extract_codes() to filter them"
            )
        codes = arr - self.first_id
        if m is not None:
            codes = torch.where(m, codes, pad_code) if is_t else np.where(m, codes, pad_code)
        return codes

    @_cpu_torch_via_numpy
    def extract_codes(self, ids: Any, mask: Any = None, pad_code: int = 0):
        """Lenient ids → codes: returns `(codes, audio_mask)`; non-audio or masked positions get `pad_code`."""
        arr, is_t = _as_int_array(ids, "token ids")
        audio = (arr >= self.first_id) & (arr < self.end_id)
        m = _as_mask(mask, arr.shape, is_t, arr.device if is_t else None)
        if m is not None:
            audio = audio & m
        codes = torch.where(audio, arr - self.first_id, pad_code) if is_t else np.where(audio, arr - self.first_id, pad_code)
        return codes, audio

    # ---- codes <-> text ------------------------------------------------------------------------
    def codes_to_text(self, codes: Any, mask: Any = None) -> str | list[str]:
        """Codes (T,) → `"<CODEC_5><CODEC_17>…"`; (B, T) → list of B strings (masked positions omitted)."""
        arr, is_t = _as_int_array(codes, "codes")
        if is_t:
            arr = arr.cpu().numpy()
        m = None
        if mask is not None:
            m = _as_mask(mask.cpu() if _is_torch(mask) else mask, arr.shape, False)
            m = m.numpy() if _is_torch(m) else m
            arr = np.where(m, arr, 0)
        self.check_codes(arr)
        if arr.ndim == 1:
            return "".join(self._strings[arr if m is None else arr[m]])
        if arr.ndim != 2:
            raise ValueError(f"codes must be 1-D or 2-D, got shape {arr.shape}")
        rows = arr if m is None else [row[row_m] for row, row_m in zip(arr, m)]
        return ["".join(self._strings[row]) for row in rows]

    def text_to_codes(self, text: str, invalid: Literal["raise", "drop"] = "raise") -> np.ndarray:
        """`"<CODEC_5><CODEC_17>…"` → int64 codes (T,).

        invalid="raise": the text must be audio tokens only (no spaces or other text) → else ValueError.
        invalid="drop": audio tokens are extracted from mixed text, everything else is ignored.
        What counts as an audio token is the module's text rule (canonical `n`, in range).
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        if invalid == "raise":
            fast = self._parse_pure(text)
            if fast is not None:
                return fast
            end = self._strict_re.match(text).end()
            if end != len(text):
                raise ValueError(
                    f"text is not made only of {self.prefix}n> tokens: unexpected {text[end:end + 30]!r} at char {end}; "
                    "pass invalid='drop' to ignore non-audio text"
                )
        elif invalid != "drop":
            raise ValueError(f"invalid must be 'raise' or 'drop', got {invalid!r}")
        codes, in_range = self._digits_to_codes(self._token_re.findall(text))
        if invalid == "drop":
            return codes[in_range]
        if not in_range.all():
            first = next(m for m in self._token_re.finditer(text) if not self._in_range(m.group(1)))
            shown = first.group(0) if len(first.group(0)) <= 40 else first.group(0)[:30] + "…>"
            raise ValueError(
                f"codes outside [0, {self.n_codes}) in text: {int((~in_range).sum())} token(s), first {shown} "
                f"at char {first.start()}"
            )
        return codes

    def _in_range(self, digits: str) -> bool:
        return len(digits) < self._max_digits or (len(digits) == self._max_digits and int(digits) < self.n_codes)

    def _digits_to_codes(self, digits: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Canonical decimal strings → `(codes int64, in_range bool)`; too-long numbers are out of range, not overflow."""
        if not digits:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        strings = np.array(digits)
        short = np.char.str_len(strings) <= self._max_digits
        codes = np.zeros(len(digits), dtype=np.int64)
        codes[short] = strings[short].astype(np.int64)
        return codes, short & (codes < self.n_codes)

    def _parse_pure(self, text: str) -> np.ndarray | None:
        """Fast path for text made only of audio tokens: split, convert, and verify by re-rendering.

        Returns None when the text is not exactly canonical tokens (the caller then finds the error).
        """
        if not text:
            return np.zeros(0, dtype=np.int64)
        p = self.prefix
        if not (text.startswith(p) and text.endswith(">")):
            return None
        try:
            codes = np.array(text[len(p) : -1].split(">" + p), dtype=np.int64)
        except (ValueError, OverflowError):
            return None
        if codes.size and (codes.min() < 0 or codes.max() >= self.n_codes):
            return None
        # int() accepts "+5", " 5", "05": re-rendering and comparing rejects every non-canonical form.
        return codes if "".join(self._strings[codes]) == text else None

    def texts_to_codes(
        self, texts: Sequence[str], invalid: Literal["raise", "drop"] = "raise", pad_code: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Batch of strings → `(codes (B, T_max) int64, mask (B, T_max) bool)`, right-padded with `pad_code`."""
        rows = [self.text_to_codes(t, invalid=invalid) for t in texts]
        t_max = max((len(r) for r in rows), default=0)
        codes = np.full((len(rows), t_max), pad_code, dtype=np.int64)
        mask = np.zeros((len(rows), t_max), dtype=bool)
        for i, row in enumerate(rows):
            codes[i, : len(row)] = row
            mask[i, : len(row)] = True
        return codes, mask

    def ids_to_text(self, ids: Any, mask: Any = None) -> str | list[str]:
        """Audio token ids → `<CODEC_n>` text (non-audio ids raise; see :meth:`ids_to_codes`)."""
        codes = self.ids_to_codes(ids, mask=mask)
        return self.codes_to_text(codes, mask=mask)

    def text_to_ids(self, text: str, invalid: Literal["raise", "drop"] = "raise") -> np.ndarray:
        """Pure `<CODEC_n>` text → token ids, without running the tokenizer."""
        return self.text_to_codes(text, invalid=invalid) + self.first_id
