"""The trainable system of LLM-Codec as one ``nn.Module``, and a chained optimizer for its parameter groups.

``LLMCodecTrainingModule`` holds the codec, the Gumbel bridge, the frozen LM (with its trainable audio
rows), the FTP heads, the SA loss (with its memory bank) and the reconstruction losses. It is the
``model`` the ``LLMCodecTrainer`` trains, so accelerate/DDP wrap it once and every generator-side
gradient goes through one ``forward``. The discriminator stays outside (own optimizer; see the trainer).

``ChainedOptimizer`` presents several torch optimizers (SGD for the codec, AdamW for the audio rows and
heads) as one ``torch.optim.Optimizer``: its ``param_groups`` are the *same dict objects* as the children's,
so one LR scheduler drives them all, and its ``state_dict`` nests the children's.
"""

from __future__ import annotations

import logging
import resource
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from llmcodec.training.objectives.frozen_lm import FrozenCausalLM
from llmcodec.training.objectives.future_token_prediction import FutureTokenPredictionHeads, prepend_start_embedding
from llmcodec.training.objectives.gumbel_bridge import GumbelBridge, bridge_cross_entropy
from llmcodec.training.objectives.intelligibility import IntelligibilityLoss
from llmcodec.training.objectives.latent_isotropy import latent_isotropy_loss
from llmcodec.training.objectives.token_invariance import inaudible_perturbation, latent_invariance_loss
from llmcodec.training.objectives.pitch_supervision import PitchSupervision
from llmcodec.training.objectives.reconstruction import ReconstructionLosses, prepare_reconstruction
from llmcodec.training.objectives.semantic_alignment import SemanticAlignmentLoss, sa_layer_range, select_audio_features, select_text_features

logger = logging.getLogger(__name__)

__all__ = ["ChainedOptimizer", "LLMCodecTrainingModule", "LMBlockError"]


class LMBlockError(RuntimeError):
    """A failure in the LM block (FTP forward, FTP heads, SA text pass, SA loss): the run stops.

    Upstream's ``try/except`` zeroed FTP/SA for the micro-batch (quirk 16); that also swallowed CUDA
    out-of-memory, so a run could train for days without its LLM losses."""


def memory_report(device: torch.device) -> str:
    """Allocated / reserved / peak CUDA memory on a CUDA device, else the process's peak RSS."""
    if device.type == "cuda" and torch.cuda.is_available():
        gib = lambda n: f"{n / 2**30:.2f} GiB"  # noqa: E731
        return (f"CUDA memory allocated {gib(torch.cuda.memory_allocated(device))}, reserved "
                f"{gib(torch.cuda.memory_reserved(device))}, peak allocated {gib(torch.cuda.max_memory_allocated(device))}")
    return f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"  # Linux: KiB


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


@contextmanager
def lm_block_part(part: str, device: torch.device) -> Iterator[None]:
    """Re-raise any failure of ``part`` as :class:`LMBlockError` naming it (and the memory, for OOM)."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - re-raised, with the part named
        first = (str(error).strip().splitlines() or [""])[0]
        message = f"{part} failed: {type(error).__name__}: {first}"
        if is_out_of_memory(error):
            message += (f" (out of memory; {memory_report(device)}: lower per_device_train_batch_size or "
                        "segment_seconds, or use lm_num_layers)")
        raise LMBlockError(message) from error


class ChainedOptimizer(torch.optim.Optimizer):
    """Several optimizers stepped together; ``param_groups`` concatenates (and aliases) theirs.

    Each group gets a ``"name"`` key (e.g. ``codec_encoder``) for logging.
    """

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        if not optimizers:
            raise ValueError("ChainedOptimizer needs at least one optimizer")
        self.optimizers = list(optimizers)
        groups = [g for opt in self.optimizers for g in opt.param_groups]
        super().__init__(groups, defaults={})  # add_param_group keeps the children's dict objects

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: D401 - torch signature
        loss = closure() if closure is not None else None
        for opt in self.optimizers:
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"chained": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        states = state_dict.get("chained")
        if states is None or len(states) != len(self.optimizers):
            raise ValueError(
                f"optimizer state holds {len(states) if states is not None else 'no'} chained optimizers, expected "
                f"{len(self.optimizers)}: the checkpoint comes from a different optimizer setup"
            )
        for opt, state in zip(self.optimizers, states):
            opt.load_state_dict(state)
        self._realias_param_groups()

    def _realias_param_groups(self) -> None:
        """``torch.optim.Optimizer.load_state_dict`` gives each child *new* group dicts. Without re-aliasing, the LR
        scheduler (which writes into ``self.param_groups``) no longer reaches the children: accelerate's
        ``prepare`` round-trips the state once, so every ``llmcodec train`` run stepped at the constant base LR
        while the logs showed the warm-up cosine. The list is updated in place: schedulers and
        accelerate's wrapper hold this very list."""
        self.param_groups[:] = [g for opt in self.optimizers for g in opt.param_groups]


class LLMCodecTrainingModule(nn.Module):
    """Codec + Gumbel bridge + frozen LM (audio rows) + FTP heads + SA, computing every generator-side term.

    Args:
        codec: an ``LLMCodecModel`` (its ``latents`` (B, T, D) feed the bridge).
        lm: the frozen LM wrapper; ``lm.codebook_size`` must equal the codec's codebook size.
        bridge: ``GumbelBridge(D, codebook_size)``.
        ftp: ``FutureTokenPredictionHeads(H, codebook_size, K)``.
        sa: ``SemanticAlignmentLoss`` over the LM's SA layer range, or None (SA disabled).
        recon: ``ReconstructionLosses``.
        start_token_id: LM token id prepended when ``ftp.prepend_start_token`` (fix of quirk 1).
        recon_clamp: the reconstruction is ``nan_to_num``-ed and clamped to ±this before the losses.
        codec_autocast_dtype: the codec forward runs under autocast to this dtype (``torch.bfloat16`` with
            ``bf16``, recipe §6.12); None = fp32. Everything after the codec runs with autocast *disabled*
            (fp32 losses, mel filterbanks and bridge; the LM and heads in their own weights' dtype), also
            inside the autocast accelerate puts around ``forward``.
        codebook_domain: restrict the VQ search to this named partition of the codebook (e.g. ``speech``).
        pitch: a :class:`PitchSupervision` head on the quantized latents (``lambda_pitch > 0``), or None.
        isotropy: add the ``isotropy`` term (``latent_isotropy_loss`` of the projected latents, with their graph).
        invariance: ``(noise_dbfs (low, high), gain_db)`` adds the ``invariance`` term in training mode: a second
            encoder pass over an inaudibly perturbed copy of the batch (``inaudible_perturbation``) and
            ``latent_invariance_loss`` against the clean projected latents; None = off.
        intelligibility: an :class:`IntelligibilityLoss` (``lambda_stoi > 0``) adds the ``stoi`` term
            (1 - STOI of the reconstruction), or None.
    """

    def __init__(
        self,
        codec: nn.Module,
        lm: FrozenCausalLM,
        bridge: GumbelBridge,
        ftp: FutureTokenPredictionHeads,
        sa: SemanticAlignmentLoss | None,
        recon: ReconstructionLosses,
        start_token_id: int | None = None,
        recon_clamp: float = 1.2,
        codec_autocast_dtype: torch.dtype | None = None,
        codebook_domain: str | None = None,
        pitch: PitchSupervision | None = None,
        isotropy: bool = False,
        invariance: tuple[tuple[float, float], float] | None = None,
        intelligibility: IntelligibilityLoss | None = None,
    ) -> None:
        super().__init__()
        if lm.codebook_size != codec.config.codebook_size:
            raise ValueError(
                f"the LM has {lm.codebook_size} audio rows but the codec {codec.config.codebook_size} codes"
            )
        if ftp.prepend_start_token and start_token_id is None:
            raise ValueError("ftp_prepend_bos needs a start token id (the tokenizer has no bos/eos token)")
        self.codec, self.lm, self.bridge, self.ftp, self.sa, self.recon = codec, lm, bridge, ftp, sa, recon
        self.start_token_id = start_token_id
        self.recon_clamp = recon_clamp
        self.codec_autocast_dtype, self.codebook_domain = codec_autocast_dtype, codebook_domain
        self.sa_layers = sa_layer_range(lm.num_hidden_layers) if sa is not None else None
        self._pending_sa_text: Tensor | None = None
        self.pitch = pitch
        self.isotropy = isotropy
        self.invariance = invariance
        self.intelligibility = intelligibility

    # ------------------------------------------------------------------------------------- parameters
    def codec_encoder_parameters(self) -> list[nn.Parameter]:
        """Encoder side (recipe ``opt_enc``): everything of the codec except the decoder."""
        dec = {id(p) for p in self.codec.decoder.parameters()}
        return [p for p in self.codec.parameters() if id(p) not in dec and p.requires_grad]

    def codec_decoder_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.codec.decoder.parameters() if p.requires_grad]

    def embed_parameters(self) -> list[nn.Parameter]:
        """Audio rows of the LM + FTP heads (recipe ``opt_embed``), and the pitch head when there is one."""
        pitch = list(self.pitch.parameters()) if self.pitch is not None else []
        return [self.lm.audio_embeddings, *self.ftp.parameters(), *pitch]

    def trainable_state_dict(self, state_dict: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Everything training changes (codec, bridge, heads, audio rows, SA bank); not the frozen LM body.

        ``state_dict``: filter this one (e.g. the full state the Trainer gathered under FSDP) instead of ours."""
        state_dict = self.state_dict() if state_dict is None else state_dict
        return {
            k: v.detach().contiguous().clone()
            for k, v in state_dict.items()
            if not k.startswith(("lm.lm.", "recon."))
        }

    def load_trainable_state_dict(self, state: dict[str, Tensor]) -> None:
        expected = set(self.trainable_state_dict())
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise ValueError(
                f"training state does not match the model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
            )
        self.load_state_dict(state, strict=False)

    @torch.no_grad()
    def flush_sa_bank(self, gather: Callable[[Tensor | None], list[Tensor]] | None = None) -> None:
        """Push the last forward's text features into the SA bank (call after that forward's backward).

        ``gather`` (DDP, ``trainer_distributed.sa_bank_gather``): every rank's features, in rank order; each is
        pushed as one micro-batch, so every rank's bank gets every rank's items and stays identical. With a
        gather every rank must call this, also one without features."""
        pending, self._pending_sa_text = self._pending_sa_text, None
        if self.sa is None:
            return
        for features in ([pending] if pending is not None else []) if gather is None else gather(pending):
            self.sa.push(features)

    @torch.no_grad()
    def write_head0_to_rows(self) -> None:
        """Upstream's pre-save write-back (quirk 2): audio rows <- FTP head 0 weight."""
        self.lm.audio_embeddings.copy_(self.ftp.heads[0].weight.to(self.lm.audio_embeddings.dtype))

    def train(self, mode: bool = True) -> "LLMCodecTrainingModule":
        super().train(mode)
        self.lm.train(mode)  # keeps the frozen body in eval
        self.codec.train(mode)  # re-applies the BatchNorm-in-eval rule
        return self

    # ------------------------------------------------------------------------------------------ forward
    def forward(
        self,
        input_values: Tensor,
        text_input_ids: Tensor | None = None,
        text_attention_mask: Tensor | None = None,
        tau: float = 1.0,
        run_lm: bool = True,
        run_sa: bool = True,
        run_bridge: bool = True,
        pitch_f0: Tensor | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """input_values ``(B, 1, L)`` full crops (reflect padding is audio, so no padding mask is passed,
        as upstream); text ids/mask ``(B, S)`` right-padded transcripts (SA only).

        Returns a dict: ``recon`` (B, 1, L) clamped reconstruction; ``codes`` (B, T); ``codes_mask`` (B, T);
        unweighted scalar terms ``mel``, ``ms_mel``, ``mr_stft``, ``cstft``, ``vq``, ``bridge`` and, when
        computed, ``ftp``, ``sa_cos``, ``sa_ctr``; ``ftp_accuracy`` (K,).
        ``run_bridge=False`` (only valid with ``run_lm=False``) skips the bridge and its ``bridge`` term.
        ``pitch_f0`` (B, T) Hz per frame (0 = unvoiced) adds the ``pitch`` term when the module has a pitch head;
        ``isotropy`` is added when the module was built with ``isotropy=True``, ``invariance`` (training mode only)
        when it was built with ``invariance`` settings, ``stoi`` when it has an ``intelligibility`` loss.
        A failure in the LM block raises :class:`LMBlockError` naming the part (no silent zeroing).
        In eval mode the SA text features are not kept for the bank (``evaluate`` must not feed it).
        """
        device_type = input_values.device.type
        dtype = self.codec_autocast_dtype
        with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self.codec(input_values=input_values, codebook_domain=self.codebook_domain)
            perturbed = None
            if self.invariance is not None and self.training:
                noise_dbfs, gain_db = self.invariance
                copy = inaudible_perturbation(input_values, noise_dbfs, gain_db)
                perturbed = self.codec.encode(copy, codebook_domain=self.codebook_domain).projected_latents
        with torch.autocast(device_type, enabled=False):  # explicit precision after the codec (recipe §6.12)
            result = self._losses_after_codec(out, input_values, text_input_ids, text_attention_mask, tau,
                                              run_lm, run_sa, run_bridge)
            if self.pitch is not None and pitch_f0 is not None:
                result["pitch"] = self.pitch(self.pitch.features(out), pitch_f0, out.audio_codes_mask)
            if self.isotropy:
                result["isotropy"] = latent_isotropy_loss(out.projected_latents, out.audio_codes_mask)
            if perturbed is not None:
                result["invariance"] = latent_invariance_loss(out.projected_latents, perturbed, out.audio_codes_mask)
            if self.intelligibility is not None:
                result["stoi"] = self.intelligibility(input_values, result["recon"])
            return result

    def _losses_after_codec(self, out: Any, wav: Tensor, text_input_ids: Tensor | None,
                            text_attention_mask: Tensor | None, tau: float, run_lm: bool, run_sa: bool,
                            run_bridge: bool) -> dict[str, Any]:
        recon = prepare_reconstruction(out.audio_values.float(), wav.shape[-1], clamp=self.recon_clamp)
        terms = self.recon(wav, recon, mel_weight=1.0)
        result: dict[str, Any] = {
            "recon": recon, "codes": out.audio_codes, "codes_mask": out.audio_codes_mask,
            "projected": out.projected_latents.detach().float(),
            "mel": terms["mel"], "ms_mel": terms["ms_mel"], "mr_stft": terms["mr_stft"], "cstft": terms["cstft"],
            "vq": out.loss.float() if out.loss is not None else recon.new_zeros(()),
        }
        if not run_bridge and not run_lm:
            return result
        bridge_out = self.bridge(out.latents.float(), self.lm.audio_embedding_rows(), tau=tau)
        result["bridge"] = bridge_cross_entropy(bridge_out.logits, out.audio_codes.clamp_min(0), out.audio_codes_mask)
        if not run_lm:
            return result
        device = wav.device
        embeds = bridge_out.inputs_embeds
        if self.ftp.prepend_start_token:
            start = self.lm.lm.get_input_embeddings().weight[self.start_token_id].detach()
            embeds = prepend_start_embedding(embeds, start)
        with lm_block_part("the frozen LM forward for FTP", device):
            # Hidden states only (the decoder, no lm_head): FTP and SA never read the LM's logits.
            hidden = self.lm.hidden_states(inputs_embeds=embeds)
        with lm_block_part("the FTP heads", device):
            ftp = self.ftp(hidden[-1], out.audio_codes.clamp_min(0), out.audio_codes_mask)
        result["ftp"], result["ftp_accuracy"] = ftp.loss, ftp.per_head_accuracy
        if run_sa and self.sa is not None and text_input_ids is not None:
            with lm_block_part("the SA text pass", device), torch.no_grad():  # the text side is a frozen target
                text_hidden = self.lm.hidden_states(input_ids=text_input_ids, attention_mask=text_attention_mask)
                text = select_text_features(text_hidden, text_attention_mask, self.sa_layers)
            with lm_block_part("the SA loss", device):
                sa = self.sa(select_audio_features(hidden, self.sa_layers).float(), text.float())
            result["sa_cos"], result["sa_ctr"] = sa.cosine_loss, sa.contrastive_loss
            if self.training:  # the bank is in this graph: push only after backward (``flush_sa_bank``)
                self._pending_sa_text = text.detach().float()
        return result


def named_clip_groups(module: LLMCodecTrainingModule) -> dict[str, list[nn.Parameter]]:
    """The recipe's three clipped optimizers: encoder(+bridge), decoder, embed(+heads)."""
    return {
        "codec_encoder": module.codec_encoder_parameters() + list(module.bridge.parameters()),
        "codec_decoder": module.codec_decoder_parameters(),
        "embed": module.embed_parameters(),
    }


def all_parameters(groups: Iterable[Iterable[nn.Parameter]]) -> list[nn.Parameter]:
    return [p for g in groups for p in g]
