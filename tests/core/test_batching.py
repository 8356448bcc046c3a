"""llmcodec.batching: padded batches give each item exactly the codes and audio it gets alone."""

import logging

import numpy as np
import pytest
import torch

from codec_testing import speechlike, tiny_model
from llmcodec.audio import resample
from llmcodec.batching import decode_batch, encode_batch, length_sorted_batches, pad_codes


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=7)


def _alone(model, waveform, **kwargs):
    with torch.inference_mode():
        return model.encode(waveform[None, None], **kwargs).audio_codes[0].numpy()


def test_encode_batch_equals_each_item_alone(model):
    clips = [speechlike(n, seed=n) for n in (16000, 6717, 320, 9999)]
    codes = encode_batch(model, clips, sampling_rate=16000)
    assert [c.shape for c in codes] == [(50,), (20,), (1,), (31,)]
    for clip, item in zip(clips, codes):
        assert item.dtype == np.int64 and np.array_equal(item, _alone(model, clip))


def test_encode_batch_windows_and_restricts_like_encode(model):
    clips = [speechlike(16000 * 3, seed=1), speechlike(16000, seed=2)]
    options = dict(chunk_length_s=1.0, chunk_context_s=0.2, codebook_domain="speech")
    codes, finite = encode_batch(model, clips, sampling_rate=16000, return_finite=True, **options)
    assert finite == [True, True] and max(c.max() for c in codes) < 128
    for clip, item in zip(clips, codes):
        assert np.array_equal(item, _alone(model, clip, **options))


def test_encode_batch_resamples_other_rates_like_load_audio(model):
    clip = speechlike(22050, seed=3, sample_rate=22050)
    stereo = torch.stack([clip, 0.5 * clip])
    codes = encode_batch(model, [stereo.numpy()], sampling_rate=22050)[0]
    assert np.array_equal(codes, _alone(model, resample(stereo.mean(dim=0), 22050, 16000)))


def test_encode_batch_reports_non_finite_latents(model):
    broken = tiny_model(seed=7)
    with torch.no_grad():
        broken.encoder.stft_frontend.projection.weight.fill_(float("nan"))
    _, finite = encode_batch(broken, [speechlike(3200)], sampling_rate=16000, return_finite=True)
    assert finite == [False]


def test_out_of_range_warning_can_be_left_to_the_reader(model, caplog):
    loud = 4 * speechlike(3200) / speechlike(3200).abs().max()
    with caplog.at_level(logging.WARNING):
        encode_batch(model, [loud], sampling_rate=16000, warn_out_of_range=False)
    assert not [r for r in caplog.records if "full scale" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        encode_batch(model, [loud], sampling_rate=16000)
    assert [r for r in caplog.records if "full scale" in r.getMessage()]


def test_decode_batch_equals_each_item_alone(model):
    codes = [np.arange(7) % 256, np.arange(30, 50), np.array([5])]
    audio = decode_batch(model, codes)
    assert [a.shape for a in audio] == [(7 * 320,), (20 * 320,), (320,)]
    for item, waveform in zip(codes, audio):
        with torch.inference_mode():
            alone = model.decode(torch.from_numpy(item)[None]).audio_values[0, 0]
        torch.testing.assert_close(waveform, alone, rtol=0, atol=1e-5)


def test_pad_codes_and_its_refusals():
    batch, mask = pad_codes([np.array([3, 4]), torch.tensor([1])])
    assert batch.tolist() == [[3, 4], [1, 0]] and mask.tolist() == [[True, True], [True, False]]
    with pytest.raises(ValueError, match="at least one code"):
        pad_codes([np.array([], dtype=np.int64)])


def test_length_sorted_batches():
    lengths = [5, 100, 7, 100, 1]
    assert length_sorted_batches(lengths, 2) == [[1, 3], [2, 0], [4]]
    assert length_sorted_batches(lengths, 3, max_total=150) == [[1], [3], [2, 0, 4]]
    assert length_sorted_batches(lengths, 2, descending=False) == [[4, 0], [2, 1], [3]]
    with pytest.raises(ValueError):
        length_sorted_batches(lengths, 0)
