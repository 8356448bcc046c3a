"""Everything a run needs, built from the arguments: codec, tokenizer, frozen LM, training module, discriminator,
dataset, each failure named by the argument that caused it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from llmcodec.training.objectives.discriminators import CombinedDiscriminator
from llmcodec.training.objectives.frozen_lm import FrozenCausalLM, truncate_decoder_layers
from llmcodec.training.objectives.future_token_prediction import FutureTokenPredictionHeads
from llmcodec.training.objectives.gumbel_bridge import GumbelBridge
from llmcodec.training.objectives.loss_terms import LOSS_TERMS
from llmcodec.training.objectives.reconstruction import ReconstructionLosses
from llmcodec.training.objectives.semantic_alignment import SemanticAlignmentLoss, sa_layer_range
from llmcodec.training.data.training_data import SeededCropCollator, build_train_dataset, build_validation_dataset
from llmcodec.training.trainer.arguments import DataArguments, LLMCodecTrainingArguments, ModelArguments
from llmcodec.training.trainer.checkpoint_files import DISC_FILE
from llmcodec.training.trainer.errors import TrainingSetupError
from llmcodec.training.trainer.training_module import LLMCodecTrainingModule


def _load(what: str, load: Any, *args: Any) -> Any:
    """``load(*args)``; any failure but our own setup errors becomes one line naming the argument at fault
    (a truncated safetensors file, an unreachable Hub, a broken tokenizer.json ...)."""
    try:
        return load(*args)
    except TrainingSetupError:
        raise
    except Exception as error:  # noqa: BLE001 - many libraries, many exception types; chained for --debug
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise TrainingSetupError(f"cannot load {what}: {first}") from error


# ---------------------------------------------------------------------------------------------- building


def _lm_dtype(name: str) -> torch.dtype:
    return {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}[name]


def build_training_module(codec: nn.Module, lm: nn.Module, tokenizer: Any, model_args: ModelArguments,
                          args: LLMCodecTrainingArguments) -> LLMCodecTrainingModule:
    """Check tokenizer / LM / codec against each other and assemble the trainable system.

    Raises :class:`TrainingSetupError` for a tokenizer without codec tokens, a tokenizer/LM size
    mismatch, a codebook-size mismatch, an ``lm_num_layers`` the LM cannot be cut to, or a loss term's bad
    setting. With ``lm_num_layers`` the LM keeps only its first N decoder layers (in place).
    """
    n_codes = int(codec.config.codebook_size)
    try:
        if model_args.lm_num_layers is not None:  # a prefix of the LM (in place); the SA range follows its depth
            truncate_decoder_layers(lm, model_args.lm_num_layers)
        wrapped = FrozenCausalLM.from_tokenizer(
            lm, tokenizer, codebook_size=n_codes, token_prefix=getattr(codec.config, "token_prefix", "<CODEC_"),
            audio_rows_dtype=torch.float32 if model_args.fp32_master_embed else None,
        )
    except ValueError as error:
        raise TrainingSetupError(str(error)) from error
    if wrapped.num_hidden_layers < 2 and args.sa_enabled:
        raise TrainingSetupError(f"SA needs an LM with >= 2 layers, got {wrapped.num_hidden_layers}")
    bridge = GumbelBridge(int(codec.config.hidden_size), n_codes, mode=args.bridge_mode)
    ftp = FutureTokenPredictionHeads(wrapped.hidden_size, n_codes, args.ftp_num_heads, prepend_start_token=args.ftp_prepend_bos)
    # As the recipe: the heads start from the LM's output rows of the audio tokens (new rows: random).
    ftp.init_from_output_embedding_rows(wrapped.output_embedding_audio_rows())
    ftp.heads.to(wrapped.audio_embeddings.dtype)  # not the head_weights buffer: bf16 would make its sum 0.9985
    term_parts = build_loss_term_parts(args, codec.config)
    sa = None
    if args.sa_enabled:
        start, end = sa_layer_range(wrapped.num_hidden_layers)
        sa = SemanticAlignmentLoss(end - start, wrapped.hidden_size, args.sa_queue_size, args.sa_ema_momentum,
                                   args.sa_logit_scale, bank=args.sa_bank)
    recon = ReconstructionLosses(cstft_phase_weight=args.cstft_phase_weight, distinct_mr_stft=args.distinct_mr_stft,
                                 sample_rate=int(codec.config.sampling_rate))
    start_id = getattr(tokenizer, "bos_token_id", None)
    if start_id is None:
        start_id = getattr(tokenizer, "eos_token_id", None)
    if model_args.codebook_domain is not None:
        try:
            codec._resolve_partitions(model_args.codebook_domain, 1)
        except ValueError as error:
            raise TrainingSetupError(f"codebook_domain: {error}") from error
    return LLMCodecTrainingModule(codec, wrapped, bridge, ftp, sa, recon, start_token_id=start_id,
                                  recon_clamp=args.recon_clamp, codebook_domain=model_args.codebook_domain,
                                  codec_autocast_dtype=torch.bfloat16 if args.bf16 else None, term_parts=term_parts)


def build_loss_term_parts(args: Any, codec_config: Any) -> dict[str, Any]:
    """The part of every optional loss term that is on (``LossTerm.build``), by name; a bad weight or setting of a
    term is a :class:`TrainingSetupError`."""
    parts = {}
    for term in LOSS_TERMS:
        weight = getattr(args, term.weight)
        if term.minimum is not None and not weight >= term.minimum:
            raise TrainingSetupError(f"{term.weight} must be >= {term.minimum:g} (0 = off), got {weight}")
        if term.build is not None and term.is_on(args):
            try:
                parts[term.name] = term.build(args, codec_config)
            except ValueError as error:
                raise TrainingSetupError(str(error)) from error
    return parts


def collator_options(args: Any, codec_config: Any) -> dict[str, Any]:
    """Keyword arguments of the training collator that the optional loss terms which are on ask for."""
    options: dict[str, Any] = {}
    for term in LOSS_TERMS:
        if term.collate is not None and term.is_on(args):
            options.update(term.collate(codec_config))
    return options


def load_codec_for_training(args: ModelArguments, seed: int = 1337) -> nn.Module:
    """``codec_init``: 'random' (``LLMCodecConfig(**codec_config)``, initialised from ``seed``) or anything
    ``llmcodec.hub.load_codec`` takes."""
    from llmcodec.modeling import LLMCodecConfig, LLMCodecModel

    if args.codec_init == "random":
        torch.manual_seed(seed)
        return LLMCodecModel(LLMCodecConfig(**args.codec_config))
    from llmcodec.hub import load_codec

    codec = load_codec(args.codec_init)
    for key, value in args.codec_config.items():  # e.g. freeze_batchnorm_in_training
        setattr(codec.config, key, value)
    return codec


def load_tokenizer_for_training(args: ModelArguments, n_codes: int) -> Any:
    """The extended tokenizer: a folder/Hub id/'offline', extended with ``n_codes`` tokens if allowed.

    Any LM's own tokenizer works (e.g. SmolLM2's byte-level BPE: ``<CODEC_0>`` lands at its length, 49,152);
    one without a pad token pads SA transcripts with its eos token."""
    from llmcodec.tokenizer import extend_tokenizer, find_codec_like_tokens, load_offline_qwen3_tokenizer

    source = args.tokenizer_name_or_path or args.lm_name_or_path
    if source == "offline" or source == "tiny-random-qwen3":
        tokenizer = load_offline_qwen3_tokenizer()
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    if args.extend_tokenizer and not find_codec_like_tokens(tokenizer).get("<CODEC_"):
        tokenizer, _ = extend_tokenizer(tokenizer, n_audio_tokens=n_codes, warn_non_qwen=False)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:  # SA pads transcripts (e.g. Llama-2 style)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_lm_for_training(args: ModelArguments, tokenizer: Any, n_codes: int | None = None, seed: int = 1337) -> nn.Module:
    """The frozen causal LM, resized to the extended tokenizer when ``resize_lm_embeddings``.

    ``n_codes``: the codec's codebook size (the number of ``<CODEC_n>`` tokens; None = the released 20,480)."""
    if args.lm_name_or_path == "tiny-random-qwen3":
        from llmcodec.tokenizer import tiny_random_qwen3

        lm = tiny_random_qwen3(seed=seed)
    else:
        from transformers import AutoModelForCausalLM

        lm = AutoModelForCausalLM.from_pretrained(args.lm_name_or_path, dtype=_lm_dtype(args.lm_dtype),
                                                   trust_remote_code=False)
    lm.to(_lm_dtype(args.lm_dtype))
    rows = lm.get_input_embeddings().weight.shape[0]
    if args.resize_lm_embeddings and len(tokenizer) > rows:
        from llmcodec.tokenizer import AudioTokenMap, AudioTokensMeta, resize_lm_for_audio_tokens

        try:
            amap = AudioTokenMap.from_tokenizer(tokenizer, **({"n_codes": n_codes} if n_codes else {}))
            resize_lm_for_audio_tokens(lm, tokenizer, AudioTokensMeta(amap.prefix, amap.n_codes, amap.first_id))
        except ValueError as error:
            raise TrainingSetupError(str(error)) from error
    return lm


@dataclass
class TrainingComponents:
    module: LLMCodecTrainingModule
    tokenizer: Any
    discriminator: nn.Module | None
    train_dataset: Any
    data_collator: Any = None
    eval_dataset: Any = None

    def trainer(self, args: LLMCodecTrainingArguments, **kwargs: Any) -> Any:
        """``LLMCodecTrainer`` over these components (``kwargs``: e.g. ``callbacks``)."""
        from llmcodec.training.trainer.llmcodec_trainer import LLMCodecTrainer

        kwargs.setdefault("data_collator", self.data_collator)
        kwargs.setdefault("eval_dataset", self.eval_dataset)
        return LLMCodecTrainer(self.module, args, self.train_dataset, self.tokenizer, self.discriminator, **kwargs)


def build_discriminator(args: LLMCodecTrainingArguments) -> nn.Module | None:
    if not args.enable_gan:
        return None
    torch.manual_seed(args.seed + 1)
    d = CombinedDiscriminator(tuple(args.disc_periods), args.disc_num_scales, tuple(args.disc_channels),
                              tuple(args.disc_channels), init_std=args.disc_init_std)
    if args.disc_init is not None:
        from safetensors.torch import load_file

        path = os.path.join(args.disc_init, DISC_FILE) if os.path.isdir(args.disc_init) else args.disc_init
        if not os.path.isfile(path):
            raise TrainingSetupError(f"disc_init: {path} not found (a checkpoint folder of a GAN run, or its {DISC_FILE})")
        try:
            d.load_state_dict(load_file(path))
        except Exception as error:  # noqa: BLE001 - a truncated file or other shapes: one line
            text = " ".join(str(error).split()) or type(error).__name__  # torch's message spans lines: keep one
            raise TrainingSetupError(f"disc_init: cannot load {path}: {text[:300]}") from error
    return d


def build_components(model_args: ModelArguments, data_args: DataArguments, args: LLMCodecTrainingArguments, *,
                     codec: nn.Module | None = None, lm: nn.Module | None = None, tokenizer: Any = None,
                     train_dataset: Any = None) -> TrainingComponents:
    """Everything a run needs, from the three argument sets (any piece may be passed in instead, e.g. by tests).

    Data is checked first (cheap, the most common mistake), then the tokenizer and LM. The validation set is
    built only when ``val_every`` is on.
    """
    m = model_args
    if train_dataset is None:
        train_dataset = build_train_dataset(data_args, args)
    eval_dataset = build_validation_dataset(data_args, args) if args.val_every > 0 else None
    if codec is None:
        codec = _load(f"the codec (codec_init={m.codec_init!r})", load_codec_for_training, m, args.seed)
    n_codes = int(codec.config.codebook_size)
    if tokenizer is None:
        source = m.tokenizer_name_or_path or m.lm_name_or_path
        tokenizer = _load(f"the tokenizer (tokenizer_name_or_path={source!r})", load_tokenizer_for_training, m, n_codes)
    if lm is None:
        lm = _load(f"the frozen LM (lm_name_or_path={m.lm_name_or_path!r})", load_lm_for_training, m, tokenizer, n_codes,
                   args.seed)
    module = build_training_module(codec, lm, tokenizer, m, args)
    segment = data_args.segment_samples(int(codec.config.sampling_rate))
    conditions = None
    if data_args.recording_conditions:
        from llmcodec.training.data.augmentation import RecordingConditions

        conditions = RecordingConditions()
    collator = SeededCropCollator(segment, data_args.phase_jitter, sample_rate=int(codec.config.sampling_rate),
                                  conditions=conditions, **collator_options(args, codec.config))
    return TrainingComponents(module, tokenizer, build_discriminator(args), train_dataset, collator, eval_dataset)


def _check_dataset(dataset: Any, args: LLMCodecTrainingArguments) -> None:
    if dataset is None:
        raise TrainingSetupError("no training dataset")
    if hasattr(dataset, "__len__") and len(dataset) == 0:
        raise TrainingSetupError("the training dataset is empty (0 examples)")
    if args.sa_enabled:
        text_column = getattr(dataset, "text_column", "text")
        require = getattr(dataset, "require_text", None)
        if text_column is None or require is False:
            raise TrainingSetupError(
                "semantic alignment is enabled (lambda_sa_cosine/lambda_sa_contrast > 0) but the dataset has no text "
                "column; give one (text_column) or set lambda_sa_cosine=0 and lambda_sa_contrast=0"
            )
        if require is None and hasattr(dataset, "__getitem__"):
            try:
                first = dataset[0]
            except Exception:  # noqa: BLE001 - an unreadable first item is the data layer's business
                first = None
            if isinstance(first, dict) and "text" not in first:
                raise TrainingSetupError(
                    "semantic alignment is enabled but the dataset's examples have no 'text'; "
                    "set lambda_sa_cosine=0 and lambda_sa_contrast=0 or provide transcripts"
                )


# ----------------------------------------------------------------------------------------------- trainer
