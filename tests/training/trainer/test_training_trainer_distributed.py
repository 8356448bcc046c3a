"""Distributed training: 2 gloo CPU processes through ``accelerate launch`` keep identical replicas, and every
rank's items reach the SA bank and the restart statistics (``training/trainer/distributed.py``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repo_paths import HELPERS_DIR, REPO_ROOT
from trainer_testing import TINY_CONFIG

SCRIPT = str(HELPERS_DIR / "distributed_replica_script.py")
CODEC = ("{hidden_size: 32, encoder_num_layers: 1, decoder_num_layers: 1, num_attention_heads: 2, head_dim: 16, "
         "conv_kernel_size: 7, codebook_size: 64, codebook_partitions: {speech: [0, 64]}}")
# SA + FTP + restarts + GAN from step 1 (the ramps give 0 at step 0), tiny everything.
RUN = ["--dataset", "synthetic", "--synthetic_num_examples", "8", "--build_corpus_if_missing", "false",
       "--max_steps", "4", "--gradient_accumulation_steps", "2", "--per_device_train_batch_size", "2",
       "--save_strategy", "no", "--report_to", "[]", "--disable_tqdm", "true", "--export_at_end", "false",
       "--d_only_steps", "0", "--ftp_delay_steps", "0", "--ftp_ramp_steps", "1", "--sa_delay_steps", "0",
       "--sa_ramp_steps", "1", "--sa_queue_size", "32", "--torch_num_threads", "1", "--logging_steps", "1",
       "--codebook_restart_every", "2", "--codebook_restart_threshold", "0.5", "--codebook_restart_max_fraction",
       "0.25", "--r1_every", "2", "--enable_gan", "true", "--codec_config", CODEC]


def _free_port() -> int:
    with socket.socket() as sock:  # other jobs on the machine may hold torchrun's default 29500
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(out: Path, launch_flags: list[str], extra: list[str] = (), target: tuple[str, ...] = (SCRIPT,)
            ) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *launch_flags, "--num_processes", "2",
           "--num_machines", "1", "--main_process_port", str(_free_port()), "--mixed_precision", "no",
           "--dynamo_backend", "no", *target, TINY_CONFIG, *RUN, "--output_dir", str(out), *extra]
    return subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def _replicas(out: Path) -> tuple[dict, dict]:
    return tuple(torch.load(out / f"replica-rank{r}.pt", weights_only=False) for r in (0, 1))


def _assert_identical(r0: dict, r1: dict) -> None:
    assert r0["state"].keys() == r1["state"].keys()
    different = [k for k in r0["state"] if not torch.equal(r0["state"][k], r1["state"][k])]
    assert not different, f"replicas differ in {len(different)} tensors, e.g. {different[:8]}"


def _expected_recipe_bank(pushes: list[torch.Tensor], queue: int, n_layers: int, hidden: int) -> torch.Tensor:
    from llmcodec.training.objectives.semantic_alignment import SemanticAlignmentLoss

    sa = SemanticAlignmentLoss(n_layers, hidden, queue_size=queue, ema_momentum=0.99)
    for features in pushes:
        sa.push(features)
    return sa.bank


def test_ddp_two_gloo_processes_keep_identical_replicas_and_share_the_sa_bank(tmp_path):
    out = tmp_path / "ddp"
    # accelerate 1.15: `--multi_gpu` + the config's use_cpu: true gives 2 gloo processes (MULTI_CPU).
    proc = _launch(out, ["--multi_gpu"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    r0, r1 = _replicas(out)
    assert r0["world_size"] == 2 and r0["distributed_type"] == "DistributedType.MULTI_CPU"
    # codec, bridge, FTP heads, audio rows, SA bank, restart statistics, D, both optimizers: bit-identical
    _assert_identical(r0, r1)
    assert {"sa.bank", "sa.bank_count", "codebook_restarter.usage", "codebook_restarter.frames"} <= set(r0["ddp_ignored"])

    # The two ranks saw different transcripts, and the bank holds both ranks' items, one push per rank's
    # micro-batch in rank order.
    local0, local1 = r0["local_sa"], r1["local_sa"]
    assert len(local0) == len(local1) == 6  # steps 1..3 x GA 2 (SA is 0 at step 0)
    assert not any(torch.allclose(a, b) for a, b in zip(local0, local1))
    bank, count = r0["state"]["module.sa.bank"], int(r0["state"]["module.sa.bank_count"])
    n_layers, _, hidden = local0[0].shape
    assert count == 12
    interleaved = [f for pair in zip(local0, local1) for f in pair]
    torch.testing.assert_close(bank, _expected_recipe_bank(interleaved, 32, n_layers, hidden), rtol=0, atol=1e-6)
    # rank 1's features themselves: the newest slot is exactly rank 1's last micro-batch (batch mean, last layer)
    newest = torch.nn.functional.normalize(local1[-1], dim=-1)[-1].mean(0)
    torch.testing.assert_close(bank[count - 1], newest, rtol=0, atol=1e-6)

    # Restart statistics count both ranks' frames; the restarts ran (identically, see above).
    frames = r0["state"]["module.codebook_restarter.frames"]
    per_step = r0["local_frames"][-1] + r1["local_frames"][-1]
    assert len(set(r0["local_frames"] + r1["local_frames"])) == 1  # fixed crops: the same count every micro-batch
    torch.testing.assert_close(frames, torch.tensor(float(per_step)), rtol=1e-6, atol=0)
    restarts = [h["codebook_restarts"] for h in r0["log_history"] if "codebook_restarts" in h]
    assert restarts and max(restarts) > 0


def test_restart_usage_takes_the_summed_counts_and_the_bank_every_gathered_item():
    from llmcodec.training.objectives.codebook_restart import CodebookRestarter
    from llmcodec.training.objectives.semantic_alignment import SemanticAlignmentLoss
    from llmcodec.training.trainer.distributed import all_gather_along

    codes = torch.tensor([[0, 1, 1, 3]])
    summed, twice = CodebookRestarter(8), CodebookRestarter(8)
    summed.update(codes, reduce=lambda t: t.mul_(2))  # what an all-reduce over 2 identical ranks gives
    twice.update(torch.cat([codes, codes], dim=1))
    assert torch.equal(summed.usage, twice.usage) and torch.equal(summed.frames, twice.frames)

    from trainer_testing import tiny_args
    from llmcodec.training.trainer import build_components
    c = build_components(*tiny_args("unused", sa_queue_size=8))
    sa = c.module.sa
    mine, theirs = torch.randn(sa.num_layers, 2, sa.hidden_size), torch.randn(sa.num_layers, 3, sa.hidden_size)
    c.module.push_sa_bank(mine, gather=lambda x: [x, theirs])  # rank order: this rank's items, then the other's
    assert sa.bank_size == 2
    expected = SemanticAlignmentLoss(sa.num_layers, sa.hidden_size, queue_size=8)
    expected.push(mine)
    expected.push(theirs)
    assert torch.equal(sa.bank, expected.bank)
    assert [t.shape for t in all_gather_along(mine, (sa.num_layers, 0, sa.hidden_size), 1, "cpu")] == [mine.shape]
    assert all_gather_along(None, (sa.num_layers, 0, sa.hidden_size), 1, "cpu") == []


CLI = ("-m", "llmcodec.cli", "train")
# What FSDP needs to get past accelerate's own checks on a CPU machine (its defaults want an accelerator device).
FSDP_FLAGS = ["--use_fsdp", "--fsdp_version", "2", "--fsdp_auto_wrap_policy", "NO_WRAP", "--fsdp_state_dict_type",
              "FULL_STATE_DICT", "--fsdp_cpu_ram_efficient_loading", "false"]


def test_fsdp_on_cpu_is_refused_instead_of_silently_running_ddp(tmp_path):
    # accelerate 1.15 enables FSDP only for accelerator devices: with use_cpu the run was plain DDP (MULTI_CPU).
    proc = _launch(tmp_path / "fsdp", FSDP_FLAGS, target=CLI)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "error: FSDP was requested but accelerate runs this as DistributedType.MULTI_CPU" in proc.stderr, proc.stderr[-4000:]


@pytest.mark.skipif(torch.cuda.is_available(), reason="with GPUs this launch is real DDP")
def test_processes_that_would_train_independently_are_refused(tmp_path):
    # No GPU and use_cpu false: every launched process was an independent single-process run (DistributedType.NO).
    proc = _launch(tmp_path / "independent", ["--multi_gpu"], ["--use_cpu", "false"], target=CLI)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "2 processes were launched but each runs as an independent single-process run" in proc.stderr, proc.stderr[-4000:]


def test_fsdp_with_codebook_restarts_is_refused(monkeypatch):
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from llmcodec.training.trainer.distributed import unsupported_setup

    monkeypatch.setenv("WORLD_SIZE", "2")
    fsdp = SimpleNamespace(distributed_type=DistributedType.FSDP, num_processes=2)
    assert "sharded" in unsupported_setup(fsdp, SimpleNamespace(fsdp=["full_shard"], codebook_restart_every=50))
    assert unsupported_setup(fsdp, SimpleNamespace(fsdp=["full_shard"], codebook_restart_every=0)) is None
    ddp = SimpleNamespace(distributed_type=DistributedType.MULTI_CPU, num_processes=2)
    assert unsupported_setup(ddp, SimpleNamespace(fsdp=None, codebook_restart_every=50)) is None


def test_deepspeed_is_refused_with_one_clear_message(tmp_path, monkeypatch):
    from trainer_testing import tiny_args

    with pytest.raises(ValueError, match="DeepSpeed is not supported by LLMCodecTrainer"):
        tiny_args(tmp_path, deepspeed={"zero_optimization": {"stage": 2}})
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # what `accelerate launch --use_deepspeed` sets
    with pytest.raises(ValueError, match="ZeRO steps the optimizer once per parameter group"):
        tiny_args(tmp_path)
