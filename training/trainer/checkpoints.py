"""Checkpoints, resume and export of ``LLMCodecTrainer``.

A checkpoint (``checkpoint-N/``) holds ``training_state.safetensors`` (codec, bridge, FTP heads, audio rows, SA
bank), ``discriminator.safetensors``, ``discriminator_optimizer.pt``, ``llmcodec_trainer.json`` (counters) and the
Trainer's optimizer / scheduler / RNG / trainer state. It is written into a hidden staging folder and renamed
into place once complete. ``train(resume_from_checkpoint=...)`` restores all of it (``full_resume: false``
reproduces the recipe's lossy resume): ``True`` takes the newest complete checkpoint of ``output_dir`` and says
so; a missing or damaged file stops with one line naming it. A fresh run refuses an ``output_dir`` that holds a
previous run's checkpoints or export unless ``overwrite_output_dir``. ``export`` writes the Hub-ready codec folder
and ``export/lm/`` after checking that every weight is finite.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.trainer_utils import rotate_checkpoints

from llmcodec.files import file_mode, write_atomically
from llmcodec.training.trainer.checkpoint_files import (DISC_FILE, DISC_OPT_FILE, EXTRAS_FILE, STATE_FILE,
                                                        checkpoint_problem, latest_complete_checkpoint,
                                                        refuse_previous_run, remove_previous_run)
from llmcodec.training.trainer.errors import TrainingSetupError
from llmcodec.training.trainer.training_module import LLMCodecTrainingModule

logger = logging.getLogger(__name__)

__all__ = ["DISC_FILE", "DISC_OPT_FILE", "EXTRAS_FILE", "STATE_FILE", "CheckpointMixin", "export_artifacts"]

# What the recipe's resume does not restore (full_resume: false): bridge, FTP heads, SA bank (and the RNG state).
LOSSY_RESUME_FRESH = ("bridge.", "ftp.", "sa.")


def _load_device(device: torch.device | str) -> str:
    """Where a checkpoint's tensors are loaded: safetensors and ``torch.load`` take "cpu" but not "cpu:0" (the
    device of a multi-process CPU run)."""
    device = torch.device(device)
    return "cpu" if device.type == "cpu" else str(device)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__


class CheckpointMixin:
    """Checkpoint, resume and export of ``LLMCodecTrainer`` (mixed in before ``transformers.Trainer``)."""

    _staging_run_dir: str | None = None

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> Any:
        """``Trainer.train`` after checking where the run starts: a fresh run refuses an ``output_dir`` holding a
        previous run (unless ``overwrite_output_dir``), a resume takes a complete checkpoint (``True``: the
        newest complete one of ``output_dir``)."""
        if resume_from_checkpoint is None or resume_from_checkpoint is False:
            self._start_fresh()
        else:
            resume_from_checkpoint = self._checkpoint_to_resume(resume_from_checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _start_fresh(self) -> None:
        output_dir = self.args.output_dir
        previous = refuse_previous_run(output_dir, self.args.overwrite_output_dir)
        if not previous:
            return
        self.accelerator.wait_for_everyone()  # every rank has looked before rank 0 deletes
        if self.args.should_save:
            remove_previous_run(output_dir)
            logger.warning("overwrite_output_dir: deleted the previous run's %s in %s",
                           ", ".join(os.path.basename(p) for p in previous), output_dir)
        self.accelerator.wait_for_everyone()

    def _checkpoint_to_resume(self, checkpoint: str | bool) -> str:
        gan, rng = self.discriminator is not None, bool(self.args.full_resume)
        if checkpoint is True:
            found, skipped = latest_complete_checkpoint(self.args.output_dir, gan, rng)
            if found is None:
                why = f" ({'; '.join(skipped)})" if skipped else ""
                raise TrainingSetupError(f"--resume: no complete checkpoint in {self.args.output_dir}{why}")
            if self.is_world_process_zero():
                note = f"; skipped newer incomplete ones: {'; '.join(skipped)}" if skipped else ""
                logger.warning("resuming from %s, the newest complete checkpoint%s", found, note)
            return found
        problem = checkpoint_problem(str(checkpoint), gan, rng)
        if problem:
            raise TrainingSetupError(f"cannot resume from {checkpoint}: {problem}")
        return str(checkpoint)

    def _load_rng_state(self, checkpoint: Any) -> None:
        if self.args.full_resume:  # the recipe's lossy resume (full_resume false) does not restore the RNG
            super()._load_rng_state(checkpoint)

    # ---------------------------------------------------------------------------------------- saving
    def _get_output_dir(self, trial: Any) -> str:
        return self._staging_run_dir or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        """The Trainer's checkpoint, written into ``.checkpoint-N.incomplete/`` and renamed to ``checkpoint-N``
        once every rank has written its part; then the old ones are rotated out (``save_total_limit``)."""
        if self.args.write_head0_to_rows_on_save:  # on every rank, so replicas stay equal
            self.training_module.write_head0_to_rows()
        run_dir = super()._get_output_dir(trial)
        name = f"checkpoint-{self.state.global_step}"
        staging = os.path.join(run_dir, f".{name}.incomplete")
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted save
        self.accelerator.wait_for_everyone()
        self._staging_run_dir = staging
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_run_dir = None
        self.accelerator.wait_for_everyone()  # every rank's RNG state is in the staging folder
        if self.args.should_save:
            final = os.path.join(run_dir, name)
            if os.path.isdir(final):  # a resumed run saving a step again: the new one replaces it
                shutil.rmtree(final)
            os.replace(os.path.join(staging, name), final)
            shutil.rmtree(staging, ignore_errors=True)
            rotate_checkpoints(output_dir=run_dir, save_total_limit=self.args.save_total_limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=False)
        self.accelerator.wait_for_everyone()

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Checkpoint the trainable state, the discriminator and its optimizer (not the frozen LM body), each file
        written atomically with the umask's permissions."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        # The Trainer passes the (e.g. FSDP-gathered) full state when it has one: save that, not our local view.
        _save_safetensors(self.training_module.trainable_state_dict(state_dict), os.path.join(output_dir, STATE_FILE))
        if self.discriminator is not None:
            disc = {k: v.contiguous() for k, v in self.discriminator.state_dict().items()}
            _save_safetensors(disc, os.path.join(output_dir, DISC_FILE))
            optimizer = self.disc_optimizer.state_dict()
            write_atomically(os.path.join(output_dir, DISC_OPT_FILE), lambda path: torch.save(optimizer, path))
        counters = json.dumps({"counters": self.counters}, indent=1)
        write_atomically(os.path.join(output_dir, EXTRAS_FILE), lambda path: Path(path).write_text(counters, "utf-8"))
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    # --------------------------------------------------------------------------------------- loading
    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        from safetensors.torch import load_file

        folder = resume_from_checkpoint
        module = self.training_module
        state = load_file(os.path.join(folder, STATE_FILE), device=_load_device(next(module.codec.parameters()).device))
        if not self.args.full_resume:  # the recipe's lossy resume: these keep their fresh values
            fresh = module.trainable_state_dict()
            state.update({k: v for k, v in fresh.items() if k.startswith(LOSSY_RESUME_FRESH)})
        try:
            module.load_trainable_state_dict(state)
        except (ValueError, RuntimeError) as error:  # other keys or shapes: another codec_config, LM or loss terms
            raise TrainingSetupError(
                f"cannot resume from {folder}: its {STATE_FILE} does not fit this model (was it trained with another "
                f"codec_config, LM or set of loss terms?): {_one_line(error)}") from error
        if self.discriminator is not None:
            disc_state = load_file(os.path.join(folder, DISC_FILE), device=_load_device(self.args.device))
            opt_state = torch.load(os.path.join(folder, DISC_OPT_FILE), map_location=_load_device(self.args.device),
                                   weights_only=True)
            try:
                self.discriminator.load_state_dict(disc_state)
                self.disc_optimizer.load_state_dict(opt_state)
            except (ValueError, RuntimeError, KeyError) as error:
                raise TrainingSetupError(f"cannot resume from {folder}: its discriminator does not fit this one "
                                         f"(other disc_periods / disc_channels?): {_one_line(error)}") from error
        with open(os.path.join(folder, EXTRAS_FILE), encoding="utf-8") as fh:
            self.counters.update(json.load(fh).get("counters", {}))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        try:
            super()._load_optimizer_and_scheduler(checkpoint)
        except (ValueError, RuntimeError, KeyError) as error:  # the files were checked: the setup differs
            raise TrainingSetupError(f"cannot resume from {checkpoint}: its optimizer state does not fit this run "
                                     f"(other parameters or optimizers?): {_one_line(error)}") from error

    # ---------------------------------------------------------------------------------- export
    def export(self, out_dir: str | None = None) -> str:
        """Hub-ready codec folder at ``out_dir`` (default ``output_dir/export``) and the LM at ``out_dir/lm``."""
        out_dir = out_dir or os.path.join(self.args.output_dir, "export")
        if self.args.should_save:
            export_artifacts(self.training_module, self.tokenizer, out_dir, self.args.write_head0_to_rows_on_save)
        self.accelerator.wait_for_everyone()
        return out_dir


def _save_safetensors(tensors: dict[str, torch.Tensor], path: str) -> None:
    from safetensors.torch import save_file

    def write(temporary: str) -> None:
        save_file(tensors, temporary)  # safetensors writes through its own 0600 temporary file
        os.chmod(temporary, file_mode())

    write_atomically(path, write)


def nonfinite_weights(module: LLMCodecTrainingModule) -> tuple[list[str], int]:
    """``(names of the exported tensors holding NaN or Inf, how many tensors are exported)``: the codec's state and
    the LM's audio rows."""
    tensors = {f"codec.{k}": v for k, v in module.codec.state_dict().items()}
    tensors["lm.audio_embeddings"] = module.lm.audio_embeddings
    bad = [name for name, value in tensors.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    return bad, len(tensors)


def export_artifacts(module: LLMCodecTrainingModule, tokenizer: Any, out_dir: str, head0_to_rows: bool = True) -> str:
    """``save_codec_folder`` (codec, at ``out_dir``) + ``build_lm_artifact`` (LM with trained rows, at ``out_dir/lm``).

    Raises :class:`TrainingSetupError` and writes nothing when a weight is not finite (a diverged run)."""
    from llmcodec.hub import save_codec_folder
    from llmcodec.tokenizer import AudioTokensMeta, build_lm_artifact

    if head0_to_rows:  # as the recipe: the exported <CODEC_*> rows are FTP head 0
        module.write_head0_to_rows()
    bad, total = nonfinite_weights(module)
    if bad:
        raise TrainingSetupError(
            f"training diverged: {len(bad)} of {total} weights hold NaN or Inf (e.g. {', '.join(bad[:3])}); nothing "
            f"was exported to {out_dir}; lower the learning rates or resume from an earlier checkpoint")
    codec = module.codec
    was_training = codec.training
    save_codec_folder(codec.eval(), out_dir, source="fine-tuned with llmcodec train", overwrite=True)
    codec.train(was_training)
    module.lm.sync_audio_rows_to_lm()
    meta = AudioTokensMeta(getattr(codec.config, "token_prefix", "<CODEC_"), module.lm.codebook_size,
                           module.lm.first_audio_token_id)
    build_lm_artifact(module.lm.lm, tokenizer, os.path.join(out_dir, "lm"), meta=meta, overwrite=True)
    return out_dir
