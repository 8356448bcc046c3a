"""LLMCodecTrainingModule: LM-block failures stop the run naming the part (no silent FTP/SA zeroing),
the SA text of an eval forward never reaches the bank, and ``codebook_domain`` restricts the VQ search."""

from __future__ import annotations

import pytest
import torch

from llmcodec.training.trainer import TrainingSetupError, build_components
from trainer_testing import TINY_CODEC, tiny_args

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tokenizer():
    from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer

    tok, _ = extend_tokenizer(load_offline_qwen3_tokenizer(), n_audio_tokens=64, warn_non_qwen=False)
    return tok


@pytest.fixture(scope="module")
def module(tokenizer, tmp_path_factory):
    return build_components(*tiny_args(tmp_path_factory.mktemp("m")), tokenizer=tokenizer).module


def _inputs(tokenizer):
    enc = tokenizer(["hello world", "the fox"], return_tensors="pt", padding=True, padding_side="right")
    return dict(input_values=torch.randn(2, 1, 8000) * 0.1, text_input_ids=enc["input_ids"],
                text_attention_mask=enc["attention_mask"], tau=0.7)


def _failing_lm(monkeypatch, module, error, on_text: bool):
    real = module.lm.hidden_states

    def hidden_states(**kwargs):
        if ("input_ids" in kwargs) == on_text:
            raise error
        return real(**kwargs)

    monkeypatch.setattr(module.lm, "hidden_states", hidden_states)


def test_oom_in_the_ftp_lm_forward_stops_the_run_with_part_and_memory(module, tokenizer, monkeypatch):
    _failing_lm(monkeypatch, module, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), on_text=False)
    with pytest.raises(RuntimeError) as raised:
        module.train()(**_inputs(tokenizer))
    message = str(raised.value)
    assert "frozen LM forward for FTP" in message and "out of memory" in message
    assert "RSS" in message and "GiB" in message  # CPU: the process's memory (CUDA: allocated / reserved)
    assert isinstance(raised.value.__cause__, torch.OutOfMemoryError)


def test_any_error_in_the_sa_text_pass_stops_the_run_naming_it(module, tokenizer, monkeypatch):
    _failing_lm(monkeypatch, module, RuntimeError("shape '[2, -1]' is invalid"), on_text=True)
    with pytest.raises(RuntimeError, match=r"SA text pass.*shape '\[2, -1\]' is invalid"):
        module.train()(**_inputs(tokenizer))


def test_an_eval_forward_leaves_no_sa_text_for_the_bank(module, tokenizer):
    module.eval()
    with torch.no_grad():
        out = module(**_inputs(tokenizer))
    assert "sa_cos" in out and "sa_text_features" not in out
    module.train()
    out = module(**_inputs(tokenizer))
    assert out["sa_text_features"].shape[1] == 2  # a training forward hands it on (pushed after backward)
    module.push_sa_bank(out["sa_text_features"])


def test_codebook_domain_restricts_the_vq_search_in_training(tokenizer, tmp_path):
    codec = dict(TINY_CODEC, codebook_partitions={"speech": [0, 16], "other": [16, 64]})
    m = build_components(*tiny_args(tmp_path, codec_config=codec, codebook_domain="speech"), tokenizer=tokenizer).module
    codes = m.train()(input_values=torch.randn(2, 1, 8000) * 0.3, tau=0.7, run_lm=False)["codes"]
    assert int(codes.max()) < 16
    free = build_components(*tiny_args(tmp_path, codec_config=codec), tokenizer=tokenizer).module
    assert int(free.train()(input_values=torch.randn(2, 1, 8000) * 0.3, run_lm=False)["codes"].max()) >= 16
    with pytest.raises(TrainingSetupError, match="codebook_domain"):
        build_components(*tiny_args(tmp_path, codec_config=codec, codebook_domain="birdsong"), tokenizer=tokenizer)
