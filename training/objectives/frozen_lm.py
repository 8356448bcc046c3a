"""A frozen Hugging Face causal LM whose only trainable weights are the audio-token embedding rows.

The recipe trains only the ``<CODEC_i>`` rows of the (tied) input embedding matrix and
keeps the rest of the LM frozen. Upstream makes the whole matrix ``requires_grad`` and relies on the
other rows getting no gradient; that breaks as soon as the optimizer has decoupled weight decay
(AdamW decays every row of a parameter whatever its gradient) or momentum from earlier updates.

``FrozenCausalLM`` therefore freezes **every** LM parameter and keeps the audio rows in a separate
trainable ``audio_embeddings`` parameter ``(codebook_size, H)``:

* a forward hook on the LM's input-embedding module replaces the looked-up rows of audio ids with
  ``audio_embeddings``, so ``lm(input_ids=...)`` sees the trained rows;
* ``audio_embedding_rows()`` returns the same parameter for the Gumbel bridge (``one_hot @ rows``);
* no other row of the LM can move, whatever the optimizer; the tests check bit-identity under
  AdamW with weight decay 0.1;
* ``sync_audio_rows_to_lm()`` writes the trained rows back into the LM (for export, or before
  reading audio-token logits from the tied ``lm_head``, which otherwise still holds the initial rows).

Hidden-state semantics (the recipe depends on them; pinned by the tests for transformers
5.24): with
``output_hidden_states=True`` a model with L layers returns L + 1 tensors; ``hidden_states[0]`` is the
embedding output, ``hidden_states[i]`` the output of layer i for i < L, and ``hidden_states[L]`` the
**final-norm** output of layer L (the tensor ``lm_head`` sees).

Training only needs those hidden states (FTP heads and SA read them; nothing reads the LM's logits), so
``hidden_states()`` runs the LM's **decoder** (``get_decoder()``, the base model without ``lm_head``): no
``(B, T, vocab)`` logits tensor is built (with a 49k-172k vocabulary it is the largest activation of the
LM forward). ``forward`` still runs the whole causal LM, for callers that want logits.

Any HF causal LM whose decoder keeps its blocks in a ``layers`` ``ModuleList`` (Llama, Qwen2/3, Mistral,
Gemma, ...) works; ``truncate_decoder_layers(lm, n)`` keeps only its first ``n`` blocks (a cheaper frozen
LM for CPU runs; the final norm then follows block ``n``, and ``config.num_hidden_layers`` says ``n``, so
the SA layer range maps onto the truncated depth).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["FrozenCausalLM", "decoder_of", "find_audio_token_range", "truncate_decoder_layers"]


def decoder_of(lm: nn.Module) -> nn.Module:
    """The LM's decoder (base model without ``lm_head``): ``get_decoder()``, else ``base_model``."""
    decoder = lm.get_decoder() if hasattr(lm, "get_decoder") else getattr(lm, "base_model", None)
    if decoder is None or decoder is lm:
        raise ValueError(f"{type(lm).__name__} exposes no decoder (get_decoder()/base_model) separate from its lm_head")
    return decoder


def _decoder_layers(lm: nn.Module) -> nn.ModuleList:
    layers = getattr(decoder_of(lm), "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"{type(lm).__name__}: its decoder keeps no `layers` ModuleList, so it cannot be truncated")
    return layers


def truncate_decoder_layers(lm: nn.Module, num_layers: int) -> nn.Module:
    """Keep only the first ``num_layers`` decoder blocks of ``lm`` (in place; returns ``lm``).

    ``config.num_hidden_layers`` (and a per-layer ``layer_types`` list) are cut to match, so the hidden
    states, ``FrozenCausalLM.num_hidden_layers`` and the SA layer range all describe the truncated LM.
    ``num_layers`` equal to the current depth is a no-op; more, or fewer than 1, is a ``ValueError``."""
    layers = _decoder_layers(lm)
    depth = len(layers)
    if not 1 <= num_layers <= depth:
        raise ValueError(f"lm_num_layers must be between 1 and the LM's {depth} layers, got {num_layers}")
    if num_layers == depth:
        return lm
    decoder = decoder_of(lm)
    decoder.layers = nn.ModuleList(list(layers)[:num_layers])
    configs = {id(c): c for c in (lm.config, decoder.config, lm.config.get_text_config())}
    for config in configs.values():
        config.num_hidden_layers = num_layers
        if isinstance(getattr(config, "layer_types", None), list):
            config.layer_types = config.layer_types[:num_layers]
    return lm


def find_audio_token_range(tokenizer: Any, codebook_size: int = 20_480, token_prefix: str = "<CODEC_") -> int:
    """Id of ``f"{token_prefix}0>"`` after checking that all ``codebook_size`` audio tokens exist and
    have contiguous ids ``first .. first + codebook_size - 1``. Raises ``ValueError`` otherwise."""
    names = [f"{token_prefix}{i}>" for i in range(codebook_size)]
    ids = tokenizer.convert_tokens_to_ids(names)
    unk = getattr(tokenizer, "unk_token_id", None)
    missing = [n for n, i in zip(names, ids) if i is None or (unk is not None and i == unk)]
    if missing:
        raise ValueError(
            f"tokenizer has no codec tokens: {len(missing)} of {codebook_size} '{token_prefix}i>' tokens are missing "
            f"(first missing: {missing[0]!r}); extend the tokenizer first"
        )
    first = ids[0]
    if ids != list(range(first, first + codebook_size)):
        raise ValueError(f"codec token ids are not contiguous starting at {first}; rebuild the extended tokenizer")
    return first


class FrozenCausalLM(nn.Module):
    """Frozen causal LM + trainable audio-token embedding rows.

    Args:
        lm: any HF causal LM (``get_input_embeddings()`` must be an ``nn.Embedding``) whose vocabulary
            already contains the audio tokens.
        first_audio_token_id: id of ``<CODEC_0>``; audio ids are ``first + arange(codebook_size)``.
        codebook_size: number of audio tokens (20,480 in the recipe).
        audio_rows_dtype: dtype of the trainable rows; ``None`` keeps the LM embedding's dtype (the
            recipe trains bf16 rows without an fp32 master copy); pass ``torch.float32`` for one.
    """

    def __init__(
        self,
        lm: nn.Module,
        first_audio_token_id: int,
        codebook_size: int = 20_480,
        audio_rows_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        embedding = lm.get_input_embeddings()
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"the LM's input embeddings must be an nn.Embedding, got {type(embedding).__name__}")
        if codebook_size <= 0 or first_audio_token_id < 0:
            raise ValueError(
                f"need codebook_size > 0 and first_audio_token_id >= 0; got {codebook_size}, {first_audio_token_id}"
            )
        vocab_rows = embedding.num_embeddings
        if first_audio_token_id + codebook_size > vocab_rows:
            raise ValueError(
                f"tokenizer/LM size mismatch: audio ids {first_audio_token_id}..{first_audio_token_id + codebook_size - 1} "
                f"need {first_audio_token_id + codebook_size} embedding rows but the LM has {vocab_rows}; "
                "resize the LM's token embeddings to the extended tokenizer"
            )
        self.lm = lm
        self.first_audio_token_id = int(first_audio_token_id)
        self.codebook_size = int(codebook_size)
        for p in lm.parameters():
            p.requires_grad_(False)
        rows = embedding.weight.detach()[first_audio_token_id : first_audio_token_id + codebook_size]
        self.audio_embeddings = nn.Parameter(rows.clone().to(audio_rows_dtype or rows.dtype))
        self.register_buffer(
            "audio_token_ids", torch.arange(codebook_size, device=rows.device) + first_audio_token_id, persistent=False
        )
        self._hook = embedding.register_forward_hook(self._substitute_audio_rows)
        self.lm.eval()  # frozen body: no dropout, deterministic features

    @classmethod
    def from_tokenizer(
        cls,
        lm: nn.Module,
        tokenizer: Any,
        codebook_size: int = 20_480,
        token_prefix: str = "<CODEC_",
        audio_rows_dtype: torch.dtype | None = None,
    ) -> "FrozenCausalLM":
        """Locate the audio tokens in an extended tokenizer, check it against the LM, and wrap the LM."""
        first = find_audio_token_range(tokenizer, codebook_size, token_prefix)
        rows = lm.get_input_embeddings().num_embeddings
        if len(tokenizer) > rows:
            raise ValueError(
                f"tokenizer/LM size mismatch: the tokenizer has {len(tokenizer)} tokens but the LM only {rows} embedding rows"
            )
        return cls(lm, first, codebook_size, audio_rows_dtype)

    # -- embedding substitution --------------------------------------------------------------------
    def _substitute_audio_rows(self, module: nn.Module, args: tuple, output: Tensor) -> Tensor:
        input_ids = args[0]
        offset = input_ids - self.first_audio_token_id
        is_audio = (offset >= 0) & (offset < self.codebook_size)  # no early exit: `any()` would read the device
        trained = self.audio_embeddings[offset.clamp(0, self.codebook_size - 1)].to(output.dtype)
        return torch.where(is_audio.unsqueeze(-1), trained, output)

    def audio_embedding_rows(self) -> Tensor:
        """Trainable audio rows ``(codebook_size, H)``, inside the autograd graph (row i is ``<CODEC_i>``)."""
        return self.audio_embeddings

    def output_embedding_audio_rows(self) -> Tensor:
        """Detached copy of the audio rows of the LM's output embedding ``(codebook_size, H)`` (FTP head init).

        With tied embeddings these are the *initial* input rows (random for new tokens: the recipe's FTP heads start from these)."""
        head = self.lm.get_output_embeddings()
        if head is None:
            raise ValueError("the LM has no output embedding (lm_head)")
        first = self.first_audio_token_id
        return head.weight.detach()[first : first + self.codebook_size].clone()

    @property
    def hidden_size(self) -> int:
        return self.audio_embeddings.shape[1]

    @property
    def num_hidden_layers(self) -> int:
        """Decoder blocks actually present (``len(decoder.layers)``; the config's count if there is no list)."""
        try:
            return len(_decoder_layers(self.lm))
        except ValueError:
            return int(self.lm.config.get_text_config().num_hidden_layers)

    # -- forward / train mode ----------------------------------------------------------------------
    def forward(self, inputs_embeds: Tensor | None = None, **kwargs: Any) -> Any:
        """Call the whole LM (logits included); ``inputs_embeds`` ``(B, T, H)`` is cast to the LM's dtype."""
        if inputs_embeds is not None:
            inputs_embeds = inputs_embeds.to(self.lm.get_input_embeddings().weight.dtype)
        return self.lm(inputs_embeds=inputs_embeds, **kwargs)

    def hidden_states(
        self, inputs_embeds: Tensor | None = None, input_ids: Tensor | None = None, attention_mask: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        """The L + 1 hidden states ``(B, T, H)`` (semantics in the module docstring) from the decoder alone:
        ``lm_head`` is not run, so no ``(B, T, vocab)`` logits exist. Give ``inputs_embeds`` or ``input_ids``."""
        if inputs_embeds is not None:
            inputs_embeds = inputs_embeds.to(self.lm.get_input_embeddings().weight.dtype)
        out = decoder_of(self.lm)(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                  output_hidden_states=True, use_cache=False)
        return tuple(out.hidden_states)

    def train(self, mode: bool = True) -> "FrozenCausalLM":
        super().train(mode)
        self.lm.eval()
        return self

    # -- state -------------------------------------------------------------------------------------
    @torch.no_grad()
    def sync_audio_rows_to_lm(self) -> None:
        """Copy ``audio_embeddings`` into the LM's input embedding (and an untied lm_head) rows."""
        first, n = self.first_audio_token_id, self.codebook_size
        embedding = self.lm.get_input_embeddings().weight
        embedding[first : first + n] = self.audio_embeddings.to(embedding.dtype)
        head = self.lm.get_output_embeddings()
        if head is not None and head.weight is not embedding and head.weight.shape == embedding.shape:
            head.weight[first : first + n] = self.audio_embeddings.to(head.weight.dtype)

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Only what training changes (the audio rows) - what a checkpoint needs besides the base LM."""
        return {"audio_embeddings": self.audio_embeddings.detach().clone()}

    def load_trainable_state_dict(self, state: dict[str, Tensor]) -> None:
        rows = state["audio_embeddings"]
        if rows.shape != self.audio_embeddings.shape:
            raise ValueError(
                f"audio_embeddings shape mismatch: checkpoint {tuple(rows.shape)} vs model {tuple(self.audio_embeddings.shape)}"
            )
        with torch.no_grad():
            self.audio_embeddings.copy_(rows)
