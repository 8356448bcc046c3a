"""`llmcodec convert`: never touches what it reads, replaces only the files an export writes, and reports a full
disk in one line with nothing partial left."""

import os
import stat

import pytest
import torch

from codec_testing import reference_auv, tiny_model
from llmcodec.cli import main
from llmcodec.hub import load_codec, save_codec_folder


@pytest.fixture
def exported(tmp_path):
    folder = save_codec_folder(tiny_model(seed=33), tmp_path / "m")
    (folder / "lm").mkdir()
    (folder / "lm" / "config.json").write_text("{}")
    (folder / "notes.txt").write_text("mine")
    return folder


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("llmcodec: error: ") and "Traceback" not in err, err
    return lines[0]


def test_an_output_that_is_contains_or_lies_inside_the_source_is_refused(exported, tmp_path, capsys):
    before = _snapshot(exported)
    line = _refused(["convert", str(exported), "--output-dir", str(exported), "--overwrite", "--storage-dtype", "float16"], capsys)
    assert f"--output-dir {exported} is the input {exported}" in line
    line = _refused(["convert", str(exported), "--output-dir", str(tmp_path), "--overwrite"], capsys)
    assert "contains the input" in line
    line = _refused(["convert", str(exported), "--output-dir", str(exported / "half"), "--overwrite"], capsys)
    assert "lies inside the input" in line
    raw = tmp_path / "work" / "llm-codec.pt"
    raw.parent.mkdir()
    torch.save(reference_auv(released=False, seed=6).state_dict(), raw)
    line = _refused(["convert", str(raw), str(tmp_path / "work"), "--overwrite"], capsys)  # old positional spelling
    assert "contains the input" in line and raw.is_file()
    assert _snapshot(exported) == before


def test_overwrite_replaces_the_export_files_and_keeps_the_others(exported, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.md").write_text("mine")
    (out / "model-00001-of-00002.safetensors").write_text("a shard of an earlier export")
    line = _refused(["convert", str(exported), "--output-dir", str(out)], capsys)
    assert "exists and is not empty; pass --overwrite" in line
    assert main(["convert", str(exported), "--output-dir", str(out), "--overwrite"]) == 0
    assert (out / "keep.md").read_text() == "mine" and not (out / "model-00001-of-00002.safetensors").exists()
    clip = torch.randn(1, 1, 3200) * 0.1
    assert torch.equal(load_codec(out).encode(clip).audio_codes, load_codec(exported).encode(clip).audio_codes)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640)])
def test_exported_files_follow_the_umask(exported, tmp_path, mask, expected):
    previous = os.umask(mask)
    try:
        out = save_codec_folder(load_codec(exported), tmp_path / "fresh")
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert set(modes.values()) == {expected}, modes
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~mask


def test_a_full_disk_is_one_line_and_leaves_nothing(exported, tmp_path, capsys, monkeypatch):
    from safetensors import SafetensorError

    from llmcodec.modeling import LLMCodecModel

    def full_disk(self, folder, **kwargs):
        (folder / "model.safetensors").write_bytes(b"partial")
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(LLMCodecModel, "save_pretrained", full_disk)
    out = tmp_path / "out"
    line = _refused(["convert", str(exported), "--output-dir", str(out)], capsys)
    assert line == f"llmcodec: error: cannot write {out}: no space left on the device (nothing partial was left behind); free some space and run again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
