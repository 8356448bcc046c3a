"""Run under ``accelerate launch`` by tests/training/trainer/test_training_trainer_distributed.py (not a test module itself).

``python distributed_replica_script.py CONFIG.yaml [--key value ...]`` trains like ``llmcodec train`` and then
writes ``output_dir/replica-rank{R}.pt`` on every rank: the rank's whole trainable state (codec, bridge, FTP
heads, audio rows, SA bank, restart statistics), the discriminator and both optimizers' states, the SA text
features this rank produced (before any gather), the frames per micro-batch it counted, which buffers DDP
was told not to broadcast, and the log history.
"""

from __future__ import annotations

import os
import sys

import torch


def _tensors(prefix: str, value, out: dict) -> None:
    """Flatten nested dicts/lists of tensors (optimizer states) into ``out``."""
    if isinstance(value, torch.Tensor):
        out[prefix] = value.detach().cpu().clone()
    elif isinstance(value, dict):
        for key, item in value.items():
            _tensors(f"{prefix}.{key}", item, out)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _tensors(f"{prefix}.{i}", item, out)


def main(argv: list[str]) -> None:
    from llmcodec.training.trainer import build_components, load_training_arguments

    margs, dargs, args = load_training_arguments(argv[0], argv[1:])
    torch.set_num_threads(1)
    c = build_components(margs, dargs, args)
    trainer = c.trainer(args)
    module, local_sa, local_frames = c.module, [], []

    push = module.push_sa_bank

    def recording_push(features, gather=None):  # this rank's own items, before any gather
        if features is not None:
            local_sa.append(features.detach().cpu().clone())
        push(features, gather)

    module.push_sa_bank = recording_push
    restarter = getattr(module, "codebook_restarter", None)
    if restarter is not None:
        update = restarter.update

        def recording_update(codes, mask=None, reduce=None):
            local_frames.append(int(mask.sum()) if mask is not None else codes.numel())
            update(codes, mask, reduce=reduce)

        restarter.update = recording_update
    trainer.train()
    state = {f"module.{k}": v.cpu() for k, v in module.trainable_state_dict().items()}
    if c.discriminator is not None:
        state.update({f"disc.{k}": v.detach().cpu().clone() for k, v in c.discriminator.state_dict().items()})
        _tensors("disc_opt", trainer.disc_optimizer.state_dict()["state"], state)
    _tensors("opt", trainer.optimizer.state_dict(), state)
    ddp_ignored = sorted(getattr(trainer.model_wrapped, "parameters_to_ignore", ()))
    torch.save({"state": state, "local_sa": local_sa, "local_frames": local_frames, "ddp_ignored": ddp_ignored,
                "log_history": trainer.state.log_history, "world_size": trainer.accelerator.num_processes,
                "distributed_type": str(trainer.accelerator.distributed_type)},
               os.path.join(args.output_dir, f"replica-rank{trainer.args.process_index}.pt"))


if __name__ == "__main__":
    main(sys.argv[1:])
