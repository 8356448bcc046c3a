"""Rank-local training state that must stay identical on every process (DDP): the SA memory bank and the
dead-code restart statistics.

Both live in module buffers (so ``state_dict`` checkpoints them), and DDP by default broadcasts every
module buffer from rank 0 at the start of each forward (``broadcast_buffers=True``): what rank 1 pushed
into its bank, or counted in its usage statistics, was overwritten by rank 0's copy, so only rank 0's
items ever reached the bank and only rank 0's codes counted as used. Instead every rank now applies the
*same* updates in the same order, and these buffers are excluded from DDP's broadcast (other buffers,
e.g. BatchNorm statistics, are still broadcast as before):

* SA bank: the text features each rank wants to push are all-gathered; every rank pushes all of them, one
  push per rank's micro-batch, in rank order (``all_gather_along``);
* restart usage: the per-code counts and the frame count of each micro-batch are summed over the ranks
  before the EMA update (``all_reduce_sum_``), so the dead-code decision is the same everywhere;
* restart positions: the candidate frames of every rank are gathered; rank 0's chosen replacement rows are
  broadcast (the sampling uses each process's RNG) — ``restart_codes_in_sync``.

In a single process none of this runs: the updates are exactly those of a plain run.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["all_gather_along", "all_reduce_sum_", "exclude_synced_state_from_ddp_broadcast", "restart_codes_in_sync",
           "sa_bank_gather", "unsupported_setup", "world_size"]


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def all_reduce_sum_(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over the process group in place (no-op in a single process)."""
    if world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_along(x: Tensor | None, shape: Sequence[int], dim: int, device: torch.device | str,
                     dtype: torch.dtype = torch.float32) -> list[Tensor]:
    """Every rank's ``x`` (``shape`` except along ``dim``, where ranks may differ; None = nothing), in rank order.

    Ranks with nothing (None or size 0 along ``dim``) are left out of the list. Every rank must call this.
    """
    if world_size() == 1:
        return [x] if x is not None and x.shape[dim] > 0 else []
    size = torch.tensor([0 if x is None else x.shape[dim]], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    counts = [int(s) for s in sizes]
    if max(counts) == 0:
        return []
    full = list(shape)
    full[dim] = max(counts)
    padded = torch.zeros(full, dtype=dtype, device=device)
    if x is not None and x.shape[dim] > 0:
        padded.narrow(dim, 0, x.shape[dim]).copy_(x)
    gathered = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(gathered, padded)
    return [g.narrow(dim, 0, n) for g, n in zip(gathered, counts) if n > 0]


def sa_bank_gather(sa: nn.Module) -> Callable[[Tensor | None], list[Tensor]]:
    """The gather ``LLMCodecTrainingModule.flush_sa_bank`` takes: text features ``(n_layers, B, H)`` of every rank."""
    return partial(all_gather_along, shape=(sa.num_layers, 0, sa.hidden_size), dim=1, device=sa.bank.device,
                   dtype=sa.bank.dtype)


@torch.no_grad()
def restart_codes_in_sync(restarter: Any, codebook: Tensor, projected: Tensor, mask: Tensor | None) -> int:
    """``restarter.restart`` with every rank's candidate frames; the replaced rows are rank 0's on every rank.

    The usage statistics are identical on every rank (summed counts), so the dead codes are too; the sampled
    positions depend on each process's RNG, so rank 0's rows are broadcast."""
    if world_size() == 1:
        return restarter.restart(codebook, projected, mask)
    dim = projected.shape[-1]
    local = projected[mask] if mask is not None else projected.reshape(-1, dim)
    parts = all_gather_along(local.detach().float(), (0, dim), 0, projected.device)
    if not parts:
        return 0
    dead = restarter.dead_codes() if int(restarter.steps) > 0 else None  # what restart() will move
    restarted = restarter.restart(codebook, torch.cat(parts)[None])
    if restarted:
        rows = codebook[dead].contiguous()
        dist.broadcast(rows, src=0)
        codebook[dead] = rows
    return restarted


def unsupported_setup(accelerator: Any, args: Any) -> str | None:
    """Why this launch would not train as asked (None when it would). Checked before training starts:

    * FSDP asked for (``accelerate launch --use_fsdp`` or ``fsdp``) but not in effect: accelerate 1.15 turns FSDP
      on only for accelerator devices; on CPU (``use_cpu``) the run would silently be plain DDP;
    * FSDP with dead-code restarts: the codebook is sharded, the restart needs all of it (untested on GPUs);
    * several processes launched, each an independent single-process run (no GPU and ``use_cpu: false``)."""
    from accelerate.utils import DistributedType

    kind = accelerator.distributed_type
    wants_fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true") or bool(getattr(args, "fsdp", None))
    if wants_fsdp and kind != DistributedType.FSDP:
        return (f"FSDP was requested but accelerate runs this as {kind}: accelerate enables FSDP only on accelerator "
                "devices (GPU/XPU/...), not with use_cpu, where it would silently be plain data parallelism; drop "
                "--use_fsdp (2 CPU processes: accelerate launch --multi_gpu with use_cpu: true)")
    if kind == DistributedType.FSDP and getattr(args, "codebook_restart_every", 0) > 0:
        return ("codebook_restart_every does not work under FSDP (the codebook is sharded across the ranks); use "
                "DDP or codebook_restart_every: 0")
    launched = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if launched > 1 and accelerator.num_processes != launched:
        return (f"{launched} processes were launched but each runs as an independent single-process run ({kind}): "
                "no GPU was found and use_cpu is false; set use_cpu: true for CPU (gloo) data parallelism")
    return None


def exclude_synced_state_from_ddp_broadcast(module: nn.Module) -> list[str]:
    """Keep DDP from overwriting the SA bank and the restart statistics with rank 0's copy on every forward.

    They are kept identical by applying the same updates on every rank (see the module docstring); every
    other buffer is still broadcast. Call before the module is DDP-wrapped. Returns the ignored names."""
    names = [f"{prefix}.{name}" for prefix in ("sa", "codebook_restarter")
             if getattr(module, prefix, None) is not None
             for name, _ in getattr(module, prefix).named_buffers()]
    ignored = sorted(set(getattr(module, "_ddp_params_and_buffers_to_ignore", ())) | set(names))
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, ignored)
    return ignored


def all_reduce_mean_(tensors: list[Tensor], world_size: int) -> None:
    """Average ``tensors`` over the process group in place with one bucketed all-reduce (D has ~118 tensors:
    one collective each was ~118 latency-bound calls per step)."""
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world_size
    offset = 0
    for t in tensors:
        t.copy_(flat[offset: offset + t.numel()].view_as(t))
        offset += t.numel()
