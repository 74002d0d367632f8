"""The feature cache: pooled clip features on disk, keyed on the clip and the settings."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from .._clips import Clips
from .._fileio import atomic_write, file_key

__all__ = ["CACHE_KEYS", "FeatureCache", "clip_key"]

#: How a file is keyed in the cache (see :func:`sklearn_samplecnn._fileio.file_key`).
CACHE_KEYS = ("stat", "content")
_CHECK = 16  # bytes of SHA-256 in front of every entry


class FeatureCache:
    """Clip features on disk, one small file per (clip, extractor settings).

    Each entry is ``<dir>/<settings token>/<clip key>.feat``: one layer's
    pooled features as float32 bytes after 16 bytes of their SHA-256, so a
    corrupt or truncated entry is detected on read and recomputed. Writes go
    to a temporary file renamed into place, so readers never see half an
    entry. A cache that cannot be written (read-only folder, full disk) warns
    once and the transform goes on without it: nothing computed is lost.

    Parameters
    ----------
    root : str or os.PathLike
        The cache folder; created when the first entry is written.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        if not os.fspath(root).strip():
            raise ValueError("cache_dir must name a folder, got an empty string; pass None "
                             "for no cache or '.' for the current folder.")
        self.root = Path(root).expanduser()
        self.writable = True

    def _path(self, token: str, key: str) -> Path:
        return self.root / token / f"{key}.feat"

    def get(self, token: str, key: str, n_features: int) -> np.ndarray | None:
        """The entry, or ``None`` when it is missing, corrupt or of another size."""
        try:
            raw = self._path(token, key).read_bytes()
        except OSError:
            return None
        check, payload = raw[:_CHECK], raw[_CHECK:]
        if hashlib.sha256(payload).digest()[:_CHECK] != check:
            return None
        row = np.frombuffer(payload, dtype=np.float32)
        return row.copy() if row.shape == (n_features,) else None

    def put(self, token: str, key: str, row: np.ndarray) -> None:
        """Store an entry; on an OSError warn once and stop writing."""
        if not self.writable:
            return
        payload = np.ascontiguousarray(row, dtype=np.float32).tobytes()
        data = hashlib.sha256(payload).digest()[:_CHECK] + payload
        try:
            atomic_write(self._path(token, key), lambda f: f.write(data))
        except OSError as exc:
            self.writable = False
            warnings.warn(f"the feature cache {self.root} cannot be written ({exc}); "
                          "going on without caching", RuntimeWarning, stacklevel=2)


def clip_key(clips: Clips, i: int, how: str = "stat") -> str:
    """Cache key of clip ``i``: its file's stat identity or bytes (``how``), or the
    waveform's bytes for clips given as arrays."""
    if clips.kind == "paths":
        return file_key(clips.items[i], content=how == "content")
    return hashlib.sha256(np.ascontiguousarray(clips.items[i], dtype=np.float32)).hexdigest()
