"""The feature cache: pooled clip features on disk, keyed on the clip and the settings."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from .._deprecate import warn_deprecated
from .._fileio import atomic_write
from ..audio import FILE_KEYS, file_key
from ..engine import Clips

__all__ = ["FeatureCache", "clip_key"]


def __getattr__(name: str):
    if name == "CACHE_KEYS":  # the kinds of file key are defined once, in audio
        warn_deprecated("sklearn_samplecnn.features.cache.CACHE_KEYS",
                        "sklearn_samplecnn.audio.FILE_KEYS")
        return FILE_KEYS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
_CHECK = 16  # bytes of SHA-256 in front of every entry
_MAGIC = b"SCF2"
_TOKEN = 24  # characters of a block's settings token
_BLOCK = _TOKEN + 4  # token and width (uint32) in the entry's header


def _pack(blocks: dict[str, np.ndarray]) -> bytes:
    head = [_MAGIC, len(blocks).to_bytes(4, "little")]
    for token, row in blocks.items():
        head += [token.encode("ascii"), len(row).to_bytes(4, "little")]
    body = b"".join(head) + b"".join(
        np.ascontiguousarray(row, dtype="<f4").tobytes() for row in blocks.values())
    return hashlib.sha256(body).digest()[:_CHECK] + body


def _unpack(raw: bytes) -> dict[str, np.ndarray]:
    """The blocks of an entry; empty when it is corrupt, truncated or of another format."""
    body = raw[_CHECK:]
    if len(body) < 8 or body[:4] != _MAGIC \
            or hashlib.sha256(body).digest()[:_CHECK] != raw[:_CHECK]:
        return {}
    n = int.from_bytes(body[4:8], "little")
    start = 8 + n * _BLOCK
    widths = [int.from_bytes(body[8 + k * _BLOCK + _TOKEN:8 + (k + 1) * _BLOCK], "little")
              for k in range(n)]
    if len(body) != start + 4 * sum(widths):
        return {}
    data = np.frombuffer(body, dtype="<f4", offset=start)
    out, at = {}, 0
    for k, w in enumerate(widths):
        out[body[8 + k * _BLOCK:8 + k * _BLOCK + _TOKEN].decode("ascii")] = data[at:at + w]
        at += w
    return out


class FeatureCache:
    """Clip features on disk: one small file per clip holding every block computed for it.

    A block is one run of a transformer's output columns (one layer of one
    extractor with its pooling, one statistic block of the classic
    features), named by a token made of every setting that changes it. Each
    clip's entry, ``<dir>/<key[:2]>/<clip key>.feat``, holds the blocks of
    every setting computed for that clip, so a cached rerun reads one file per
    clip whatever the number of layers and extractors, and a grid over
    ``layers`` is served from the same entries. The blocks come after 16
    bytes of their SHA-256, so a corrupt or truncated entry is detected on
    read and recomputed. Writes go to a temporary file renamed into place, so
    readers never see half an entry (two processes writing one clip's entry
    at once may drop each other's new blocks, which are then computed again,
    never wrong). A cache that cannot be written (read-only folder, full
    disk) warns once and the transform goes on without it: nothing computed
    is lost.

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
        self._where = os.fspath(self.root)
        self.writable = True

    def _path(self, key: str) -> str:
        return f"{self._where}/{key[:2]}/{key}.feat"

    def read(self, key: str) -> dict[str, np.ndarray]:
        """Every block of clip ``key``'s entry (token -> read-only row); empty when the
        entry is missing or corrupt."""
        try:
            with open(self._path(key), "rb") as f:
                return _unpack(f.read())
        except OSError:
            return {}

    def get(self, token: str, key: str, n_features: int) -> np.ndarray | None:
        """Block ``token`` of clip ``key``, or ``None`` when missing, corrupt or of another size."""
        row = self.read(key).get(token)
        return row.copy() if row is not None and row.shape == (n_features,) else None

    def update(self, key: str, blocks: dict[str, np.ndarray]) -> None:
        """Add or replace blocks of clip ``key``'s entry; on an OSError warn once and stop
        writing."""
        if not self.writable:
            return
        merged = self.read(key)
        merged.update(blocks)
        data = _pack(merged)
        try:
            atomic_write(self._path(key), lambda f: f.write(data))
        except OSError as exc:
            self.writable = False
            warnings.warn(f"the feature cache {self.root} cannot be written ({exc}); "
                          "going on without caching", RuntimeWarning, stacklevel=2)

    def put(self, token: str, key: str, row: np.ndarray) -> None:
        """Store one block (:meth:`update` with one block)."""
        self.update(key, {token: row})


def clip_key(clips: Clips, i: int, how: str = "stat") -> str:
    """Cache key of clip ``i``: its file's stat identity or bytes (``how``), or the
    waveform's bytes for clips given as arrays."""
    if clips.kind == "paths":
        return file_key(clips.items[i], content=how == "content")
    h = hashlib.sha256(np.ascontiguousarray(clips.items[i], dtype=np.float32))
    if clips.rates is not None:  # a (y, sr) pair: the same samples at another rate differ
        h.update(f"|{clips.rates[i]} Hz".encode())
    return h.hexdigest()
