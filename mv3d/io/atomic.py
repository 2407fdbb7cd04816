"""Atomic file writes: a temp file in the target's folder, renamed over the target when complete."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def temp_path_for(path: str | os.PathLike) -> Path:
    """Create (empty) and return a unique temp file beside ``path`` (same folder, same filesystem)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates the file 0600; give it the permissions a plain open() would.
    os.chmod(tmp, 0o666 & ~_UMASK)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for libraries that open files themselves (h5py, OpenSim).

    On normal exit the temp file replaces ``path`` (``os.replace``); on an exception it is
    removed and ``path`` is left untouched. The parent folder must exist.
    """
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temp file beside ``path`` for writing; on success it replaces ``path`` atomically.

    mode: "w" (text, UTF-8 unless ``encoding`` is given) or "wb". Extra keyword arguments
    go to ``open`` (``newline``, ``encoding``). On an exception inside the block the temp
    file is removed and an existing ``path`` keeps its old content. The data are flushed
    and fsync'ed before the rename so a crash never leaves a half-written target.
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_write supports modes 'w', 'wt' and 'wb', not {mode!r}")
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
