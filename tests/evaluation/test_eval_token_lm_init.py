"""Warm start of a token LM from a pretrained causal LM: layouts, row schemes identical across codecs, layer cut,
artifact rows, no remote code, and a warm-started run end to end with seeds and resume."""

from __future__ import annotations

import json

import pytest
import torch

from code_stand_ins import CyclicCodec, items
from llmcodec.evaluation.token_lm import run_token_lm
from llmcodec.evaluation.token_lm_init import WarmStart, build_warm_lm, code_rows
from llmcodec.evaluation.token_lm_model import TokenLMConfig

TEXT_VOCAB = 100


@pytest.fixture(scope="module")
def text_lm(tmp_path_factory):
    """A tiny random Llama causal LM saved as a pretrained folder (3 layers, 100 text rows, tied)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=TEXT_VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    folder = tmp_path_factory.mktemp("text-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def _text_rows(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder).get_input_embeddings().weight.detach()


def test_fresh_rows_are_the_same_for_every_codec(text_lm) -> None:
    """Code rows must not depend on which codec is trained nor on what ran before (the global RNG)."""
    torch.manual_seed(1)
    torch.randn(123)  # e.g. one codec's data pipeline consumed random numbers
    first, _ = build_warm_lm(WarmStart(str(text_lm), "replace", "fresh"), 64, seed=0, codebook=torch.randn(64, 8))
    torch.manual_seed(7)
    torch.randn(5)
    second, _ = build_warm_lm(WarmStart(str(text_lm), "replace", "fresh"), 64, seed=0, codebook=torch.randn(64, 8))
    extended, vocab = build_warm_lm(WarmStart(str(text_lm), "extend", "fresh"), 64, seed=0)
    rows = first.get_input_embeddings().weight[:64]
    assert torch.equal(rows, second.get_input_embeddings().weight[:64])
    assert torch.equal(rows, extended.get_input_embeddings().weight[vocab.first_id : vocab.end_id])
    other_seed, _ = build_warm_lm(WarmStart(str(text_lm), "replace", "fresh"), 64, seed=1)
    assert not torch.equal(rows, other_seed.get_input_embeddings().weight[:64])


def test_replace_layout_keeps_the_first_layers_and_the_bos_row(text_lm) -> None:
    from transformers import AutoModelForCausalLM

    pretrained = AutoModelForCausalLM.from_pretrained(text_lm)
    model, vocab = build_warm_lm(WarmStart(str(text_lm), "replace", "mean", layers=2), 64, seed=0)
    assert (vocab.first_id, vocab.bos_id, vocab.pad_id, vocab.vocab_size) == (0, 64, 65, 66)
    assert model.config.num_hidden_layers == 2 and len(model.model.layers) == 2
    assert model.get_output_embeddings().weight.shape == (66, 32)
    for kept, original in zip(model.model.layers, pretrained.model.layers[:2]):
        for a, b in zip(kept.parameters(), original.parameters()):
            assert torch.equal(a, b)
    text = pretrained.get_input_embeddings().weight
    assert torch.equal(model.get_input_embeddings().weight[64], text[1])  # BOS starts as the text LM's BOS
    logits = model(input_ids=torch.tensor([[64, 3, 5]])).logits
    assert logits.shape == (1, 3, 66)
    with pytest.raises(ValueError, match="layers"):
        build_warm_lm(WarmStart(str(text_lm), "replace", "fresh", layers=9), 64)


def test_extend_layout_keeps_the_text_rows(text_lm) -> None:
    text = _text_rows(text_lm)
    model, vocab = build_warm_lm(WarmStart(str(text_lm), "extend", "fresh"), 64, seed=0)
    assert (vocab.first_id, vocab.vocab_size, vocab.bos_id, vocab.pad_id, vocab.kind) == (TEXT_VOCAB, 164, 1, 2, "extend")
    assert torch.equal(model.get_input_embeddings().weight[:TEXT_VOCAB], text)


def test_codebook_rows_follow_codebook_similarity() -> None:
    text = torch.randn(50, 32)
    codebook = torch.randn(16, 8)
    codebook[1] = codebook[0] * 3.0  # same direction: the cosine quantizer treats them as the same code
    rows = code_rows("codebook", 16, text, seed=0, codebook=codebook)
    near = (rows[0] - rows[1]).norm()
    far = torch.stack([(rows[0] - rows[j]).norm() for j in range(2, 16)]).min()
    assert near < 0.5 * far
    assert torch.equal(rows, code_rows("codebook", 16, text, seed=0, codebook=codebook.clone()))
    with pytest.raises(ValueError, match="codebook"):
        code_rows("codebook", 16, text, seed=0)


def test_artifact_rows_are_copied(text_lm, tmp_path) -> None:
    from transformers import AutoModelForCausalLM

    artifact = tmp_path / "artifact"
    lm = AutoModelForCausalLM.from_pretrained(text_lm)
    lm.resize_token_embeddings(TEXT_VOCAB + 64, mean_resizing=False)
    trained = torch.randn(64, 32)
    with torch.no_grad():
        lm.get_input_embeddings().weight[TEXT_VOCAB:] = trained
    lm.save_pretrained(artifact)
    (artifact / "audio_tokens_meta.json").write_text(json.dumps({"prefix": "<CODEC_", "n_audio_tokens": 64,
                                                                 "first_id": TEXT_VOCAB}))
    model, vocab = build_warm_lm(WarmStart(str(text_lm), "replace", f"artifact:{artifact}"), 64)
    assert torch.allclose(model.get_input_embeddings().weight[:64], trained)
    # The artifact as the init LM itself: extend reuses its <CODEC_n> ids and keeps its rows.
    model, vocab = build_warm_lm(WarmStart(str(artifact), "extend", f"artifact:{artifact}"), 64)
    assert (vocab.first_id, vocab.vocab_size) == (TEXT_VOCAB, TEXT_VOCAB + 64)
    assert torch.allclose(model.get_input_embeddings().weight[TEXT_VOCAB:], trained)


def test_folder_code_is_never_run(text_lm, tmp_path) -> None:
    import shutil

    folder = tmp_path / "remote"
    shutil.copytree(text_lm, folder)
    marker = tmp_path / "ran"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil.Evil", "AutoConfig": "evil.EvilConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    build_warm_lm(WarmStart(str(folder), "replace", "fresh"), 16)
    assert not marker.exists()


def test_warm_started_run_with_seeds_resumes(text_lm, tmp_path) -> None:
    config = TokenLMConfig(epochs=6, batch_size=8, learning_rate=1e-2, max_codes=32, eval_fraction=0.25,
                           anchors_per_sequence=4)
    warm = WarmStart(str(text_lm), "replace", "fresh", layers=1)
    result = run_token_lm(CyclicCodec(), items(12), tmp_path / "a", config, progress=False, warm=warm, seeds=[0, 1],
                          resamples=200)
    seeds = result["seeds"]["per_seed"]
    assert [s["seed"] for s in seeds] == [0, 1]
    assert all(s["loss_before_training"] > 3.5 for s in seeds)  # ln 64 = 4.16 before training
    assert result["loss"] < 1.5 and result["intervals"]["gain_over_unigram"]["lo"] > 0, result["intervals"]
    assert (tmp_path / "a" / "lm" / "token_lm_vocab.json").is_file() and (tmp_path / "a" / "lm-seed1").is_dir()
    assert result["warm_start"]["layers"] == 1 and "warm-started" in (tmp_path / "a" / "token_lm.md").read_text()
    stamp = (tmp_path / "a" / "seeds" / "seed1.json").stat().st_mtime_ns
    again = run_token_lm(CyclicCodec(), items(12), tmp_path / "a", config, progress=False, warm=warm, seeds=[0, 1],
                         resamples=200)
    assert (tmp_path / "a" / "seeds" / "seed1.json").stat().st_mtime_ns == stamp  # reused, not retrained
    assert again["loss"] == pytest.approx(result["loss"])


def test_codec_extractors_expose_their_codebooks() -> None:
    """`--init-rows codebook` reads the quantizer's table: ours and the reference package's (``_codebook``)."""
    from codec_testing import reference_auv, tiny_model
    from llmcodec.evaluation.token_lm_data import AUVCodes, LLMCodecCodes

    ours = LLMCodecCodes(tiny_model())
    assert torch.equal(ours.codebook_vectors(), ours.model.quantizer.codebook.weight)
    reference = AUVCodes(reference_auv())
    assert reference.codebook_vectors().shape == (reference.codebook_size, 8)
    assert ours.frame_rate == reference.frame_rate == 50
