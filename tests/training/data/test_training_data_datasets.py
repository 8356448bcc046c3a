"""Training data pipeline: decoding, resampling, crops, reflect padding, jitter, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from datasets import Audio, Dataset, DatasetDict, IterableDataset

from llmcodec.training.data import (
    AudioDecodeError,
    DataArguments,
    DataError,
    IterableSpeechDataset,
    SpeechCollator,
    SpeechDataset,
    build_collator,
    build_datasets,
    crop_or_pad,
    decode_audio,
    load_audio_text_dataset,
    reflect_pad_centre,
)

SR = 16000


def _tone(seconds: float, sr: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def _no_rows():
    yield from ()


def _write(path, seconds: float, sr: int = SR, channels: int = 1, freq: float = 440.0) -> str:
    sf.write(str(path), _tone(seconds, sr, freq, channels), sr)
    return str(path)


# ------------------------------------------------------------------------------------------ collator


def test_reflect_pad_centre_matches_torch_reflect_and_handles_long_pads():
    x = torch.arange(1.0, 6.0)  # 5 samples
    padded, left = reflect_pad_centre(x, 9)
    ref = torch.nn.functional.pad(x[None, None], (2, 2), mode="reflect")[0, 0]
    assert left == 2 and torch.equal(padded, ref)  # [3, 2, 1, 2, 3, 4, 5, 4, 3]
    # Padding longer than the clip keeps reflecting: period 2 * (5 - 1) = 8.
    long, left = reflect_pad_centre(x, 21)
    assert left == 8 and torch.equal(long[8:13], x)
    assert torch.equal(long[:8], torch.tensor([1.0, 2, 3, 4, 5, 4, 3, 2]))
    one, _ = reflect_pad_centre(torch.tensor([0.25]), 4)
    assert torch.equal(one, torch.full((4,), 0.25))


def test_crop_or_pad_lengths_masks_and_offsets():
    g = torch.Generator().manual_seed(0)
    long = torch.arange(100.0)
    seg, mask, off = crop_or_pad(long, 40, random_crop=True, generator=g)
    assert seg.shape == (40,) and mask.all() and 0 <= off <= 60
    assert torch.equal(seg, long[off:off + 40])
    seg, mask, off = crop_or_pad(long, 40, random_crop=False)
    assert off == 30 and torch.equal(seg, long[30:70])
    short = torch.arange(1.0, 11.0)
    seg, mask, off = crop_or_pad(short, 16)
    assert off == 0 and int(mask.sum()) == 10
    assert torch.equal(seg[mask], short) and torch.equal(mask.nonzero().flatten(), torch.arange(3, 13))
    assert torch.equal(seg[:3], torch.tensor([4.0, 3.0, 2.0]))  # reflected, no edge repeat


def test_collator_shapes_dtypes_jitter_and_seed_determinism():
    feats = [
        {"audio": torch.randn(SR * 6), "text": "a long one"},
        {"audio": np.random.randn(SR).astype(np.float32), "text": "short"},
        {"audio": torch.randn(1, SR * 4), "text": None},
    ]
    col = SpeechCollator(segment_samples=SR * 4, phase_jitter=24, generator=torch.Generator().manual_seed(3))
    b = col(feats)
    assert b["input_values"].shape == (3, 1, SR * 4) and b["input_values"].dtype == torch.float32
    assert b["padding_mask"].shape == (3, SR * 4) and b["padding_mask"].dtype == torch.long
    assert b["text"] == ["a long one", "short", ""]
    assert b["lengths"].tolist() == [SR * 4, SR, SR * 4]
    assert (b["jitter"].abs() <= 24).all()
    # The jitter is a circular roll: undoing it gives back the un-jittered crop.
    s = int(b["jitter"][1])
    unrolled = torch.roll(b["input_values"][1, 0], -s)
    assert torch.equal(unrolled[SR * 3 // 2:SR * 5 // 2], torch.from_numpy(feats[1]["audio"]))
    again = SpeechCollator(segment_samples=SR * 4, generator=torch.Generator().manual_seed(3))(feats)
    assert torch.equal(again["input_values"], b["input_values"]) and torch.equal(again["crop_offsets"], b["crop_offsets"])
    with pytest.raises(ValueError, match="empty batch"):
        col([])


def test_eval_collator_is_deterministic_centre_crop_without_jitter():
    cfg = DataArguments(segment_seconds=1.0)
    col = build_collator(cfg, train=False)
    x = torch.arange(SR * 3, dtype=torch.float32)
    b1, b2 = col([{"audio": x, "text": "t"}]), col([{"audio": x, "text": "t"}])
    assert torch.equal(b1["input_values"], b2["input_values"])
    assert b1["crop_offsets"].item() == SR and b1["jitter"].item() == 0


# ------------------------------------------------------------------------------------------ datasets


def test_hf_dataset_is_resampled_to_16k_mono(tmp_path):
    paths = [_write(tmp_path / "a.wav", 1.0, sr=8000), _write(tmp_path / "b.flac", 0.5, sr=44100, channels=2)]
    ds = Dataset.from_dict({"audio": paths, "text": ["eight k", "stereo"]}).cast_column("audio", Audio())
    sd = load_audio_text_dataset(ds)
    a, b = sd[0], sd[1]
    assert a["audio"].shape == (SR,) and a["text"] == "eight k"
    assert b["audio"].dim() == 1 and abs(b["audio"].shape[0] - SR // 2) <= 1
    # A 440 Hz tone stays at 440 Hz after resampling: check the spectrum peak.
    spec = torch.fft.rfft(a["audio"]).abs()
    assert abs(int(spec.argmax()) * SR / a["audio"].shape[0] - 440) < 2


def test_in_memory_arrays_datasetdict_and_streaming(tmp_path):
    rows = {"audio": [{"array": _tone(0.5, 22050), "sampling_rate": 22050}] * 3, "sentence": ["x", "y", "z"]}
    dd = DatasetDict({"validation": Dataset.from_dict(rows)})
    sd = load_audio_text_dataset(dd, split="validation", text_column="sentence")
    assert len(sd) == 3 and sd[2]["text"] == "z" and sd[0]["audio"].shape == (SR // 2,)
    stream = load_audio_text_dataset(Dataset.from_dict(rows).to_iterable_dataset(), text_column="sentence")
    assert isinstance(stream, IterableSpeechDataset)
    items = list(stream)
    assert [i["text"] for i in items] == ["x", "y", "z"]
    loader = torch.utils.data.DataLoader(stream, batch_size=2, collate_fn=SpeechCollator(segment_samples=SR))
    batches = list(loader)
    assert batches[0]["input_values"].shape == (2, 1, SR) and batches[1]["input_values"].shape == (1, 1, SR)
    with pytest.raises(DataError, match="split 'train'"):
        load_audio_text_dataset(dd, split="train", text_column="sentence")


def test_bad_files_are_skipped_and_counted(tmp_path):
    good = [_write(tmp_path / f"g{i}.wav", 0.3) for i in range(3)]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....not audio at all")
    ds = Dataset.from_dict({"audio": [good[0], str(broken), str(tmp_path / "missing.wav"), good[1], good[2]],
                            "text": list("abcde")})
    sd = SpeechDataset(ds)
    item = sd[1]
    assert item["text"] == "d" and item["index"] == 3  # replaced by the next readable item
    assert sd.num_bad_files == 2
    loader = torch.utils.data.DataLoader(sd, batch_size=5, collate_fn=SpeechCollator(segment_samples=SR))
    batch = next(iter(loader))
    assert batch["input_values"].shape == (5, 1, SR) and sd.num_bad_files == 2 + 3
    stream = IterableSpeechDataset(ds.to_iterable_dataset())
    assert [x["text"] for x in stream] == ["a", "d", "e"] and stream.num_bad_files == 2


def test_dataset_level_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="empty"):
        SpeechDataset(Dataset.from_dict({"audio": [], "text": []}))
    good = _write(tmp_path / "g.wav", 0.3)
    with pytest.raises(DataError, match="text column 'text' not in dataset columns"):
        SpeechDataset(Dataset.from_dict({"audio": [good], "transcript": ["hi"]}))
    assert SpeechDataset(Dataset.from_dict({"audio": [good]}), text_column=None, require_text=False)[0]["text"] == ""
    with pytest.raises(DataError, match="audio column 'wav'"):
        SpeechDataset(Dataset.from_dict({"audio": [good], "text": ["hi"]}), audio_column="wav")
    with pytest.raises(DataError, match="could be decoded"):
        SpeechDataset(Dataset.from_dict({"audio": [str(tmp_path / "nope.wav")] * 2, "text": ["a", "b"]}))
    with pytest.raises(DataError, match="streaming dataset is empty"):
        IterableSpeechDataset(IterableDataset.from_generator(_no_rows))
    with pytest.raises(DataError, match="not found"):
        load_audio_text_dataset(str(tmp_path / "absent_dir"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no audio files with transcripts"):
        load_audio_text_dataset(str(empty))


def test_local_folders_wav_txt_librispeech_and_metadata(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    _write(flat / "u1.wav", 0.5, sr=24000)
    (flat / "u1.txt").write_text("hello world\n")
    _write(flat / "u2.wav", 0.2)  # no transcript: left out
    sd = load_audio_text_dataset(str(flat))
    assert len(sd) == 1 and sd[0]["text"] == "hello world" and sd[0]["audio"].shape == (SR // 2,)

    libri = tmp_path / "libri" / "19" / "198"
    libri.mkdir(parents=True)
    _write(libri / "19-198-0000.flac", 0.3)
    _write(libri / "19-198-0001.flac", 0.3)
    (libri / "19-198.trans.txt").write_text("19-198-0000 FIRST LINE\n19-198-0001 SECOND LINE\n")
    sd = load_audio_text_dataset(str(tmp_path / "libri"))
    assert sorted(sd[i]["text"] for i in range(len(sd))) == ["FIRST LINE", "SECOND LINE"]

    corpus = tmp_path / "corpus"
    for split, n in (("train", 2), ("validation", 1)):
        (corpus / split / "v").mkdir(parents=True)
        lines = []
        for i in range(n):
            _write(corpus / split / "v" / f"{i}.wav", 0.25)
            lines.append(json.dumps({"file_name": f"v/{i}.wav", "text": f"{split} {i}", "split": split}))
        (corpus / split / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    train, val = build_datasets(DataArguments(dataset=str(corpus), dataset_config=None, train_split="train"))
    assert len(train) == 2 and len(val) == 1 and val[0]["text"] == "validation 0"
    with pytest.raises(DataError, match="split 'train.100' not in .*'train', 'validation'"):
        build_datasets(DataArguments(dataset=str(corpus)))


def test_decode_audio_reports_the_problem(tmp_path):
    x, sr = decode_audio(_write(tmp_path / "ok.wav", 0.1, sr=22050, channels=2))
    assert x.shape == (1, 2205) and sr == 22050  # a file goes through llmcodec.audio.load_audio: mono
    with pytest.raises(AudioDecodeError, match="missing.wav: no such file"):
        decode_audio(str(tmp_path / "missing.wav"))
    with pytest.raises(Exception, match="unsupported audio value"):
        decode_audio(12)
    assert math.isclose(float(decode_audio({"array": [0.0, 0.5], "sampling_rate": 8000})[0].max()), 0.5)


def test_workers_share_the_bad_file_count_and_split_the_stream(tmp_path):
    good = [_write(tmp_path / f"g{i}.wav", 0.2) for i in range(5)]
    ds = Dataset.from_dict({"audio": good + [str(tmp_path / "missing.wav")], "text": list("abcdef")})
    stream = IterableSpeechDataset(ds.to_iterable_dataset(num_shards=2))
    loader = torch.utils.data.DataLoader(stream, batch_size=1, num_workers=2, collate_fn=SpeechCollator(SR // 4))
    assert sorted(t for b in loader for t in b["text"]) == list("abcde")
    assert stream.num_bad_files == 1  # counted in a worker process, visible here
