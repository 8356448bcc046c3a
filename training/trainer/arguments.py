"""``LLMCodecTrainingArguments``: ``transformers.TrainingArguments`` plus every knob of the LLM-Codec recipe.

Defaults are the released recipe (``llm-codec-recipe.md`` §6): codec + bridge SGD 5e-6 (momentum 0.9,
wd 1e-4), LM audio rows + FTP heads AdamW 1e-4 (betas 0.9/0.99, wd 0), discriminator AdamW 1e-4 (betas
0.8/0.99), clip 15 per optimizer group, warm-up cosine over ``lr_total_steps`` = 200k (quirk 10),
codec updates gated for ``d_only_steps`` = 10k, λ_FTP 0 -> 0.2 over 10k..12k, SA from 12,001, Gumbel τ
1.0 -> 0.3 over 20k, λ_mel 1.5 -> 0.75 over 50k, GAN hinge 1.0 + feature matching 1.5, R1 every 16 steps.

As in transformers' example scripts, the model settings (``ModelArguments``: codec, frozen LM, tokenizer) and the data
settings (``DataArguments``) are separate dataclasses; :func:`parse_training_arguments` reads one flat mapping (a
``configs/*.yaml`` file plus ``--key value`` overrides) into all three with ``HfArgumentParser``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from llmcodec.training.objectives.schedules import RecipeSchedule

__all__ = ["DataArguments", "LLMCodecTrainingArguments", "ModelArguments", "parse_training_arguments"]

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


@dataclass
class ModelArguments:
    """The codec to fine-tune, the frozen LM and its tokenizer."""

    codec_init: str = field(default="SWivid/AUV", metadata={"help": "codec to fine-tune: Hub id (the recipe's "
                            "base SWivid/AUV = its auv.pt, converted in memory), folder, raw .pt, or 'random' (a "
                            "fresh LLMCodecConfig(**codec_config))"})
    codebook_domain: str | None = field(default=None, metadata={
        "help": "restrict the VQ search during training to a named codebook partition (e.g. speech = AUV's "
                "[0, 8192)); None = all codes, as the recipe (quirk 17)"})
    codec_config: dict[str, Any] = field(default_factory=dict, metadata={"help": "LLMCodecConfig kwargs for codec_init=random"})
    lm_name_or_path: str = field(default="Qwen/Qwen3-4B-Instruct-2507", metadata={
        "help": "frozen causal LM: Hub id / folder, or 'tiny-random-qwen3' (tests, CPU smoke runs)"})
    lm_dtype: str = field(default="bfloat16", metadata={"help": "LM weights dtype: bfloat16 | float32 | float16"})
    tokenizer_name_or_path: str | None = field(default=None, metadata={
        "help": "extended tokenizer folder (or base when extend_tokenizer); 'offline' = Qwen3 built offline; "
                "None = lm_name_or_path"})
    extend_tokenizer: bool = field(default=True, metadata={
        "help": "add <CODEC_0..N-1> (N = codec codebook size) when the tokenizer has none"})
    resize_lm_embeddings: bool = field(default=True, metadata={
        "help": "grow the LM embeddings to the extended tokenizer (mean_resizing=False, quirk 27)"})
    fp32_master_embed: bool = field(default=False, metadata={"help": "fp32 audio rows (fix of quirk 15)"})
    lm_num_layers: int | None = field(default=None, metadata={
        "help": "use only the first N decoder layers of the frozen LM (CPU time); the SA layer range maps onto "
                "N layers and export/lm/ holds the truncated LM; None = all layers"})

    def __post_init__(self) -> None:
        if self.lm_dtype not in ("bfloat16", "float32", "float16"):
            raise ValueError(f"invalid model arguments: lm_dtype must be bfloat16|float32|float16, got {self.lm_dtype!r}")
        if self.lm_num_layers is not None and self.lm_num_layers < 1:
            raise ValueError(f"invalid model arguments: lm_num_layers must be >= 1 (or null for all layers), got "
                             f"{self.lm_num_layers}")


@dataclass
class DataArguments:
    """Where the audio (and transcripts) come from and how they are cropped."""

    dataset: str = field(default="openslr/librispeech_asr", metadata={
        "help": "Hub id, local folder, save_to_disk folder, or 'synthetic' (tiny in-memory fallback)"})
    dataset_config: str | None = "clean"
    extra_datasets: list[str] = field(default_factory=list, metadata={
        "help": "local corpus folders mixed into the training set (same train_split), e.g. the recorded-speech "
                "corpus of `llmcodec corpus recorded`"})
    train_split: str = "train.100"
    audio_column: str = "audio"
    text_column: str | None = "text"
    streaming: bool = False
    segment_seconds: float = 4.0
    phase_jitter: int = 24
    build_corpus_if_missing: bool = field(default=False, metadata={
        "help": "if `dataset` is a missing local folder, synthesise the offline corpus there first"})
    corpus_max_voices: int | None = 8
    corpus_utterances_per_voice: int = 2
    synthetic_num_examples: int = 16
    validation_split: str = field(default="validation", metadata={"help": "split (or folder) used by val_every"})


@dataclass
class LLMCodecTrainingArguments(TrainingArguments):
    """TrainingArguments + the LLM-Codec recipe. Trainer-level overrides of the defaults:
    ``max_grad_norm=15``, ``remove_unused_columns=False``, ``learning_rate=lr_codec`` (informational: every
    group has its own LR below), ``seed=1337``, ``logging_steps=1``. The TrainingArguments fields our
    optimizers override (``REPLACED_TRAINER_FIELDS``: ``learning_rate``, ``optim``, ``weight_decay``,
    ``warmup_steps``, ``lr_scheduler_type`` …) are refused when set, naming the field to use instead.
    ``bf16: true`` runs only the codec forward under bf16 autocast (recipe §6.12)."""

    # ---- optimizers / LR ------------------------------------------------------------------------------
    lr_codec: float = 5e-6
    codec_optimizer: str = field(default="sgd", metadata={"help": "sgd (recipe) | adamw"})
    codec_momentum: float = 0.9
    codec_weight_decay: float = 1e-4
    bridge_lr: float | None = field(default=None, metadata={"help": "separate bridge LR (quirk 4); None = lr_codec"})
    lr_embed: float = 1e-4
    embed_beta1: float = 0.9
    embed_beta2: float = 0.99
    embed_weight_decay: float = 0.0
    lr_disc: float = 1e-4
    disc_beta1: float = 0.8
    disc_beta2: float = 0.99
    disc_weight_decay: float = 0.0
    lr_warmup_steps: int = 2000
    lr_total_steps: int = 200_000
    clip_per_group: bool = field(default=True, metadata={
        "help": "clip codec-encoder(+bridge), codec-decoder and embed(+heads) separately to max_grad_norm (recipe)"})

    # ---- schedules and weights --------------------------------------------------------------------------
    d_only_steps: int = 10_000
    lambda_mel_start: float = 1.5
    lambda_mel_end: float = 0.75
    lambda_mel_steps: int = 50_000
    lambda_ms_mel: float = 0.5
    lambda_mr_stft: float = 0.5
    lambda_cstft: float = 0.8
    cstft_phase_weight: float = 0.5
    distinct_mr_stft: bool = False
    recon_clamp: float = 1.2
    lambda_vq: float = 1.0
    lambda_pitch: float = field(default=0.0, metadata={
        "help": "weight of pitch supervision of the codec's bottleneck (not in the recipe; the demo codec's codes "
                "held no pitch without it): Praat F0 per crop, a training-only head. 0 = off"})
    pitch_input: str = field(default="projected", metadata={
        "help": "what the pitch head reads: projected (the encoder's unit-normalised C-dim output, the direction the "
                "cosine VQ quantizes: a direct gradient) | quantized (the D-dim latents after the straight-through "
                "estimator: the encoder learns only as frames cross code boundaries, slow)"})
    lambda_isotropy: float = field(default=0.0, metadata={
        "help": "weight of the latent isotropy loss (not in the recipe): keeps the VQ's unit-normalised projected "
                "latents spread over all codebook_dim dimensions; the demo codec had collapsed into 2 of 8. 0 = off"})
    lambda_invariance: float = field(default=0.0, metadata={
        "help": "weight of the token invariance loss (not in the recipe): a second encoder pass over an inaudibly "
                "perturbed copy of each crop (white noise, a small gain change) whose projected latents are pulled "
                "to the clean ones (cosine distance), so the codes survive changes no listener hears. 0 = off"})
    invariance_noise_dbfs: list[float] = field(default_factory=lambda: [-80.0, -60.0], metadata={
        "help": "[low, high] dBFS range of the white noise RMS drawn per crop for the invariance loss"})
    invariance_gain_db: float = field(default=1.0, metadata={
        "help": "gain change drawn uniformly in +-this many dB per crop for the invariance loss"})
    lambda_stoi: float = field(default=0.0, metadata={
        "help": "weight of the intelligibility loss (not in the recipe): 1 - STOI of the reconstruction through "
                "torch-stoi's differentiable STOI (training/objectives/intelligibility.py). 0 = off"})
    lambda_bridge: float = 1.0
    bridge_mode: str = "gumbel"
    tau_start: float = 1.0
    tau_end: float = 0.3
    tau_steps: int = 20_000
    ftp_num_heads: int = 5
    lambda_ftp: float = 0.2
    ftp_delay_steps: int = 10_000
    ftp_ramp_steps: int = 2000
    ftp_prepend_bos: bool = False
    lambda_sa_cosine: float = 0.1
    lambda_sa_contrast: float = 0.05
    sa_delay_steps: int = 12_000
    sa_ramp_steps: int = 2000
    sa_logit_scale: float = 5.0
    sa_queue_size: int = 512
    sa_ema_momentum: float = 0.99
    sa_bank: str = "recipe"
    sa_text_max_length: int = 256
    write_head0_to_rows_on_save: bool = field(default=True, metadata={
        "help": "before each save copy FTP head 0 into the audio rows (upstream, quirk 2)"})

    # ---- GAN -----------------------------------------------------------------------------------------
    enable_gan: bool = True
    gan_loss: str = "hinge"
    lambda_gan: float = 1.0
    lambda_fm: float = 1.5
    r1_gamma: float = 2.0
    r1_every: int = 16
    # Dead-code restarts (not in the released recipe, which fine-tunes a trained codebook): every N optimizer
    # steps, codes whose usage EMA fell below `threshold` x the expected usage of a code (frames per step /
    # codebook size) move onto badly quantized encoder outputs, at most `max_fraction` of the codebook at once.
    # 0 = off.
    codebook_restart_every: int = 0
    codebook_restart_threshold: float = 0.1
    codebook_restart_decay: float = 0.99
    codebook_restart_max_fraction: float = 0.02
    disc_periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    disc_num_scales: int = 3
    disc_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 1024])
    disc_init: str | None = field(default=None, metadata={
        "help": "start D from a previous run: its checkpoint folder (discriminator.safetensors inside) or that file; "
                "the shapes must match disc_periods / disc_num_scales / disc_channels. None = fresh init"})
    disc_init_std: float | None = field(default=None, metadata={
        "help": "discriminator conv init: None = Kaiming normal (variance-preserving: D starts with logits of order "
                "1 and learns); a number = N(0, std) (0.01 left narrow discriminators with ~1e-10 logits, stuck)"})

    torch_num_threads: int | None = field(default=None, metadata={
        "help": "torch.set_num_threads for the run (1 avoids stalls on small shared CPUs); None = torch's default"})

    # ---- validation, resume, export ----------------------------------------------------------------------
    val_every: int = field(default=0, metadata={
        "help": "the recipe's periodic validation (--val_every 2000): every N optimizer steps the mel loss on "
                "val_batches batches of validation_split is logged as eval_mel and the first item of each batch "
                "is written to output_dir/val/step-N/; 0 = off. Sets eval_strategy=steps, eval_steps=N"})
    val_batches: int = 8
    full_resume: bool = field(default=True, metadata={
        "help": "resume restores the bridge, FTP heads, SA bank and RNG state too (fix of quirk 9); false "
                "reproduces upstream's lossy resume (those start fresh, the RNG is not restored)"})
    export_at_end: bool = True

    # ---- TrainingArguments defaults changed for the recipe ---------------------------------------------
    max_grad_norm: float = 15.0
    remove_unused_columns: bool = False
    learning_rate: float = 5e-6
    seed: int = 1337
    logging_steps: float = 1
    dataloader_num_workers: int = 0

    def __post_init__(self) -> None:
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
        if self.val_every > 0:  # the Trainer's own evaluation schedule runs LLMCodecTrainer.evaluate (mel only)
            self.eval_strategy, self.eval_steps = "steps", self.val_every
        super().__post_init__()
        problems = []
        if self.bridge_mode not in ("gumbel", "ste", "detach"):
            problems.append(f"bridge_mode must be gumbel|ste|detach, got {self.bridge_mode!r}")
        if self.sa_bank not in ("recipe", "fifo"):
            problems.append(f"sa_bank must be recipe|fifo, got {self.sa_bank!r}")
        if self.gan_loss not in ("hinge", "lsgan"):
            problems.append(f"gan_loss must be hinge|lsgan, got {self.gan_loss!r}")
        if self.codec_optimizer not in ("sgd", "adamw"):
            problems.append(f"codec_optimizer must be sgd|adamw, got {self.codec_optimizer!r}")
        if self.lr_total_steps <= self.lr_warmup_steps:
            problems.append(f"lr_total_steps ({self.lr_total_steps}) must exceed lr_warmup_steps ({self.lr_warmup_steps})")
        if self.ftp_num_heads < 1:
            problems.append("ftp_num_heads must be >= 1")
        if problems:
            raise ValueError("invalid LLM-Codec training arguments: " + "; ".join(problems))

    @property
    def sa_enabled(self) -> bool:
        """SA needs transcripts: on when either SA weight is non-zero and FTP is on (recipe gating)."""
        return self.lambda_ftp > 0 and (self.lambda_sa_cosine > 0 or self.lambda_sa_contrast > 0)

    def recipe_schedule(self) -> RecipeSchedule:
        """The step-dependent weights as a :class:`RecipeSchedule`."""
        return RecipeSchedule(
            warmup_steps=self.lr_warmup_steps, lr_total_steps=self.lr_total_steps, d_only_steps=self.d_only_steps,
            mel_start=self.lambda_mel_start, mel_end=self.lambda_mel_end, mel_steps=self.lambda_mel_steps,
            tau_start=self.tau_start, tau_end=self.tau_end, tau_steps=self.tau_steps,
            ftp_delay=self.ftp_delay_steps, ftp_ramp=self.ftp_ramp_steps, ftp_max=self.lambda_ftp,
            sa_delay=self.sa_delay_steps, sa_ramp=self.sa_ramp_steps, sa_cosine_max=self.lambda_sa_cosine,
            sa_contrastive_max=self.lambda_sa_contrast, r1_every=self.r1_every,
        )


def parse_training_arguments(values: dict[str, Any]) -> tuple[ModelArguments, DataArguments, "LLMCodecTrainingArguments"]:
    """One flat mapping of field names -> ``(ModelArguments, DataArguments, LLMCodecTrainingArguments)``.

    Unknown names raise ``ValueError`` naming them (``HfArgumentParser.parse_dict`` with ``allow_extra_keys=False``)."""
    from transformers import HfArgumentParser

    classes = (ModelArguments, DataArguments, LLMCodecTrainingArguments)
    known = {f.name for cls in classes for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown training argument(s): {', '.join(unknown)} (see ModelArguments, DataArguments and "
                         "LLMCodecTrainingArguments)")
    return HfArgumentParser(classes).parse_dict(values, allow_extra_keys=False)
