"""A tiny non-Qwen LM pair built offline (no tests here): a byte-level BPE tokenizer with SmolLM2's special
tokens (bos ``<|im_start|>``, eos ``<|im_end|>``, unk ``<|endoftext|>``, no pad token) and a random tied
``LlamaForCausalLM`` over its vocabulary. Stands in for SmolLM2-135M in fast tests."""

from __future__ import annotations

from pathlib import Path

import torch

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "a speech codec turns audio into tokens that a language model can read",
    "hello world, this is a tiny byte level tokenizer",
    "she sells sea shells by the sea shore",
]


def make_tiny_bpe_tokenizer(vocab_size: int = 320):
    """Byte-level BPE trained on a few sentences (~320 tokens, real merges), SmolLM2-style specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(SENTENCES * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   unk_token="<|endoftext|>")


def make_tiny_llama(vocab_size: int, num_layers: int = 6, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=num_layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=None)
    return LlamaForCausalLM(config).eval()


def save_tiny_llama_folder(folder: Path, num_layers: int = 6) -> Path:
    """A normal local LM folder (safetensors + tokenizer), like `llmcodec lm smollm2` writes."""
    tokenizer = make_tiny_bpe_tokenizer()
    make_tiny_llama(len(tokenizer), num_layers).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
