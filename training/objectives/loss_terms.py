"""Every generator loss term of LLM-Codec, declared once.

A :class:`LossTerm` says everything training needs to know about one term:

* ``name``: its key in the training module's outputs; logged as ``loss_{name}`` (and ``nonfinite_{name}`` for a
  micro-batch whose value was not finite and was left out of the total);
* ``weight`` and ``fields``: the training argument holding its weight (a schedule's maximum for a scheduled term)
  and every training argument the term adds to ``LLMCodecTrainingArguments``, with their help;
* ``schedule``: its weight at an optimizer step (None: the constant ``weight`` argument); a scheduled weight is
  logged as ``lambda_{name}``;
* ``build``, ``codec_pass``, ``compute`` (optional terms): the term's part (a head, or settings) built when its
  weight is > 0, and how the training module computes the term from the codec's output. Terms without ``compute``
  come from a block that computes several at once (``source``: the reconstruction losses, the VQ, the bridge,
  the LM block, the discriminator).

``LLMCodecTrainingArguments`` takes its weight fields from :data:`LOSS_TERMS`, ``builders`` builds the parts, the
training module computes the terms with a ``compute``, and the trainer weights, sums and logs every term by
iterating the declarations: adding a term is one entry here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import Tensor

from llmcodec.training.objectives.schedules import ftp_weight, mel_weight, sa_weights

__all__ = ["LOSS_TERMS", "Argument", "LossTerm", "TermInputs", "loss_term", "loss_term_arguments", "term_weights"]


@dataclass(frozen=True)
class Argument:
    """A training argument a loss term adds (a field of ``LLMCodecTrainingArguments``)."""

    name: str
    default: Any
    help: str
    type: Any = float

    def dataclass_field(self) -> tuple[str, Any, Any]:
        if isinstance(self.default, list):
            default = list(self.default)
            return self.name, self.type, field(default_factory=lambda: list(default), metadata={"help": self.help})
        return self.name, self.type, field(default=self.default, metadata={"help": self.help})


@dataclass
class TermInputs:
    """What an optional term reads inside the training module's forward.

    Attributes:
        input_values: ``(B, 1, L)`` the crops.
        codec_output: the codec's ``LLMCodecOutput``: ``latents`` (B, T, D), ``projected_latents`` (B, T, C),
            ``audio_codes_mask`` (B, T).
        encode: ``encode(waveform (B, 1, L))`` -> the codec's encoder output (same codebook domain).
        training: the module's mode.
        batch: the batch fields a term asked for (``batch_keys``), e.g. ``pitch_f0`` (B, T).
        recon: ``(B, 1, L)`` the clamped reconstruction (None during ``codec_pass``).
        codec_pass: what the term's ``codec_pass`` returned.
    """

    input_values: Tensor
    codec_output: Any
    encode: Callable[[Tensor], Any]
    training: bool
    batch: dict[str, Any]
    recon: Tensor | None = None
    codec_pass: Any = None


@dataclass(frozen=True)
class LossTerm:
    """One generator loss term (see the module docstring)."""

    name: str
    weight: str
    fields: tuple[Argument, ...]
    source: str = "compute"
    schedule: Callable[[Any, int], float] | None = None
    minimum: float | None = None  # the weight must be >= this (0 for the optional terms: 0 = off)
    build: Callable[[Any, Any], Any] | None = None  # (training args, codec config) -> part
    codec_pass: Callable[[Any, TermInputs], Any] | None = None  # under the codec's precision, after its forward
    compute: Callable[[Any, TermInputs], Tensor | None] | None = None  # (part, inputs) -> scalar, None = no term
    batch_keys: tuple[str, ...] = ()  # batch fields the term reads (the collator adds them, see ``collate``)
    collate: Callable[[Any], dict[str, Any]] | None = None  # codec config -> collator keyword arguments

    def weight_at(self, args: Any, step: int) -> float:
        """The term's weight at optimizer step ``step``."""
        return float(self.schedule(args, step)) if self.schedule is not None else float(getattr(args, self.weight))

    def is_on(self, args: Any) -> bool:
        """An optional term runs (and its part is built) when its weight is > 0."""
        return getattr(args, self.weight) > 0


def _sa(args: Any, step: int) -> tuple[float, float]:
    return sa_weights(step, args.sa_delay_steps, args.sa_ramp_steps, args.lambda_sa_cosine, args.lambda_sa_contrast,
                      ftp_enabled=args.lambda_ftp > 0)


def _pitch_head(args: Any, config: Any) -> Any:
    from llmcodec.training.objectives.pitch_supervision import PitchSupervision

    if args.pitch_input not in ("projected", "quantized"):
        raise ValueError(f"pitch_input must be 'projected' or 'quantized', got {args.pitch_input!r}")
    width = config.codebook_dim if args.pitch_input == "projected" else config.hidden_size
    return PitchSupervision(int(width), source=args.pitch_input)


def _pitch(head: Any, x: TermInputs) -> Tensor | None:
    f0 = x.batch.get("pitch_f0")
    return None if f0 is None else head(head.features(x.codec_output), f0, x.codec_output.audio_codes_mask)


def _isotropy(_: Any, x: TermInputs) -> Tensor:
    from llmcodec.training.objectives.latent_isotropy import latent_isotropy_loss

    return latent_isotropy_loss(x.codec_output.projected_latents, x.codec_output.audio_codes_mask)


def _invariance_settings(args: Any, _: Any) -> tuple[tuple[float, float], float]:
    noise = list(args.invariance_noise_dbfs)
    if len(noise) != 2 or noise[0] > noise[1]:
        raise ValueError(f"invariance_noise_dbfs must be [low, high] with low <= high, got {noise}")
    if args.invariance_gain_db < 0:
        raise ValueError(f"invariance_gain_db must be >= 0, got {args.invariance_gain_db}")
    return (float(noise[0]), float(noise[1])), float(args.invariance_gain_db)


def _perturbed_latents(settings: tuple[tuple[float, float], float], x: TermInputs) -> Tensor | None:
    """A second encoder pass over an inaudibly perturbed copy of the crops (training mode only)."""
    from llmcodec.training.objectives.token_invariance import inaudible_perturbation

    if not x.training:
        return None
    noise_dbfs, gain_db = settings
    return x.encode(inaudible_perturbation(x.input_values, noise_dbfs, gain_db)).projected_latents


def _invariance(_: Any, x: TermInputs) -> Tensor | None:
    from llmcodec.training.objectives.token_invariance import latent_invariance_loss

    if x.codec_pass is None:
        return None
    return latent_invariance_loss(x.codec_output.projected_latents, x.codec_pass, x.codec_output.audio_codes_mask)


def _intelligibility_loss(_: Any, config: Any) -> Any:
    from llmcodec.training.objectives.intelligibility import IntelligibilityLoss

    return IntelligibilityLoss(int(config.sampling_rate))


OFF = "0 = off"

# The order is the order of the sum (and of the logs).
LOSS_TERMS: tuple[LossTerm, ...] = (
    LossTerm("mel", "lambda_mel_start", (
        Argument("lambda_mel_start", 1.5, "weight of the mel L1 loss at step 0; it decays on a half cosine"),
        Argument("lambda_mel_end", 0.75, "weight of the mel L1 loss from lambda_mel_steps on"),
        Argument("lambda_mel_steps", 50_000, "steps of the mel weight's cosine decay", int),
    ), source="reconstruction",
        schedule=lambda a, s: mel_weight(s, a.lambda_mel_start, a.lambda_mel_end, a.lambda_mel_steps)),
    LossTerm("ms_mel", "lambda_ms_mel", (Argument("lambda_ms_mel", 0.5, "weight of the multi-scale mel loss"),),
             source="reconstruction"),
    LossTerm("mr_stft", "lambda_mr_stft", (Argument(
        "lambda_mr_stft", 0.5, "weight of the multi-resolution STFT loss (the complex-STFT loss itself unless "
        "distinct_mr_stft, as in the recipe)"),), source="reconstruction"),
    LossTerm("cstft", "lambda_cstft", (Argument("lambda_cstft", 0.8, "weight of the complex-STFT loss"),),
             source="reconstruction"),
    LossTerm("vq", "lambda_vq", (Argument("lambda_vq", 1.0, "weight of the VQ's commitment + codebook loss"),),
             source="codec"),
    LossTerm("bridge", "lambda_bridge", (Argument(
        "lambda_bridge", 1.0, "weight of the Gumbel bridge's cross-entropy against the codes; with 0 and FTP and SA "
        "off the bridge does not run"),), source="bridge"),
    LossTerm("ftp", "lambda_ftp", (
        Argument("lambda_ftp", 0.2, "weight of future token prediction (FTP) once ramped; 0 = no LM"),
        Argument("ftp_delay_steps", 10_000, "the FTP weight is 0 up to this step", int),
        Argument("ftp_ramp_steps", 2000, "steps of the FTP weight's linear ramp after ftp_delay_steps", int),
    ), source="lm", schedule=lambda a, s: ftp_weight(s, a.ftp_delay_steps, a.ftp_ramp_steps, a.lambda_ftp)),
    LossTerm("sa_cos", "lambda_sa_cosine", (
        Argument("lambda_sa_cosine", 0.1, "weight of semantic alignment's cosine term once ramped (needs "
                 "transcripts and lambda_ftp > 0)"),
        Argument("sa_delay_steps", 12_000, "the SA weights are 0 up to and including this step", int),
        Argument("sa_ramp_steps", 2000, "steps of the SA weights' linear ramp after sa_delay_steps", int),
    ), source="lm", schedule=lambda a, s: _sa(a, s)[0]),
    LossTerm("sa_ctr", "lambda_sa_contrast", (Argument(
        "lambda_sa_contrast", 0.05, "weight of semantic alignment's contrastive term once ramped (same schedule)"),),
        source="lm", schedule=lambda a, s: _sa(a, s)[1]),
    LossTerm("pitch", "lambda_pitch", (
        Argument("lambda_pitch", 0.0, "weight of pitch supervision of the codec's bottleneck (not in the recipe): "
                 f"a training-only head predicts each frame's Praat F0 and voicing. {OFF}"),
        Argument("pitch_input", "projected", "what the pitch head reads: projected (the encoder's unit-normalised "
                 "C-dim output, the direction the cosine VQ quantizes: a direct gradient) | quantized (the D-dim "
                 "latents after the straight-through estimator: the encoder learns only as frames cross code "
                 "boundaries, slow)", str),
    ), minimum=0.0, build=_pitch_head, compute=_pitch, batch_keys=("pitch_f0",),
        collate=lambda config: {"pitch_hop": int(config.hop_length)}),
    LossTerm("isotropy", "lambda_isotropy", (Argument(
        "lambda_isotropy", 0.0, "weight of the latent isotropy loss (not in the recipe): keeps the VQ's unit-"
        f"normalised projected latents spread over all codebook_dim dimensions. {OFF}"),),
        minimum=0.0, build=lambda args, config: True, compute=_isotropy),
    LossTerm("invariance", "lambda_invariance", (
        Argument("lambda_invariance", 0.0, "weight of the token invariance loss (not in the recipe): a second "
                 "encoder pass over an inaudibly perturbed copy of each crop (white noise, a small gain change) whose "
                 f"projected latents are pulled to the clean ones (cosine distance). {OFF}"),
        Argument("invariance_noise_dbfs", [-80.0, -60.0], "[low, high] dBFS range of the white noise RMS drawn per "
                 "crop for the invariance loss", list[float]),
        Argument("invariance_gain_db", 1.0, "gain change drawn uniformly in +-this many dB per crop for the "
                 "invariance loss"),
    ), minimum=0.0, build=_invariance_settings, codec_pass=_perturbed_latents, compute=_invariance),
    LossTerm("stoi", "lambda_stoi", (Argument(
        "lambda_stoi", 0.0, "weight of the intelligibility loss (not in the recipe): 1 - STOI of the reconstruction "
        f"through torch-stoi's differentiable STOI. {OFF}"),),
        minimum=0.0, build=_intelligibility_loss, compute=lambda loss, x: loss(x.input_values, x.recon)),
    LossTerm("gan_g", "lambda_gan", (Argument("lambda_gan", 1.0, "weight of the generator's adversarial loss"),),
             source="discriminator"),
    LossTerm("fm", "lambda_fm", (Argument("lambda_fm", 1.5, "weight of the discriminator feature-matching loss"),),
             source="discriminator"),
)


def loss_term(name: str) -> LossTerm:
    """The declaration named ``name``."""
    for term in LOSS_TERMS:
        if term.name == name:
            return term
    raise KeyError(f"no loss term {name!r}; known: {', '.join(t.name for t in LOSS_TERMS)}")


def term_weights(args: Any, step: int) -> dict[str, float]:
    """Every term's weight at optimizer step ``step``, by term name."""
    return {term.name: term.weight_at(args, step) for term in LOSS_TERMS}


def loss_term_arguments() -> type:
    """A dataclass of every field the terms declare (a base class of ``LLMCodecTrainingArguments``)."""
    fields = [argument.dataclass_field() for term in LOSS_TERMS for argument in term.fields]
    names = [name for name, _, _ in fields]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"loss terms declare the same argument twice: {duplicated}")
    return dataclasses.make_dataclass("LossTermArguments", fields)
