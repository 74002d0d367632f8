"""Pooling modes: how a hidden layer's activations become one feature row per clip.

Two steps, each a registry: a *segment pool* reduces an activation over time
within one segment (:data:`SEGMENT_POOLS`: ``"max"``, ``"mean"``), a *clip
pool* reduces the per-segment vectors over the clip's segments into one or
more statistics per channel (:data:`CLIP_POOLS`: ``"mean"``, ``"max"``,
``"mean+std"``, ``"mean+max"``); :data:`POOLINGS` names the pairs the
transformers and ``samplecnn extract --pooling`` take by name.

Adding a mode is one entry here (and its test): the transformers, their
feature names and cache, and the command line's ``--pooling`` choices and
help all read these registries. :func:`register_pooling` adds one from your
own code. Standard library only at import (the command line's ``--help``
reads it without numpy or torch); the pools themselves run on numpy arrays
(clip pools) and torch tensors (segment pools).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["CLIP_POOLS", "POOLINGS", "SEGMENT_POOLS", "ClipPool", "SegmentPool",
           "describe_pooling", "register_pooling", "resolve_pooling"]


@dataclass(frozen=True)
class SegmentPool:
    """A reduction over time within one segment.

    Attributes
    ----------
    reduce : callable
        ``reduce(h)``: a ``(batch, channels, time)`` tensor (any float dtype)
        -> a ``(batch, channels)`` float32 tensor, on the same device.
    description : str
        For ``--help``, e.g. ``"max over time"``.
    """

    reduce: Callable = field(repr=False)
    description: str = ""


@dataclass(frozen=True)
class ClipPool:
    """A reduction over a clip's segments, giving ``len(stats)`` values per channel.

    Attributes
    ----------
    stats : tuple of str
        The statistics' names, in output order (they name the feature columns:
        ``<model>__<layer>__<segment pool>-<stat>__ch007``).
    reduce : callable
        ``reduce(rows)``: a ``(n_segments, channels)`` float32 numpy array ->
        one ``(channels,)`` array per statistic, in the order of ``stats``.
    description : str
        For ``--help``, e.g. ``"mean and std over segments"``.
    """

    stats: tuple[str, ...]
    reduce: Callable = field(repr=False)
    description: str = ""


def _max_time(h):
    return h.amax(dim=2).float()


def _mean_time(h):
    import torch

    return h.mean(dim=2, dtype=torch.float32)


#: Reductions over time within a segment.
SEGMENT_POOLS: dict[str, SegmentPool] = {
    "max": SegmentPool(_max_time, "max over time"),
    "mean": SegmentPool(_mean_time, "mean over time"),
}

#: Reductions over a clip's segments.
CLIP_POOLS: dict[str, ClipPool] = {
    "mean": ClipPool(("mean",), lambda rows: [rows.mean(axis=0)], "mean over segments"),
    "max": ClipPool(("max",), lambda rows: [rows.max(axis=0)], "max over segments"),
    "mean+std": ClipPool(("mean", "std"), lambda rows: [rows.mean(axis=0), rows.std(axis=0)],
                         "mean and std over segments"),
    "mean+max": ClipPool(("mean", "max"), lambda rows: [rows.mean(axis=0), rows.max(axis=0)],
                         "mean and max over segments"),
}

#: The pooling modes by name: ``(segment pool, clip pool)``. ``"max+std"`` is the
#: transformers' default; ``"paper"`` is section 4's max over time, mean over segments.
POOLINGS: dict[str, tuple[str, str]] = {
    "max+std": ("max", "mean+std"),
    "paper": ("max", "mean"),
    "mean": ("mean", "mean"),
    "max": ("max", "max"),
    "mean+std": ("mean", "mean+std"),
    "mean+max": ("mean", "mean+max"),
}


def resolve_pooling(pooling: str | Sequence[str]) -> tuple[str, str]:
    """``(segment pool, clip pool)`` for a pooling name or pair; a ``ValueError`` naming
    ``pooling`` and the choices otherwise."""
    if isinstance(pooling, str):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {sorted(POOLINGS)} or a pair "
                             f"(segment pool, clip pool), got {pooling!r}.")
        return POOLINGS[pooling]
    try:
        seg, clip = pooling
    except (TypeError, ValueError):
        raise ValueError(f"pooling must be a name or a pair, got {pooling!r}.") from None
    if seg not in SEGMENT_POOLS or clip not in CLIP_POOLS:
        raise ValueError(f"pooling=({seg!r}, {clip!r}): the segment pool must be one of "
                         f"{tuple(SEGMENT_POOLS)} and the clip pool one of "
                         f"{tuple(CLIP_POOLS)}.")
    return seg, clip


def describe_pooling(name: str) -> str:
    """``"max over time, mean and std over segments"`` for a name of :data:`POOLINGS`."""
    seg, clip = POOLINGS[name]
    return f"{SEGMENT_POOLS[seg].description}, {CLIP_POOLS[clip].description}"


def register_pooling(name: str, segment_pool: str, clip_pool: str, *,
                     clip: ClipPool | None = None, segment: SegmentPool | None = None) -> None:
    """Add a pooling mode by name, with a new clip or segment pool if it needs one.

    Parameters
    ----------
    name : str
        The new name of :data:`POOLINGS` (``pooling=name``, ``--pooling name``).
    segment_pool, clip_pool : str
        Names in :data:`SEGMENT_POOLS` and :data:`CLIP_POOLS`, or the names to give
        ``segment`` and ``clip``.
    clip : ClipPool or None, default=None
        A new clip pool registered as ``clip_pool``.
    segment : SegmentPool or None, default=None
        A new segment pool registered as ``segment_pool``.

    Examples
    --------
    >>> import numpy as np
    >>> register_pooling("max+median", "max", "median", clip=ClipPool(
    ...     ("median",), lambda rows: [np.median(rows, axis=0)], "median over segments"))
    >>> resolve_pooling("max+median"), describe_pooling("max+median")
    (('max', 'median'), 'max over time, median over segments')
    >>> for registry, key in ((POOLINGS, "max+median"), (CLIP_POOLS, "median")):
    ...     del registry[key]
    """
    if name in POOLINGS:
        raise ValueError(f"the pooling {name!r} exists already.")
    new = []
    for what, value, known, key in (("clip", clip, CLIP_POOLS, clip_pool),
                                    ("segment", segment, SEGMENT_POOLS, segment_pool)):
        if value is not None:
            if key in known:
                raise ValueError(f"the {what} pool {key!r} exists already.")
            new.append((known, key, value))
        elif key not in known:
            raise ValueError(f"unknown {what} pool {key!r}; give {what}= to add it.")
    for known, key, value in new:
        known[key] = value
    POOLINGS[name] = (segment_pool, clip_pool)
