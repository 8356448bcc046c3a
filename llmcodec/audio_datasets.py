"""Opening a Hugging Face dataset given by the user: the single home of the "load_from_disk or load_dataset" rule.

`load_dataset_folder(source)` takes a `save_to_disk` folder (it holds `state.json` or `dataset_dict.json`), a
folder of data files (an audio folder, parquet, csv ...: `datasets.load_dataset(folder)`), or a Hub dataset id.
A folder holding a dataset loading script (a `.py` file) is refused in one line: code that came with a dataset
is never executed. `datasets` is imported only when a dataset is opened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llmcodec.errors import UserError

# Files `save_to_disk` always writes: `state.json` for a Dataset, `dataset_dict.json` for a DatasetDict.
SAVED_DATASET_MARKERS = ("state.json", "dataset_dict.json")


class DatasetLoadError(UserError, ValueError):
    """A dataset source could not be opened (missing folder, loading script, unknown split, ...)."""


def is_saved_dataset(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`."""
    return Path(path).is_dir() and any((Path(path) / marker).is_file() for marker in SAVED_DATASET_MARKERS)


def _looks_local(source: str) -> bool:
    return os.path.isabs(source) or source.startswith((".", "~")) or os.path.exists(source)


def load_dataset_folder(
    source: str | os.PathLike,
    *,
    config: str | None = None,
    split: str | None = None,
    streaming: bool = False,
    **load_kwargs: Any,
):
    """Opens `source` as one split of a dataset; returns a `datasets.Dataset` (an `IterableDataset` when streaming).

    Args:
        source: a `save_to_disk` folder, a folder of data files, or a Hub dataset id (`owner/name`).
        config: the dataset configuration name (`load_dataset`'s `name`).
        split: the split to return. None takes the only split, and refuses a choice among several.
        streaming: stream a Hub dataset or folder of data files instead of preparing it.
        load_kwargs: passed to `datasets.load_dataset`.

    Raises:
        DatasetLoadError: missing local folder, a folder with a loading script, an unknown or ambiguous split,
            or any failure of `datasets` (one line naming `source`).
    """
    import datasets

    name = os.fspath(source)
    path = Path(name).expanduser()
    try:
        if _looks_local(name):
            if not path.exists():
                raise DatasetLoadError(f"{name}: no such dataset folder")
            if not path.is_dir():
                raise DatasetLoadError(f"{name}: is a file; pass a dataset folder (save_to_disk or data files) or a Hub id")
            if is_saved_dataset(path):
                loaded = datasets.load_from_disk(str(path))
                if streaming:
                    loaded = _to_iterable(loaded)
            else:
                scripts = sorted(p.name for p in path.glob("*.py"))
                if scripts:
                    raise DatasetLoadError(
                        f"{name}: holds a dataset loading script ({scripts[0]}); code that comes with a dataset is "
                        "never run: use its data files (parquet, audio folder) or a save_to_disk folder"
                    )
                loaded = datasets.load_dataset(str(path), config, split=split, streaming=streaming, **load_kwargs)
        else:
            loaded = datasets.load_dataset(name, config, split=split, streaming=streaming, **load_kwargs)
    except DatasetLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - datasets raises many types for a bad source
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatasetLoadError(f"{name}: cannot open the dataset ({message})") from error
    return _select_split(loaded, name, split)


def _to_iterable(loaded):
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        return datasets.IterableDatasetDict({key: value.to_iterable_dataset() for key, value in loaded.items()})
    return loaded.to_iterable_dataset()


def _select_split(loaded, name: str, split: str | None):
    import datasets

    if not isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        return loaded
    splits = list(loaded)
    if split is None:
        if len(splits) != 1:
            raise DatasetLoadError(f"{name} has splits {splits}; choose one (--split)")
        split = splits[0]
    if split not in loaded:
        raise DatasetLoadError(f"{name} has no split {split!r} (splits: {splits})")
    return loaded[split]
