"""Non-persistent buffers under meta-device init, save/load round trips, remote code in a fresh process."""

import json
import subprocess
import sys
import textwrap

import torch

from codec_testing import speechlike, tiny_config, tiny_model
from llmcodec.hub import save_codec_folder
from llmcodec.modeling import LLMCodecConfig, LLMCodecModel


def _buffers(model):
    return {name: buffer for name, buffer in model.named_buffers()}


def test_meta_device_init_rebuilds_buffers():
    reference = LLMCodecModel(tiny_config())
    with torch.device("meta"):
        model = LLMCodecModel(tiny_config())
    model = model.to_empty(device="cpu")
    model.init_weights()
    expected = _buffers(reference)
    for name, buffer in _buffers(model).items():
        if "running" in name or "num_batches" in name:
            continue
        assert torch.allclose(buffer, expected[name]), name
    assert torch.allclose(model.encoder.stft_frontend.window, torch.hann_window(1280))


def test_save_and_load_twice_gives_identical_outputs(tmp_path):
    model = tiny_model(seed=21)
    audio = speechlike(9000)[None, None]
    with torch.inference_mode():
        expected = model.encode(audio).audio_codes
    model.save_pretrained(tmp_path / "first")
    first = LLMCodecModel.from_pretrained(tmp_path / "first").eval()
    first.save_pretrained(tmp_path / "second")
    second = LLMCodecModel.from_pretrained(tmp_path / "second").eval()
    with torch.inference_mode():
        assert torch.equal(first.encode(audio).audio_codes, expected)
        assert torch.equal(second.encode(audio).audio_codes, expected)
    rope = second.decoder.conformer.layers[0].attn.rotary_embed
    assert torch.allclose(rope.cos_cached[3], torch.cos(3 * torch.cat([rope.inv_freq, rope.inv_freq])), atol=1e-6)


def test_output_tuple_and_dict_agree():
    model = tiny_model(seed=22)
    audio = speechlike(5000)[None, None]
    with torch.inference_mode():
        as_dict = model.encode(audio)
        as_tuple = model.encode(audio, return_dict=False)
    assert torch.equal(as_tuple[0], as_dict.audio_codes)
    assert torch.equal(as_tuple[1], as_dict.audio_codes_mask)


def test_forward_output_order_is_loss_audio_then_the_encoders_fields():
    from dataclasses import fields

    from llmcodec.modeling import LLMCodecEncoderOutput, LLMCodecOutput

    encoder_fields = ["audio_codes", "audio_codes_mask", "latents", "latents_before_quantization",
                      "projected_latents", "vq_loss"]
    assert [f.name for f in fields(LLMCodecOutput)] == ["loss", "audio_values", *encoder_fields]
    assert [f.name for f in fields(LLMCodecEncoderOutput)] == [*encoder_fields, "audio_scales"]
    model = tiny_model(seed=22).train()
    audio = speechlike(5000)[None, None]
    output = model(audio)
    as_tuple = model(audio, return_dict=False)
    assert list(output.keys()) == ["loss", "audio_values", *encoder_fields]  # training mode: every field is set
    assert len(as_tuple) == 8 and all(torch.equal(a, b) for a, b in zip(as_tuple, output.to_tuple()))
    assert torch.equal(output.loss, output.vq_loss.mean())


def test_released_defaults():
    config = LLMCodecConfig()
    assert (config.sampling_rate, config.hop_length, config.n_fft, config.hidden_size) == (16000, 320, 1280, 512)
    assert (config.encoder_num_layers, config.decoder_num_layers, config.num_attention_heads, config.head_dim) == (8, 12, 8, 64)
    assert (config.codebook_size, config.codebook_dim, config.commitment_weight) == (20480, 8, 0.25)
    assert config.codebook_partitions["speech"] == [0, 8192] and config.codebook_partitions["other"] == [12288, 20480]
    assert config.frame_rate == 50.0 and round(config.bitrate) == 716
    with torch.device("meta"):
        model = LLMCodecModel(config)
    assert sum(p.numel() for p in model.parameters()) == 122_628_882


def test_invalid_config_is_refused():
    import pytest

    with pytest.raises(ValueError, match="conv_kernel_size"):
        LLMCodecConfig(conv_kernel_size=4)
    with pytest.raises(ValueError, match="partition"):
        LLMCodecConfig(codebook_size=100, codebook_partitions={"speech": [0, 8192]})


def test_exported_folder_loads_offline_in_a_fresh_process(tmp_path):
    model = tiny_model(seed=23)
    folder = save_codec_folder(model, tmp_path / "export")
    files = sorted(p.name for p in folder.iterdir())
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "configuration_llmcodec.py",
                 "modeling_llmcodec.py", "inputs_llmcodec.py", "windowing_llmcodec.py",
                 "feature_extraction_llmcodec.py", "README.md"):
        assert name in files
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_llmcodec.LLMCodecModel"
    assert (folder / "README.md").read_text().startswith("---\n")
    audio = speechlike(7000)
    with torch.inference_mode():
        expected = model.encode(audio[None, None]).audio_codes[0].tolist()
    script = textwrap.dedent(
        f"""
        import json, sys, torch
        from transformers import AutoFeatureExtractor, AutoModel
        model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        assert "llmcodec.modeling" not in sys.modules  # the remote code, not the installed package
        fe = AutoFeatureExtractor.from_pretrained({str(folder)!r}, trust_remote_code=True)
        audio = torch.load({str(tmp_path / "audio.pt")!r})
        inputs = fe(audio.numpy(), sampling_rate=16000, return_tensors="pt")
        with torch.inference_mode():
            codes = model.encode(inputs["input_values"], inputs["padding_mask"]).audio_codes[0].tolist()
        print(json.dumps(codes))
        """
    )
    torch.save(audio, tmp_path / "audio.pt")
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
