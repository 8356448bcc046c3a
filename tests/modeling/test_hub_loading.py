"""`load_codec` with Hub repo ids, with the Hub replaced by a local fake (no network in tests)."""

import json
from pathlib import Path

import pytest
import torch

import llmcodec.hub as hub
from codec_testing import assert_codes_match_reference, fake_hub, fake_swivid_auv, reference_auv, speechlike, tiny_model


def test_repo_with_qwen_config_and_raw_checkpoint_is_converted(tmp_path, monkeypatch):
    # Like voidful/llm-codec today: a Qwen3 config.json at the root and the codec only as llm-codec.pt.
    repo = tmp_path / "voidful--llm-codec"
    repo.mkdir()
    (repo / "config.json").write_text(json.dumps({"model_type": "qwen3", "vocab_size": 172149}))
    reference = reference_auv(released=False, seed=4)
    torch.save(reference.state_dict(), repo / "llm-codec.pt")
    calls = fake_hub(monkeypatch, {"voidful/llm-codec": repo})
    model = hub.load_codec("voidful/llm-codec")
    assert ("voidful/llm-codec", "llm-codec.pt") in calls
    assert_codes_match_reference(model, reference)


def test_swivid_auv_resolves_straight_to_its_auv_pt(tmp_path, monkeypatch):
    # The recipe's base: SWivid/AUV holds the raw AUV checkpoint auv.pt (no LLM-Codec config.json).
    reference, calls = fake_swivid_auv(tmp_path, monkeypatch, seed=6)
    model = hub.load_codec("SWivid/AUV")
    assert calls == [("SWivid/AUV", "auv.pt")]  # a known raw-checkpoint repo: no probing of other names
    assert_codes_match_reference(model, reference)


def test_exported_repo_loads_with_installed_classes(tmp_path, monkeypatch):
    original = tiny_model(seed=41)
    repo = hub.save_codec_folder(original, tmp_path / "exported")
    fake_hub(monkeypatch, {"someone/exported": repo})
    model = hub.load_codec("someone/exported")
    assert type(model).__module__ == "llmcodec.modeling.modeling_llmcodec"  # never the downloaded code
    assert not model.training
    clip = speechlike(6000, seed=41)[None, None]
    with torch.inference_mode():
        expected = original.encode(clip)
        loaded = model.encode(clip)
        assert torch.equal(loaded.audio_codes, expected.audio_codes)
        assert torch.equal(model.decode(loaded.audio_codes).audio_values, original.decode(expected.audio_codes).audio_values)


def test_repo_without_codec_is_refused(tmp_path, monkeypatch):
    repo = tmp_path / "plain-lm"
    repo.mkdir()
    (repo / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    fake_hub(monkeypatch, {"someone/plain-lm": repo})
    with pytest.raises(hub.ModelLoadError, match="neither an LLM-Codec config.json nor"):
        hub.load_codec("someone/plain-lm")


@pytest.mark.parametrize("spec", ["exportd/", "./exportd", "exported/modle", "exportd/model.pt", "a/b/c", "~/nowhere/x"])
def test_a_missing_local_path_is_not_tried_on_the_hub(tmp_path, monkeypatch, spec):
    (tmp_path / "exported").mkdir()
    monkeypatch.chdir(tmp_path)
    calls = fake_hub(monkeypatch, {})
    with pytest.raises(hub.ModelLoadError, match=f"^{spec}: no such file or folder$"):
        hub.load_codec(spec)
    assert calls == []


def _unreachable_hub(monkeypatch, offline: bool, cached: dict[str, Path] | None = None):
    """hf_hub_download as it behaves without a network: what is cached comes back, the rest raises."""
    import huggingface_hub.constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    def fake_download(repo_id, filename, **kwargs):
        if cached and (cached.get(repo_id, Path("/nonexistent")) / filename).is_file():
            return str(cached[repo_id] / filename)
        try:
            raise ConnectionError("[Errno 101] Network is unreachable")
        except ConnectionError as cause:  # huggingface_hub chains the network error like this
            raise LocalEntryNotFoundError("cannot find the requested files in the local cache") from cause

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", offline)


def test_an_unreachable_hub_is_not_reported_as_missing_files(tmp_path, monkeypatch):
    _unreachable_hub(monkeypatch, offline=False)
    with pytest.raises(hub.ModelLoadError) as raised:
        hub.load_codec("voidful/llm-codec")
    message = str(raised.value)
    assert "cannot reach the Hugging Face Hub" in message and "ConnectionError" in message
    assert "HF_HUB_OFFLINE=1" in message and "local folder" in message and "neither" not in message
    # The root config.json cached from an earlier run, but not the raw checkpoint: still "unreachable".
    repo = tmp_path / "voidful--llm-codec"
    repo.mkdir()
    (repo / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    _unreachable_hub(monkeypatch, offline=True, cached={"voidful/llm-codec": repo})
    with pytest.raises(hub.ModelLoadError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE is set"):
        hub.load_codec("voidful/llm-codec")


def test_an_unknown_hub_repo_says_so(monkeypatch):
    import httpx2
    from huggingface_hub.errors import RepositoryNotFoundError

    def fake_download(repo_id, filename, **kwargs):
        response = httpx2.Response(404, request=httpx2.Request("GET", f"https://huggingface.co/{repo_id}"))
        raise RepositoryNotFoundError("404 Client Error: Repository Not Found", response=response)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    with pytest.raises(hub.ModelLoadError, match="no such local file or folder, and no such Hub repo"):
        hub.load_codec("someone/typo")


def test_non_finite_weights_are_refused_at_load_naming_the_model(tmp_path):
    model = tiny_model(seed=42)
    with torch.no_grad():
        model.decoder.istft_head.projection.weight[0, 0] = float("nan")
    folder = hub.save_codec_folder(model, tmp_path / "nan-istft")
    with pytest.raises(hub.ModelLoadError, match=f"model {folder}: non-finite .* decoder.istft_head.projection.weight"):
        hub.load_codec(folder)
    reference = reference_auv(released=False, seed=4)
    state = reference.state_dict()
    state["token2wav.istft_head.out.bias"][3] = float("inf")
    torch.save(state, tmp_path / "llm-codec.pt")
    with pytest.raises(hub.ModelLoadError, match="non-finite .* decoder.istft_head.projection.bias"):
        hub.load_codec(tmp_path / "llm-codec.pt")


def test_broken_exported_folders_name_the_broken_file(tmp_path):
    folder = hub.save_codec_folder(tiny_model(seed=43), tmp_path / "exported")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(hub.ModelLoadError, match=f"{weights}: cannot read the weights .*truncated or corrupt"):
        hub.load_codec(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(hub.ModelLoadError, match=r"config.json: invalid config.json \(Expecting property name"):
        hub.load_codec(folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(hub.ModelLoadError, match="invalid config.json .a JSON object expected, got list"):
        hub.load_codec(folder)


def test_a_bare_safetensors_file_gets_our_own_message(tmp_path):
    folder = hub.save_codec_folder(tiny_model(seed=44), tmp_path / "exported")
    with pytest.raises(hub.ModelLoadError, match=f"pass the folder {folder}") as raised:
        hub.load_codec(folder / "model.safetensors")
    assert "weights_only" not in str(raised.value)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"encoder_num_layers": 1_000_000}, "encoder_num_layers is 1000000 but the weights hold 2 encoder layers"),
        ({"decoder_num_layers": 3}, "decoder_num_layers is 3 but the weights hold 2 decoder layers"),
        ({"hidden_size": 128}, "encoder.stft_frontend.projection.weight is [64, 1282] in the weights, [128, 1282] by the config"),
        ({"codebook_size": 512}, "quantizer.codebook.weight is [256, 8] in the weights, [512, 8] by the config"),
    ],
)
def test_a_config_that_does_not_fit_its_weights_is_one_line_before_the_model_is_built(tmp_path, capsys, change, message):
    import time

    import soundfile

    from llmcodec.cli import main

    folder = hub.save_codec_folder(tiny_model(seed=34), tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, **change)))
    soundfile.write(tmp_path / "clip.wav", speechlike(3200).numpy(), 16000)
    start = time.perf_counter()
    code = main(["encode", str(tmp_path / "clip.wav"), "--model", str(folder), "--output-dir", str(tmp_path / "out")])
    assert time.perf_counter() - start < 30  # a million layers are never built
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"llmcodec: error: {folder / 'config.json'}: does not match the weights") and message in lines[0]
