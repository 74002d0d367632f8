"""Cut clips into model-sized segments and aggregate segment outputs per clip.

numpy only. A SampleCNN sees a fixed number of samples (its input length, e.g.
59,049 for the 3^9 model); a clip is cut into such segments, the model runs on
each, and the segment outputs are pooled back into one value per clip.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_int, check_option
from .exceptions import ClipTooShortError

__all__ = ["TAILS", "SHORTS", "AGGREGATIONS", "n_segments", "segment_starts",
           "segment_signal", "take_segment", "aggregate_segments"]

#: What to do with the samples after the last whole segment (the first is the default).
TAILS = ("overlap", "drop", "pad", "repeat")
#: What to do with a clip shorter than one segment.
SHORTS = ("pad", "repeat", "error")
#: How segment outputs are pooled into a clip output.
AGGREGATIONS = ("mean", "max")


def _checked_hop(segment_length: int, hop_length: int | None, tail: str, short: str) -> int:
    """Check the segmenting arguments; the hop in samples (``segment_length`` for None)."""
    segment_length = check_int("segment_length", segment_length)
    hop = check_int("hop_length", hop_length, none=True)
    check_option("tail", tail, TAILS)
    check_option("short", short, SHORTS)
    return segment_length if hop is None else hop


def segment_starts(
    n_samples: int,
    segment_length: int,
    *,
    hop_length: int | None = None,
    tail: str = "overlap",
    short: str = "pad",
) -> np.ndarray:
    """Start samples of the segments :func:`segment_signal` would cut.

    A clip of ``n_samples`` gives the starts ``0, hop, 2*hop, ...`` of every
    segment that fits whole. When samples remain after the last whole one,
    ``tail="overlap"`` (the default) adds one more segment ending at the
    clip's last sample (starting at ``n_samples - segment_length``, so it
    overlaps the one before), ``"pad"`` and ``"repeat"`` one more starting at
    the next hop, and ``"drop"`` ignores them (the paper). A clip shorter than
    one segment gives the single start ``0`` (unless ``short="error"``); it is
    never cut to nothing.

    Parameters
    ----------
    n_samples : int
        The clip's length in samples.
    segment_length : int
        Samples per segment.
    hop_length : int or None, default=None
        Samples between segment starts; ``None`` means ``segment_length``
        (non-overlapping segments, the paper's way).
    tail : {"overlap", "drop", "pad", "repeat"}, default="overlap"
        The samples after the last whole segment (up to one segment less one
        sample): cover them with one more segment of real audio that ends
        with the clip (``"overlap"``, as openl3's hop covers a clip), ignore
        them (``"drop"``: the paper's non-overlapping segments, the end of
        each clip unseen), or make one more segment from them, padded with
        zeros (``"pad"``) or by repeating the clip from its start
        (``"repeat"``).
    short : {"pad", "repeat", "error"}, default="pad"
        A clip shorter than one segment: pad it with zeros, repeat it, or raise
        :class:`ClipTooShortError`.

    Returns
    -------
    ndarray of int64
    """
    hop = _checked_hop(segment_length, hop_length, tail, short)
    if n_samples < 1:
        raise ClipTooShortError("the clip has no samples; cannot cut segments from it.")
    if n_samples < segment_length:
        if short == "error":
            raise ClipTooShortError(
                f"the clip has {n_samples} samples, shorter than one segment "
                f"({segment_length}); pass short='pad' or 'repeat' to use it."
            )
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - segment_length + 1, hop, dtype=np.int64)
    last_end = starts[-1] + segment_length
    if last_end < n_samples and tail == "overlap":
        starts = np.append(starts, n_samples - segment_length)
    elif last_end < n_samples and tail != "drop":
        starts = np.append(starts, starts[-1] + hop)
    return starts


def n_segments(n_samples: int, segment_length: int, **kwargs) -> int:
    """Number of segments :func:`segment_signal` cuts from ``n_samples`` samples."""
    return len(segment_starts(n_samples, segment_length, **kwargs))


def take_segment(y: np.ndarray, start: int, length: int, fill: str = "pad") -> np.ndarray:
    """Samples ``start:start+length`` of ``y`` (last axis); past its end filled
    with zeros (``fill="pad"``) or by wrapping around to the start (``"repeat"``).
    ``fill`` takes a ``tail`` or ``short`` policy: anything but ``"repeat"`` pads."""
    piece = y[..., start : start + length]
    missing = length - piece.shape[-1]
    if missing <= 0:
        return piece
    if fill == "repeat":  # wrap around to the clip's start
        return y[..., np.arange(start, start + length) % y.shape[-1]]
    pad = [(0, 0)] * (y.ndim - 1) + [(0, missing)]
    return np.pad(piece, pad)


def segment_signal(
    y: np.ndarray,
    segment_length: int,
    *,
    hop_length: int | None = None,
    tail: str = "overlap",
    short: str = "pad",
) -> np.ndarray:
    """Cut a clip into segments of ``segment_length`` samples.

    Parameters are those of :func:`segment_starts`.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_channels, n_samples)
        The clip.
    segment_length, hop_length, tail, short
        See :func:`segment_starts`.

    Returns
    -------
    ndarray of shape (n_segments, segment_length) or (n_segments, n_channels, segment_length)
        float32, a new array.

    Examples
    --------
    >>> import numpy as np
    >>> segment_signal(np.arange(7.0), 3).tolist()  # the last one ends with the clip
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [4.0, 5.0, 6.0]]
    >>> segment_signal(np.arange(7.0), 3, tail="drop").tolist()  # the paper's
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    >>> segment_signal(np.arange(7.0), 3, tail="pad")[-1].tolist()
    [6.0, 0.0, 0.0]
    >>> segment_signal(np.arange(2.0), 5, short="repeat").tolist()
    [[0.0, 1.0, 0.0, 1.0, 0.0]]
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim not in (1, 2):
        raise ValueError(
            f"y must be 1-D (samples) or 2-D (channels, samples), got shape {y.shape}."
        )
    n = y.shape[-1]
    starts = segment_starts(n, segment_length, hop_length=hop_length, tail=tail, short=short)
    fill = short if n < segment_length else tail
    out = np.empty((len(starts),) + y.shape[:-1] + (segment_length,), dtype=np.float32)
    for i, s in enumerate(starts):
        out[i] = take_segment(y, int(s), segment_length, fill)
    return out


def aggregate_segments(
    outputs: np.ndarray, clip_index: np.ndarray, n_clips: int | None = None, *, how: str = "mean"
) -> np.ndarray:
    """Pool segment outputs into clip outputs.

    Parameters
    ----------
    outputs : ndarray of shape (n_segments, ...)
        One row per segment.
    clip_index : ndarray of shape (n_segments,)
        The clip each segment came from, integers in ``[0, n_clips)``.
    n_clips : int or None, default=None
        Number of clips; ``None`` means ``clip_index.max() + 1``. Every clip
        must own at least one segment.
    how : {"mean", "max"}, default="mean"
        The paper predicts a clip by the mean of its segment outputs.

    Returns
    -------
    ndarray of shape (n_clips, ...)

    Examples
    --------
    >>> import numpy as np
    >>> aggregate_segments(np.array([[1.0], [3.0], [5.0]]), np.array([0, 0, 1])).ravel().tolist()
    [2.0, 5.0]
    """
    check_option("how", how, AGGREGATIONS)
    outputs = np.asarray(outputs)
    clip_index = np.asarray(clip_index, dtype=np.int64)
    if outputs.shape[0] != clip_index.shape[0]:
        raise ValueError(
            f"outputs has {outputs.shape[0]} rows but clip_index has {clip_index.shape[0]}."
        )
    n_clips = int(clip_index.max()) + 1 if n_clips is None else int(n_clips)
    counts = np.bincount(clip_index, minlength=n_clips)
    if counts.shape[0] > n_clips or (counts == 0).any():
        raise ValueError("every clip must own at least one segment and clip_index < n_clips.")
    dtype = np.result_type(outputs.dtype, np.float32)
    if how == "mean":
        out = np.zeros((n_clips,) + outputs.shape[1:], dtype=np.float64)
        np.add.at(out, clip_index, outputs)
        out /= counts.reshape((-1,) + (1,) * (outputs.ndim - 1))
        return out.astype(dtype)
    out = np.full((n_clips,) + outputs.shape[1:], -np.inf, dtype=dtype)
    np.maximum.at(out, clip_index, outputs)
    return out
