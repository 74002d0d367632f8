"""Clips, segment datasets and clip-level splits for the skorch estimators.

A :class:`Clips` holds what the user passed as ``X`` (audio file paths or
waveforms), knows each clip's length at the model's sample rate and loads any
span of it. A :class:`SegmentDataset` turns clips into model-sized segments,
each carrying its clip's target, for torch's DataLoader: decoding happens in
``__getitem__``, so with ``iterator_train__num_workers > 0`` it runs in worker
processes, off the training loop's critical path.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import validate_data

from ..audio import DEFAULT_RES_TYPE, audio_info, load_audio
from ..exceptions import AudioLoadError
from ..segments import segment_starts, take_segment

__all__ = ["Clips", "SegmentDataset", "ClipSplit", "AudioCache", "clips_from_X"]


class AudioCache:
    """Decoded, resampled clips kept in memory or as ``.npy`` files in a folder.

    Keys are (path, size, modification time, rate, filter): a file changed on
    disk gets a new entry. Disk entries are written atomically (temporary file
    + rename), so parallel workers never read half a file; an unreadable entry
    is decoded again.
    """

    def __init__(self, where: str | os.PathLike) -> None:
        self.where = where
        self._memory: dict[str, np.ndarray] = {}
        if where != "memory":
            Path(where).expanduser().mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(path: str, sr: int, res_type: str) -> str:
        st = os.stat(path)
        raw = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{sr}|{res_type}"
        return hashlib.sha1(raw.encode()).hexdigest()

    def get(self, path: str, sr: int, res_type: str) -> np.ndarray:
        key = self.key(path, sr, res_type)
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
        fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, y, allow_pickle=False)
        os.replace(tmp, file)
        return y


class Clips:
    """The clips of one ``X``: audio file paths or in-memory waveforms.

    Parameters
    ----------
    items : list of str or list of 1-D float32 arrays
    kind : {"paths", "arrays"}
    sr : int
        The rate the model wants; files are resampled to it, arrays are taken
        to be at it already.
    res_type : str
        Resampling filter for files.
    cache : AudioCache or None
        Where decoded clips are kept; ``None`` decodes only the requested span
        on every access.
    """

    def __init__(self, items, kind, *, sr, res_type=DEFAULT_RES_TYPE, cache=None) -> None:
        self.items = list(items)
        self.kind = kind
        self.sr = int(sr)
        self.res_type = res_type
        self.cache = cache
        self._lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, index) -> Clips:
        out = Clips([self.items[i] for i in index], self.kind, sr=self.sr,
                    res_type=self.res_type, cache=self.cache)
        if self._lengths is not None:
            out._lengths = self._lengths[np.asarray(index, dtype=np.int64)]
        return out

    def lengths(self) -> np.ndarray:
        """Each clip's length in samples at ``sr`` (read from file headers)."""
        if self._lengths is None:
            if self.kind == "arrays":
                self._lengths = np.array([len(a) for a in self.items], dtype=np.int64)
            else:
                self._lengths = np.array(
                    [_resampled_length(audio_info(p), self.sr) for p in self.items], dtype=np.int64
                )
        return self._lengths

    def check_files(self) -> list[AudioLoadError]:
        """Read every file's header; return the errors (missing, empty, not audio...)."""
        errors, lengths = [], []
        for p in self.items:
            try:
                lengths.append(_resampled_length(audio_info(p), self.sr))
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
            return item
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
        return take_segment(self.load(i), start, length, "repeat" if fill == "repeat" else "pad")


def clips_from_X(estimator, X, *, reset: bool, sr: int, res_type: str = DEFAULT_RES_TYPE,
                 cache: AudioCache | None = None) -> Clips:
    """Turn an estimator's ``X`` into :class:`Clips`, validating it the sklearn way.

    ``X`` is a list (or 1-D object array) of paths, a list of 1-D waveforms of
    any lengths, or anything 2-D that sklearn's ``validate_data`` accepts
    (which also records or checks ``n_features_in_`` on ``estimator``).
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            "X must be a list of audio file paths or a 2-D array of waveforms, "
            f"got a single path {X!r}; wrap it in a list."
        )
    kw = {"sr": sr, "res_type": res_type, "cache": cache}
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.ndim == 1
                                        and X.dtype == object):
        if len(X) == 0:
            raise ValueError("X is empty: 0 clips were given, at least 1 is required.")
        first = X[0]
        if isinstance(first, (str, os.PathLike)):
            bad = [x for x in X if not isinstance(x, (str, os.PathLike))]
            if bad:
                raise TypeError(f"X mixes paths with other items, e.g. {bad[0]!r}.")
            return Clips([os.fspath(x) for x in X], "paths", **kw)
        if isinstance(first, np.ndarray) and first.ndim == 1 and not (
            all(isinstance(x, np.ndarray) and x.shape == first.shape for x in X)
        ):
            return Clips(_check_ragged(X), "arrays", **kw)
    Xa = validate_data(estimator, X, reset=reset, dtype=np.float32, ensure_min_features=1)
    return Clips(list(np.ascontiguousarray(Xa)), "arrays", **kw)


def _check_ragged(X) -> list:
    out = []
    for i, x in enumerate(X):
        x = np.asarray(x)
        if x.ndim != 1 or x.size == 0 or not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"X[{i}] must be a non-empty 1-D float waveform, got shape "
                             f"{x.shape} and dtype {x.dtype}.")
        if not np.isfinite(x).all():
            raise ValueError(f"X[{i}] contains NaN or infinite samples.")
        out.append(np.ascontiguousarray(x, dtype=np.float32))
    return out


def _resampled_length(info, sr: int) -> int:
    if info.frames == 0:
        raise AudioLoadError(info.path, "contains no audio samples (0 frames)")
    return int(info.frames * sr / info.sample_rate) if info.sample_rate != sr else info.frames


class SegmentDataset(torch.utils.data.Dataset):
    """Segments of clips with their clip's target, for a DataLoader.

    Parameters
    ----------
    clips : Clips
    y : ndarray or None
        One target row per clip (int64 class index or float32 tag indicators);
        ``None`` yields a dummy target (prediction).
    segment_length : int
    mode : {"fixed", "random"}
        ``"fixed"``: the clip's segments at fixed starts (the paper: the
        non-overlapping segments of each clip). ``"random"``: as many items per
        clip as it has fixed segments, each a crop at a random start drawn on
        every access (from torch's random generator, so seeded runs repeat).
    hop_length, tail, short
        As in :func:`sklearn_samplecnn.segments.segment_starts`.
    """

    def __init__(self, clips: Clips, y, segment_length: int, *, mode="fixed",
                 hop_length=None, tail="drop", short="pad") -> None:
        self.clips = clips
        self.y = y
        self.segment_length = int(segment_length)
        self.mode = mode
        self.tail = tail
        self.short = short
        lengths = clips.lengths()
        starts = [segment_starts(int(n), self.segment_length, hop_length=hop_length,
                                 tail=tail, short=short) for n in lengths]
        self.clip_index = np.concatenate(
            [np.full(len(s), i, dtype=np.int64) for i, s in enumerate(starts)]
        ) if starts else np.zeros(0, dtype=np.int64)
        self.starts = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, k: int):
        i = int(self.clip_index[k])
        n = int(self.clips.lengths()[i])
        length = self.segment_length
        if self.mode == "random" and n > length:
            start = int(torch.randint(0, n - length + 1, ()).item())
        else:
            start = int(self.starts[k])
        fill = self.short if n < length else self.tail
        x = torch.from_numpy(np.ascontiguousarray(self.clips.segment(i, start, length, fill)))
        if self.y is None:
            return x, torch.zeros((), dtype=torch.float32)
        return x, torch.as_tensor(self.y[i])

    def subset(self, clip_ids: Sequence[int]) -> SegmentDataset:
        """The dataset restricted to the given clips (renumbered)."""
        out = object.__new__(SegmentDataset)
        out.__dict__.update(self.__dict__)
        clip_ids = np.asarray(clip_ids, dtype=np.int64)
        out.clips = self.clips.subset(clip_ids)
        out.y = None if self.y is None else self.y[clip_ids]
        remap = np.full(len(self.clips), -1, dtype=np.int64)
        remap[clip_ids] = np.arange(len(clip_ids))
        keep = remap[self.clip_index] >= 0
        out.clip_index = remap[self.clip_index[keep]]
        out.starts = self.starts[keep]
        return out


class ClipSplit:
    """Hold out a fraction of the clips (not segments) for validation.

    Segments of one clip never land on both sides. Stratified by class when the
    targets are class indices and every class has at least two clips; a plain
    random split otherwise (small data) or for multi-label targets.

    Parameters
    ----------
    valid_size : float, default=0.1
        Fraction of clips held out, in (0, 1).
    random_state : int or None, default=None
    """

    def __init__(self, valid_size: float = 0.1, random_state: int | None = None) -> None:
        self.valid_size = valid_size
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"ClipSplit(valid_size={self.valid_size!r}, random_state={self.random_state!r})"

    def __call__(self, dataset: SegmentDataset, y=None, **fit_params):
        if not 0.0 < float(self.valid_size) < 1.0:
            raise ValueError(f"valid_size must be in (0, 1), got {self.valid_size!r}.")
        n = len(dataset.clips)
        n_valid = max(1, int(round(self.valid_size * n)))
        if n - n_valid < 1:
            raise ValueError(
                f"train_split={self.valid_size} leaves no training clip out of {n}; "
                "pass train_split=None to train on all clips without validation."
            )
        targets = dataset.y
        stratify = None
        if targets is not None and targets.ndim == 1:
            counts = np.bincount(targets)
            counts = counts[counts > 0]
            if counts.min() >= 2 and n_valid >= len(counts) and n - n_valid >= len(counts):
                stratify = targets
            elif n >= 10:
                warnings.warn(
                    "Some class has fewer than 2 clips (or too few clips for every class on "
                    "both sides); the validation split is not stratified.",
                    stacklevel=2,
                )
        train, valid = train_test_split(np.arange(n), test_size=n_valid, stratify=stratify,
                                        random_state=self.random_state)
        return dataset.subset(np.sort(train)), dataset.subset(np.sort(valid))
