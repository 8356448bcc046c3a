"""Parity with the reference implementation (PyPI `auv` 0.1.1): convert its state dict, load it through
`AutoModel(trust_remote_code=True)` and compare codes and decoded audio."""

import pytest
import torch
from transformers import AutoModel

from codec_testing import reference_auv, speechlike
from llmcodec.audio import resample
from llmcodec.conversion import load_reference_state_dict, model_from_reference_state_dict
from llmcodec.hub import save_codec_folder

# Measured: codes identical and latents / decoded audio differ by exactly 0.0 from the reference (tiny and
# released size, 1 and 2 threads); 1e-6 leaves room only for float reordering, not for a real difference.
AUDIO_TOLERANCE = 1e-6
LATENT_TOLERANCE = 1e-6


def _converted_pair(tmp_path_factory, released: bool, seed: int, checkpoint_name: str, folder_name: str):
    """A random-weight reference model and ours converted from its saved state dict, loaded via AutoModel."""
    reference = reference_auv(released=released, seed=seed)
    path = tmp_path_factory.mktemp("ckpt") / checkpoint_name
    torch.save(reference.state_dict(), path)
    folder = tmp_path_factory.mktemp("export") / folder_name
    save_codec_folder(model_from_reference_state_dict(load_reference_state_dict(path)), folder)
    ours = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    return reference, ours


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    return _converted_pair(tmp_path_factory, False, 1, "auv.pt", "tiny-llmcodec")


@pytest.fixture(scope="module")
def released_pair(tmp_path_factory):
    return _converted_pair(tmp_path_factory, True, 2, "llm-codec.pt", "released-llmcodec")


def _compare(reference, ours, waveform: torch.Tensor, sample_rate: int = 16000, domain: str | None = None):
    with torch.inference_mode():
        ref_out = reference.tokenizer(
            waveform[None], input_sample_rate=sample_rate, wav_types=None if domain is None else [domain]
        )
        ref_codes = ref_out["tokens"][0]
        ref_audio = reference.decode_tokens(ref_codes[:, :, None])
        ours_input = resample(waveform, sample_rate, 16000)[None, None]
        encoded = ours.encode(ours_input, codebook_domain=domain)
        audio = ours.decode(encoded.audio_codes).audio_values
    assert torch.equal(encoded.audio_codes, ref_codes)
    assert encoded.audio_codes.dtype == torch.int64
    assert (encoded.latents - ref_out["quantized"]).abs().max().item() <= LATENT_TOLERANCE
    assert audio.shape == ref_audio.shape
    assert (audio - ref_audio).abs().max().item() <= AUDIO_TOLERANCE
    return encoded


@pytest.mark.parametrize("num_samples", [5000, 12345, 16000 * 20 + 77])
def test_tiny_parity_lengths(tiny_pair, num_samples):
    reference, ours = tiny_pair
    encoded = _compare(reference, ours, speechlike(num_samples, seed=num_samples))
    assert encoded.audio_codes.shape[1] == num_samples // 320


def test_tiny_parity_with_resampling(tiny_pair):
    reference, ours = tiny_pair
    _compare(reference, ours, speechlike(24000 + 101, seed=3, sample_rate=24000), sample_rate=24000)


# 20 s at the released size takes about a minute on 2 cores: behind --runslow (12,345 samples always run).
@pytest.mark.parametrize("num_samples", [12345, pytest.param(16000 * 20 + 77, marks=pytest.mark.slow)])
def test_released_size_parity(released_pair, num_samples):
    reference, ours = released_pair
    assert sum(p.numel() for p in ours.parameters()) == 122_628_882
    _compare(reference, ours, speechlike(num_samples, seed=7))


def test_released_speech_partition_parity(released_pair):
    reference, ours = released_pair
    encoded = _compare(reference, ours, speechlike(16000 + 5, seed=9), domain="speech")
    assert int(encoded.audio_codes.max()) < 8192
