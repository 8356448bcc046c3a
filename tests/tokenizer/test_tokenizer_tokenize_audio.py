"""`tokenize-audio`: files and datasets → <CODEC_n> jsonl, batching equals per-item, resume, shards, merge."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

from llmcodec.modeling import LLMCodecConfig, LLMCodecModel
from llmcodec.tokenizer import AudioTokenMap
from llmcodec.tokenizer.tokenize_audio import (
    DatasetSource,
    FileSource,
    merge_to_dataset,
    shard_path,
    tokenize_audio,
)

LENGTHS = [16000, 7000, 12345, 3200, 9999]  # samples at 16 kHz


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    config = LLMCodecConfig(
        hidden_size=32, encoder_num_layers=1, decoder_num_layers=1, num_attention_heads=2, head_dim=16,
        codebook_size=64, codebook_dim=4, codebook_partitions={"speech": [0, 32]},
    )
    return LLMCodecModel(config).eval()


@pytest.fixture(scope="module")
def wav_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wavs")
    rng = np.random.default_rng(0)
    paths = []
    for i, n in enumerate(LENGTHS):
        path = folder / f"clip{i}.wav"
        soundfile.write(path, (rng.standard_normal(n) * 0.1).astype(np.float32), 16000, subtype="FLOAT")
        paths.append(str(path))
    return paths


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _reference_codes(codec, path) -> list[int]:
    audio, _ = soundfile.read(path, dtype="float32")
    with torch.inference_mode():
        out = codec.encode(torch.from_numpy(audio)[None, None], torch.ones(1, len(audio), dtype=torch.bool))
    return out.audio_codes[0][out.audio_codes_mask[0]].tolist()


@pytest.mark.parametrize("num_workers, window_items", [(1, 256), (0, 2)])
def test_files_batched_match_single_items(codec, wav_files, tmp_path, num_workers, window_items):
    report = tokenize_audio(codec, FileSource(wav_files), tmp_path, batch_size=2, progress=False,
                            num_workers=num_workers, window_items=window_items, max_batch_seconds=1.5)
    assert report.written == 5 and report.skipped == 0 and not report.failed
    records = _records(shard_path(tmp_path, 0, 1))
    assert [r["id"] for r in records] == wav_files
    amap = AudioTokenMap(first_id=0, n_codes=64)
    for record, path, n in zip(records, wav_files, LENGTHS):
        assert record["n_codes"] == n // 320
        assert amap.text_to_codes(record["audio_tokens"]).tolist() == _reference_codes(codec, path)


def test_resume_and_torn_line(codec, wav_files, tmp_path):
    source = FileSource(wav_files)
    tokenize_audio(codec, FileSource(wav_files[:3]), tmp_path, batch_size=2, progress=False)
    out = shard_path(tmp_path, 0, 1)
    with open(out, "a") as handle:
        handle.write('{"id": "half-writ')  # a run killed mid-write
    report = tokenize_audio(codec, source, tmp_path, batch_size=2, progress=False)
    assert report.skipped == 3 and report.written == 2
    assert [r["id"] for r in _records(out)] == wav_files
    again = tokenize_audio(codec, source, tmp_path, progress=False)
    assert again.written == 0 and again.skipped == 5


def test_shards_partition_the_work_and_merge(codec, wav_files, tmp_path, monkeypatch):
    tokenize_audio(codec, FileSource(wav_files), tmp_path, shard_index=0, num_shards=2, progress=False)
    with pytest.raises(ValueError, match="1 of 2 shards present"):
        merge_to_dataset(tmp_path)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    tokenize_audio(codec, FileSource(wav_files), tmp_path, progress=False)  # shard from the environment
    ids0 = [r["id"] for r in _records(shard_path(tmp_path, 0, 2))]
    ids1 = [r["id"] for r in _records(shard_path(tmp_path, 1, 2))]
    assert ids0 == wav_files[0::2] and ids1 == wav_files[1::2]
    dataset = merge_to_dataset(tmp_path, save_to=tmp_path / "dataset")
    assert sorted(dataset["id"]) == sorted(wav_files)
    assert (tmp_path / "dataset" / "dataset_info.json").is_file()
    with pytest.raises(ValueError, match="shard index 3"):
        tokenize_audio(codec, FileSource(wav_files), tmp_path, shard_index=3, num_shards=2)


def test_dataset_source_carries_columns(codec, wav_files, tmp_path):
    from datasets import Audio, Dataset

    rows = {"audio": wav_files[:3], "text": ["a", "b", "c"], "speaker": [1, 2, 3], "key": ["x", "y", "z"]}
    dataset = Dataset.from_dict(rows).cast_column("audio", Audio(sampling_rate=16000))
    source = DatasetSource(dataset, id_column="key")
    report = tokenize_audio(codec, source, tmp_path, batch_size=3, progress=False)
    records = _records(report.path)
    assert [r["id"] for r in records] == ["x", "y", "z"]
    assert [(r["text"], r["speaker"]) for r in records] == [("a", 1), ("b", 2), ("c", 3)]
    assert "key" not in records[0] and "audio" not in records[0]
    amap = AudioTokenMap(first_id=0, n_codes=64)
    assert amap.text_to_codes(records[1]["audio_tokens"]).tolist() == _reference_codes(codec, wav_files[1])
    with pytest.raises(ValueError, match="no audio column 'sound'"):
        DatasetSource(dataset, audio_column="sound")
    with pytest.raises(ValueError, match="clash with output keys"):
        DatasetSource(Dataset.from_dict({"audio": wav_files[:1], "id": [1]}))


def test_bad_file_is_reported_not_fatal(codec, wav_files, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    report = tokenize_audio(codec, FileSource([wav_files[0], str(broken)]), tmp_path / "out", progress=False)
    assert report.written == 1 and [k for k, _ in report.failed] == [str(broken)]


def test_cli_tokenize_audio(codec, wav_files, tmp_path, capsys):
    model_dir = tmp_path / "codec"
    codec.save_pretrained(model_dir)
    folder = str(tmp_path / "out")
    argv = ["tokenize-audio", str(wav_files[0]).rsplit("/", 1)[0], "--output-dir", folder,
            "--model", str(model_dir), "--device", "cpu", "--no-progress"]
    assert _run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "5 written, 0 already done, 0 failed" in out and "dataset with 5 records" in out
    from datasets import load_from_disk

    assert sorted(load_from_disk(f"{folder}/dataset")["id"]) == sorted(f"clip{i}.wav" for i in range(5))
    assert _run_cli(["tokenize-audio", "--output-dir", folder, "--model", str(model_dir)]) == 2  # no input given
    assert "exactly one of them" in capsys.readouterr().err


def _run_cli(argv) -> int:
    from llmcodec.cli import main

    return main(argv)


def test_resume_naming_the_folder_by_another_path_writes_each_file_once(codec, wav_files, tmp_path, monkeypatch):
    import os
    from pathlib import Path

    model_dir = tmp_path / "codec"
    codec.save_pretrained(model_dir)
    folder = Path(wav_files[0]).parent
    out = tmp_path / "out"
    common = ["--output-dir", str(out), "--model", str(model_dir), "--no-progress", "--no-dataset"]
    monkeypatch.chdir(folder.parent)
    assert _run_cli(["tokenize-audio", os.path.relpath(folder), *common]) == 0
    assert _run_cli(["tokenize-audio", str(folder.resolve()), *common]) == 0  # a resume: nothing new to do
    ids = [r["id"] for r in _records(shard_path(out, 0, 1))]
    assert len(ids) == len(set(ids)) == len(wav_files)


def test_a_second_process_on_the_same_shard_is_refused(codec, wav_files, tmp_path):
    import fcntl

    out = shard_path(tmp_path, 0, 1)
    with open(out, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run is writing this shard
        with pytest.raises(ValueError, match="another process"):
            tokenize_audio(codec, FileSource(wav_files), tmp_path, progress=False)
    assert out.read_text() == ""


def test_merge_refuses_duplicate_ids(tmp_path):
    record = {"id": "a.wav", "audio_tokens": "<CODEC_1>", "n_codes": 1}
    shard_path(tmp_path, 0, 1).write_text((json.dumps(record) + "\n") * 2)
    with pytest.raises(ValueError, match="'a.wav' appears 2 times"):
        merge_to_dataset(tmp_path)


@pytest.mark.parametrize("value", ["inf", "nan", "-5"])
def test_chunk_seconds_must_be_finite_and_not_negative(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _run_cli(["tokenize-audio", str(tmp_path), "--output-dir", str(tmp_path / "out"), f"--chunk-seconds={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--chunk-seconds" in err and value in err
