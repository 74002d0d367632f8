"""The feature cache: pooled clip features on disk, keyed on clip content and settings."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from .._clips import Clips

__all__ = ["FeatureCache", "content_key"]


class FeatureCache:
    """Clip features on disk, one small file per (clip content, extractor settings).

    Each entry is ``<dir>/<settings token>/<content hash>.feat``: one layer's
    pooled features as float32 bytes after a 16-byte BLAKE2 digest of them, so
    a corrupt or truncated entry is detected on read and recomputed. Writes go
    to a temporary file renamed into place, so readers never see half an entry.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()

    def _path(self, token: str, key: str) -> Path:
        return self.root / token / f"{key}.feat"

    def get(self, token: str, key: str, n_features: int) -> np.ndarray | None:
        path = self._path(token, key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        digest, payload = raw[:16], raw[16:]
        if hashlib.blake2b(payload, digest_size=16).digest() != digest:
            return None
        row = np.frombuffer(payload, dtype=np.float32)
        return row.copy() if row.shape == (n_features,) else None

    def put(self, token: str, key: str, row: np.ndarray) -> None:
        path = self._path(token, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = np.ascontiguousarray(row, dtype=np.float32).tobytes()
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(hashlib.blake2b(payload, digest_size=16).digest() + payload)
        os.replace(tmp, path)


def content_key(clips: Clips, i: int) -> str:
    """A hash of clip ``i``'s content: the file's bytes or the waveform's."""
    digest = hashlib.blake2b(digest_size=20)
    if clips.kind == "paths":
        with open(clips.items[i], "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    else:
        digest.update(np.ascontiguousarray(clips.items[i], dtype=np.float32).tobytes())
    return digest.hexdigest()
