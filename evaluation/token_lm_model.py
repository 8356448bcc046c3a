"""Token learnability model: a small ``Qwen3ForCausalLM`` built from scratch (or a warm-started LM from
:mod:`.token_lm_init`), its training, and its scores (eval loss and perplexity over the audio codes, per held-out
sequence for file-level intervals; k-step-ahead accuracy). The recipe is in :mod:`.token_lm`."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from llmcodec.tokenizer.mapping import AudioTokenMap

from .token_lm_data import SequenceDataset, collate


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


def build_lm(config: TokenLMConfig, vocab: AudioTokenMap):
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


def train_lm(model: Any, train: Sequence[torch.Tensor], vocab: AudioTokenMap, config: TokenLMConfig,
             output_dir: str | os.PathLike, eval_sequences: Sequence[torch.Tensor] | None = None,
             device: str = "cpu", *, save_steps: int | None = None, resume_from: str | os.PathLike | None = None,
             callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train with ``transformers.Trainer``; returns the Trainer's metrics (``train_loss``, ``train_runtime``, and
    ``eval_loss`` — full-vocabulary CE — when eval is given).

    With ``save_steps`` the Trainer writes a ``checkpoint-<step>`` folder into ``output_dir`` every ``save_steps``
    optimizer steps (and at the end), keeping only the newest; ``resume_from`` (such a folder) continues a run:
    the Trainer loads its weights, optimizer, scheduler and RNG states and skips the batches already trained on.
    ``callbacks`` are extra ``TrainerCallback`` objects. Without ``save_steps`` nothing is written.
    """
    from transformers import Trainer, TrainingArguments

    saving = {"save_strategy": "steps", "save_steps": save_steps, "save_total_limit": 1} if save_steps else \
        {"save_strategy": "no"}
    args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        weight_decay=config.weight_decay,
        lr_scheduler_type="cosine",
        # Windows are one file's codes (median well under max_codes); batching them in random order pads half of
        # every batch. Length-grouped batches (shuffled groups of similar length) train the same windows at about
        # half the compute.
        train_sampling_strategy="group_by_length",
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=10,
        **saving,
        report_to=[],
        use_cpu=torch.device(device).type == "cpu",
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=SequenceDataset(train),
        eval_dataset=SequenceDataset(eval_sequences) if eval_sequences else None,
        data_collator=lambda rows: collate([r["input_ids"] for r in rows], vocab.pad_id),
        callbacks=list(callbacks) or None,
    )
    metrics = dict(trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None).metrics)
    if eval_sequences:
        metrics.update(trainer.evaluate())
    return metrics


@torch.no_grad()
def score_lm(model: Any, sequences: Sequence[torch.Tensor], vocab: AudioTokenMap, batch_size: int = 16) -> dict[str, Any]:
    """Eval loss / perplexity over audio-code targets; see the module docstring for the two normalisations.

    The logits at position ``t`` score the id at ``t + 1`` (BOS and padding are never targets).

    Returns ``{"loss", "perplexity" (softmax over the N codes), "loss_full_vocab", "perplexity_full_vocab",
    "top1_accuracy" (teacher-forced, over codes), "n_targets", "uniform_perplexity" (= N), "per_sequence":
    {"nll", "nll_full", "targets"}}`` — the last are lists with one summed NLL (nats) / target count per sequence.
    """
    model.eval()
    device = next(model.parameters()).device
    total = {"code": 0.0, "full": 0.0, "correct": 0.0, "n": 0}
    per_sequence: dict[str, list] = {"nll": [], "nll_full": [], "targets": []}
    lo, hi = vocab.first_id, vocab.first_id + vocab.n_codes
    # Scored in order of length (little padding), reported in the callers' order.
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    scored: dict[str, list] = {"nll": [], "nll_full": [], "targets": []}
    for start in range(0, len(order), batch_size):
        batch = collate([sequences[i] for i in order[start : start + batch_size]], vocab.pad_id)
        logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
        logits, labels = logits[:, :-1].float(), batch["labels"][:, 1:].to(device)
        valid = labels != -100
        safe = labels.clamp(min=lo)
        # logsumexp - target logit: no second (B, T, V) tensor, which matters at 172k rows.
        target_logit = logits.gather(-1, safe[..., None])[..., 0]
        full = (logits.logsumexp(-1) - target_logit) * valid
        code_logits = logits[..., lo:hi]
        code = (code_logits.logsumexp(-1) - target_logit) * valid
        total["code"] += float(code.sum())
        total["full"] += float(full.sum())
        total["correct"] += float(((code_logits.argmax(-1) == safe - lo) & valid).sum())
        total["n"] += int(valid.sum())
        scored["nll"] += code.sum(-1).tolist()
        scored["nll_full"] += full.sum(-1).tolist()
        scored["targets"] += valid.sum(-1).tolist()
    position = {index: rank for rank, index in enumerate(order)}
    for key, values in scored.items():
        per_sequence[key] = [values[position[i]] for i in range(len(sequences))]
    n = max(total["n"], 1)
    return {
        "loss": total["code"] / n,
        "perplexity": math.exp(total["code"] / n),
        "loss_full_vocab": total["full"] / n,
        "perplexity_full_vocab": math.exp(total["full"] / n),
        "top1_accuracy": total["correct"] / n,
        "n_targets": total["n"],
        "uniform_perplexity": float(vocab.n_codes),
        "per_sequence": per_sequence,
    }


def anchor_positions(length: int, k_max: int, count: int) -> list[int]:
    """Up to ``count`` evenly spaced prefix ends ``t`` (index into a ``(length,)`` sequence with BOS at 0)
    such that the prefix holds ≥ 1 code and ``t + k_max < length``."""
    last = length - 1 - k_max
    if last < 1:
        return []
    return sorted({int(round(x)) for x in np.linspace(1, last, num=min(count, last))})


def _last_logits(model: Any) -> dict[str, int]:
    """``{"logits_to_keep": 1}`` when the model's ``forward`` takes it (transformers' causal LMs), else ``{}``."""
    import inspect

    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def _cache_argument(model: Any) -> str:
    """``"cache"`` (transformers >= 5.2x) or ``"past_key_values"`` (older), whichever ``forward`` takes."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.no_grad()
def k_step_accuracy(model: Any, sequences: Sequence[torch.Tensor], vocab: AudioTokenMap, k_max: int = 5,
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
    lo, hi = vocab.first_id, vocab.first_id + vocab.n_codes
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
        # Only the last position's logits are read: computing the code softmax at every prefix position would cost
        # (prefix length)x more at a 20,480-row output layer.
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **_last_logits(model))
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
