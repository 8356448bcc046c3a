"""`load_codec` with Hub repo ids, with the Hub replaced by a local fake (no network in tests)."""

import json
from pathlib import Path

import pytest
import torch
from huggingface_hub.errors import EntryNotFoundError

import llmcodec.hub as hub
from codec_testing import reference_auv, speechlike, tiny_model


def _fake_hub(monkeypatch, repos: dict[str, Path]):
    calls = []

    def fake_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename))
        path = repos[repo_id] / filename
        if not path.is_file():
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(path)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    return calls


def test_repo_with_qwen_config_and_raw_checkpoint_is_converted(tmp_path, monkeypatch):
    # Like voidful/llm-codec today: a Qwen3 config.json at the root and the codec only as llm-codec.pt.
    repo = tmp_path / "voidful--llm-codec"
    repo.mkdir()
    (repo / "config.json").write_text(json.dumps({"model_type": "qwen3", "vocab_size": 172149}))
    reference = reference_auv(released=False, seed=4)
    torch.save(reference.state_dict(), repo / "llm-codec.pt")
    calls = _fake_hub(monkeypatch, {"voidful/llm-codec": repo})
    model = hub.load_codec("voidful/llm-codec")
    assert ("voidful/llm-codec", "llm-codec.pt") in calls
    clip = speechlike(6000)
    with torch.inference_mode():
        expected = reference.tokenizer(clip[None])["tokens"][0]
        assert torch.equal(model.encode(clip[None, None]).audio_codes, expected)


def test_exported_repo_loads_with_installed_classes(tmp_path, monkeypatch):
    repo = hub.save_codec_folder(tiny_model(seed=41), tmp_path / "exported")
    _fake_hub(monkeypatch, {"someone/exported": repo})
    model = hub.load_codec("someone/exported")
    assert type(model).__module__ == "llmcodec.modeling.modeling_llmcodec"  # never the downloaded code


def test_repo_without_codec_is_refused(tmp_path, monkeypatch):
    repo = tmp_path / "plain-lm"
    repo.mkdir()
    (repo / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    _fake_hub(monkeypatch, {"someone/plain-lm": repo})
    with pytest.raises(hub.ModelLoadError, match="neither an LLM-Codec config.json nor"):
        hub.load_codec("someone/plain-lm")
