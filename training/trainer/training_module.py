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
from llmcodec.training.objectives.loss_terms import LOSS_TERMS, TermInputs
from llmcodec.training.objectives.reconstruction import ReconstructionLosses, prepare_reconstruction
from llmcodec.training.objectives.semantic_alignment import SemanticAlignmentLoss, sa_layer_range, select_audio_features, select_text_features

logger = logging.getLogger(__name__)

__all__ = ["ChainedOptimizer", "LLMCodecTrainingModule", "LMBlockError"]


class LMBlockError(RuntimeError):
    """A failure in the LM block (FTP forward, FTP heads, SA text pass, SA loss): the run stops.

    The recipe's ``try/except`` silently zeroed FTP and SA for the micro-batch; that also swallowed CUDA
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
        start_token_id: LM token id prepended when ``ftp.prepend_start_token`` (the recipe's Qwen3 has no BOS,
            so without it head 0 predicts the current code).
        recon_clamp: the reconstruction is ``nan_to_num``-ed and clamped to ±this before the losses.
        codec_autocast_dtype: the codec forward runs under autocast to this dtype (``torch.bfloat16`` with
            ``bf16``, as the recipe); None = fp32. Everything after the codec runs with autocast *disabled*
            (fp32 losses, mel filterbanks and bridge; the LM and heads in their own weights' dtype), also
            inside the autocast accelerate puts around ``forward``.
        codebook_domain: restrict the VQ search to this named partition of the codebook (e.g. ``speech``).
        term_parts: the parts of the optional loss terms that are on, by term name (``LossTerm.build``): each
            term with a ``compute`` in ``LOSS_TERMS`` and a part here is added to the outputs. A part that is a
            module (e.g. the pitch head) is a submodule under the term's name (trained with the audio rows).
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
        term_parts: dict[str, Any] | None = None,
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
        term_parts = dict(term_parts or {})
        unknown = sorted(set(term_parts) - {t.name for t in LOSS_TERMS if t.compute is not None})
        if unknown:
            raise ValueError(f"no optional loss term named {unknown}")
        self.terms = [t for t in LOSS_TERMS if t.name in term_parts]  # in declaration order
        self.term_parts = term_parts
        for name, part in term_parts.items():
            if isinstance(part, nn.Module):  # its parameters and buffers under the term's name (``pitch.head.0``)
                self.add_module(name, part)

    # ------------------------------------------------------------------------------------- parameters
    def codec_encoder_parameters(self) -> list[nn.Parameter]:
        """Encoder side (recipe ``opt_enc``): everything of the codec except the decoder."""
        dec = {id(p) for p in self.codec.decoder.parameters()}
        return [p for p in self.codec.parameters() if id(p) not in dec and p.requires_grad]

    def codec_decoder_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.codec.decoder.parameters() if p.requires_grad]

    def embed_parameters(self) -> list[nn.Parameter]:
        """Audio rows of the LM + FTP heads (recipe ``opt_embed``), and the loss terms' heads (e.g. pitch)."""
        heads = [p for t in self.terms if isinstance(self.term_parts[t.name], nn.Module)
                 for p in self.term_parts[t.name].parameters()]
        return [self.lm.audio_embeddings, *self.ftp.parameters(), *heads]

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
    def push_sa_bank(self, features: Tensor | None,
                     gather: Callable[[Tensor | None], list[Tensor]] | None = None) -> None:
        """Push a training forward's SA text features (its ``sa_text_features``) into the SA bank, after that
        forward's backward.

        ``gather`` (DDP, ``distributed.sa_bank_gather``): every rank's features, in rank order; each is pushed as one
        micro-batch, so every rank's bank gets every rank's items and stays identical. With a gather every rank must
        call this, also one without features."""
        if self.sa is None:
            return
        for item in ([features] if features is not None else []) if gather is None else gather(features):
            self.sa.push(item)

    @torch.no_grad()
    def write_head0_to_rows(self) -> None:
        """The recipe's pre-save write-back: audio rows <- FTP head 0 weight (the exported rows are head 0)."""
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
        **batch: Any,
    ) -> dict[str, Any]:
        """input_values ``(B, 1, L)`` full crops (reflect padding is audio, so no padding mask is passed,
        as upstream); text ids/mask ``(B, S)`` right-padded transcripts (SA only).

        Returns a dict: ``recon`` (B, 1, L) clamped reconstruction; ``codes`` (B, T); ``codes_mask`` (B, T);
        unweighted scalar terms ``mel``, ``ms_mel``, ``mr_stft``, ``cstft``, ``vq``, ``bridge`` and, when
        computed, ``ftp``, ``sa_cos``, ``sa_ctr``; ``ftp_accuracy`` (K,); in training mode with SA,
        ``sa_text_features`` (layers, B, H) for :meth:`push_sa_bank` (an eval forward never feeds the bank).
        ``run_bridge=False`` (only valid with ``run_lm=False``) skips the bridge and its ``bridge`` term.
        ``batch``: the batch fields the optional terms read (e.g. ``pitch_f0`` (B, T) Hz per frame); each optional
        term that is on adds its value (``LOSS_TERMS``; a term may give none, e.g. pitch without targets).
        A failure in the LM block raises :class:`LMBlockError` naming the part (no silent zeroing).
        """
        device_type = input_values.device.type
        dtype = self.codec_autocast_dtype
        with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self.codec(input_values=input_values, codebook_domain=self.codebook_domain)
            inputs = TermInputs(input_values, out, lambda wav: self.codec.encode(wav, codebook_domain=self.codebook_domain),
                                self.training, batch)
            passes = {t.name: t.codec_pass(self.term_parts[t.name], inputs) for t in self.terms if t.codec_pass}
        with torch.autocast(device_type, enabled=False):  # explicit precision after the codec, as the recipe
            result = self._losses_after_codec(out, input_values, text_input_ids, text_attention_mask, tau,
                                              run_lm, run_sa, run_bridge)
            inputs.recon = result["recon"]
            for term in self.terms:
                inputs.codec_pass = passes.get(term.name)
                value = term.compute(self.term_parts[term.name], inputs)
                if value is not None:
                    result[term.name] = value
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
            if self.training:  # the bank is in this graph: pushed only after backward (``push_sa_bank``)
                result["sa_text_features"] = text.detach().float()
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
