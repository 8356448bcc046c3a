"""llmcodec.audio_datasets.load_dataset_folder: one rule for save_to_disk folders, data-file folders and Hub ids;
a folder with a loading script is refused without running it."""

import numpy as np
import pytest
import soundfile

from llmcodec.audio import DatasetLoadError, load_dataset_folder


def _dataset(n=3):
    from datasets import Dataset

    return Dataset.from_dict({"id": [str(i) for i in range(n)], "value": list(range(n))})


def test_saved_dataset_and_dataset_dict(tmp_path):
    from datasets import DatasetDict

    _dataset().save_to_disk(tmp_path / "one")
    assert load_dataset_folder(tmp_path / "one")["id"] == ["0", "1", "2"]
    assert len(load_dataset_folder(tmp_path / "one", split="train")) == 3  # a lone Dataset has no split to pick
    DatasetDict({"train": _dataset(3), "test": _dataset(2)}).save_to_disk(tmp_path / "two")
    assert len(load_dataset_folder(tmp_path / "two", split="test")) == 2
    with pytest.raises(DatasetLoadError, match=r"has splits \['train', 'test'\]; choose one"):
        load_dataset_folder(tmp_path / "two")
    with pytest.raises(DatasetLoadError, match="no split 'dev'"):
        load_dataset_folder(tmp_path / "two", split="dev")
    DatasetDict({"train": _dataset(4)}).save_to_disk(tmp_path / "single")
    assert len(load_dataset_folder(tmp_path / "single")) == 4


def test_a_folder_with_a_loading_script_is_refused_and_not_run(tmp_path):
    folder = tmp_path / "scripted"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "scripted.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (folder / "data.csv").write_text("a\n1\n")
    with pytest.raises(DatasetLoadError, match="loading script \\(scripted.py\\)") as raised:
        load_dataset_folder(folder)
    assert len(str(raised.value).splitlines()) == 1
    assert not marker.exists()


def test_missing_folders_and_files_are_named(tmp_path):
    with pytest.raises(DatasetLoadError, match="no such dataset folder"):
        load_dataset_folder(tmp_path / "nothing")
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(DatasetLoadError, match="is a file"):
        load_dataset_folder(tmp_path / "a.csv")


def test_a_folder_of_audio_files_loads_with_load_dataset(tmp_path):
    for name in ("x", "y"):
        soundfile.write(tmp_path / f"{name}.wav", np.zeros(1600, dtype=np.float32), 16000)
    dataset = load_dataset_folder(tmp_path, split="train")
    assert len(dataset) == 2 and "audio" in dataset.column_names
