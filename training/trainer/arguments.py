"""``LLMCodecTrainingArguments``: ``transformers.TrainingArguments`` plus every knob of the LLM-Codec recipe.

Defaults are the released recipe: codec + bridge SGD 5e-6 (momentum 0.9, wd 1e-4), LM audio rows + FTP heads
AdamW 1e-4 (betas 0.9/0.99, wd 0), discriminator AdamW 1e-4 (betas 0.8/0.99), clip 15 per optimizer group,
warm-up cosine over ``lr_total_steps`` = 200k (so the LR barely decays in the recipe's 25k steps), codec updates
gated for ``d_only_steps`` = 10k, λ_FTP 0 -> 0.2 over 10k..12k, SA from 12,001, Gumbel τ 1.0 -> 0.3 over 20k,
λ_mel 1.5 -> 0.75 over 50k, GAN hinge 1.0 + feature matching 1.5, R1 every 16 steps.

As in transformers' example scripts, the model settings (``ModelArguments``: codec, frozen LM, tokenizer) and the
data settings (``DataArguments``) are separate dataclasses; ``argument_parsing`` reads a ``configs/*.yaml`` file
plus command-line overrides into all three with ``HfArgumentParser``. The loss weights and their schedules are
declared with their terms (``objectives/loss_terms.py``) and inherited from there.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from llmcodec.training.data.arguments import DataArguments
from llmcodec.training.objectives.loss_terms import loss_term_arguments

__all__ = ["DataArguments", "LLMCodecTrainingArguments", "ModelArguments"]

# TrainingArguments fields that our own optimizers / LR schedule override, and what to set instead. A
# non-default value is refused: the Trainer would silently ignore it.
REPLACED_TRAINER_FIELDS = {
    "learning_rate": "lr_codec (codec + bridge), lr_embed (audio rows + FTP heads) or lr_disc (discriminator)",
    "optim": "codec_optimizer (sgd | adamw); the audio rows + heads and D always use AdamW",
    "optim_args": "codec_momentum, embed_beta1/embed_beta2, disc_beta1/disc_beta2",
    "weight_decay": "codec_weight_decay, embed_weight_decay or disc_weight_decay",
    "adam_beta1": "embed_beta1 or disc_beta1",
    "adam_beta2": "embed_beta2 or disc_beta2",
    "adam_epsilon": "nothing (torch's AdamW default eps is used)",
    "warmup_steps": "lr_warmup_steps",
    "warmup_ratio": "lr_warmup_steps",
    "lr_scheduler_type": "lr_warmup_steps / lr_total_steps (the recipe's warm-up cosine; D is constant)",
    "lr_scheduler_kwargs": "lr_warmup_steps / lr_total_steps",
    "fp16": "bf16 (the recipe's codec autocast; fp16 would need a GradScaler the per-group clipping does not use)",
}
# Measured with deepspeed 0.19.8 (ZeRO-2, 2 CPU gloo processes): it runs, but trains wrongly, so it is refused.
DEEPSPEED_REFUSAL = (
    "DeepSpeed is not supported by LLMCodecTrainer (use DDP: accelerate launch --multi_gpu): ZeRO steps the "
    "optimizer once per parameter group, so the chained codec SGD + audio-row AdamW would update every group once "
    "per group (4 updates a step) and the dead-code restarts would run 4 times; and accelerate steps the DeepSpeed "
    "engine inside backward, before the D-only codec gate and the non-finite step skip can drop any gradient"
)
LEARNING_RATES = ("lr_codec", "lr_embed", "lr_disc", "bridge_lr")


def _help(text: str, default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """``dataclasses.field`` with its help (``HfArgumentParser`` shows it in ``llmcodec train CONFIG --help``)."""
    if isinstance(default, (list, dict)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata={"help": text}, **kwargs)
    return field(default=default, metadata={"help": text}, **kwargs)


@dataclass
class ModelArguments:
    """The codec to fine-tune, the frozen LM and its tokenizer."""

    codec_init: str = _help("codec to fine-tune: Hub id (the recipe's base SWivid/AUV = its auv.pt, converted in "
                            "memory), folder, raw .pt, or 'random' (a fresh LLMCodecConfig(**codec_config))",
                            "SWivid/AUV")
    codebook_domain: str | None = _help(
        "restrict the VQ search during training to a named codebook partition (e.g. speech = AUV's [0, 8192)); "
        "None = all 20,480 codes for every input, as the recipe (AUV itself was trained on speech in [0, 8192))", None)
    codec_config: dict[str, Any] | str | None = _help(
        "LLMCodecConfig keyword arguments for codec_init=random, or config attributes set on a loaded codec; on the "
        "command line a YAML mapping such as '{hidden_size: 64}'", {})
    lm_name_or_path: str = _help("frozen causal LM: Hub id / folder, or 'tiny-random-qwen3' (tests, CPU smoke runs)",
                                 "Qwen/Qwen3-4B-Instruct-2507")
    lm_dtype: str = _help("LM weights dtype: bfloat16 | float32 | float16", "bfloat16")
    tokenizer_name_or_path: str | None = _help(
        "extended tokenizer folder (or base when extend_tokenizer); 'offline' = Qwen3 built offline; "
        "None = lm_name_or_path", None)
    extend_tokenizer: bool = _help("add <CODEC_0..N-1> (N = codec codebook size) when the tokenizer has none", True)
    resize_lm_embeddings: bool = _help(
        "grow the LM embeddings to the extended tokenizer without mean resizing, as the recipe: new rows that reuse "
        "the pretrained padding rows keep them, the others start from N(0, 0.02)", True)
    fp32_master_embed: bool = _help("keep the trainable audio rows in float32 (the recipe trains them in the LM's "
                                    "bf16 without a float32 master copy)", False)
    lm_num_layers: int | None = _help(
        "use only the first N decoder layers of the frozen LM (CPU time); the SA layer range maps onto N layers and "
        "export/lm/ holds the truncated LM; None = all layers", None)

    def __post_init__(self) -> None:
        if isinstance(self.codec_config, str):  # from the command line
            import yaml

            try:
                self.codec_config = yaml.safe_load(self.codec_config)
            except yaml.YAMLError as error:
                raise ValueError(f"codec_config is not a YAML mapping: {' '.join(str(error).split())}") from None
        self.codec_config = {} if self.codec_config is None else self.codec_config
        if not isinstance(self.codec_config, dict):
            raise ValueError(f"codec_config must be a mapping, got {self.codec_config!r}")
        if self.lm_dtype not in ("bfloat16", "float32", "float16"):
            raise ValueError(f"invalid model arguments: lm_dtype must be bfloat16|float32|float16, got {self.lm_dtype!r}")
        if self.lm_num_layers is not None and self.lm_num_layers < 1:
            raise ValueError(f"invalid model arguments: lm_num_layers must be >= 1 (or null for all layers), got "
                             f"{self.lm_num_layers}")


LossTermArguments = loss_term_arguments()


@dataclass
class LLMCodecTrainingArguments(TrainingArguments, LossTermArguments):
    """TrainingArguments + the LLM-Codec recipe (the loss weights come from ``LossTermArguments``). Trainer-level
    overrides of the defaults: ``max_grad_norm=15``, ``remove_unused_columns=False``, ``learning_rate=lr_codec``
    (informational: every group has its own LR below), ``seed=1337``, ``logging_steps=1``. The TrainingArguments
    fields our optimizers override (``REPLACED_TRAINER_FIELDS``: ``learning_rate``, ``optim``, ``weight_decay``,
    ``warmup_steps``, ``lr_scheduler_type`` …) are refused when set, naming the field to use instead. ``bf16: true``
    runs only the codec forward under bf16 autocast (the recipe's precision: losses, bridge and GAN in fp32)."""

    # ---- optimizers / LR ------------------------------------------------------------------------------
    lr_codec: float = _help("learning rate of the codec (encoder, VQ, decoder) and, unless bridge_lr, the bridge", 5e-6)
    codec_optimizer: str = _help("codec optimizer: sgd (the recipe) | adamw", "sgd")
    codec_momentum: float = _help("SGD momentum of the codec optimizer", 0.9)
    codec_weight_decay: float = _help("weight decay of the codec optimizer", 1e-4)
    bridge_lr: float | None = _help("separate learning rate of the Gumbel bridge (a fresh layer that learns slowly "
                                    "at the recipe's codec LR); None = lr_codec", None)
    lr_embed: float = _help("learning rate of the LM's audio rows, the FTP heads and any training-only head (AdamW)",
                            1e-4)
    embed_beta1: float = _help("AdamW beta1 of the audio rows + heads", 0.9)
    embed_beta2: float = _help("AdamW beta2 of the audio rows + heads", 0.99)
    embed_weight_decay: float = _help("AdamW weight decay of the audio rows + heads", 0.0)
    lr_disc: float = _help("learning rate of the discriminator (AdamW, constant)", 1e-4)
    disc_beta1: float = _help("AdamW beta1 of the discriminator", 0.8)
    disc_beta2: float = _help("AdamW beta2 of the discriminator", 0.99)
    disc_weight_decay: float = _help("AdamW weight decay of the discriminator", 0.0)
    lr_warmup_steps: int = _help("linear LR warm-up steps of the generator groups", 2000)
    lr_total_steps: int = _help("length of the LR cosine (the recipe keeps 200k for a 25k-step run)", 200_000)
    clip_per_group: bool = _help("clip codec-encoder(+bridge), codec-decoder and embed(+heads) separately to "
                                 "max_grad_norm (recipe)", True)

    # ---- schedules (the loss weights are LossTermArguments) ---------------------------------------------
    d_only_steps: int = _help("discriminator-only warm-up: the codec and bridge do not update before this step",
                              10_000)
    cstft_phase_weight: float = _help("weight of the phase part inside the complex-STFT loss", 0.5)
    distinct_mr_stft: bool = _help("make the MR-STFT term a magnitude-only loss; false = the recipe, where it is "
                                   "the complex-STFT loss again (an effective weight of 1.3 on one loss)", False)
    recon_clamp: float = _help("the reconstruction is nan_to_num-ed and clamped to +-this before the losses", 1.2)
    bridge_mode: str = _help("bridge sampling: gumbel (recipe) | ste | detach", "gumbel")
    tau_start: float = _help("Gumbel temperature at step 0 (half cosine to tau_end)", 1.0)
    tau_end: float = _help("Gumbel temperature from tau_steps on", 0.3)
    tau_steps: int = _help("steps of the Gumbel temperature's cosine", 20_000)
    ftp_num_heads: int = _help("FTP heads (head j predicts the code j steps ahead)", 5)
    ftp_prepend_bos: bool = _help("prepend the tokenizer's start token so head 0 predicts the first code; false = "
                                  "the recipe with Qwen3 (no BOS): head 0 predicts the current code", False)
    sa_logit_scale: float = _help("scale of the SA contrastive logits", 5.0)
    sa_queue_size: int = _help("SA memory bank size (negatives)", 512)
    sa_ema_momentum: float = _help("EMA momentum of the SA bank's last slot (recipe bank)", 0.99)
    sa_bank: str = _help("SA bank: recipe (fills once, then only the last slot is EMA-updated) | fifo", "recipe")
    sa_text_max_length: int = _help("transcripts are truncated to this many tokens for SA", 256)
    write_head0_to_rows_on_save: bool = _help(
        "before each save copy FTP head 0 into the audio rows, as the recipe does (the exported <CODEC_*> rows are "
        "then head 0)", True)

    # ---- GAN -----------------------------------------------------------------------------------------
    enable_gan: bool = _help("train the MPD + MSD discriminator and add the adversarial terms", True)
    gan_loss: str = _help("adversarial loss: hinge (recipe) | lsgan", "hinge")
    r1_gamma: float = _help("R1 penalty weight of the discriminator (0 = off)", 2.0)
    r1_every: int = _help("R1 on every N-th discriminator step", 16)
    # Dead-code restarts (not in the released recipe, which fine-tunes a trained codebook).
    codebook_restart_every: int = _help(
        "dead-code restarts every N optimizer steps: codes whose usage EMA fell below threshold x the expected usage "
        "(frames per step / codebook size) move onto badly quantized encoder outputs; 0 = off", 0)
    codebook_restart_threshold: float = _help("usage below this fraction of the expected usage is dead", 0.1)
    codebook_restart_decay: float = _help("decay of the code usage EMA", 0.99)
    codebook_restart_max_fraction: float = _help("at most this fraction of the codebook moves per restart", 0.02)
    disc_periods: list[int] = _help("periods of the multi-period discriminator", [2, 3, 5, 7, 11])
    disc_num_scales: int = _help("scales of the multi-scale discriminator", 3)
    disc_channels: list[int] = _help("channels of the discriminators' 5 convolution stages (e.g. 4 8 8 16 16)",
                                     [64, 128, 256, 512, 1024])
    disc_init: str | None = _help(
        "start D from a previous run: its checkpoint folder (discriminator.safetensors inside) or that file; the "
        "shapes must match disc_periods / disc_num_scales / disc_channels. None = fresh init", None)
    disc_init_std: float | None = _help(
        "discriminator conv init: None = Kaiming normal (variance-preserving: D starts with logits of order 1 and "
        "learns); a number = N(0, std) (0.01 left narrow discriminators with ~1e-10 logits, stuck)", None)

    torch_num_threads: int | None = _help(
        "torch.set_num_threads for the run (1 avoids stalls on small shared CPUs); None = torch's default", None)

    # ---- validation, resume, export ----------------------------------------------------------------------
    val_every: int = _help(
        "the recipe's periodic validation (--val_every 2000): every N optimizer steps the mel loss on val_batches "
        "batches of validation_split is logged as eval_mel and the first item of each batch is written to "
        "output_dir/val/step-N/; 0 = off. Sets eval_strategy=steps, eval_steps=N", 0)
    val_batches: int = _help("batches of the periodic validation", 8)
    full_resume: bool = _help(
        "resume restores the bridge, FTP heads, SA bank and RNG state too; false reproduces the recipe's lossy "
        "resume (those start fresh, the RNG is not restored)", True)
    export_at_end: bool = _help("write the Hub-ready codec to output_dir/export and the LM to export/lm at the end",
                                True)
    overwrite_output_dir: bool = _help(
        "start a fresh run in an output_dir that holds a previous run (checkpoint-*/ or export/): those are deleted "
        "first. Without it (or --resume) such a folder is refused", False)

    # ---- TrainingArguments defaults changed for the recipe ---------------------------------------------
    max_grad_norm: float = _help("clip norm (per recipe optimizer group with clip_per_group)", 15.0)
    remove_unused_columns: bool = _help("kept false: the collator's columns are all used", False)
    learning_rate: float = _help("not used (informational): set lr_codec, lr_embed or lr_disc", 5e-6)
    seed: int = _help("random seed (codec init, crops, Gumbel noise)", 1337)
    logging_steps: float = _help("log every N optimizer steps", 1)
    dataloader_num_workers: int = _help("DataLoader worker processes", 0)

    def __post_init__(self) -> None:
        if isinstance(self.report_to, str) and self.report_to.strip().startswith("["):  # '[tensorboard]' on the CLI
            import yaml

            self.report_to = yaml.safe_load(self.report_to)
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.default is not dataclasses.MISSING}
        replaced = [f"{name} (set {instead} instead)" for name, instead in REPLACED_TRAINER_FIELDS.items()
                    if name in defaults and getattr(self, name) != defaults[name]]
        if replaced:  # before super(): it normalises some of these fields
            raise ValueError("LLMCodecTrainer uses its own optimizers and LR schedule, so these TrainingArguments "
                             "fields would be ignored: " + "; ".join(replaced))
        if self.deepspeed or os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() in ("1", "true"):
            raise ValueError(DEEPSPEED_REFUSAL)  # before super(): it would build the DeepSpeed config
        if self.val_every < 0 or self.val_batches < 1:
            raise ValueError(f"val_every must be >= 0 and val_batches >= 1, got {self.val_every} and {self.val_batches}")
        problems = self._problems()
        if problems:  # before super(): a zero batch size or accumulation count fails there less clearly
            raise ValueError("invalid LLM-Codec training arguments: " + "; ".join(problems))
        if self.val_every > 0:  # the Trainer's own evaluation schedule runs LLMCodecTrainer.evaluate (mel only)
            self.eval_strategy, self.eval_steps = "steps", self.val_every
        super().__post_init__()

    def _problems(self) -> list[str]:
        problems = []
        for name in LEARNING_RATES:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a finite number > 0, got {value}")
        for name in ("gradient_accumulation_steps", "per_device_train_batch_size", "ftp_num_heads"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name, choices in (("bridge_mode", ("gumbel", "ste", "detach")), ("sa_bank", ("recipe", "fifo")),
                              ("gan_loss", ("hinge", "lsgan")), ("codec_optimizer", ("sgd", "adamw"))):
            if getattr(self, name) not in choices:
                problems.append(f"{name} must be {'|'.join(choices)}, got {getattr(self, name)!r}")
        if self.lr_total_steps <= self.lr_warmup_steps:
            problems.append(f"lr_total_steps ({self.lr_total_steps}) must exceed lr_warmup_steps ({self.lr_warmup_steps})")
        return problems

    @property
    def sa_enabled(self) -> bool:
        """SA needs transcripts: on when either SA weight is non-zero and FTP is on (recipe gating)."""
        return self.lambda_ftp > 0 and (self.lambda_sa_cosine > 0 or self.lambda_sa_contrast > 0)
