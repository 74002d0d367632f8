"""Small file utilities every writer of the library shares: atomic writes, keys, one hash.

Standard library only. One way to write a file (temporary file in the same
folder, then rename: readers never see half a file, a failure leaves nothing
behind, the file gets the umask's mode like any other), one hash (SHA-256),
one way to key a file for a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "digest", "file_key"]


def digest(*parts: bytes | str) -> str:
    """SHA-256 hex digest of the parts (strings are UTF-8 encoded), separated unambiguously."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], *,
                 fsync: bool = False) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file renamed into place.

    The parent folder is created. On any error (the writer's, a full disk)
    the temporary file is removed and the error propagates; ``path`` is then
    untouched. The file gets the mode ``open()`` gives (``0o666`` less the
    umask), not the ``0o600`` of ``tempfile``. ``fsync=True`` flushes the data
    to disk before the rename (model files; not cache entries).

    Raises
    ------
    IsADirectoryError
        When ``path`` is an existing folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name to write.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def file_key(path: str | os.PathLike, *, content: bool = False) -> str:
    """A cache key for a file: its stat identity, or (``content=True``) its bytes.

    The stat key covers the absolute path, size, modification time, inode and
    status-change time: replacing a file (even by one of the same size and
    modification time) or editing it in place changes the key, at the cost of
    one ``stat`` call. The content key hashes every byte: it survives copies
    to another folder or machine and costs a full read.
    """
    name = os.path.abspath(os.fspath(path))
    if content:
        h = hashlib.sha256()
        with open(name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    st = os.stat(name)
    return digest("stat", name, str(st.st_size), str(st.st_mtime_ns), str(st.st_ino),
                  str(st.st_ctime_ns))
