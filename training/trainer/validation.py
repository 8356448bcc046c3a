"""Periodic validation of ``LLMCodecTrainer`` (the recipe's ``--val_every``): the codec's mel loss on fixed crops."""

from __future__ import annotations

import os
from typing import Any

import torch


class MelValidationMixin:
    """The recipe's periodic mel validation (``val_every``) as ``LLMCodecTrainer.evaluate``."""

    @torch.no_grad()
    def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """The recipe's periodic validation (``val_every``): the mel loss of the codec alone on ``val_batches``
        batches of centred crops (no jitter: the same audio every time), logged as ``{prefix}_mel``; the first
        item of each batch is written to ``output_dir/val/step-N/``. Touches no training state."""
        import soundfile as sf

        from llmcodec.training.data.collator import SpeechCollator

        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("evaluate() needs a validation dataset: set val_every (and validation_split)")
        module = self.training_module
        rate = int(module.codec.config.sampling_rate)
        # the training crops' length, centred, without jitter
        collate = SpeechCollator(self.data_collator.segment_samples, random_crop=False, phase_jitter=0)
        batch_size = self.args.per_device_eval_batch_size
        was_training = module.training
        module.eval()
        losses, out_dir = [], os.path.join(self.args.output_dir, "val", f"step-{self.state.global_step}")
        try:
            for b in range(self.args.val_batches):
                items = [dataset[i] for i in range(b * batch_size, min(len(dataset), (b + 1) * batch_size))]
                if not items:
                    break
                wav = collate(items)["input_values"].to(self.args.device)
                out = module(input_values=wav, run_lm=False, run_sa=False, run_bridge=False)
                losses.append(out["mel"].float())
                if self.args.should_save:
                    os.makedirs(out_dir, exist_ok=True)
                    sf.write(os.path.join(out_dir, f"batch{b}.wav"), out["recon"][0, 0].float().cpu().numpy(), rate)
        finally:
            module.train(was_training)
        if not losses:
            raise ValueError("the validation dataset is empty")
        metrics = {f"{metric_key_prefix}_mel": float(torch.stack(losses).mean()), f"{metric_key_prefix}_batches": len(losses)}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
