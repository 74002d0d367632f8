"""Clips: what the user passed as ``X``, as audio the models can read.

A :class:`Clips` holds audio file paths or in-memory waveforms (at the model's
rate, or ``(y, sr)`` pairs at their own rate), knows each clip's length at the
model's sample rate and loads any span of it;
:func:`clips_from_X` validates an estimator's ``X`` into one, and
:class:`AudioCache` keeps decoded clips when the user asks for it. numpy only:
this layer sits between :mod:`~sklearn_samplecnn.audio` /
:mod:`~sklearn_samplecnn.segments` and the torch code.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils.validation import validate_data

from .._fileio import atomic_write, digest
from ..audio import (
    DEFAULT_RES_TYPE,
    audio_info,
    file_key,
    load_audio,
    resample,
    resampled_length,
    warn_if_loud,
)
from ..exceptions import AudioLoadError
from ..segments import take_segment

__all__ = ["AudioCache", "Clips", "clips_from_X"]


class AudioCache:
    """Decoded, resampled clips kept in memory or as ``.npy`` files in a folder.

    Keys are the file's stat identity (path, size, modification time, inode,
    change time: a replaced or edited file gets a new entry, see
    :func:`sklearn_samplecnn.audio.file_key`), the rate and the filter. Disk
    entries are written atomically, so parallel workers never read half a
    file; an unreadable entry is decoded again; a folder that cannot be
    created or written warns once (per process) and is skipped: the clip is
    still returned, decoded again next time.
    """

    def __init__(self, where: str | os.PathLike) -> None:
        self.where = where
        self._memory: dict[str, np.ndarray] = {}
        self._writable = True
        if where != "memory":
            with contextlib.suppress(OSError):  # reported by the first write
                Path(where).expanduser().mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(path: str, sr: int, res_type: str) -> str:
        return digest(file_key(path), str(sr), res_type)

    def get(self, path: str, sr: int, res_type: str) -> np.ndarray:
        try:
            key = self.key(path, sr, res_type)
        except OSError:  # missing, a device, a pipe: load_audio names the file and the cause
            return load_audio(path, sr=sr, res_type=res_type)
        if self.where == "memory":
            if key not in self._memory:
                self._memory[key] = load_audio(path, sr=sr, res_type=res_type)
            return self._memory[key]
        file = Path(self.where).expanduser() / f"{key}.npy"
        try:
            return np.load(file, allow_pickle=False)
        except (OSError, ValueError):
            pass
        y = load_audio(path, sr=sr, res_type=res_type)
        if self._writable:
            try:
                atomic_write(file, lambda f: np.save(f, y, allow_pickle=False))
            except OSError as exc:  # read-only or full: decode again next time
                self._writable = False
                warnings.warn(f"the audio cache {self.where} cannot be written ({exc}); "
                              "going on without it (files are decoded again)",
                              RuntimeWarning, stacklevel=2)
        return y


class Clips:
    """The clips of one ``X``: audio file paths or in-memory waveforms.

    Parameters
    ----------
    items : list of str, list of 1-D float32 arrays or list of (array, int) pairs
    kind : {"paths", "arrays", "pairs"}
        ``"pairs"``: ``(waveform, rate)`` pairs, kept as ``kind="arrays"`` with
        their ``rates``.
    sr : int
        The rate the model wants; files and pairs are resampled to it, plain
        arrays are taken to be at it already.
    res_type : str
        Resampling filter for files and pairs.
    cache : AudioCache or None
        Where decoded clips are kept; ``None`` decodes only the requested span
        on every access.
    """

    def __init__(self, items, kind, *, sr, res_type=DEFAULT_RES_TYPE, cache=None) -> None:
        items = list(items)
        #: each array's own rate (``(y, sr)`` pairs), or None: the arrays are at ``sr``
        self.rates: list[int] | None = None
        if kind == "pairs":
            items, self.rates = [y for y, _ in items], [int(r) for _, r in items]
            kind = "arrays"
        self.items = items
        self.kind = kind
        self.sr = int(sr)
        self.res_type = res_type
        self.cache = cache
        self._lengths: np.ndarray | None = None
        self._resampled: dict[int, np.ndarray] = {}  # pairs at ``sr``, made once each

    def __len__(self) -> int:
        return len(self.items)

    def name(self, i: int) -> str:
        """How errors and reports name clip ``i``: its path, or ``X[i]`` for arrays."""
        return self.items[i] if self.kind == "paths" else f"X[{i}]"

    def parts(self) -> tuple[list, str]:
        """``(items, kind)`` that rebuild these clips with ``Clips(items, kind, ...)``
        (in another process: a Dask worker)."""
        if self.rates is None:
            return self.items, self.kind
        return list(zip(self.items, self.rates)), "pairs"

    def at_rate(self, sr: int, res_type: str) -> Clips:
        """The same clips read at another rate (files and pairs resampled to it)."""
        items, kind = self.parts()
        return Clips(items, kind, sr=sr, res_type=res_type)

    def subset(self, index) -> Clips:
        items, kind = self.parts()
        out = Clips([items[i] for i in index], kind, sr=self.sr,
                    res_type=self.res_type, cache=self.cache)
        if self._lengths is not None:
            out._lengths = self._lengths[np.asarray(index, dtype=np.int64)]
        out._resampled = {new: self._resampled[old] for new, old in enumerate(index)
                          if old in self._resampled}
        return out

    def _array(self, i: int) -> np.ndarray:
        """Array clip ``i`` at ``sr``: a pair is resampled the first time it is asked for."""
        rate = None if self.rates is None else self.rates[i]
        if rate is None or rate == self.sr:
            return self.items[i]
        if i not in self._resampled:
            y = resample(self.items[i], orig_sr=rate, target_sr=self.sr,
                         res_type=self.res_type)
            if y.shape[-1] == 0:
                raise ValueError(f"X[{i}]: {len(self.items[i])} samples at {rate} Hz resample "
                                 f"to 0 samples at {self.sr} Hz.")
            self._resampled[i] = y
        return self._resampled[i]

    def lengths(self) -> np.ndarray:
        """Each clip's length in samples at ``sr`` (read from file headers)."""
        if self._lengths is None:
            if self.kind == "arrays":
                self._lengths = np.array([len(self._array(i)) for i in range(len(self))],
                                         dtype=np.int64)
            else:
                self._lengths = np.array(
                    [resampled_length(audio_info(p), self.sr) for p in self.items], dtype=np.int64
                )
        return self._lengths

    def check_files(self) -> list[AudioLoadError]:
        """Read every file's header; return the errors (missing, empty, not audio...)."""
        errors, lengths = [], []
        for p in self.items:
            try:
                lengths.append(resampled_length(audio_info(p), self.sr))
            except AudioLoadError as exc:
                errors.append(exc)
                lengths.append(0)
        if not errors:
            self._lengths = np.array(lengths, dtype=np.int64)
        return errors

    def load(self, i: int) -> np.ndarray:
        """The whole clip ``i`` at ``sr``, float32."""
        item = self.items[i]
        if self.kind == "arrays":
            return self._array(i)
        if self.cache is not None:
            return self.cache.get(item, self.sr, self.res_type)
        return load_audio(item, sr=self.sr, res_type=self.res_type)

    def segment(self, i: int, start: int, length: int, fill: str) -> np.ndarray:
        """Samples ``start:start+length`` of clip ``i``; past the end filled by ``fill``."""
        n = int(self.lengths()[i])
        if self.kind == "paths" and self.cache is None and start + length <= n:
            # decode only the span (plus a margin the resampler can eat into)
            y = load_audio(self.items[i], sr=self.sr, res_type=self.res_type,
                           offset=start / self.sr, duration=(length + 64) / self.sr)
            y = y[:length]
            if len(y) < length:  # rounding at the file's rate
                y = np.pad(y, (0, length - len(y)))
            return y
        return take_segment(self.load(i), start, length, fill)


def _as_path_list(X):
    """The paths in a pandas Series, a one-column DataFrame or a 1-D str/object array;
    ``None`` when ``X`` is none of those."""
    columns = getattr(X, "columns", None)
    if columns is not None and hasattr(X, "iloc"):  # a DataFrame
        text = [c for c in columns if X[c].map(lambda v: isinstance(v, (str, os.PathLike))).all()]
        if len(columns) == 1 and text:
            return list(X.iloc[:, 0])
        if text:
            # strings with a file suffix or a folder in them before labels such as "rock"
            paths = [c for c in text if X[c].map(_looks_like_path).all()] or text
            raise ValueError(
                f"X is a DataFrame with {len(columns)} columns; pass the column of audio paths, "
                f"e.g. X[{paths[0]!r}] (columns holding paths: {paths[:5]})."
            )
        return None
    if hasattr(X, "iloc") and getattr(X, "ndim", 0) == 1:  # a Series
        values = list(X)
        return values if values and isinstance(values[0], (str, os.PathLike)) else None
    if isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind in "USO" and len(X) and \
            isinstance(X[0], (str, np.str_, os.PathLike)):
        return [str(x) if isinstance(x, np.str_) else x for x in X]
    return None


def _looks_like_path(value) -> bool:
    if isinstance(value, os.PathLike):
        return True
    return bool(os.path.splitext(value)[1]) or "/" in value or os.sep in value


def _pcm_to_float(X: np.ndarray) -> np.ndarray:
    """Integer samples as PCM scaled to [-1, 1), as soundfile and librosa read them."""
    if X.dtype.kind == "u":
        half = float(2 ** (8 * X.dtype.itemsize - 1))
        return ((X.astype(np.float64) - half) / half).astype(np.float32)
    return (X.astype(np.float64) / float(2 ** (8 * X.dtype.itemsize - 1))).astype(np.float32)


def _warn_if_loud(arrays) -> None:
    """The loud-audio warning of :func:`~sklearn_samplecnn.audio.load_audio`, for arrays:
    the loudest ``X[i]`` named."""
    peaks = [float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays]
    warn_if_loud(peaks, [f"X[{i}]" for i in range(len(arrays))], stacklevel=4)


def clips_from_X(estimator, X, *, reset: bool, sr: int, res_type: str = DEFAULT_RES_TYPE,
                 cache: AudioCache | None = None) -> Clips:
    """Turn an estimator's ``X`` into :class:`Clips`, validating it the sklearn way.

    ``X`` is a list, tuple, 1-D numpy array (str or object), pandas Series or
    one-column DataFrame of paths; a list of 1-D waveforms of any lengths; a
    list of ``(waveform, rate)`` pairs (resampled to ``sr`` like files); or
    anything 2-D that sklearn's ``validate_data`` accepts (which also records
    or checks ``n_features_in_`` on ``estimator``). Integer waveforms are PCM
    and scaled to [-1, 1) (int16 by 32768, ...); float waveforms far outside
    [-1, 1] get a warning.
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            "X must be a list of audio file paths or a 2-D array of waveforms, "
            f"got a single path {X!r}; wrap it in a list."
        )
    if isinstance(X, tuple) and len(X) == 2 and _is_pair(X):
        raise TypeError("X is one (y, sr) pair; pass a list of pairs, [(y, sr)], one per "
                        "clip.")
    kw = {"sr": sr, "res_type": res_type, "cache": cache}
    paths = _as_path_list(X)
    if paths is not None:
        X = paths
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.ndim == 1
                                        and X.dtype == object):
        if len(X) == 0:
            raise ValueError("X is empty: 0 clips were given, at least 1 is required.")
        first = X[0]
        if _is_pair(first):
            pairs = _check_pairs(X)
            _warn_if_loud([y for y, _ in pairs])
            return Clips(pairs, "pairs", **kw)
        if isinstance(first, (str, os.PathLike)):
            bad = [x for x in X if not isinstance(x, (str, os.PathLike))]
            if bad:
                raise TypeError(f"X mixes paths with other items, e.g. {bad[0]!r}.")
            return Clips([os.fspath(x) for x in X], "paths", **kw)
        if isinstance(first, np.ndarray) and first.ndim == 1 and not (
            all(isinstance(x, np.ndarray) and x.shape == first.shape for x in X)
        ):
            arrays = _check_ragged(X)
            _warn_if_loud(arrays)
            return Clips(arrays, "arrays", **kw)
    if isinstance(X, np.ndarray) and X.dtype.kind in "iu":
        X = _pcm_to_float(X)
    Xa = validate_data(estimator, X, reset=reset, dtype=np.float32, ensure_min_features=1)
    _warn_if_loud(list(Xa))
    return Clips(list(np.ascontiguousarray(Xa)), "arrays", **kw)


def _check_ragged(X) -> list:
    return [_checked_waveform(x, f"X[{i}]") for i, x in enumerate(X)]


def _checked_waveform(x, name: str) -> np.ndarray:
    """``x`` as a contiguous float32 1-D waveform (integer PCM scaled), or a ValueError."""
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be a non-empty 1-D float waveform, got shape "
                         f"{x.shape} and dtype {x.dtype}.")
    if x.dtype.kind in "iu":
        x = _pcm_to_float(x)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite samples.")
    return np.ascontiguousarray(x, dtype=np.float32)


def _is_pair(x) -> bool:
    """Whether ``x`` looks like a ``(waveform, rate)`` pair (a tuple of an array and a
    number), as ``librosa.load`` and ``soundfile.read`` return them."""
    return (isinstance(x, tuple) and len(x) == 2 and not isinstance(x[0], (str, os.PathLike))
            and hasattr(x[0], "__len__") and isinstance(x[1], numbers.Real)
            and not isinstance(x[1], bool))


def _check_pairs(X) -> list[tuple[np.ndarray, int]]:
    out = []
    for i, item in enumerate(X):
        if not _is_pair(item):
            raise TypeError(f"X mixes (y, sr) pairs with other items, e.g. X[{i}] of type "
                            f"{type(item).__name__}; pass one (y, sr) pair per clip.")
        y, rate = item
        if not (float(rate).is_integer() and rate > 0):
            raise ValueError(f"X[{i}] is a (y, sr) pair with sr={rate!r}; sr must be a "
                             "positive integer rate in Hz.")
        y = np.asarray(y)
        if y.ndim == 2:
            raise ValueError(f"X[{i}] is a (y, sr) pair whose y has shape {y.shape}; pass mono "
                             "audio: y.mean(axis=0) for (channels, samples) as librosa gives "
                             "it, y.mean(axis=1) for (samples, channels) as soundfile does.")
        out.append((_checked_waveform(y, f"X[{i}]"), int(rate)))
    return out
