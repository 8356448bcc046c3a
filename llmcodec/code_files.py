"""Reading code files for `llmcodec decode`: `.npy` arrays (`encode`) and `<CODEC_n>` text (`encode --tokens`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from llmcodec.files import why_not_a_readable_file
from llmcodec.tokenizer.mapping import AudioTokenMap


def read_code_file(path: Path, codebook_size: int) -> np.ndarray:
    """A code file as 1-D int64 codes: `.npy` (what `encode` writes) or `.txt` `<CODEC_n>` tokens (`--tokens`).

    Raises ValueError with our own message; never loads pickled data (numpy's advice to allow it is not passed on).
    """
    if (reason := why_not_a_readable_file(path)) is not None:
        raise ValueError(reason)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        codes = AudioTokenMap(first_id=0, n_codes=codebook_size).text_to_codes(path.read_text(encoding="utf-8").strip())
    elif suffix == ".npy":
        try:
            codes = np.load(path, allow_pickle=False)
        except EOFError as error:
            raise ValueError("the file is empty (not a .npy array)") from error
        except ValueError as error:  # numpy's message suggests allow_pickle=True: loading it could run code
            reason = "" if "pickle" in str(error) else f": {error}"
            raise ValueError(f"not a .npy array of codes (its content is not a plain numpy array{reason})") from error
        if isinstance(codes, np.lib.npyio.NpzFile):
            codes.close()
            raise ValueError("this is an .npz archive, not a .npy array (save 1-D codes with numpy.save)")
    else:
        raise ValueError(
            f"unsupported code file {suffix or '(no suffix)'!r}: decode reads .npy code arrays (llmcodec encode) "
            "or .txt <CODEC_n> token files (llmcodec encode --tokens)"
        )
    if codes.ndim != 1:
        raise ValueError(f"expected a 1-D array of codes, got shape {codes.shape}")
    if codes.size == 0:
        raise ValueError("the file holds no codes")
    if codes.dtype.kind not in "iu":
        raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
    return codes.astype(np.int64)
