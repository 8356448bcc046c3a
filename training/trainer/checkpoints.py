"""Checkpoints (``checkpoint-N/``): ``training_state.safetensors`` (codec, bridge, FTP heads, audio rows, SA bank),
``discriminator.safetensors``, ``discriminator_optimizer.pt``, ``llmcodec_trainer.json`` (counters), plus the Trainer's
optimizer/scheduler/RNG/trainer state. ``resume_from_checkpoint`` restores all of it (fix of quirk 9; ``full_resume:
false`` reproduces upstream). ``export`` writes the Hub-ready codec folder and ``export/lm/``."""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

from llmcodec.training.trainer.training_module import LLMCodecTrainingModule


STATE_FILE = "training_state.safetensors"
DISC_FILE = "discriminator.safetensors"
DISC_OPT_FILE = "discriminator_optimizer.pt"
EXTRAS_FILE = "llmcodec_trainer.json"
# What upstream's resume does not restore (quirk 9): bridge, FTP heads, SA bank (and the RNG state).
LOSSY_RESUME_FRESH = ("bridge.", "ftp.", "sa.")


class CheckpointMixin:
    """Checkpoint, resume and export of ``LLMCodecTrainer`` (mixed in before ``transformers.Trainer``)."""

    def _load_rng_state(self, checkpoint: Any) -> None:
        if self.args.full_resume:  # upstream (full_resume false) does not restore the RNG (quirk 9)
            super()._load_rng_state(checkpoint)

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        if self.args.write_head0_to_rows_on_save:  # on every rank, so replicas stay equal
            self.training_module.write_head0_to_rows()
        super()._save_checkpoint(model, trial)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Checkpoint the trainable state, the discriminator and its optimizer (not the frozen LM body)."""
        from safetensors.torch import save_file

        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        # The Trainer passes the (e.g. FSDP-gathered) full state when it has one: save that, not our local view.
        save_file(self.training_module.trainable_state_dict(state_dict), os.path.join(output_dir, STATE_FILE))
        if self.discriminator is not None:
            save_file({k: v.contiguous() for k, v in self.discriminator.state_dict().items()}, os.path.join(output_dir, DISC_FILE))
            torch.save(self.disc_optimizer.state_dict(), os.path.join(output_dir, DISC_OPT_FILE))
        with open(os.path.join(output_dir, EXTRAS_FILE), "w") as fh:
            json.dump({"counters": self.counters}, fh, indent=1)
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        from safetensors.torch import load_file

        path = os.path.join(resume_from_checkpoint, STATE_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{resume_from_checkpoint} is not an LLM-Codec training checkpoint (no {STATE_FILE})")
        module = self.training_module
        state = load_file(path, device=str(next(module.codec.parameters()).device))
        if not self.args.full_resume:  # upstream's lossy resume (quirk 9): these keep their fresh values
            fresh = module.trainable_state_dict()
            state.update({k: v for k, v in fresh.items() if k.startswith(LOSSY_RESUME_FRESH)})
        module.load_trainable_state_dict(state)
        if self.discriminator is not None:
            dpath = os.path.join(resume_from_checkpoint, DISC_FILE)
            if not os.path.isfile(dpath):
                raise FileNotFoundError(f"{resume_from_checkpoint} has no {DISC_FILE} but the GAN is enabled")
            self.discriminator.load_state_dict(load_file(dpath, device=str(self.args.device)))
            opt_state = torch.load(os.path.join(resume_from_checkpoint, DISC_OPT_FILE), map_location=self.args.device,
                                   weights_only=True)
            self.disc_optimizer.load_state_dict(opt_state)
        extras = os.path.join(resume_from_checkpoint, EXTRAS_FILE)
        if os.path.isfile(extras):
            with open(extras) as fh:
                self.counters.update(json.load(fh).get("counters", {}))

    # ---------------------------------------------------------------------------------- export
    def export(self, out_dir: str | None = None) -> str:
        """Hub-ready codec folder at ``out_dir`` (default ``output_dir/export``) and the LM at ``out_dir/lm``."""
        out_dir = out_dir or os.path.join(self.args.output_dir, "export")
        if self.args.should_save:
            export_artifacts(self.training_module, self.tokenizer, out_dir, self.args.write_head0_to_rows_on_save)
        self.accelerator.wait_for_everyone()
        return out_dir


def export_artifacts(module: LLMCodecTrainingModule, tokenizer: Any, out_dir: str, head0_to_rows: bool = True) -> str:
    """``save_codec_folder`` (codec, at ``out_dir``) + ``build_lm_artifact`` (LM with trained rows, at ``out_dir/lm``)."""
    from llmcodec.hub import save_codec_folder
    from llmcodec.tokenizer import AudioTokensMeta, build_lm_artifact

    if head0_to_rows:  # upstream exports head 0 as the <CODEC_*> rows (quirk 2)
        module.write_head0_to_rows()
    codec = module.codec
    was_training = codec.training
    save_codec_folder(codec.eval(), out_dir, source="fine-tuned with llmcodec train", overwrite=True)
    codec.train(was_training)
    module.lm.sync_audio_rows_to_lm()
    meta = AudioTokensMeta(getattr(codec.config, "token_prefix", "<CODEC_"), module.lm.codebook_size,
                           module.lm.first_audio_token_id)
    build_lm_artifact(module.lm.lm, tokenizer, os.path.join(out_dir, "lm"), meta=meta, overwrite=True)
    return out_dir
