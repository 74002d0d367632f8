"""Segment datasets and clip-level splits for the skorch estimators.

A :class:`SegmentDataset` turns :class:`~sklearn_samplecnn.engine.Clips` into
model-sized segments, each carrying its clip's target, for torch's DataLoader: decoding happens in
``__getitem__``, so with ``iterator_train__num_workers > 0`` it runs in worker
processes, off the training loop's critical path. A :class:`CropPairDataset`
gives two random crops of each clip, the views of contrastive training.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ..engine import Clips
from ..exceptions import AudioLoadError, ClipTooShortError
from ..segments import SHORTS, segment_starts

__all__ = ["ClipSplit", "CropPairDataset", "SegmentDataset"]


class SegmentDataset(torch.utils.data.Dataset):
    """Segments of clips with their clip's target and weight, for a DataLoader.

    Item ``k`` is ``({"x": segment, "w": weight, "failed": flag, "clip": i,
    "error": message}, target)``: the segment's samples, its clip's sample
    weight (1 without weights), whether decoding it failed, its clip's index
    and the error (file and cause; ``""`` when it did not fail). With
    ``on_error="skip"`` a segment whose file cannot be decoded (a corrupt
    body past a valid header, say) comes back as zeros with weight 0 and
    ``failed`` set, so the batch and the epoch go on and the training step can
    report the file; with ``"raise"`` the
    :class:`~sklearn_samplecnn.AudioLoadError` propagates.

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
    weights : ndarray of shape (n_clips,) or None, default=None
        Per-clip sample weights, given to each of the clip's segments.
    on_error : {"raise", "skip"}, default="raise"
    """

    def __init__(self, clips: Clips, y, segment_length: int, *, mode="fixed",
                 hop_length=None, tail="overlap", short="pad", weights=None,
                 on_error="raise") -> None:
        self.clips = clips
        self.y = y
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)
        self.on_error = on_error
        self.segment_length = int(segment_length)
        self.mode = mode
        self.tail = tail
        self.short = short
        starts = []
        for i, n in enumerate(clips.lengths()):
            try:
                starts.append(segment_starts(int(n), self.segment_length,
                                             hop_length=hop_length, tail=tail, short=short))
            except ClipTooShortError as exc:  # short="error": say which clip
                raise ClipTooShortError(f"{clips.name(i)}: {exc}") from None
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
        w = 1.0 if self.weights is None else float(self.weights[i])
        error = ""
        try:
            x = self.clips.segment(i, start, length, fill)
        except AudioLoadError as exc:
            if self.on_error != "skip":
                raise
            x, w, error = np.zeros(length, dtype=np.float32), 0.0, str(exc)
        item = {"x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "w": torch.tensor(w, dtype=torch.float32), "failed": torch.tensor(bool(error)),
                "clip": torch.tensor(i, dtype=torch.int64), "error": error}
        if self.y is None:
            return item, torch.zeros((), dtype=torch.float32)
        return item, torch.as_tensor(self.y[i])

    def subset(self, clip_ids: Sequence[int]) -> SegmentDataset:
        """The dataset restricted to the given clips (renumbered)."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        clip_ids = np.asarray(clip_ids, dtype=np.int64)
        out.clips = self.clips.subset(clip_ids)
        out.y = None if self.y is None else self.y[clip_ids]
        out.weights = None if self.weights is None else self.weights[clip_ids]
        remap = np.full(len(self.clips), -1, dtype=np.int64)
        remap[clip_ids] = np.arange(len(clip_ids))
        keep = remap[self.clip_index] >= 0
        out.clip_index = remap[self.clip_index[keep]]
        out.starts = self.starts[keep]
        return out


class CropPairDataset(torch.utils.data.Dataset):
    """Two independent random crops of each clip, redrawn on every access.

    Item ``i`` is ``(views, 0.0)`` with ``views`` of shape ``(2, crop_length)``:
    the two views of clip ``i`` for contrastive training (one pair per clip
    per epoch). Starts come from torch's random generator, so seeded runs
    repeat.

    Parameters
    ----------
    clips : Clips
    crop_length : int
        Samples per view.
    short : {"pad", "repeat", "error"}, default="pad"
        A clip shorter than ``crop_length``: both views are the whole clip,
        padded with zeros or repeated; ``"error"`` raises
        :class:`~sklearn_samplecnn.exceptions.ClipTooShortError`.
    """

    y = None  # no targets: ClipSplit splits it at random

    def __init__(self, clips: Clips, crop_length: int, *, short: str = "pad") -> None:
        if short not in SHORTS:
            raise ValueError(f"short must be one of {SHORTS}, got {short!r}.")
        self.clips = clips
        self.crop_length = int(crop_length)
        self.short = short
        for i, n in enumerate(clips.lengths()):  # raises for short="error" and a short clip
            try:
                segment_starts(int(n), self.crop_length, short=short)
            except ClipTooShortError as exc:
                raise ClipTooShortError(f"{clips.name(i)}: {exc}") from None

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int):
        n = int(self.clips.lengths()[i])
        length = self.crop_length
        if n > length:
            starts = torch.randint(0, n - length + 1, (2,)).tolist()
        else:
            starts = [0, 0]
        views = [self.clips.segment(int(i), int(s), length, self.short) for s in starts]
        return torch.from_numpy(np.stack(views)), torch.zeros((), dtype=torch.float32)

    def subset(self, clip_ids: Sequence[int]) -> CropPairDataset:
        """The dataset restricted to the given clips (renumbered)."""
        out = object.__new__(CropPairDataset)
        out.__dict__.update(self.__dict__)
        out.clips = self.clips.subset(np.asarray(clip_ids, dtype=np.int64))
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
