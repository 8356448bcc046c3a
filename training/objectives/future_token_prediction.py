"""Future Token Prediction (FTP): K Medusa-style linear heads on the LM's last hidden state (a recipe loss).

Head j is ``Linear(H, codebook_size, bias=False)`` and is trained with cross-entropy on the VQ codes
j positions later; the per-head CEs are combined with weights ``(1/(j+1)) / sum_k 1/(k+1)``
(60/137, 30/137, 20/137, 15/137, 12/137 for K = 5).

Alignment. Without a start token (the recipe: Qwen3 has no BOS) the hidden state at
position i has already consumed code i, so head 0 learns to identify the *current* code and head j
predicts j steps ahead: ``CE_j = CE(head_j(h[:, :T-j]), codes[:, j:T])`` with ``h`` of length T.

With ``prepend_start_token=True`` the caller feeds ``[start, x_0 .. x_{T-1}]`` (see
``prepend_start_embedding``) so ``h`` has length T + 1 and position i has consumed codes < i; the
same slicing on ``h[:, :T]`` then makes head j predict j + 1 steps ahead ("next 1..K token heads").
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FTPOutput", "FutureTokenPredictionHeads", "ftp_head_weights", "prepend_start_embedding"]


def ftp_head_weights(num_heads: int) -> Tensor:
    """``(K,)`` float32 weights ``(1/(j+1)) / sum_k 1/(k+1)``, summing to 1."""
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")
    w = 1.0 / torch.arange(1, num_heads + 1, dtype=torch.float64)
    return (w / w.sum()).float()


def prepend_start_embedding(inputs_embeds: Tensor, start_embedding: Tensor) -> Tensor:
    """``(B, T, H)`` + start embedding ``(H,)`` -> ``(B, T + 1, H)`` (for ``prepend_start_token=True``)."""
    if start_embedding.dim() != 1 or start_embedding.shape[0] != inputs_embeds.shape[-1]:
        raise ValueError(
            f"start_embedding must be ({inputs_embeds.shape[-1]},); got {tuple(start_embedding.shape)}"
        )
    start = start_embedding.to(inputs_embeds.dtype).expand(inputs_embeds.shape[0], 1, -1)
    return torch.cat([start, inputs_embeds], dim=1)


class FTPOutput(NamedTuple):
    loss: Tensor  # scalar, sum_j w_j CE_j
    per_head_loss: Tensor  # (K,) CE_j, detached
    per_head_accuracy: Tensor  # (K,) top-1 accuracy of head j, detached


class FutureTokenPredictionHeads(nn.Module):
    """K linear heads ``H -> codebook_size`` and the weighted FTP loss (see module docstring)."""

    def __init__(
        self,
        hidden_size: int,
        codebook_size: int = 20_480,
        num_heads: int = 5,
        prepend_start_token: bool = False,
    ) -> None:
        super().__init__()
        if hidden_size <= 0 or codebook_size <= 0:
            raise ValueError(f"hidden_size and codebook_size must be > 0; got {hidden_size}, {codebook_size}")
        self.hidden_size = hidden_size
        self.codebook_size = codebook_size
        self.prepend_start_token = prepend_start_token
        self.heads = nn.ModuleList(nn.Linear(hidden_size, codebook_size, bias=False) for _ in range(num_heads))
        self.register_buffer("head_weights", ftp_head_weights(num_heads), persistent=False)

    @property
    def num_heads(self) -> int:
        return len(self.heads)

    @torch.no_grad()
    def init_from_output_embedding_rows(self, rows: Tensor) -> None:
        """Copy the LM output-embedding audio rows ``(codebook_size, H)`` into every head (recipe init)."""
        if rows.shape != (self.codebook_size, self.hidden_size):
            raise ValueError(
                f"rows must be ({self.codebook_size}, {self.hidden_size}) audio rows of the LM head; got {tuple(rows.shape)}"
            )
        for head in self.heads:
            head.weight.copy_(rows.to(head.weight.dtype))

    def forward(self, hidden: Tensor, codes: Tensor, code_mask: Tensor | None = None) -> FTPOutput:
        """hidden ``(B, T, H)`` (``(B, T + 1, H)`` with a start token), codes ``(B, T)`` VQ indices,
        code_mask ``(B, T)`` True for real frames -> ``FTPOutput``."""
        if codes.dim() != 2:
            raise ValueError(f"codes must be (B, T); got {tuple(codes.shape)}")
        batch, length = codes.shape
        expected = length + 1 if self.prepend_start_token else length
        if hidden.dim() != 3 or hidden.shape[:2] != (batch, expected) or hidden.shape[-1] != self.hidden_size:
            raise ValueError(
                f"hidden must be (B={batch}, {expected}, {self.hidden_size}) for codes of length {length}"
                f"{' plus a start token' if self.prepend_start_token else ''}; got {tuple(hidden.shape)}"
            )
        if length < self.num_heads:
            raise ValueError(f"sequence of {length} codes is too short for {self.num_heads} FTP heads")
        if code_mask is not None and code_mask.shape != codes.shape:
            raise ValueError(f"code_mask {tuple(code_mask.shape)} must match codes {tuple(codes.shape)}")
        hidden = hidden[:, :length]
        targets_all = codes.detach().long()
        if code_mask is not None:
            targets_all = targets_all.masked_fill(~code_mask.bool(), -100)
        losses, accuracies = [], []
        for j, head in enumerate(self.heads):
            logits = head(hidden[:, : length - j].to(head.weight.dtype)).float()
            targets = targets_all[:, j:]
            valid = targets != -100
            # sum / count rather than mean: a head whose targets are all padding contributes 0, not NaN
            summed = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")
            losses.append(summed / valid.sum().clamp_min(1))
            correct = (logits.argmax(-1) == targets) & valid
            accuracies.append(correct.sum().float() / valid.sum().clamp_min(1).float())
        per_head = torch.stack(losses)
        loss = (self.head_weights.to(per_head.device) * per_head).sum()
        return FTPOutput(loss, per_head.detach(), torch.stack(accuracies).detach())
