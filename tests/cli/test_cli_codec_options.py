"""Codec CLI options: `--skip-existing` (done files are left alone, the rest is encoded) and `--codebook-domain`
(codes stay inside the named partition and equal `model.encode(..., codebook_domain=...)`)."""

import numpy as np
import pytest
import soundfile
import torch

from codec_testing import speechlike, tiny_model_dir_fixture
from llmcodec.cli import main
from llmcodec.hub import load_codec


# Tiny codec: 256 codes, partitions speech [0, 128) and other [128, 256).
model_dir = tiny_model_dir_fixture(seed=51)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    for i, name in enumerate(("a", "b", "c")):
        soundfile.write(folder / f"{name}.wav", speechlike(16000 + 700 * i, seed=50 + i).numpy(), 16000, subtype="FLOAT")
    return folder


def test_skip_existing_leaves_done_files_alone_and_encodes_the_rest(model_dir, clips, tmp_path, capsys):
    out = tmp_path / "codes"
    inputs = [str(clips / f"{n}.wav") for n in ("a", "b", "c")]
    assert main(["encode", *inputs[:2], "--model", str(model_dir), "--output-dir", str(out)]) == 0
    fresh = np.load(out / "a.npy")
    # Marker content: a skipped file keeps it, a re-encoded one would get real codes back.
    np.save(out / "a.npy", np.array([7, 7, 7], dtype=np.int32))
    before = {name: (out / name).read_bytes() for name in ("a.npy", "b.npy")}
    capsys.readouterr()
    assert main(["encode", *inputs, "--model", str(model_dir), "--output-dir", str(out), "--skip-existing"]) == 0
    err = capsys.readouterr().err
    assert "skipped 2 file(s)" in err and "1 of 1 file(s) done" in err
    assert {name: (out / name).read_bytes() for name in ("a.npy", "b.npy")} == before
    assert np.load(out / "c.npy").shape == (int(16000 + 700 * 2) // 320,)
    # Without a flag the command replaces nothing it did not write: the files that exist fail, one by one.
    assert main(["encode", *inputs, "--model", str(model_dir), "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "3 of 3 file(s) done" not in err and "0 of 3 file(s) done, 3 failed" in err and "pass --overwrite" in err
    assert (out / "a.npy").read_bytes() == before["a.npy"]
    # With --overwrite it rewrites everything.
    assert main(["encode", *inputs, "--model", str(model_dir), "--output-dir", str(out), "--overwrite"]) == 0
    assert np.array_equal(np.load(out / "a.npy"), fresh)


@pytest.mark.parametrize("domain, low, high", [("speech", 0, 128), ("other", 128, 256)])
def test_codebook_domain_keeps_codes_inside_the_partition(model_dir, clips, tmp_path, domain, low, high):
    inputs = [str(clips / f"{n}.wav") for n in ("a", "b", "c")]
    # float32: `--dtype auto` is bfloat16 on CPUs with native bf16, which would change codes vs model.encode.
    args = ["encode", *inputs, "--model", str(model_dir), "--batch-size", "2", "--dtype", "float32"]
    assert main([*args, "--output-dir", str(tmp_path / domain), "--codebook-domain", domain]) == 0
    assert main([*args, "--output-dir", str(tmp_path / "all")]) == 0
    model = load_codec(model_dir)
    outside = 0
    for name in ("a", "b", "c"):
        codes = np.load(tmp_path / domain / f"{name}.npy")
        assert low <= codes.min() and codes.max() < high, (name, codes.min(), codes.max())
        audio, _ = soundfile.read(clips / f"{name}.wav", dtype="float32")
        with torch.inference_mode():
            expected = model.encode(torch.from_numpy(audio)[None, None], codebook_domain=domain).audio_codes[0]
        assert np.array_equal(codes, expected.numpy()), name
        unrestricted = np.load(tmp_path / "all" / f"{name}.npy")
        outside += int(((unrestricted < low) | (unrestricted >= high)).sum())
    assert outside > 0  # the restriction changed something: unrestricted codes leave the partition
