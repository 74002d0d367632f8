"""Small file utilities every writer of the library shares: atomic writes, keys, one hash.

Standard library only. One way to write a file (temporary file in the same
folder, then rename: readers never see half a file, a failure leaves nothing
behind, the file gets the umask's mode like any other), one hash (SHA-256),
one way to key a file for a cache, one way to tell a regular file from a
folder, a device or a pipe (which must never be read: ``/dev/zero`` never
ends, a FIFO blocks), and one check that an output path can be written,
made before any work starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "digest", "not_regular", "output_problem"]


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
    untouched. An ``OSError`` that names no file (a full disk: ``[Errno 28]
    No space left on device``) is raised again naming ``path``. The file gets
    the mode ``open()`` gives (``0o666`` less the umask), not the ``0o600`` of
    ``tempfile``. ``fsync=True`` flushes the data to disk before the rename
    (model files; not cache entries).

    Raises
    ------
    IsADirectoryError
        When ``path`` is an existing folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name to write.")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
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
    except OSError as exc:
        if exc.errno is None or exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc
    return path


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"))


def not_regular(mode: int) -> str | None:
    """What a path of ``os.stat(path).st_mode`` ``mode`` is when it is not a regular file
    (``"a folder"``, ``"a character device"``, ``"a block device"``, ``"a named pipe
    (FIFO)"``, ``"a socket"``); ``None`` for a regular file.

    Only regular files are ever read or hashed: a link to ``/dev/zero`` never ends, a
    FIFO blocks until someone writes to it.
    """
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def output_problem(path: str | os.PathLike, *, folder: bool = False) -> str | None:
    """Why ``path`` cannot be written, or ``None``: checked before any work starts.

    ``path`` is a file to write (``folder=False``) or a folder to write files
    in (``folder=True``). Nothing is created. The problems: the path is a
    folder where a file is wanted, a file (or device, pipe) where a folder
    is wanted, a device or pipe where a file is wanted; the nearest existing
    folder above it is a file (``afile.txt/m.samplecnn``), cannot be written
    (permissions, read-only file system) or is on a full file system. A
    check cannot promise the write (the disk may fill meanwhile): writers
    still handle errors, but no run trains for hours to fail on a path that
    was never writable.
    """
    name = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        mode = os.stat(name).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:
        return f"cannot be looked up ({exc.strerror})"
    if mode is not None:
        what = not_regular(mode)
        if folder and what != "a folder":
            return f"is {what or 'a file'}, not a folder"
        if not folder and what == "a folder":
            return "is a folder; give a file name"
        if not folder and what is not None:
            return f"is {what}, not a regular file"
    parent = name if folder and mode is not None else os.path.dirname(name)
    while True:
        try:
            mode = os.stat(parent).st_mode
            break
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(parent)
        except OSError as exc:
            return f"{parent} cannot be looked up ({exc.strerror})"
    if not stat.S_ISDIR(mode):
        return f"{parent} is {not_regular(mode) or 'a file'}, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the folder {parent} cannot be written (permission denied or read-only)"
    if hasattr(os, "statvfs"):
        fs = os.statvfs(parent)
        if fs.f_bavail * fs.f_frsize == 0:
            return f"the file system of {parent} is full (no space left on device)"
    return None
