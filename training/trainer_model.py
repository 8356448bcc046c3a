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
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor, nn

from .frozen_lm import FrozenCausalLM
from .future_token_prediction import FutureTokenPredictionHeads, prepend_start_embedding
from .gumbel_bridge import GumbelBridge, bridge_cross_entropy
from .reconstruction_losses import ReconstructionLosses, prepare_reconstruction
from .semantic_alignment import SemanticAlignmentLoss, sa_layer_range, select_audio_features, select_text_features

logger = logging.getLogger(__name__)

__all__ = ["ChainedOptimizer", "LLMCodecTrainingModule"]


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
        self.sa_layers = sa_layer_range(lm.num_hidden_layers) if sa is not None else None
        self._pending_sa_text: Tensor | None = None

    # ------------------------------------------------------------------------------------- parameters
    def codec_encoder_parameters(self) -> list[nn.Parameter]:
        """Encoder side (recipe ``opt_enc``): everything of the codec except the decoder."""
        dec = {id(p) for p in self.codec.decoder.parameters()}
        return [p for p in self.codec.parameters() if id(p) not in dec and p.requires_grad]

    def codec_decoder_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.codec.decoder.parameters() if p.requires_grad]

    def embed_parameters(self) -> list[nn.Parameter]:
        """Audio rows of the LM + FTP heads (recipe ``opt_embed``)."""
        return [self.lm.audio_embeddings, *self.ftp.parameters()]

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Everything training changes (codec, bridge, heads, audio rows, SA bank); not the frozen LM body."""
        return {
            k: v.detach().contiguous().clone()
            for k, v in self.state_dict().items()
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
    def flush_sa_bank(self) -> None:
        """Push the last forward's text features into the SA bank (call after that forward's backward)."""
        if self.sa is not None and self._pending_sa_text is not None:
            self.sa.push(self._pending_sa_text)
        self._pending_sa_text = None

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
        strict_llm_losses: bool = False,
        run_bridge: bool = True,
        **_: Any,
    ) -> dict[str, Any]:
        """input_values ``(B, 1, L)`` full crops (reflect padding is audio, so no padding mask is passed,
        as upstream); text ids/mask ``(B, S)`` right-padded transcripts (SA only).

        Returns a dict: ``recon`` (B, 1, L) clamped reconstruction; ``codes`` (B, T); ``codes_mask`` (B, T);
        unweighted scalar terms ``mel``, ``ms_mel``, ``mr_stft``, ``cstft``, ``vq``, ``bridge`` and, when
        computed, ``ftp``, ``sa_cos``, ``sa_ctr``; ``ftp_accuracy`` (K,); ``lm_error`` (str or None).
        ``run_bridge=False`` (only valid with ``run_lm=False``) skips the bridge and its ``bridge`` term.
        """
        out = self.codec(input_values=input_values)
        wav = input_values
        recon = prepare_reconstruction(out.audio_values, wav.shape[-1], clamp=self.recon_clamp)
        terms = self.recon(wav, recon, mel_weight=1.0)
        result: dict[str, Any] = {
            "recon": recon, "codes": out.audio_codes, "codes_mask": out.audio_codes_mask,
            "projected": out.projected_latents.detach(),
            "mel": terms["mel"], "ms_mel": terms["ms_mel"], "mr_stft": terms["mr_stft"], "cstft": terms["cstft"],
            "vq": out.loss if out.loss is not None else recon.new_zeros(()),
            "lm_error": None,
        }
        if not run_bridge and not run_lm:
            return result
        bridge_out = self.bridge(out.latents, self.lm.audio_embedding_rows(), tau=tau)
        result["bridge"] = bridge_cross_entropy(bridge_out.logits, out.audio_codes.clamp_min(0), out.audio_codes_mask)
        if not run_lm:
            return result
        try:
            embeds = bridge_out.inputs_embeds
            if self.ftp.prepend_start_token:
                start = self.lm.lm.get_input_embeddings().weight[self.start_token_id].detach()
                embeds = prepend_start_embedding(embeds, start)
            # Hidden states only (the decoder, no lm_head): FTP and SA never read the LM's logits.
            hidden = self.lm.hidden_states(inputs_embeds=embeds)
            ftp = self.ftp(hidden[-1], out.audio_codes.clamp_min(0), out.audio_codes_mask)
            result["ftp"], result["ftp_accuracy"] = ftp.loss, ftp.per_head_accuracy
            if run_sa and self.sa is not None and text_input_ids is not None:
                with torch.no_grad():  # the text side is a frozen target
                    text_hidden = self.lm.hidden_states(input_ids=text_input_ids, attention_mask=text_attention_mask)
                text = select_text_features(text_hidden, text_attention_mask, self.sa_layers)
                sa = self.sa(select_audio_features(hidden, self.sa_layers), text)
                result["sa_cos"], result["sa_ctr"] = sa.cosine_loss, sa.contrastive_loss
                # The bank is in this graph: push only after backward (``flush_sa_bank``), not in place now.
                self._pending_sa_text = text.detach()
        except (RuntimeError, ValueError) as error:  # upstream's try/except around the LM block (quirk 16)
            if strict_llm_losses:
                raise
            result["lm_error"] = f"{type(error).__name__}: {error}"
            for key in ("ftp", "sa_cos", "sa_ctr", "ftp_accuracy"):
                result.pop(key, None)
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
