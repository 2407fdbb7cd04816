"""What a stage's input files hold, for its fingerprint: paths relative to the session, sizes and
content hashes.

Hashing every video and JSON on every run would be slow, so each file's hash is kept in
``mv3d/file_hashes.json`` with the file's size, mtime, ctime and inode. That stat record is only
a shortcut: any write (which changes mtime or ctime) or a copy or move (a new inode) hashes the
file again, and the fingerprint itself never holds a time or an absolute path inside the
session. So a JSON edited in place re-runs the stages that read it, and a session copied or
moved elsewhere is recognised as unchanged after one pass of hashing.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from mv3d.io.atomic import atomic_write

log = logging.getLogger(__name__)

#: Bytes read per step while hashing.
_CHUNK = 1 << 20


def _stat_key(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _hash_file(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class FileHashes:
    """Content identities of files under a session ``root``, with a stat shortcut kept in ``cache_path``."""

    def __init__(self, root: Path, cache_path: Path):
        self.root = Path(root).resolve()
        self.cache_path = Path(cache_path)
        self._cache: dict[str, list] = {}
        self._changed = False
        if self.cache_path.is_file():
            try:
                loaded = json.loads(self.cache_path.read_text())
                self._cache = loaded if isinstance(loaded, dict) else {}
            except (json.JSONDecodeError, UnicodeDecodeError, OSError):
                log.warning("%s is unreadable; input files will be hashed again", self.cache_path)

    def name(self, path: Path) -> str:
        """The path relative to the session root (POSIX), or absolute when outside it."""
        resolved = Path(path).resolve()
        try:
            return resolved.relative_to(self.root).as_posix()
        except ValueError:
            return resolved.as_posix()

    def identify(self, paths: list[Path]) -> list[list]:
        """``[name, size, content hash]`` of every file (folders expanded to the files inside,
        hidden ones excluded); ``[name, None, None]`` for a missing path."""
        out = []
        for path in paths:
            path = Path(path)
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file()
                               and not any(part.startswith(".") for part in p.relative_to(path).parts))
                out.extend(self._identity(f) for f in files)
            else:
                out.append(self._identity(path))
        return out

    def _identity(self, path: Path) -> list:
        name = self.name(path)
        try:
            stat = path.stat()
        except OSError:
            return [name, None, None]
        key = _stat_key(stat)
        cached = self._cache.get(name)
        if not (isinstance(cached, list) and len(cached) == 2 and cached[0] == key):
            cached = [key, _hash_file(path)]
            self._cache[name] = cached
            self._changed = True
        return [name, stat.st_size, cached[1]]

    def save(self) -> None:
        """Keep the stat shortcuts for the next run (atomically; nothing when unchanged)."""
        if not self._changed:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.cache_path) as fh:
            json.dump(self._cache, fh, indent=0, sort_keys=True)
        self._changed = False
