"""Speech continuation with a codec LM: prompt audio -> codes -> LM ids -> `generate()` -> codes -> audio.

Two kinds of LM folder are understood (:func:`load_codec_lm`):

* a **token LM** written by ``llmcodec token-lm`` (``OUT/lm``): a causal LM plus ``token_lm_vocab.json``;
  code ``c`` is id ``first_id + c`` and every sequence starts with the BOS id, as it was trained
  (:meth:`llmcodec.tokenizer.mapping.AudioTokenMap.load_token_lm`). It has no text tokenizer, so no ``--text``.
* an **LM artifact** (``llmcodec lm build``, or the ``lm/`` folder of an exported codec repo):
  ``AutoModelForCausalLM`` + the extended tokenizer with ``<CODEC_0>`` … (``audio_tokens_meta.json``).
  The prompt is the optional text, tokenized without a template, followed by the audio tokens: the
  released recipe shows the LLM audio tokens with no BOS and no template.

Sampling is constrained to the audio tokens (:class:`AudioTokensOnlyLogitsProcessor`, applied before
temperature / top-k / top-p) so the LM cannot emit text inside audio. Sequences longer than the LM's
positions are generated with a sliding window that keeps the prefix (BOS / text).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from llmcodec.tokenizer.mapping import TOKEN_LM_VOCAB_FILENAME, AudioTokenMap



# One continuation is at most an hour (180,000 codes at 50 codes/s): a longer request is almost surely a typo, and
# one generate() call cannot be resumed.
MAX_SECONDS = 3600.0


class CodecLMError(ValueError):
    """A folder is not an LM this module can generate codes with."""


class AudioTokensOnlyLogitsProcessor(LogitsProcessor):
    """Keeps only the scores of the audio tokens `[first_id, first_id + n_codes)`; every other id gets -inf."""

    def __init__(self, first_id: int, n_codes: int):
        if first_id < 0 or n_codes <= 0:
            raise ValueError(f"invalid audio-token range: first_id={first_id}, n_codes={n_codes}")
        self.first_id, self.n_codes = int(first_id), int(n_codes)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        end = self.first_id + self.n_codes
        if scores.shape[-1] < end:
            raise ValueError(f"the LM scores {scores.shape[-1]} ids, fewer than the audio tokens' end {end}")
        constrained = torch.full_like(scores, float("-inf"))
        constrained[..., self.first_id : end] = scores[..., self.first_id : end]
        return constrained


@dataclass
class CodecLM:
    """A causal LM and where its audio codes sit in its vocabulary (``token_map``)."""

    model: object
    token_map: AudioTokenMap
    prefix_ids: list[int]  # ids every sequence starts with (the token LM's BOS; nothing for Qwen3)
    pad_id: int
    kind: str  # "token-lm" or "artifact"
    tokenizer: object | None = None
    max_positions: int | None = None
    path: str = ""

    @property
    def first_id(self) -> int:
        """Id of code 0."""
        return self.token_map.first_id

    @property
    def n_codes(self) -> int:
        return self.token_map.n_codes

    def codes_to_ids(self, codes: torch.Tensor) -> torch.Tensor:
        return self.token_map.codes_to_ids(codes)

    def ids_to_codes(self, ids: torch.Tensor) -> torch.Tensor:
        """Audio ids -> codes; a non-audio id raises (constrained decoding must never produce one)."""
        bad = ~self.token_map.is_audio_id(ids)
        if bad.any():
            raise RuntimeError(f"the LM produced non-audio ids {ids[bad][:8].tolist()} inside audio")
        return self.token_map.ids_to_codes(ids)


def _resolve_folder(path: Path) -> Path:
    if not path.is_dir():
        raise CodecLMError(f"--lm {path}: no such folder")
    has_lm_config = (path / "config.json").is_file() and not _is_codec_config(path / "config.json")
    if not has_lm_config and (path / "lm").is_dir():
        return path / "lm"  # an exported codec repo holding its LM in lm/
    if not (path / "config.json").is_file():
        raise CodecLMError(f"--lm {path} is not an LM folder (no config.json)")
    if not has_lm_config:
        raise CodecLMError(f"--lm {path} is a codec folder, not an LM (and it has no lm/ subfolder); pass the LM with --lm and the codec with --model")
    return path


def _is_codec_config(config: Path) -> bool:
    try:
        return json.loads(config.read_text()).get("model_type") == "llmcodec"
    except (OSError, json.JSONDecodeError):
        return False


def _no_remote_code(load: Callable, folder: Path):
    """``load(folder)`` with ``trust_remote_code=False``: a folder's ``auto_map`` never runs its .py files (nor asks to)."""
    try:
        return load(folder, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as error:
        raise CodecLMError(f"{folder}: cannot load a causal LM ({type(error).__name__}: {_first_line(error)})") from error


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def load_codec_lm(path: str | os.PathLike, device: str | torch.device = "cpu") -> CodecLM:
    """Loads a token LM (``llmcodec token-lm``) or an LM artifact (``llmcodec lm build``); see the module doc."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = _resolve_folder(Path(path).expanduser())
    tokenizer = None
    if (folder / TOKEN_LM_VOCAB_FILENAME).is_file():
        try:
            token_map = AudioTokenMap.load_token_lm(folder)
        except ValueError as error:
            raise CodecLMError(str(error)) from error
        prefix, pad_id, kind = [token_map.bos_id], token_map.pad_id, "token-lm"
    elif (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file():
        from llmcodec.tokenizer import AudioTokensMeta

        tokenizer = _no_remote_code(AutoTokenizer.from_pretrained, folder)
        n_codes = AudioTokensMeta.load(folder).n_audio_tokens if (folder / "audio_tokens_meta.json").is_file() else 20_480
        try:
            token_map = AudioTokenMap.from_tokenizer(tokenizer, n_codes=n_codes)
        except ValueError as error:
            raise CodecLMError(f"{folder}: {error}") from error
        prefix = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        kind = "artifact"
    else:
        raise CodecLMError(
            f"{folder} is not a codec LM: expected {TOKEN_LM_VOCAB_FILENAME} (an LM from `llmcodec token-lm`) or an "
            "extended tokenizer with <CODEC_n> tokens (an LM from `llmcodec lm build`)"
        )
    model = _no_remote_code(AutoModelForCausalLM.from_pretrained, folder).to(device).eval()
    rows = model.get_output_embeddings().weight.shape[0]
    if rows < token_map.end_id:
        raise CodecLMError(f"{folder}: the LM has {rows} output rows, but its audio tokens end at id {token_map.end_id}")
    max_positions = getattr(model.config.get_text_config(), "max_position_embeddings", None)
    return CodecLM(model, token_map, prefix, int(pad_id if pad_id is not None else 0), kind, tokenizer,
                   max_positions, str(folder))


def prompt_ids(lm: CodecLM, codes: torch.Tensor, text: str | None = None) -> list[int]:
    """The prefix ids (BOS / text tokens) that come before the audio codes in every window."""
    ids = list(lm.prefix_ids)
    if text:
        if lm.tokenizer is None:
            raise CodecLMError(f"{lm.path} is a token LM without a text tokenizer: --text needs an LM artifact (llmcodec lm build)")
        ids += lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= lm.n_codes):
        raise CodecLMError(f"prompt codes outside the LM's {lm.n_codes} audio tokens (codec and LM do not match)")
    return ids


@dataclass
class SamplingConfig:
    """`temperature` 0 = greedy; `top_k` 0 and `top_p` 1 disable those filters."""

    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    seed: int = 0

    def __post_init__(self):
        # NaN fails every comparison, so each test is written to fail for it (a NaN temperature is not greedy).
        if not (0 <= self.temperature < math.inf) or self.top_k < 0 or not 0 < self.top_p <= 1:
            raise ValueError(
                f"need a finite temperature >= 0, top_k >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_k}, "
                f"{self.top_p}"
            )

    def processors(self, lm: CodecLM) -> LogitsProcessorList:
        """Audio-only constraint first, then the warpers (so top-k / top-p choose among audio tokens only)."""
        from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        processors = LogitsProcessorList([AudioTokensOnlyLogitsProcessor(lm.first_id, lm.n_codes)])
        if self.temperature > 0:
            if self.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(self.temperature))
            if self.top_k:
                processors.append(TopKLogitsWarper(self.top_k))
            if self.top_p < 1.0:
                processors.append(TopPLogitsWarper(self.top_p))
        return processors


class _CodeStreamer:
    """A transformers streamer (``put`` / ``end``): forwards each new token's code to ``on_code`` (if any) and
    advances ``bar`` (if any)."""

    def __init__(self, lm: CodecLM, on_code: Callable[[torch.Tensor], None] | None, bar=None):
        self.lm, self.on_code, self.bar, self.prompt_seen = lm, on_code, bar, False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first puts the prompt
            self.prompt_seen = True
            return
        if self.on_code is not None:
            self.on_code(self.lm.ids_to_codes(value.reshape(-1)[:1]))
        if self.bar is not None:
            self.bar.update(1)

    def end(self) -> None:
        self.prompt_seen = False


@torch.inference_mode()
def generate_codes(
    lm: CodecLM,
    prompt_codes: torch.Tensor,
    num_frames: int,
    sampling: SamplingConfig | None = None,
    text: str | None = None,
    on_code: Callable[[torch.Tensor], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Samples `num_frames` codes continuing `prompt_codes` `(T,)`; returns them `(num_frames,)` int64.

    `on_code(codes (1,))` is called as each code is generated (for streaming playback); `progress` shows a
    tqdm bar of codes with its rate and time left on stderr.
    """
    from tqdm.auto import tqdm
    from transformers import GenerationConfig, set_seed

    sampling = sampling or SamplingConfig()
    if num_frames <= 0:
        raise ValueError(f"num_frames must be > 0, got {num_frames}")
    prefix = prompt_ids(lm, prompt_codes, text)
    device = next(lm.model.parameters()).device
    history = prompt_codes.long().reshape(-1).tolist()
    budget = (lm.max_positions or 1 << 30) - len(prefix)  # codes that fit in one window after the prefix
    if budget < 2:
        raise CodecLMError(f"the text prompt ({len(prefix)} tokens) fills the LM's {lm.max_positions} positions")
    set_seed(sampling.seed)
    processors = sampling.processors(lm)
    produced: list[int] = []
    bar = tqdm(total=num_frames, desc="generate", unit="code", disable=not progress, file=sys.stderr)
    while len(produced) < num_frames:
        remaining = num_frames - len(produced)
        # One call when everything fits; else a sliding window that keeps >= 3/4 of the positions as context.
        step = remaining if len(history) + remaining <= budget else min(remaining, max(1, budget // 4))
        context = history[-(budget - step) :] if budget - step > 0 else []
        ids = torch.tensor([prefix + lm.codes_to_ids(torch.tensor(context, dtype=torch.long)).tolist()], device=device)
        config = GenerationConfig(
            max_new_tokens=step, do_sample=sampling.temperature > 0, temperature=1.0, top_k=0, top_p=1.0,
            pad_token_id=lm.pad_id, eos_token_id=None, bos_token_id=None,
        )
        streamer = None if on_code is None and not progress else _CodeStreamer(lm, on_code, bar if progress else None)
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config,
                                logits_processor=processors, streamer=streamer)
        new = lm.ids_to_codes(out[0, ids.shape[1] :]).tolist()
        if len(new) != step:
            raise RuntimeError(f"generate() returned {len(new)} tokens instead of {step}")
        produced += new
        history += new
    bar.close()
    return torch.tensor(produced, dtype=torch.long)


@dataclass
class ContinuationResult:
    audio: torch.Tensor  # (L,) float at the codec rate: the continuation (or prompt + continuation)
    prompt_codes: torch.Tensor  # (T_p,)
    codes: torch.Tensor  # (num_frames,) generated
    timings: dict = field(default_factory=dict)  # seconds: total, first_audio (streaming), audio_seconds


def continue_speech(
    codec,
    lm: CodecLM,
    prompt: torch.Tensor,
    seconds: float,
    sampling: SamplingConfig | None = None,
    text: str | None = None,
    stream: bool = False,
    include_prompt: bool = False,
    on_audio: Callable[[torch.Tensor], None] | None = None,
    progress: bool = False,
) -> ContinuationResult:
    """Encodes `prompt` `(L,)` (codec rate), generates `seconds` of codes, decodes them.

    With `stream`, codes go through `codec.streaming_decoder()` as they are generated (prompt codes first,
    as left context) and `on_audio(samples (S,))` receives each piece of final audio; otherwise the prompt and
    continuation are decoded offline in one pass. Either way the prompt's audio is dropped unless
    `include_prompt`.
    """
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be > 0 and at most {MAX_SECONDS:g} (one hour), got {seconds}")
    if lm.n_codes != codec.config.codebook_size:
        raise CodecLMError(f"the LM has {lm.n_codes} audio tokens but the codec {codec.config.codebook_size} codes")
    num_frames = max(1, round(seconds * codec.config.frame_rate))
    hop = codec.config.hop_length
    with torch.inference_mode():
        prompt_codes = codec.encode(prompt.reshape(1, 1, -1).to(codec.device)).audio_codes[0].cpu()
    timings: dict = {}
    start = time.perf_counter()
    if not stream:
        codes = generate_codes(lm, prompt_codes, num_frames, sampling, text, progress=progress)
        timings["generate"] = time.perf_counter() - start
        with torch.inference_mode():
            audio = codec.decode(torch.cat([prompt_codes, codes])[None].to(codec.device)).audio_values[0, 0].cpu()
    else:
        decoder = codec.streaming_decoder()
        pieces: list[torch.Tensor] = []
        skip = [0 if include_prompt else prompt_codes.numel() * hop]

        def emit(out) -> None:
            samples = out.audio_values[0, 0].cpu()
            dropped = min(skip[0], samples.numel())
            skip[0] -= dropped
            samples = samples[dropped:]
            if samples.numel():
                timings.setdefault("first_audio", time.perf_counter() - start)
                pieces.append(samples)
                if on_audio is not None:
                    on_audio(samples)

        emit(decoder.push(prompt_codes[None].to(codec.device)))
        codes = generate_codes(lm, prompt_codes, num_frames, sampling, text,
                               on_code=lambda code: emit(decoder.push(code[None].to(codec.device))), progress=progress)
        emit(decoder.flush())
        audio = torch.cat(pieces) if pieces else torch.zeros(0)
    if not stream and not include_prompt:
        audio = audio[prompt_codes.numel() * hop :]
    timings["total"] = time.perf_counter() - start
    timings["audio_seconds"] = audio.numel() / codec.config.sampling_rate
    return ContinuationResult(audio, prompt_codes, codes, timings)
