"""``LLMCodecTrainer``: the LLM-Codec training recipe on top of ``transformers.Trainer``.

One optimizer step = ``gradient_accumulation_steps`` micro-batches. Per micro-batch ``compute_loss``
returns the per-micro-batch total (the Trainer divides it by the accumulation count:
``loss_is_scaled_for_ga = False``)::

    L = λ_mel(s)·mel + 0.5·ms_mel + 0.5·mr_stft + 0.8·cstft + 1.0·vq + 1.0·bridge_CE
      + λ_FTP(s)·FTP + λ_cos(s)·SA_cos + λ_ctr(s)·SA_ctr + 1.0·hinge_G + 1.5·FM  [+ λ_pitch·pitch + λ_iso·isotropy + λ_inv·invariance + λ_stoi·(1-STOI), off by default]

Every term, its weight and its schedule are declared once in ``objectives/loss_terms.py``; the sum, the logs
(``loss_{term}``, ``lambda_{term}`` for scheduled weights) and the LM / bridge gates iterate those declarations.

* a non-finite term is replaced by 0 and counted (``nonfinite_terms``); a non-finite total marks the
  whole optimizer step as skipped (every gradient dropped, ``skipped_steps``);
* the discriminator (outside the Trainer's model, own AdamW) steps once per optimizer step, on the
  last micro-batch of the window only (as the recipe), after that micro-batch's backward; R1 every 16 steps;
* codec-update gate: for ``step < d_only_steps`` the gradients of the codec and bridge are dropped
  (``grad = None``) before the optimizer step, so SGD neither moves them nor builds momentum;
* clipping: each recipe optimizer (codec encoder + bridge, codec decoder, audio rows + heads) clipped
  to ``max_grad_norm`` separately (``clip_per_group``); the logged ``grad_norm`` is their joint norm;
* LR: one LambdaLR (warm-up cosine over ``lr_total_steps``) on every generator group; D is constant.

What one step's micro-batches hand to the hooks after their backward travels in one ``StepState``. Checkpoints,
resume and export: ``checkpoints.CheckpointMixin``; the recipe's periodic mel validation:
``validation.MelValidationMixin``; everything built from the arguments: ``builders``; DDP helpers: ``distributed``.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from accelerate.utils import DistributedType
from transformers import Trainer

from llmcodec.training.objectives.adversarial import discriminator_adversarial_loss, feature_matching_loss, generator_adversarial_loss, r1_penalty
from llmcodec.training.objectives.codebook_restart import CodebookRestarter
from llmcodec.training.objectives.loss_terms import LOSS_TERMS, term_weights
from llmcodec.training.objectives.schedules import codec_update_enabled, cosine_with_warmup_lambda, gumbel_temperature, r1_due
from llmcodec.training.trainer.arguments import DataArguments, LLMCodecTrainingArguments
from llmcodec.training.data.training_data import RepeatedDataset, SeededCropCollator
from llmcodec.training.trainer.distributed import (all_reduce_mean_, all_reduce_sum_, exclude_synced_state_from_ddp_broadcast,
                                  restart_codes_in_sync, sa_bank_gather, unsupported_setup)
from llmcodec.training.trainer.training_module import ChainedOptimizer, LLMCodecTrainingModule, named_clip_groups
from llmcodec.training.trainer.builders import _check_dataset
from llmcodec.training.trainer.checkpoints import CheckpointMixin
from llmcodec.training.trainer.errors import TrainingSetupError
from llmcodec.training.trainer.step_logs import LossPostfixCallback, codebook_usage, summarise_values
from llmcodec.training.trainer.step_state import StepState
from llmcodec.training.trainer.validation import MelValidationMixin

logger = logging.getLogger(__name__)


class LLMCodecTrainer(CheckpointMixin, MelValidationMixin, Trainer):
    """``Trainer`` running the LLM-Codec recipe on an :class:`LLMCodecTrainingModule`.

    Args:
        model: the training module (codec + bridge + frozen LM + heads + SA).
        args: :class:`LLMCodecTrainingArguments`.
        train_dataset: a ``SpeechDataset``-like map-style dataset (items ``{"audio": (T,), "text": str}``;
            wrapped in a :class:`RepeatedDataset` for deterministic crops) or an iterable one.
        tokenizer: the extended tokenizer (SA transcripts, export).
        discriminator: MPD + MSD (None disables the GAN terms).
        data_collator: crops (``TrainingComponents.data_collator``, from ``DataArguments``); None = the recipe's
            4 s crops with 24-sample jitter. ``TrainingComponents.trainer(args)`` passes everything.
    """

    loss_is_scaled_for_ga = False  # compute_loss returns a per-micro-batch mean; Trainer divides by GA

    def __init__(self, model: LLMCodecTrainingModule, args: LLMCodecTrainingArguments, train_dataset: Any,
                 tokenizer: Any, discriminator: nn.Module | None = None, **kwargs: Any) -> None:
        _check_dataset(train_dataset, args)
        self.raw_train_dataset = train_dataset
        if isinstance(train_dataset, torch.utils.data.Dataset) and hasattr(train_dataset, "__len__") \
                and not isinstance(train_dataset, torch.utils.data.IterableDataset):
            needed = max(args.max_steps, 1) * args.gradient_accumulation_steps * args.per_device_train_batch_size \
                * args.world_size
            repeats = math.ceil(needed / len(train_dataset)) + 1 if args.max_steps > 0 else 1
            train_dataset = RepeatedDataset(train_dataset, repeats, args.seed)
        if kwargs.get("data_collator") is None:  # the recipe's crops (DataArguments defaults: 4 s, jitter 24)
            data = DataArguments()
            kwargs["data_collator"] = SeededCropCollator(
                data.segment_samples(int(model.codec.config.sampling_rate)), data.phase_jitter)
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)
        self.tokenizer = tokenizer
        self.discriminator = discriminator.to(self.args.device) if discriminator is not None else None
        self.disc_optimizer = None
        if self.discriminator is not None:
            self.disc_optimizer = torch.optim.AdamW(
                self.discriminator.parameters(), lr=args.lr_disc, betas=(args.disc_beta1, args.disc_beta2),
                weight_decay=args.disc_weight_decay,
            )
        self._metrics: dict[str, list[float]] = defaultdict(list)
        self._code_hist = torch.zeros(model.codec.config.codebook_size, dtype=torch.long)
        self.counters = {"nonfinite_terms": 0, "skipped_steps": 0, "disc_steps": 0, "disc_nonfinite": 0,
                         "sa_skipped_batches": 0}
        self.step_state = StepState()
        if args.codebook_restart_every > 0 and not hasattr(model, "codebook_restarter"):
            # A submodule of the training module, so its usage statistics are checkpointed with it.
            model.codebook_restarter = CodebookRestarter(
                model.codec.config.codebook_size, decay=args.codebook_restart_decay,
                threshold=args.codebook_restart_threshold, every=args.codebook_restart_every,
                max_fraction=args.codebook_restart_max_fraction,
            ).to(args.device)
        # The SA bank and restart statistics get the same updates on every rank; DDP's per-forward buffer
        # broadcast from rank 0 would otherwise overwrite rank 1's pushes and counts (trainer_distributed).
        exclude_synced_state_from_ddp_broadcast(model)
        problem = unsupported_setup(self.accelerator, args)  # FSDP silently dropped on CPU, independent copies ...
        if problem:
            raise TrainingSetupError(problem)
        self.add_callback(LossPostfixCallback(self))

    # ------------------------------------------------------------------------------ optimizer / LR
    @property
    def training_module(self) -> LLMCodecTrainingModule:
        return self.accelerator.unwrap_model(self.model) if self.model is not None else None

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """codec encoder (+bridge) and decoder: SGD (or AdamW); audio rows + heads: AdamW — chained."""
        if self.optimizer is not None:
            return self.optimizer
        a, m = self.args, self.training_module
        bridge_lr = a.bridge_lr if a.bridge_lr is not None else a.lr_codec

        def codec_opt(groups):
            if a.codec_optimizer == "sgd":
                return torch.optim.SGD(groups, lr=a.lr_codec, momentum=a.codec_momentum, weight_decay=a.codec_weight_decay)
            return torch.optim.AdamW(groups, lr=a.lr_codec, weight_decay=a.codec_weight_decay)

        codec_groups = [
            {"params": m.codec_encoder_parameters(), "name": "codec_encoder"},
            {"params": list(m.bridge.parameters()), "name": "bridge", "lr": bridge_lr},
            {"params": m.codec_decoder_parameters(), "name": "codec_decoder"},
        ]
        embed = torch.optim.AdamW([{"params": m.embed_parameters(), "name": "embed"}], lr=a.lr_embed,
                                  betas=(a.embed_beta1, a.embed_beta2), weight_decay=a.embed_weight_decay)
        self.optimizer = ChainedOptimizer([codec_opt(codec_groups), embed])
        # Dead-code restarts follow the generator step they belong to (and only a step that was taken).
        self.optimizer.register_step_post_hook(lambda *_: self._maybe_restart_codes(self.state.global_step + 1))
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        if self.lr_scheduler is None:
            optimizer = optimizer if optimizer is not None else self.optimizer
            factor = cosine_with_warmup_lambda(self.args.lr_warmup_steps, self.args.lr_total_steps)
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    # ------------------------------------------------------------------------------------- the loss
    def _tokenize_text(self, texts: list[str], device: torch.device) -> tuple[Tensor, Tensor] | None:
        if any(not t.strip() for t in texts):
            self.counters["sa_skipped_batches"] += 1  # an empty transcript has no last token
            return None
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                             max_length=self.args.sa_text_max_length, padding_side="right")
        return enc["input_ids"].to(device), enc["attention_mask"].to(device)

    def _step_weights(self, step: int) -> tuple[dict[str, float], float, float]:
        """``(weight of every loss term, Gumbel temperature, codec update on (1.0) or gated (0.0))`` at ``step``."""
        a = self.args
        return (term_weights(a, step), gumbel_temperature(step, a.tau_start, a.tau_end, a.tau_steps),
                float(codec_update_enabled(step, a.d_only_steps)))

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Tensor | tuple[Tensor, dict[str, Any]]:
        """Per-micro-batch total generator loss (see the module docstring); logs every term.

        In eval mode (``evaluate``) nothing of the training state moves: no logged metrics, counters, code
        histogram, restart statistics or step state (D batch, skipped-step flag, SA bank text)."""
        training = model.training
        step = self.state.global_step
        w, tau, codec_update = self._step_weights(step)
        wav = inputs["input_values"]
        run_sa = self.training_module.sa is not None and (w["sa_cos"] > 0 or w["sa_ctr"] > 0)
        run_lm = w["ftp"] > 0 or run_sa  # λ = 0: skip the LM (no gradient either way)
        # The bridge's Gumbel sampling over every code is ~40 % of a small CPU step: skip it when unused.
        run_bridge = run_lm or w["bridge"] != 0
        text = self._tokenize_text(list(inputs.get("text") or []), wav.device) if run_sa else None
        batch = {key: inputs[key] for term in LOSS_TERMS for key in term.batch_keys if inputs.get(key) is not None}
        out = model(
            input_values=wav, text_input_ids=text[0] if text else None, text_attention_mask=text[1] if text else None,
            tau=tau, run_lm=run_lm, run_sa=run_sa and text is not None, run_bridge=run_bridge, **batch,
        )
        metrics = self._metrics if training else defaultdict(list)  # eval values never reach the training logs
        if self.discriminator is not None:
            out.update(self._generator_adversarial_terms(wav, out["recon"]))
            if training and self.accelerator.sync_gradients:  # last micro-batch of the window: the D step uses it
                self.step_state.d_batch = (wav.detach(), out["recon"].detach())
        terms = {t.name: out[t.name] for t in LOSS_TERMS if t.name in out}
        total = wav.new_zeros((), dtype=torch.float32)
        # One host read for every term's finiteness (a GPU sync each otherwise); logged values stay on the device
        # until `log` averages them.
        finite = torch.stack([torch.isfinite(v.detach()).all() for v in terms.values()]).tolist() if terms else []
        for (name, value), ok in zip(terms.items(), finite):
            if not ok:
                self.counters["nonfinite_terms"] += int(training)
                metrics[f"nonfinite_{name}"].append(1.0)
                continue  # replaced by 0
            if w[name] != 0.0:
                total = total + w[name] * value.float()
            metrics[f"loss_{name}"].append(value.detach().float())
        if not bool(torch.isfinite(total.detach())):
            self.step_state.nonfinite |= training
            total = out["recon"].sum() * 0.0  # keeps the graph (DDP) but carries no gradient; the step is dropped
        if training:
            self.step_state.sa_text = out.get("sa_text_features")
            self._record(w, tau, codec_update, out)
        return (total, out) if return_outputs else total

    def _generator_adversarial_terms(self, wav: Tensor, recon: Tensor) -> dict[str, Tensor]:
        d = self.discriminator
        a = self.args
        d.requires_grad_(False)  # G terms need d/d(recon) only; D's own step comes later
        try:
            with torch.autocast(wav.device.type, enabled=False):  # the GAN runs in fp32, as the recipe
                fake = d(recon.float())
                with torch.no_grad():
                    real = d(wav.float())
        finally:
            d.requires_grad_(True)
        return {
            "gan_g": generator_adversarial_loss([l for l, _ in fake], a.gan_loss),
            "fm": feature_matching_loss([f for _, f in real], [f for _, f in fake]),
        }

    def _record(self, w: dict[str, float], tau: float, codec_update: float, out: dict[str, Any]) -> None:
        self._metrics["tau"].append(tau)
        for term in LOSS_TERMS:
            if term.schedule is not None:
                self._metrics[f"lambda_{term.name}"].append(w[term.name])
        self._metrics["codec_update"].append(codec_update)
        if "ftp_accuracy" in out:
            for j, acc in enumerate(out["ftp_accuracy"].detach().unbind(0)):
                self._metrics[f"ftp_acc_head{j}"].append(acc)
        restarter = getattr(self.training_module, "codebook_restarter", None)
        if restarter is not None:
            reduce = all_reduce_sum_ if self.accelerator.num_processes > 1 else None  # every rank's usage
            restarter.update(out["codes"], out["codes_mask"], reduce=reduce)
            self.step_state.restart_batch = (out["projected"], out["codes_mask"])
        codes, valid = out["codes"].detach().flatten(), out["codes_mask"].detach().flatten()
        if self._code_hist.device != codes.device:
            self._code_hist = self._code_hist.to(codes.device)
        # index_add_ of the mask, not bincount(codes[mask]): neither a boolean index nor bincount's size reads the device
        self._code_hist.index_add_(0, codes.clamp(0, self._code_hist.numel() - 1).long(), valid.long())

    # -------------------------------------------------------------------------- D step and gates
    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Tensor:
        loss = super().training_step(model, inputs, num_items_in_batch)
        sa = self.training_module.sa  # DDP: every rank pushes every rank's items (trainer_distributed)
        gather = sa_bank_gather(sa) if sa is not None and self.accelerator.num_processes > 1 else None
        self.training_module.push_sa_bank(self.step_state.take_sa_text(), gather)
        if self.accelerator.sync_gradients:  # the window's gradients are complete: gate them before clip and step
            self._apply_step_gates()
            if self.discriminator is not None:
                self._discriminator_step()
        return loss

    def _discriminator_step(self) -> None:
        """One D update on the window's last micro-batch (detached), R1 every ``r1_every`` steps."""
        batch = self.step_state.take_d_batch()
        if batch is None:
            return
        wav, fake = batch
        d, opt, a = self.discriminator, self.disc_optimizer, self.args
        step = self.state.global_step
        d.train()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(wav.device.type, enabled=False):  # fp32, whatever the surrounding context
            real_out, fake_out = d(wav.float()), d(fake.float())
        d_loss = discriminator_adversarial_loss([l for l, _ in real_out], [l for l, _ in fake_out], a.gan_loss)
        self._metrics["loss_d"].append(d_loss.detach())
        if r1_due(step, a.r1_every) and a.r1_gamma > 0:
            r1 = r1_penalty(d, wav, a.r1_gamma)
            self._metrics["loss_r1"].append(r1.detach())
            d_loss = d_loss + r1
        finite = torch.isfinite(d_loss.detach()).float()
        if self.accelerator.num_processes > 1:  # every rank must agree to skip
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if finite.item() < 1:
            self.counters["disc_nonfinite"] += 1
            return
        d_loss.backward()
        if self.accelerator.num_processes > 1:  # D is not DDP-wrapped: average its gradients by hand
            all_reduce_mean_([p.grad for p in d.parameters() if p.grad is not None], self.accelerator.num_processes)
        opt.step()
        opt.zero_grad(set_to_none=True)
        self.counters["disc_steps"] += 1

    def _maybe_restart_codes(self, completed: int) -> None:
        """After optimizer step number ``completed`` (1-based): revive dead codes (identically on every rank:
        rank 0's choice wins)."""
        module = self.training_module
        restarter = getattr(module, "codebook_restarter", None)
        if restarter is None or self.step_state.restart_batch is None or completed - 1 < self.args.d_only_steps:
            return
        if completed % self.args.codebook_restart_every != 0:
            return
        codebook = module.codec.quantizer.codebook.weight
        # DDP: candidates from every rank, the same dead codes everywhere, rank 0's rows (trainer_distributed)
        restarted = restart_codes_in_sync(restarter, codebook.data, *self.step_state.restart_batch)
        self._metrics["codebook_restarts"].append(float(restarted))

    def _apply_step_gates(self) -> None:
        """After the window's last backward, before clipping and the generator step: drop every gradient of a
        non-finite window, and the codec + bridge gradients during the discriminator-only warm-up. The only
        place gradients are gated."""
        step = self.state.global_step
        module = self.training_module
        skip = self.step_state.take_nonfinite()  # a host flag: no device read on one process
        if self.accelerator.num_processes > 1:  # any rank's non-finite window drops the step everywhere
            flag = torch.tensor(float(skip), device=self.args.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            skip = bool(flag.item() > 0)
        if skip:
            self.counters["skipped_steps"] += 1
            for p in module.parameters():
                p.grad = None
            return
        if step < self.args.d_only_steps:
            for p in module.codec.parameters():
                p.grad = None
            for p in module.bridge.parameters():
                p.grad = None

    def _clip_grad_norm(self, model: nn.Module) -> Tensor:
        """Per recipe optimizer group (``clip_per_group``); under a GradScaler the gradients are unscaled once
        first (as ``accelerator.clip_grad_norm_`` does, which cannot be called per group). Sharded parameters (FSDP) have no per-group global norm here: they
        get the Trainer's joint clip over the whole model, with a warning."""
        sharded = self.accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
        if sharded and self.args.clip_per_group and not getattr(self, "_warned_joint_clip", False):
            logger.warning("clip_per_group: parameters are sharded (%s); clipping the joint gradient norm instead",
                           self.accelerator.distributed_type)
            self._warned_joint_clip = True
        if not self.args.clip_per_group or sharded:
            return super()._clip_grad_norm(model)
        if self.accelerator.scaler is not None:
            self.accelerator.unscale_gradients()
        norms = []
        for name, params in named_clip_groups(self.training_module).items():
            with_grad = [p for p in params if p.grad is not None]
            if with_grad:
                norm = torch.nn.utils.clip_grad_norm_(with_grad, self.args.max_grad_norm)
                norms.append(norm.float())
                self._metrics[f"grad_norm_{name}"].append(norm.detach().float())
        return torch.stack(norms).pow(2).sum().sqrt() if norms else torch.zeros((), device=self.args.device)

    # ----------------------------------------------------------------------------------- logging
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # training logs (eval logs pass through)
            logs.update(summarise_values(self._metrics))
            self._metrics.clear()
            logs.update(codebook_usage(self._code_hist))
            if "loss_ftp" in logs:  # the recipe's FTP perplexity, clamped at exp(20) as upstream
                logs["ppl_ftp"] = math.exp(min(logs["loss_ftp"], 20.0))
            self._code_hist.zero_()
            logs.update({k: v for k, v in self.counters.items()})
            bad = getattr(self.raw_train_dataset, "num_bad_files", None)
            if isinstance(bad, int):
                logs["bad_files"] = bad
            if self.optimizer is not None:
                for group in self.optimizer.param_groups:
                    logs[f"lr_{group.get('name', 'group')}"] = group["lr"]
        super().log(logs, start_time)
