"""Semantic Alignment (SA): pull the LM's hidden state of the audio towards that of its transcript (a recipe loss).

Features, per layer in ``[L // 3, int(0.8 * L))`` of ``hidden_states[1:]`` (``[12, 28)`` for Qwen3-4B's 36
layers; ``hidden_states[1:][i]`` is the output of layer i + 1):

* text  - hidden state of the transcript's **last non-pad token** (frozen LM, no grad). Upstream takes
  index ``mask.sum() - 1``, which assumes right padding; ``last_token_indices`` finds the last
  1 of the mask, so right *and* left padding give the right token;
* audio - hidden state at the last position of the FTP forward pass (carries gradient).

Losses (both averaged over the layers):

* cosine      ``1 - mean_b cos(a_b, t_b)``;
* contrastive CE with label 0 over ``[a·t, a·Q^T] * logit_scale`` (``a``, ``t`` L2-normalised, ``Q`` the
  memory bank), label smoothing 0.1, logit scale 5; 0 while the bank is empty.

Memory bank, ``bank="recipe"`` (default, reproduces upstream: a bank that stops taking new entries once full, and
negatives from the last SA layer used at every layer): one bank shared by all
layers; ``push`` computes the batch mean of the L2-normalised text features of the *last* layer of the
range (index ``end - 1``); if the bank is non-empty its last slot is EMA-updated
(``Q[-1] = m Q[-1] + (1 - m) new``, not re-normalised), then ``new`` is appended while the bank is not
full; there is no FIFO pop (with ``m = 0`` the oldest entry is popped instead [inferred]).
``bank="fifo"``: a proper per-layer ring buffer of per-sample L2-normalised text features.

The bank lives in registered buffers, so ``state_dict`` / ``load_state_dict`` checkpoint it (upstream
does not: its resume starts the bank empty).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BankPolicy",
    "SAOutput",
    "SemanticAlignmentLoss",
    "sa_layer_range",
    "last_token_indices",
    "select_text_features",
    "select_audio_features",
    "encode_text_features",
]

BankPolicy = Literal["recipe", "fifo"]


def sa_layer_range(num_layers: int) -> tuple[int, int]:
    """``(L // 3, int(0.8 * L))`` - indices into ``hidden_states[1:]``; (12, 28) for L = 36."""
    start, end = num_layers // 3, int(0.8 * num_layers)
    if end <= start:
        raise ValueError(f"the SA layer range [{start}, {end}) is empty for a {num_layers}-layer LM (need >= 2 layers)")
    return start, end


def last_token_indices(attention_mask: Tensor) -> Tensor:
    """``(B, S)`` 0/1 mask -> ``(B,)`` index of each row's last 1 (right or left padding)."""
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (B, S); got {tuple(attention_mask.shape)}")
    mask = attention_mask.bool()
    if not bool(mask.any(dim=1).all()):
        raise ValueError("attention_mask has a row without any token (empty transcript?)")
    length = mask.shape[1]
    return length - 1 - mask.flip(1).long().argmax(dim=1)


def _layer_stack(hidden_states: Sequence[Tensor], layer_range: tuple[int, int]) -> Tensor:
    start, end = layer_range
    layers = hidden_states[1:]
    if not 0 <= start < end <= len(layers):
        raise ValueError(f"layer range [{start}, {end}) does not fit {len(layers)} layer outputs")
    return torch.stack([layers[i] for i in range(start, end)])  # (n_layers, B, S, H)


def _gather_positions(stack: Tensor, index: Tensor) -> Tensor:
    """(n, B, S, H) and (B,) positions -> (n, B, H)."""
    n, batch, _, hidden = stack.shape
    idx = index.view(1, batch, 1, 1).expand(n, batch, 1, hidden)
    return stack.gather(2, idx).squeeze(2)


def select_text_features(hidden_states: Sequence[Tensor], attention_mask: Tensor, layer_range: tuple[int, int]) -> Tensor:
    """HF ``hidden_states`` (L + 1 tensors ``(B, S, H)``) -> ``(n_layers, B, H)`` at each row's last real token."""
    return _gather_positions(_layer_stack(hidden_states, layer_range), last_token_indices(attention_mask))


def select_audio_features(
    hidden_states: Sequence[Tensor], layer_range: tuple[int, int], audio_mask: Tensor | None = None
) -> Tensor:
    """HF ``hidden_states`` -> ``(n_layers, B, H)`` at the last position (or each row's last real frame)."""
    stack = _layer_stack(hidden_states, layer_range)
    if audio_mask is None:
        return stack[:, :, -1]
    return _gather_positions(stack, last_token_indices(audio_mask))


@torch.no_grad()
def encode_text_features(lm: nn.Module, input_ids: Tensor, attention_mask: Tensor, layer_range: tuple[int, int]) -> Tensor:
    """Run the frozen LM on the tokenised transcript (no grad) -> ``(n_layers, B, H)`` text features."""
    out = lm(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, use_cache=False)
    return select_text_features(out.hidden_states, attention_mask, layer_range)


class SAOutput(NamedTuple):
    cosine_loss: Tensor  # scalar
    contrastive_loss: Tensor  # scalar (0 while the bank is empty)
    contrastive_active: bool


class SemanticAlignmentLoss(nn.Module):
    """Cosine + memory-bank contrastive loss between audio and text features (see module docstring).

    Args:
        num_layers: number of layers in the SA range (``end - start``), i.e. the leading dim of the features.
        hidden_size: LM hidden size H.
        queue_size: bank capacity (512).
        ema_momentum: EMA momentum of the recipe bank's last slot (0.99).
        logit_scale: contrastive logit scale (5.0, i.e. temperature 0.2).
        label_smoothing: contrastive label smoothing (0.1).
        bank: ``"recipe"`` (upstream behaviour) or ``"fifo"`` (per-layer ring buffer).
    """

    def __init__(
        self,
        num_layers: int,
        hidden_size: int,
        queue_size: int = 512,
        ema_momentum: float = 0.99,
        logit_scale: float = 5.0,
        label_smoothing: float = 0.1,
        bank: BankPolicy = "recipe",
    ) -> None:
        super().__init__()
        if bank not in ("recipe", "fifo"):
            raise ValueError(f"bank must be 'recipe' or 'fifo', got {bank!r}")
        if num_layers <= 0 or hidden_size <= 0 or queue_size <= 0:
            raise ValueError(
                f"num_layers, hidden_size and queue_size must be > 0; got {num_layers}, {hidden_size}, {queue_size}"
            )
        if not 0.0 <= ema_momentum < 1.0:
            raise ValueError(f"ema_momentum must be in [0, 1), got {ema_momentum}")
        self.num_layers, self.hidden_size, self.queue_size = num_layers, hidden_size, queue_size
        self.ema_momentum, self.logit_scale, self.label_smoothing = ema_momentum, logit_scale, label_smoothing
        self.bank_policy: BankPolicy = bank
        shape = (queue_size, hidden_size) if bank == "recipe" else (num_layers, queue_size, hidden_size)
        self.register_buffer("bank", torch.zeros(shape))
        self.register_buffer("bank_count", torch.zeros((), dtype=torch.long))
        self.register_buffer("bank_ptr", torch.zeros((), dtype=torch.long))  # next write slot (fifo)

    @property
    def bank_size(self) -> int:
        return int(self.bank_count)

    def negatives(self, layer: int) -> Tensor:
        """Current negatives for ``layer``: ``(count, H)`` (shared by all layers in recipe mode)."""
        count = self.bank_size
        return self.bank[:count] if self.bank_policy == "recipe" else self.bank[layer, :count]

    def _check(self, feats: Tensor, name: str) -> None:
        if feats.dim() != 3 or feats.shape[0] != self.num_layers or feats.shape[2] != self.hidden_size:
            raise ValueError(
                f"{name} must be (n_layers={self.num_layers}, B, H={self.hidden_size}); got {tuple(feats.shape)}"
            )

    def forward(self, audio_features: Tensor, text_features: Tensor) -> SAOutput:
        """audio/text features ``(n_layers, B, H)`` -> losses against the *current* bank (call ``push`` after)."""
        self._check(audio_features, "audio_features")
        self._check(text_features, "text_features")
        if audio_features.shape != text_features.shape:
            raise ValueError(f"audio {tuple(audio_features.shape)} and text {tuple(text_features.shape)} features differ")
        audio = F.normalize(audio_features.float(), dim=-1)
        text = F.normalize(text_features.detach().float(), dim=-1)
        positive = (audio * text).sum(-1)  # (n_layers, B)
        cosine_loss = (1.0 - positive.mean(dim=1)).mean()
        active = self.bank_size > 0
        if not active:
            return SAOutput(cosine_loss, cosine_loss.new_zeros(()), False)
        per_layer = []
        for layer in range(self.num_layers):
            negatives = audio[layer] @ self.negatives(layer).t()  # (B, count)
            logits = torch.cat([positive[layer].unsqueeze(1), negatives], dim=1) * self.logit_scale
            labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
            per_layer.append(F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing))
        return SAOutput(cosine_loss, torch.stack(per_layer).mean(), True)

    @torch.no_grad()
    def push(self, text_features: Tensor) -> None:
        """Add the micro-batch's text features ``(n_layers, B, H)`` to the bank (per the bank policy)."""
        self._check(text_features, "text_features")
        normed = F.normalize(text_features.float(), dim=-1).to(self.bank.device)
        if self.bank_policy == "recipe":
            self._push_recipe(normed[-1].mean(dim=0))
        else:
            self._push_fifo(normed)

    def _push_recipe(self, new: Tensor) -> None:
        count, m = self.bank_size, self.ema_momentum
        if m > 0:
            if count > 0:
                self.bank[count - 1] = m * self.bank[count - 1] + (1.0 - m) * new
            if count < self.queue_size:
                self.bank[count] = new
                self.bank_count += 1
        elif count < self.queue_size:
            self.bank[count] = new
            self.bank_count += 1
        else:  # momentum 0: pop the oldest, append the newest
            self.bank.copy_(torch.roll(self.bank, shifts=-1, dims=0))
            self.bank[-1] = new

    def _push_fifo(self, normed: Tensor) -> None:
        items = normed[:, -self.queue_size :]  # (n_layers, b, H): only the newest queue_size can survive
        b = items.shape[1]
        slots = (int(self.bank_ptr) + torch.arange(b, device=self.bank.device)) % self.queue_size
        self.bank[:, slots] = items
        self.bank_ptr.fill_((int(self.bank_ptr) + b) % self.queue_size)
        self.bank_count.fill_(min(self.queue_size, self.bank_size + b))

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, hidden_size={self.hidden_size}, queue_size={self.queue_size}, bank={self.bank_policy!r}"
