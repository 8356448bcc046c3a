"""Writing outputs without losing what the user wrote: the single home of atomic writes and output checks.

- `write_atomically`: one file through a temporary sibling and a rename, with the permissions the umask gives
  (a temporary file is created 0600 and would keep it through the rename).
- `follow_umask`: the same permissions for a folder written by a library (`save_pretrained` writes its
  weights through 0600 temporaries).
- `check_output_apart_from_inputs`: refuses an output folder that is, contains or lies inside an input.
- `install_staged_folder`: moves a finished staging folder into place, replacing only the files it holds.
- `disk_full_message`: the one line for ENOSPC / EDQUOT.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from llmcodec.errors import UserError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class OutputExistsError(UserError, FileExistsError):
    """An output folder exists and holds files, and replacing them was not asked for (`--overwrite`)."""


def why_not_a_readable_file(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be read as an input file ("no such file", "is a folder", "is not a regular file (a
    FIFO)" ...), or None for a readable regular file. A FIFO or a device is refused from its type alone: reading
    it would block or never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return f"cannot read ({error.strerror or error})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket"
        return f"is not a regular file ({kind})"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def current_umask() -> int:
    """The process umask (the only portable way to read it is to set it and put it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new regular file under the current umask (0o644 under umask 022)."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """Permissions of a new folder under the current umask (0o755 under umask 022)."""
    return 0o777 & ~current_umask()


def follow_umask(folder: str | os.PathLike) -> None:
    """Gives `folder`, and every file and folder inside it, the permissions the umask gives new ones."""
    folder = Path(folder)
    files, folders = file_mode(), folder_mode()
    os.chmod(folder, folders)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            os.chmod(path, folders if path.is_dir() else files)


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is "no space left on device" / "disk quota exceeded"."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in _NO_SPACE:
            return True
        if "No space left on device" in str(error) or "Disk quota exceeded" in str(error):
            return True  # libraries that wrap the OSError in their own type (safetensors, libsndfile)
        error = error.__cause__ or error.__context__
    return False


def no_space_left(folder: str | os.PathLike) -> bool:
    """Whether the file system of `folder` is (nearly) full: libsndfile reports a full disk only as "System error"."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def failed_for_space(error: BaseException, folder: str | os.PathLike) -> bool:
    """Whether a failed write into `folder` ran out of space (call it before removing the partial file)."""
    return is_disk_full(error) or no_space_left(folder)


def disk_full_message(target: str | os.PathLike) -> str:
    return f"cannot write {target}: no space left on the device (nothing partial was left behind); free some space and run again"


def write_atomically(path: str | os.PathLike, write: Callable[[str], None], suffix: str = "") -> Path:
    """Calls `write(temporary_path)` on a temporary file beside `path`, then renames it into place.

    The file gets the umask's permissions. On any failure the temporary file is removed and `path` is left as
    it was; a full disk raises `UserError` with one line naming `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        os.chmod(temporary, file_mode())
        write(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        full = isinstance(error, Exception) and not isinstance(error, UserError) and failed_for_space(error, path.parent)
        if os.path.exists(temporary):
            os.unlink(temporary)
        if full:
            raise UserError(disk_full_message(path)) from error
        raise
    return path


def _overlaps(first: Path, second: Path) -> bool:
    return first == second or first in second.parents or second in first.parents


def check_output_apart_from_inputs(
    output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], *, option: str = "the output folder"
) -> None:
    """Raises `UserError` when `output` is, contains or lies inside one of the (existing, local) `inputs`.

    Replacing such an output would delete or change the very files the command reads.
    """
    out = Path(output).expanduser().resolve()
    for given in inputs:
        if given is None or not Path(given).expanduser().exists():
            continue  # a Hub id or a missing path cannot be inside the output
        source = Path(given).expanduser().resolve()
        if _overlaps(out, source):
            relation = "is" if out == source else ("lies inside" if source in out.parents else "contains")
            raise UserError(
                f"{option} {output} {relation} the input {given}; write to a separate folder (it would replace what "
                "the command reads)"
            )


def install_staged_folder(
    staging: str | os.PathLike, out_dir: str | os.PathLike, *, overwrite: bool, stale: Sequence[str] = ()
) -> Path:
    """Moves the finished folder `staging` to `out_dir` (same file system); returns `out_dir`.

    A missing or empty `out_dir` is replaced by `staging` in one rename. An `out_dir` with files needs
    `overwrite`; then each staged file replaces its namesake (one atomic rename per file), files of `out_dir`
    matching a `stale` pattern (e.g. "model-*-of-*.safetensors", from an earlier export that this one replaces)
    that the staging folder lacks are removed, and every other file of `out_dir` is kept.
    """
    staging, out_dir = Path(staging), Path(out_dir)
    follow_umask(staging)
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return out_dir
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a folder")
    if not overwrite:
        raise OutputExistsError(
            f"{out_dir} already exists and is not empty; pass --overwrite (overwrite=True) to replace the files this "
            "command writes"
        )
    staged = {path.name for path in staging.iterdir()}
    for path in out_dir.iterdir():
        if path.name not in staged and any(fnmatch.fnmatch(path.name, pattern) for pattern in stale):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    _merge(staging, out_dir)
    shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def _merge(source: Path, target: Path) -> None:
    for path in sorted(source.iterdir()):
        destination = target / path.name
        if path.is_dir() and destination.is_dir() and not destination.is_symlink():
            _merge(path, destination)
        elif path.is_dir() and destination.exists():
            raise UserError(f"{destination} exists and is not a folder; it cannot receive the folder {path.name}")
        else:
            os.replace(path, destination)


def staging_folder(out_dir: str | os.PathLike) -> Path:
    """A new empty temporary folder beside `out_dir` (same file system, so the final rename is atomic)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))


@contextmanager
def staged_output_folder(out_dir: str | os.PathLike, *, overwrite: bool, stale: Sequence[str] = ()) -> Iterator[Path]:
    """Yields a temporary folder beside `out_dir` to write into; when the block ends without an error it is
    installed as `out_dir` (`install_staged_folder`). The temporary folder never outlives the block."""
    staging = staging_folder(out_dir)
    try:
        yield staging
        install_staged_folder(staging, out_dir, overwrite=overwrite, stale=stale)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
