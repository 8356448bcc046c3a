"""llmcodec.generation: audio-only constrained decoding, the sliding window past the LM's positions, streaming
callbacks, and reading the folders `llmcodec token-lm` writes."""

from __future__ import annotations

import pytest
import torch

from llmcodec.evaluation.token_lm_model import TokenLMConfig, build_lm
from llmcodec.tokenizer.mapping import AudioTokenMap
from llmcodec.generation import (
    AudioTokensOnlyLogitsProcessor,
    CodecLMError,
    SamplingConfig,
    generate_codes,
    load_codec_lm,
)
from token_lm_testing import TINY_LM_SIZES

N = 20480
TINY = dict(TINY_LM_SIZES, max_codes=40, k_max=3)  # 44 positions


@pytest.fixture(scope="module")
def token_lm_dir(tmp_path_factory):
    """An (untrained) LM saved exactly as `run_token_lm` saves it: save_pretrained + token_lm_vocab.json."""
    folder = tmp_path_factory.mktemp("tlm") / "lm"
    vocab = AudioTokenMap.for_token_lm(N)
    build_lm(TokenLMConfig(**TINY), vocab).save_pretrained(folder)
    vocab.save_token_lm(folder)
    return folder


def prefer_text(lm):
    """Makes the LM's favourite tokens BOS / PAD (non-audio) by a large margin."""
    return lm.model.lm_head.register_forward_hook(
        lambda module, inputs, logits: logits.index_add(-1, torch.tensor([N, N + 1]), torch.full((*logits.shape[:-1], 2), 1e4))
    )


def test_processor_keeps_only_audio_scores():
    scores = torch.randn(2, 50)
    out = AudioTokensOnlyLogitsProcessor(first_id=10, n_codes=30)(torch.zeros(2, 1, dtype=torch.long), scores)
    assert torch.equal(out[:, 10:40], scores[:, 10:40])
    assert torch.isneginf(out[:, :10]).all() and torch.isneginf(out[:, 40:]).all()
    with pytest.raises(ValueError, match="fewer than"):
        AudioTokensOnlyLogitsProcessor(10, 100)(torch.zeros(1, 1, dtype=torch.long), scores[:1])


@pytest.mark.parametrize("sampling", [SamplingConfig(temperature=0), SamplingConfig(temperature=1.0, top_k=5, top_p=0.9)])
def test_constrained_decoding_never_yields_a_non_audio_token(token_lm_dir, sampling):
    lm = load_codec_lm(token_lm_dir)
    assert (lm.kind, lm.first_id, lm.n_codes, lm.prefix_ids) == ("token-lm", 0, N, [N])
    hook = prefer_text(lm)
    try:
        prompt = torch.arange(12) * 7
        # Unconstrained, this LM emits its favourite non-audio tokens (so the check below can fail) ...
        ids = torch.tensor([[N, *prompt.tolist()]])
        free = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
                                 pad_token_id=N + 1, eos_token_id=None)[0, ids.shape[1]:]
        assert bool((free >= N).all())
        # ... constrained, every generated token is an audio code.
        codes = generate_codes(lm, prompt, 30, sampling)
        assert codes.shape == (30,) and bool(((codes >= 0) & (codes < N)).all())
    finally:
        hook.remove()


def test_without_the_constraint_the_text_token_is_caught(token_lm_dir, monkeypatch):
    lm = load_codec_lm(token_lm_dir)
    hook = prefer_text(lm)
    monkeypatch.setattr(AudioTokensOnlyLogitsProcessor, "__call__", lambda self, ids, scores: scores)
    try:
        with pytest.raises(RuntimeError, match="non-audio ids"):
            generate_codes(lm, torch.arange(5), 4, SamplingConfig(temperature=0))
    finally:
        hook.remove()


def test_sliding_window_past_the_lm_positions_and_streaming_callback(token_lm_dir, monkeypatch):
    lm = load_codec_lm(token_lm_dir)
    assert lm.max_positions == 44
    lengths, original = [], lm.model.generate

    def recording(input_ids, **kwargs):
        lengths.append(input_ids.shape[1] + kwargs["generation_config"].max_new_tokens)
        assert int(input_ids[0, 0]) == N  # every window starts with BOS, as the LM was trained
        return original(input_ids, **kwargs)

    monkeypatch.setattr(lm.model, "generate", recording)
    streamed = []
    codes = generate_codes(lm, torch.arange(30), 60, SamplingConfig(seed=1), on_code=streamed.append)
    assert codes.shape == (60,)
    assert len(lengths) > 1 and max(lengths) <= 44  # several windows, none past the positions
    assert torch.equal(torch.cat(streamed), codes)  # every code reaches the callback, in order
    again = generate_codes(lm, torch.arange(30), 60, SamplingConfig(seed=1))
    assert torch.equal(again, codes)  # seeded


def test_folders_that_are_not_codec_lms(tmp_path, token_lm_dir):
    with pytest.raises(CodecLMError, match="no such folder"):
        load_codec_lm(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text('{"model_type": "qwen3"}')
    with pytest.raises(CodecLMError, match="not a codec LM"):
        load_codec_lm(tmp_path / "plain")
    lm = load_codec_lm(token_lm_dir)
    with pytest.raises(CodecLMError, match="--text needs an LM artifact"):
        generate_codes(lm, torch.arange(5), 2, text="hello")
    with pytest.raises(CodecLMError, match="do not match"):
        generate_codes(lm, torch.tensor([N + 5]), 2)


# ------------------------------------------------------------------------------- no remote code


from remote_code_testing import answer_yes, plant_remote_code  # noqa: E402,F401 - the fixture is used by name


def test_token_lm_folder_with_custom_code_is_refused_without_running_it(token_lm_dir, tmp_path, answer_yes):
    import shutil

    folder = tmp_path / "custom"
    shutil.copytree(token_lm_dir, folder)
    (folder / "config.json").unlink()  # an unknown model type: only the custom code could load it
    plant_remote_code(folder, tmp_path / "marker")
    with pytest.raises(CodecLMError, match="cannot load a causal LM"):
        load_codec_lm(folder)
    assert answer_yes == [] and not (tmp_path / "marker").exists()


def test_known_model_type_with_an_auto_map_loads_the_installed_class(token_lm_dir, tmp_path, answer_yes):
    import shutil

    folder = plant_remote_code(tmp_path / "lm", tmp_path / "marker")  # creates config.json with an unknown type ...
    shutil.copytree(token_lm_dir, folder, dirs_exist_ok=True)  # ... which the real Qwen3 config replaces
    plant_remote_code(folder, tmp_path / "marker")  # auto_map on the Qwen3 config
    lm = load_codec_lm(folder)
    assert type(lm.model).__name__ == "Qwen3ForCausalLM"
    assert answer_yes == [] and not (tmp_path / "marker").exists()


def test_lm_artifact_with_a_custom_tokenizer_is_refused_without_running_it(tmp_path, answer_yes):
    from tokenizer_fixtures import make_tiny_byte_tokenizer

    from llmcodec.tokenizer import extend_tokenizer

    tokenizer, _ = extend_tokenizer(make_tiny_byte_tokenizer())
    tokenizer.save_pretrained(tmp_path / "artifact")
    plant_remote_code(tmp_path / "artifact", tmp_path / "marker")
    with pytest.raises(CodecLMError):
        load_codec_lm(tmp_path / "artifact")
    assert answer_yes == [] and not (tmp_path / "marker").exists()


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -0.5])
def test_sampling_refuses_a_temperature_that_is_not_a_finite_number_ge_0(temperature):
    with pytest.raises(ValueError, match="finite temperature"):
        SamplingConfig(temperature=temperature)
