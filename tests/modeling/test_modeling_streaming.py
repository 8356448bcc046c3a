"""Streaming decode (modeling_llmcodec/streaming_llmcodec.py): exact length, close to offline decode on real
speech, batched streams equal their single-stream results, and it ships in the exported remote code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from llmcodec.audio import load_audio
from llmcodec.cli_demo import EXAMPLE_CLIP
from llmcodec.evaluation.metrics import pesq_wb
from llmcodec.hub import load_codec, save_codec_folder

HOP = 320


@pytest.fixture(scope="module")
def model():
    return load_codec()  # the bundled default model


@pytest.fixture(scope="module")
def arctic(model):
    """Codes `(1, 200)` of the real CMU ARCTIC clip and their offline decode `(64000,)`."""
    waveform, _ = load_audio(EXAMPLE_CLIP)
    with torch.inference_mode():
        codes = model.encode(waveform[None, None]).audio_codes
        offline = model.decode(codes).audio_values[0, 0]
    return codes, offline


def stream(decoder, codes: torch.Tensor, sizes) -> tuple[torch.Tensor, list[int]]:
    """Pushes `(B, T)` codes in pieces of the given sizes (cycled); returns the audio `(B, L)` and push lengths."""
    pieces, lengths, start, index = [], [], 0, 0
    while start < codes.shape[1]:
        size = sizes[index % len(sizes)]
        out = decoder.push(codes[:, start : start + size])
        assert bool(out.padding_mask.all())  # no mask in: every stream gets the same number of samples
        pieces.append(out.audio_values[:, 0])
        lengths.append(out.audio_values.shape[-1])
        start, index = start + size, index + 1
    last = decoder.flush().audio_values[:, 0]
    return torch.cat([*pieces, last], dim=1), [*lengths, last.shape[-1]]


def test_real_clip_in_pushes_of_5_frames_has_the_offline_length_and_sounds_like_it(model, arctic):
    codes, offline = arctic
    audio, lengths = stream(model.streaming_decoder(), codes, [5])
    assert audio.shape == (1, offline.numel())
    assert sum(lengths[:-1]) > offline.numel() // 2  # audio really comes out while codes arrive
    assert pesq_wb(offline, audio[0], 16000) >= 3.5


def test_chunks_join_by_overlap_add_of_their_synthesis_frames(model, arctic):
    # Reference built in one go: decode each chunk's window (context + chunk + lookahead), keep the chunk's
    # synthesis frames, overlap-add all of them with the offline iSTFT. Pushing codes in odd pieces must give
    # exactly that: the junctions are the iSTFT's own overlap-add (a crossfade), nothing is lost or doubled.
    codes = arctic[0][:, :57]
    chunk, lookahead, context = 4, 2, 8
    head = model.decoder.istft_head
    owned, start = [], 0
    with torch.inference_mode():
        while start < codes.shape[1]:
            count = chunk if codes.shape[1] - start >= chunk + lookahead else codes.shape[1] - start
            left, right = max(0, start - context), min(codes.shape[1], start + count + lookahead)
            hidden = model.decoder.conformer(model.quantizer.decode_codes(codes[:, left:right]))
            owned.append(head.synthesis_frames(hidden)[:, :, start - left : start - left + count])
            start += count
        frames = torch.cat(owned, dim=2)
        envelope = head.window.square()[None, :, None].expand(1, -1, frames.shape[2]).contiguous()
        expected = (head._overlap_add(frames) / head._overlap_add(envelope))[0]
    decoder = model.streaming_decoder(chunk_frames=chunk, lookahead_frames=lookahead, context_frames=context)
    audio, lengths = stream(decoder, codes, [1, 7, 2, 3])
    assert audio[0].shape == expected.shape == (57 * HOP,)
    torch.testing.assert_close(audio[0], expected, atol=1e-5, rtol=0)
    assert sum(lengths[:-1]) > 0


@pytest.mark.parametrize("num_frames", [1, 2, 3, 6, 7, 11, 23])
def test_pushes_plus_flush_give_exactly_the_offline_length(model, arctic, num_frames):
    codes = arctic[0][:, :num_frames]
    decoder = model.streaming_decoder(chunk_frames=4, lookahead_frames=2, context_frames=8)
    audio, lengths = stream(decoder, codes, [2, 3])
    assert audio.shape == (1, num_frames * HOP)
    with torch.inference_mode():
        expected = model.decode(codes).audio_values[0, 0]
    # Short streams fit in one window: no chunking effect, so streaming equals offline decode.
    if num_frames <= 6:
        torch.testing.assert_close(audio[0], expected, atol=1e-5, rtol=0)
    assert decoder.flush().audio_values.shape[-1] == 0  # flushed decoders start over empty


def test_flush_alone_returns_everything_pushed(model, arctic):
    codes, offline = arctic
    decoder = model.streaming_decoder(chunk_frames=200, lookahead_frames=5)
    assert decoder.push(codes).audio_values.shape[-1] == 0  # one chunk not yet complete with its lookahead
    out = decoder.flush()
    torch.testing.assert_close(out.audio_values[0, 0], offline, atol=1e-5, rtol=0)


def test_batched_streams_each_equal_their_single_stream_result(model, arctic):
    codes = arctic[0][0]
    streams = [codes[:90], codes[37:97], codes[120:131]]  # different lengths and content
    settings = dict(chunk_frames=4, lookahead_frames=3, context_frames=20)
    single = []
    for one in streams:
        audio, _ = stream(model.streaming_decoder(**settings), one[None], [5])
        single.append(audio[0])
    # All streams in one decoder, each receiving a different number of codes per push (per-stream mask).
    decoder = model.streaming_decoder(**settings)
    positions, outputs = [0, 0, 0], [[], [], []]
    step = 0
    while any(p < s.numel() for p, s in zip(positions, streams)):
        sizes = [min((step + i) % 6 + 1, s.numel() - p) for i, (p, s) in enumerate(zip(positions, streams))]
        width = max(sizes)
        batch = torch.zeros(3, width, dtype=torch.long)
        mask = torch.zeros(3, width, dtype=torch.bool)
        for i, (p, size) in enumerate(zip(positions, sizes)):
            batch[i, :size], mask[i, :size] = streams[i][p : p + size], True
            positions[i] += size
        out = decoder.push(batch, audio_codes_mask=mask)
        for i in range(3):
            outputs[i].append(out.audio_values[i, 0][out.padding_mask[i]])
        step += 1
    out = decoder.flush()
    for i in range(3):
        outputs[i].append(out.audio_values[i, 0][out.padding_mask[i]])
        joined = torch.cat(outputs[i])
        assert joined.numel() == streams[i].numel() * HOP
        torch.testing.assert_close(joined, single[i], atol=1e-4, rtol=0)


def test_bad_input_is_named(model, arctic):
    codes = arctic[0]
    with pytest.raises(ValueError, match="chunk_frames"):
        model.streaming_decoder(chunk_frames=0)
    with pytest.raises(ValueError, match="lookahead_frames"):
        model.streaming_decoder(lookahead_frames=-1)
    with pytest.raises(TypeError, match="positional"):
        model.streaming_decoder(4)  # sizes are keyword-only: a bare number would be ambiguous
    decoder = model.streaming_decoder()
    with pytest.raises(TypeError, match="integer"):
        decoder.push(codes.float())
    with pytest.raises(ValueError, match="outside"):
        decoder.push(torch.tensor([[20480]]))
    decoder.push(codes[:, :3])
    with pytest.raises(ValueError, match="holds 1 streams"):
        decoder.push(codes[:, :3].repeat(2, 1))
    with pytest.raises(ValueError, match="mask shape"):
        decoder.push(codes[:, :3], audio_codes_mask=torch.ones(1, 2, dtype=torch.bool))
    fresh = model.streaming_decoder()
    with pytest.raises(ValueError, match=r"holds no stream \(shape \(0, 5\)\)"):
        fresh.push(torch.zeros(0, 5, dtype=torch.long))
    assert fresh.push(torch.zeros(1, 0, dtype=torch.long)).audio_values.shape == (1, 1, 0)  # no frames yet: no audio
    model.train()
    try:
        with pytest.raises(ValueError, match="eval"):
            model.streaming_decoder()
    finally:
        model.eval()


def test_exported_folder_streams_through_automodel_remote_code_in_process(model, arctic, tmp_path):
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    folder = save_codec_folder(model, tmp_path / "exported")
    assert (folder / "streaming_llmcodec.py").is_file()  # copied with modeling_llmcodec.py by save_pretrained
    # With this package imported, AutoModel resolves "llmcodec" to the installed class; load the folder's own copy
    # explicitly, as a user without the package gets it (the slow test below does it in a fresh interpreter).
    remote_class = get_class_from_dynamic_module("modeling_llmcodec.LLMCodecModel", folder)
    remote = remote_class.from_pretrained(folder).eval()
    assert not type(remote).__module__.startswith("llmcodec")  # the copied remote code, not this package
    codes = arctic[0][:, :60]
    expected, _ = stream(model.streaming_decoder(), codes, [5])
    audio, _ = stream(remote.streaming_decoder(), codes, [5])
    torch.testing.assert_close(audio, expected, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_exported_folder_streams_through_automodel_remote_code(model, arctic, tmp_path):
    folder = save_codec_folder(model, tmp_path / "exported")
    codes = arctic[0][:, :60]
    audio, _ = stream(model.streaming_decoder(), codes, [5])
    script = textwrap.dedent(
        f"""
        import json, torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        assert "llmcodec" not in type(model).__module__.split(".")[0]  # the copied remote code, not this package
        codes = torch.tensor({codes.tolist()})
        decoder = model.streaming_decoder()
        pieces = [decoder.push(codes[:, s : s + 5]).audio_values for s in range(0, codes.shape[1], 5)]
        pieces.append(decoder.flush().audio_values)
        print(json.dumps(torch.cat(pieces, -1)[0, 0].tolist()))
        """
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    remote = torch.tensor(json.loads(result.stdout.strip().splitlines()[-1]))
    torch.testing.assert_close(remote, audio[0], atol=1e-5, rtol=0)
