"""Token learnability: train a small causal LM from scratch on a codec's code sequences and score it.

Recipe (one corpus, one LM recipe, any codec — so codecs compare on equal terms):

1. **Tokenize** the corpus with a :class:`CodeExtractor` (our ``LLMCodecModel`` with any weights via
   :class:`LLMCodecCodes`, or the reference ``auv`` package via :class:`AUVCodes`). Codes are cached in
   ``OUT/codes/{train,eval}.jsonl`` (resumable).
2. **Split**: when the data folder has ``train/`` and ``validation/`` (or ``test/`` / ``eval/``)
   sub-folders — the layout of ``llmcodec corpus build`` — they are the splits; otherwise a
   deterministic hash of each file id (with the seed) sends ``eval_fraction`` of the files to eval.
3. **Sequences**: each file's codes are cut into windows of at most ``max_codes`` codes; one example is
   ``[BOS] c_1 … c_T``. Vocabulary: ``"codebook"`` (default) = code ids ``0 … N-1`` plus BOS and PAD
   (``N + 2`` rows); ``"qwen"`` = the extended Qwen3 tokenizer ids (``<CODEC_c>`` = 151,669 + c, BOS/PAD
   ``<|endoftext|>`` = 151,643, 172,149 rows for N = 20,480), as in the paper's setting.
4. **Train** a ``Qwen3ForCausalLM`` (a small ``Qwen3Config``, sizes in :class:`TokenLMConfig`) from
   scratch for ``epochs`` with ``transformers.Trainer``; deterministic with ``seed``.
5. **Score** on the eval split (:func:`score_lm`):

   * ``loss`` / ``perplexity``: mean negative log-likelihood (nats) per audio-code target, with the
     softmax **normalised over the N audio codes only** (logits of specials / text ids are dropped), and
     ``exp(loss)``. A uniform predictor scores exactly ``N``; this is the headline number.
   * ``loss_full_vocab`` / ``perplexity_full_vocab``: the same targets, softmax over the whole LM
     vocabulary (what ``Trainer``'s ``eval_loss`` measures; with ``vocab="qwen"`` this is the
     172,149-way normalisation that the paper's baseline numbers appear to use).
   * ``k_step_accuracy[k-1]`` for k = 1..5 (:func:`k_step_accuracy`): from a prefix ending at code t,
     greedy-decode (over codes only) k steps; correct when the k-th generated code equals c_{t+k}.

``llmcodec token-lm --codec M --data D --output OUT`` runs it all and writes ``OUT/token_lm.json``,
``OUT/token_lm.md`` and the trained LM in ``OUT/lm/`` (with ``token_lm_vocab.json``), which
``llmcodec salmon`` can reuse.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from .output_folder import JsonlLog, json_ready, write_json
from .sources import AudioItem

QWEN_CODE_OFFSET = 151_669  # id of <CODEC_0> in the extended Qwen3 tokenizer
QWEN_ENDOFTEXT = 151_643
QWEN_EXTENDED_VOCAB = 172_149
VOCAB_FILENAME = "token_lm_vocab.json"
EVAL_SPLIT_NAMES = ("validation", "valid", "eval", "test", "dev")


# ------------------------------------------------------------------------------------- codecs


class CodeExtractor(Protocol):
    """Anything that turns 16 kHz waveforms into one stream of integer codes per item."""

    name: str
    codebook_size: int
    sampling_rate: int

    def encode(self, waveforms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``waveforms``: ``(L_i,)`` float at ``sampling_rate`` → codes ``(T_i,)`` int64 in ``[0, codebook_size)``."""
        ...


class LLMCodecCodes:
    """:class:`CodeExtractor` for ``LLMCodecModel`` (any weights): one padded, masked batch per call."""

    def __init__(self, model: Any, name: str = "llmcodec", device: str = "cpu", chunk_length_s: float | None = 60.0):
        self.model = model.to(device).eval()
        self.name, self.device, self.chunk_length_s = name, torch.device(device), chunk_length_s
        self.codebook_size = int(model.config.codebook_size)
        self.sampling_rate = int(model.config.sampling_rate)

    @torch.inference_mode()
    def encode(self, waveforms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        lengths = torch.tensor([w.numel() for w in waveforms])
        batch = torch.zeros(len(waveforms), 1, int(lengths.max()))
        for i, w in enumerate(waveforms):
            batch[i, 0, : w.numel()] = w
        mask = torch.arange(batch.shape[-1])[None] < lengths[:, None]
        out = self.model.encode(batch.to(self.device), mask.to(self.device), chunk_length_s=self.chunk_length_s)
        return [out.audio_codes[i][out.audio_codes_mask[i].bool()].cpu() for i in range(len(waveforms))]


class AUVCodes:
    """:class:`CodeExtractor` for the reference ``auv`` package (``auv.model.AUV``), one item at a time
    (the reference cannot batch). Codes are ``tokenizer(x)["tokens"][0, 0]``."""

    def __init__(self, model: Any, name: str = "auv", device: str = "cpu"):
        self.model = model.to(device).eval()
        self.name, self.device = name, torch.device(device)
        self.codebook_size = int(model.tokenizer.vq.quantizers[0].codebook_size)
        self.sampling_rate = 16_000

    @torch.inference_mode()
    def encode(self, waveforms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        codes = []
        for w in waveforms:
            tokens = self.model.tokenizer(w.reshape(1, -1).to(self.device), input_sample_rate=self.sampling_rate)["tokens"]
            codes.append(tokens.reshape(-1).long().cpu())
        return codes


def load_code_extractor(spec: str, device: str = "cpu") -> CodeExtractor:
    """``auv:PATH`` → :class:`AUVCodes` (``auv.model.AUV.from_pretrained(PATH)``, needs ``pip install auv``);
    anything else → :class:`LLMCodecCodes` via :func:`llmcodec.hub.load_codec` (folder, raw .pt, Hub id)."""
    if spec.startswith("auv:"):
        try:
            from auv.model import AUV
        except ImportError as error:
            raise RuntimeError("the reference codec needs the 'auv' package (pip install auv)") from error
        model = AUV()
        model.from_pretrained(spec.removeprefix("auv:"))
        return AUVCodes(model, name=spec, device=device)
    from llmcodec.hub import load_codec

    return LLMCodecCodes(load_codec(spec, device=device), name=spec, device=device)


# ------------------------------------------------------------------------------------- corpus


def split_items(items: Sequence[AudioItem], eval_fraction: float = 0.1, seed: int = 0) -> tuple[list[AudioItem], list[AudioItem]]:
    """``(train, eval)``: by top-level folder when one is named like a held-out split, else by id hash."""
    domains = {i.domain for i in items}
    held_out = [d for d in domains if d.lower() in EVAL_SPLIT_NAMES]
    if held_out:
        return [i for i in items if i.domain not in held_out], [i for i in items if i.domain in held_out]

    def to_eval(item: AudioItem) -> bool:
        digest = hashlib.sha256(f"{seed}:{item.id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction

    train = [i for i in items if not to_eval(i)]
    evaluation = [i for i in items if to_eval(i)]
    if not evaluation and len(train) > 1:  # tiny corpora: always hold out at least one file
        evaluation, train = train[-1:], train[:-1]
    return train, evaluation


def tokenize_items(
    codec: CodeExtractor, items: Sequence[AudioItem], cache: str | os.PathLike, batch_size: int = 8,
    progress: bool = True,
) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Codes of every item, cached in the JSON-lines file ``cache`` (resumable).

    Returns:
        ``(codes, failures)``: id → list of codes, and id → error for unreadable / too-short files.
    """
    from llmcodec.audio import resample

    log = JsonlLog(cache)
    done = {r["id"]: r for r in log.read()}
    todo = [i for i in items if i.id not in done]
    bar = tqdm(total=len(todo), desc=f"tokenize ({Path(cache).stem})", unit="file", disable=not progress, file=sys.stderr)
    for start in range(0, len(todo), batch_size):
        group, records, waves, names = todo[start : start + batch_size], [], [], []
        for item in group:
            try:
                audio, rate = item.load()
                audio = resample(torch.as_tensor(audio, dtype=torch.float32).reshape(-1), rate, codec.sampling_rate)
                if audio.numel() < 320 * 2:
                    raise ValueError(f"{audio.numel()} samples is too short to tokenize")
                waves.append(audio)
                names.append(item.id)
            except Exception as error:  # noqa: BLE001 - bad files are reported, not fatal
                records.append({"id": item.id, "error": f"{type(error).__name__}: {error}"})
        if waves:
            for name, codes in zip(names, codec.encode(waves)):
                records.append({"id": name, "codes": codes.tolist()})
        log.append(records)
        bar.update(len(group))
    bar.close()
    wanted = {i.id for i in items}
    rows = [r for r in log.read() if r["id"] in wanted]
    codes = {r["id"]: r["codes"] for r in rows if "codes" in r}
    failures = {r["id"]: r["error"] for r in rows if "error" in r}
    return codes, failures


@dataclass(frozen=True)
class Vocabulary:
    """How codes map to LM ids. ``code_offset + c`` is code c; ``bos_id`` starts each sequence."""

    codebook_size: int
    code_offset: int
    bos_id: int
    pad_id: int
    vocab_size: int
    kind: str

    @classmethod
    def build(cls, codebook_size: int, kind: str = "codebook") -> "Vocabulary":
        if kind == "codebook":
            return cls(codebook_size, 0, codebook_size, codebook_size + 1, codebook_size + 2, kind)
        if kind == "qwen":
            return cls(codebook_size, QWEN_CODE_OFFSET, QWEN_ENDOFTEXT, QWEN_ENDOFTEXT,
                       max(QWEN_EXTENDED_VOCAB, QWEN_CODE_OFFSET + codebook_size), kind)
        raise ValueError(f"vocabulary must be 'codebook' or 'qwen', got {kind!r}")

    def save(self, folder: str | os.PathLike) -> None:
        write_json(Path(folder) / VOCAB_FILENAME, asdict(self))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "Vocabulary":
        path = Path(folder) / VOCAB_FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {folder} an LM written by `llmcodec token-lm`?")
        return cls(**json.loads(path.read_text()))


def make_sequences(code_lists: Sequence[Sequence[int]], vocab: Vocabulary, max_codes: int = 256,
                   min_codes: int = 8) -> list[torch.Tensor]:
    """Cut each code list into windows of ≤ ``max_codes`` (dropping windows < ``min_codes``); each is
    ``(1 + T,)`` int64 ``[BOS, offset + c_1, …]``."""
    sequences = []
    for codes in code_lists:
        codes = torch.as_tensor(list(codes), dtype=torch.long)
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= vocab.codebook_size):
            raise ValueError(f"codes outside [0, {vocab.codebook_size})")
        for start in range(0, codes.numel(), max_codes):
            window = codes[start : start + max_codes]
            if window.numel() >= min_codes:
                sequences.append(torch.cat([torch.tensor([vocab.bos_id]), window + vocab.code_offset]))
    return sequences


class _SequenceDataset(torch.utils.data.Dataset):
    def __init__(self, sequences: Sequence[torch.Tensor]) -> None:
        self.sequences = list(sequences)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.sequences[index]}


def collate(sequences: Sequence[torch.Tensor], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to ``(B, T)``: ``input_ids``, ``attention_mask``, ``labels`` (-100 at BOS and padding)."""
    length = max(s.numel() for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : s.numel()], mask[i, : s.numel()] = s, 1
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, 0] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


# ------------------------------------------------------------------------------------------ LM


@dataclass
class TokenLMConfig:
    """LM size and training recipe (defaults: a tiny CPU-friendly LM)."""

    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    max_codes: int = 256
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.01
    seed: int = 0
    vocab: str = "codebook"
    k_max: int = 5
    anchors_per_sequence: int = 16
    eval_fraction: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)


def build_lm(config: TokenLMConfig, vocab: Vocabulary):
    """A freshly initialised ``Qwen3ForCausalLM`` (seeded) with ``vocab.vocab_size`` rows, tied embeddings."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(config.seed)
    lm_config = Qwen3Config(
        vocab_size=vocab.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        max_position_embeddings=config.max_codes + 1 + config.k_max,
        tie_word_embeddings=True,
        bos_token_id=vocab.bos_id,
        eos_token_id=vocab.bos_id,
        pad_token_id=vocab.pad_id,
        **config.extra,
    )
    return Qwen3ForCausalLM(lm_config)


def train_lm(model: Any, train: Sequence[torch.Tensor], vocab: Vocabulary, config: TokenLMConfig,
             output_dir: str | os.PathLike, eval_sequences: Sequence[torch.Tensor] | None = None,
             device: str = "cpu") -> dict[str, Any]:
    """Train with ``transformers.Trainer`` (no checkpoints written); returns the Trainer's metrics
    (``train_loss``, ``train_runtime``, and ``eval_loss`` — full-vocabulary CE — when eval is given)."""
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        weight_decay=config.weight_decay,
        lr_scheduler_type="cosine",
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        use_cpu=torch.device(device).type == "cpu",
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_SequenceDataset(train),
        eval_dataset=_SequenceDataset(eval_sequences) if eval_sequences else None,
        data_collator=lambda rows: collate([r["input_ids"] for r in rows], vocab.pad_id),
    )
    metrics = dict(trainer.train().metrics)
    if eval_sequences:
        metrics.update(trainer.evaluate())
    return metrics


@torch.no_grad()
def score_lm(model: Any, sequences: Sequence[torch.Tensor], vocab: Vocabulary, batch_size: int = 16) -> dict[str, float]:
    """Eval loss / perplexity over audio-code targets; see the module docstring for the two normalisations.

    Returns ``{"loss", "perplexity" (softmax over the N codes), "loss_full_vocab", "perplexity_full_vocab",
    "top1_accuracy" (teacher-forced, over codes), "n_targets", "uniform_perplexity" (= N)}``.
    """
    model.eval()
    device = next(model.parameters()).device
    total = {"code": 0.0, "full": 0.0, "correct": 0.0, "n": 0}
    lo, hi = vocab.code_offset, vocab.code_offset + vocab.codebook_size
    for start in range(0, len(sequences), batch_size):
        batch = collate(sequences[start : start + batch_size], vocab.pad_id)
        logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
        logits, labels = logits[:, :-1].float(), batch["labels"][:, 1:].to(device)
        valid = labels != -100
        logits, targets = logits[valid], labels[valid]
        full = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
        code_logits = logits[:, lo:hi]
        code = torch.nn.functional.cross_entropy(code_logits, targets - lo, reduction="sum")
        total["code"] += float(code)
        total["full"] += float(full)
        total["correct"] += float((code_logits.argmax(-1) == targets - lo).sum())
        total["n"] += int(valid.sum())
    n = max(total["n"], 1)
    return {
        "loss": total["code"] / n,
        "perplexity": math.exp(total["code"] / n),
        "loss_full_vocab": total["full"] / n,
        "perplexity_full_vocab": math.exp(total["full"] / n),
        "top1_accuracy": total["correct"] / n,
        "n_targets": total["n"],
        "uniform_perplexity": float(vocab.codebook_size),
    }


def anchor_positions(length: int, k_max: int, count: int) -> list[int]:
    """Up to ``count`` evenly spaced prefix ends ``t`` (index into a ``(length,)`` sequence with BOS at 0)
    such that the prefix holds ≥ 1 code and ``t + k_max < length``."""
    last = length - 1 - k_max
    if last < 1:
        return []
    return sorted({int(round(x)) for x in np.linspace(1, last, num=min(count, last))})


def _cache_argument(model: Any) -> str:
    """``"cache"`` (transformers >= 5.2x) or ``"past_key_values"`` (older), whichever ``forward`` takes."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.no_grad()
def k_step_accuracy(model: Any, sequences: Sequence[torch.Tensor], vocab: Vocabulary, k_max: int = 5,
                    anchors_per_sequence: int = 16, batch_size: int = 64) -> dict[str, Any]:
    """k-step-ahead accuracy by greedy rollout over the audio codes.

    For each anchor prefix ``s[: t + 1]`` (left-padded into a batch), the LM greedily decodes ``k_max``
    codes (argmax over code logits only, with its KV cache); ``accuracy[k - 1]`` is the fraction of
    anchors whose k-th decoded code equals ``s[t + k]``.

    Returns:
        ``{"accuracy": list[float] (k_max,), "n_anchors": int, "predictions": LongTensor (A, k_max),
        "targets": LongTensor (A, k_max)}`` (codes, without the vocabulary offset).
    """
    model.eval()
    device = next(model.parameters()).device
    lo, hi = vocab.code_offset, vocab.code_offset + vocab.codebook_size
    prefixes, targets = [], []
    for s in sequences:
        for t in anchor_positions(s.numel(), k_max, anchors_per_sequence):
            prefixes.append(s[: t + 1])
            targets.append(s[t + 1 : t + 1 + k_max] - lo)
    if not prefixes:
        return {"accuracy": [math.nan] * k_max, "n_anchors": 0,
                "predictions": torch.zeros(0, k_max, dtype=torch.long), "targets": torch.zeros(0, k_max, dtype=torch.long)}
    predictions = []
    for start in range(0, len(prefixes), batch_size):
        group = prefixes[start : start + batch_size]
        length = max(p.numel() for p in group)
        ids = torch.full((len(group), length), vocab.pad_id, dtype=torch.long)
        mask = torch.zeros((len(group), length), dtype=torch.long)
        for i, p in enumerate(group):  # left padding: the last position is every row's newest token
            ids[i, length - p.numel() :], mask[i, length - p.numel() :] = p, 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        steps = []
        cache_name = _cache_argument(model)
        for step in range(k_max):
            next_code = out.logits[:, -1, lo:hi].argmax(-1)
            steps.append(next_code.cpu())
            if step + 1 == k_max:
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions[:, -1:] + 1
            cache = getattr(out, "cache", None) if cache_name == "cache" else getattr(out, "past_key_values", None)
            out = model(input_ids=(next_code + lo)[:, None], attention_mask=mask, position_ids=positions,
                        use_cache=True, **{cache_name: cache})
        predictions.append(torch.stack(steps, dim=1))
    predicted = torch.cat(predictions)
    target = torch.stack(targets)
    accuracy = (predicted == target).float().mean(dim=0).tolist()
    return {"accuracy": accuracy, "n_anchors": len(prefixes), "predictions": predicted, "targets": target}


# ------------------------------------------------------------------------------------- runner


def run_token_lm(codec: CodeExtractor, items: Sequence[AudioItem], output: str | os.PathLike,
                 config: TokenLMConfig | None = None, device: str = "cpu", codec_batch_size: int = 8,
                 progress: bool = True) -> dict[str, Any]:
    """Tokenize, split, train and score (see the module docstring); writes ``OUT/token_lm.json`` / ``.md``
    and the LM to ``OUT/lm``. Returns the results dict."""
    from llmcodec.audio import save_text

    config = config or TokenLMConfig()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    train_items, eval_items = split_items(items, config.eval_fraction, config.seed)
    if not train_items or not eval_items:
        raise ValueError(f"need files in both splits, got {len(train_items)} train and {len(eval_items)} eval")
    start = time.perf_counter()
    train_codes, train_fail = tokenize_items(codec, train_items, out / "codes" / "train.jsonl", codec_batch_size, progress)
    eval_codes, eval_fail = tokenize_items(codec, eval_items, out / "codes" / "eval.jsonl", codec_batch_size, progress)
    tokenize_s = time.perf_counter() - start
    vocab = Vocabulary.build(codec.codebook_size, config.vocab)
    train = make_sequences([train_codes[k] for k in sorted(train_codes)], vocab, config.max_codes)
    evaluation = make_sequences([eval_codes[k] for k in sorted(eval_codes)], vocab, config.max_codes)
    if not train or not evaluation:
        raise ValueError(f"no sequences to train/evaluate on ({len(train)} train, {len(evaluation)} eval): "
                         "the files are too short or all failed")
    model = build_lm(config, vocab).to(device)
    start = time.perf_counter()
    trainer_metrics = train_lm(model, train, vocab, config, out / "trainer", evaluation, device)
    train_s = time.perf_counter() - start
    scores = score_lm(model, evaluation, vocab)
    ksteps = k_step_accuracy(model, evaluation, vocab, config.k_max, config.anchors_per_sequence)
    lm_dir = out / "lm"
    model.save_pretrained(lm_dir)
    vocab.save(lm_dir)
    results = {
        "codec": codec.name,
        "codebook_size": codec.codebook_size,
        "vocabulary": asdict(vocab),
        "normalisation": f"loss/perplexity: mean NLL per audio-code target, softmax over the {codec.codebook_size} "
                         "audio codes only; *_full_vocab: softmax over the LM's whole vocabulary",
        **scores,
        "trainer_eval_loss": trainer_metrics.get("eval_loss"),
        "train_loss": trainer_metrics.get("train_loss"),
        "k_step_accuracy": ksteps["accuracy"],
        "k_step_anchors": ksteps["n_anchors"],
        "chance_accuracy": 1.0 / codec.codebook_size,
        "files": {"train": len(train_codes), "eval": len(eval_codes), "failed": {**train_fail, **eval_fail}},
        "sequences": {"train": len(train), "eval": len(evaluation)},
        "train_codes": int(sum(s.numel() - 1 for s in train)),
        "eval_codes": int(sum(s.numel() - 1 for s in evaluation)),
        "lm_parameters": int(sum(p.numel() for p in model.parameters())),
        "config": asdict(config),
        "seconds": {"tokenize": tokenize_s, "train": train_s},
        "lm_dir": str(lm_dir),
    }
    write_json(out / "token_lm.json", results)
    save_text(out / "token_lm.md", render_token_lm_report(results))
    return results


def render_token_lm_report(results: dict[str, Any]) -> str:
    """A short Markdown summary of :func:`run_token_lm` results."""
    acc = " / ".join(f"{100 * a:.1f}" for a in results["k_step_accuracy"])
    return "\n".join([
        f"# Token learnability: `{results['codec']}`", "",
        f"Tiny Qwen3 LM ({results['lm_parameters'] / 1e6:.2f} M parameters) trained from scratch for "
        f"{results['config']['epochs']:g} epochs on {results['train_codes']} codes "
        f"({results['sequences']['train']} sequences); scored on {results['eval_codes']} held-out codes.", "",
        "| metric | value |", "|---|---|",
        f"| eval loss (nats/code, softmax over the {results['codebook_size']} audio codes) | {results['loss']:.4f} |",
        f"| perplexity (normalised over the audio codes; uniform = {results['codebook_size']}) | {results['perplexity']:.2f} |",
        f"| eval loss, full LM vocabulary ({results['vocabulary']['vocab_size']}) | {results['loss_full_vocab']:.4f} |",
        f"| perplexity, full LM vocabulary | {results['perplexity_full_vocab']:.2f} |",
        f"| k-step-ahead accuracy %, k = 1..{len(results['k_step_accuracy'])} | {acc} |",
        f"| chance accuracy % | {100 * results['chance_accuracy']:.4f} |", "",
    ])
