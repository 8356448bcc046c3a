"""A padded batch gives each item the codes and audio it gets alone."""

import pytest
import torch

from codec_testing import randomize_batchnorm, speechlike, tiny_model
from llmcodec.modeling import LLMCodecConfig, LLMCodecFeatureExtractor, LLMCodecModel

LENGTHS = [16000, 9001, 400, 12345, 640]


def _encode_batch(model, clips):
    features = LLMCodecFeatureExtractor()([c.numpy() for c in clips], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        return model.encode(features["input_values"], features["padding_mask"])


def test_batched_codes_equal_single_item_codes():
    model = tiny_model(seed=3)
    clips = [speechlike(n, seed=i) for i, n in enumerate(LENGTHS)]
    batched = _encode_batch(model, clips)
    for i, clip in enumerate(clips):
        with torch.inference_mode():
            alone = model.encode(clip[None, None])
        frames = alone.audio_codes.shape[1]
        assert frames == len(clip) // 320
        assert torch.equal(batched.audio_codes[i, :frames], alone.audio_codes[0])
        assert batched.audio_codes_mask[i, :frames].all() and not batched.audio_codes_mask[i, frames:].any()
        assert (batched.audio_codes[i, frames:] == -1).all()
        assert torch.allclose(batched.latents[i, :frames], alone.latents[0], atol=1e-5)


def test_batched_decode_equals_single_item_decode():
    model = tiny_model(seed=4)
    clips = [speechlike(n, seed=10 + i) for i, n in enumerate(LENGTHS)]
    batched = _encode_batch(model, clips)
    with torch.inference_mode():
        decoded = model.decode(batched.audio_codes, batched.audio_codes_mask)
    assert decoded.audio_values.shape == (len(clips), 1, batched.audio_codes.shape[1] * 320)
    for i in range(len(clips)):
        frames = int(batched.audio_codes_mask[i].sum())
        with torch.inference_mode():
            alone = model.decode(batched.audio_codes[i : i + 1, :frames]).audio_values[0, 0]
        assert torch.allclose(decoded.audio_values[i, 0, : frames * 320], alone, atol=1e-5)
        assert decoded.audio_values[i, 0, frames * 320 :].abs().max().item() == 0.0 if frames * 320 < decoded.audio_values.shape[-1] else True
        assert decoded.padding_mask[i].sum() == frames * 320


def test_forward_pads_reconstruction_to_input_length():
    model = tiny_model(seed=5)
    clip = speechlike(16000 + 100)
    with torch.inference_mode():
        output = model(clip[None, None])
    assert output.audio_values.shape == (1, 1, 16100)
    assert output.audio_values[0, 0, 16000:].abs().max() == 0
    assert output.loss is None


def test_per_item_codebook_domains_in_one_batch():
    model = tiny_model(seed=7)  # partitions: speech [0, 128), other [128, 256); "all" is [0, 256)
    clips = [speechlike(n, seed=30 + i) for i, n in enumerate([16000, 9001, 12345, 4000])]
    domains = ["speech", "other", "all", "speech"]
    features = LLMCodecFeatureExtractor()([c.numpy() for c in clips], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        batched = model.encode(features["input_values"], features["padding_mask"], codebook_domain=domains)
        unrestricted = model.encode(features["input_values"], features["padding_mask"]).audio_codes
    ranges = {"speech": (0, 128), "other": (128, 256), "all": (0, 256)}
    for i, (clip, domain) in enumerate(zip(clips, domains)):
        with torch.inference_mode():
            alone = model.encode(clip[None, None], codebook_domain=domain).audio_codes[0]
        codes = batched.audio_codes[i, : alone.numel()]
        assert torch.equal(codes, alone), domain
        low, high = ranges[domain]
        assert low <= int(codes.min()) and int(codes.max()) < high, domain
    # The restriction is real: unrestricted, the "speech" item uses codes outside its partition.
    assert int(unrestricted[0][batched.audio_codes_mask[0]].max()) >= 128
    assert torch.equal(batched.audio_codes[2], unrestricted[2])  # "all" is no restriction


def test_nearest_code_lookup_over_many_rows_with_per_item_partitions():
    # 3 items x 1500 frames = 4500 rows: more than one lookup chunk (4096 rows), and item 2 straddles the
    # chunk border, so each row must map to its own item's partition across chunks.
    quantizer = tiny_model(seed=8).quantizer
    assert quantizer.lookup_chunk_rows == 4096
    projected = torch.randn(3, 8, 1500, generator=torch.Generator().manual_seed(8))
    partitions = [(0, 128), (128, 256), (64, 192)]
    with torch.inference_mode():
        codes = quantizer.nearest_codes(projected, partitions)
    codebook = torch.nn.functional.normalize(quantizer.codebook.weight.double(), dim=1)
    for i, (low, high) in enumerate(partitions):
        rows = torch.nn.functional.normalize(projected[i].double().t(), dim=1)
        expected = low + (rows @ codebook[low:high].t()).argmax(1)  # brute force, cosine, float64
        assert torch.equal(codes[i], expected), i
    assert codes.shape == (3, 1500)


@pytest.mark.slow
def test_batched_codes_equal_single_item_codes_at_the_released_size():
    # Released architecture (122.6 M parameters, random weights with non-trivial BatchNorm statistics).
    torch.manual_seed(9)
    model = LLMCodecModel(LLMCodecConfig()).eval()
    randomize_batchnorm(model, seed=9)
    clips = [speechlike(n, seed=40 + i) for i, n in enumerate([16000, 9001, 640])]
    batched = _encode_batch(model, clips)
    with torch.inference_mode():
        decoded = model.decode(batched.audio_codes, batched.audio_codes_mask).audio_values
    for i, clip in enumerate(clips):
        with torch.inference_mode():
            alone = model.encode(clip[None, None])
            alone_audio = model.decode(alone.audio_codes).audio_values[0, 0]
        frames = alone.audio_codes.shape[1]
        assert torch.equal(batched.audio_codes[i, :frames], alone.audio_codes[0])
        assert (batched.audio_codes[i, frames:] == -1).all()
        assert torch.allclose(batched.latents[i, :frames], alone.latents[0], atol=1e-5)
        assert torch.allclose(decoded[i, 0, : frames * 320], alone_audio, atol=1e-5)
