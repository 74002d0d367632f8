"""What the clip-feature transformers share: the transform loop, cache, errors and names.

A transformer describes its output as *passes* (one per pretrained model for
:class:`~sklearn_samplecnn.MultiScaleFeatureTransformer`, one for the classic
statistics), each a run of output columns split into cached *blocks*, and a
``compute(clips, todo)`` that yields ``(clip index, row, error)``. This module
looks every block up in the cache, computes the rest, applies ``on_error``,
fills the cache and reports the failed files. With a Dask client the same
loop runs on the cluster's workers, one shard of clips per task
(:mod:`sklearn_samplecnn.distributed`).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._compat import HasMethods, Interval, validate_parameter_constraints
from ..distributed import client_address, resolve_client, transform_on_cluster
from ..engine import Clips, FailureReport, clips_from_X, resolve_on_error
from .cache import FeatureCache, clip_key

__all__ = ["DASK_CONSTRAINTS", "ClipFeatureTransformer", "FeaturePass"]

#: The parameters every clip-feature transformer has for running on a Dask cluster.
DASK_CONSTRAINTS: dict = {
    "dask_client": [None, str, HasMethods(["submit", "scatter"])],
    "shard_size": [Interval(numbers.Integral, 1, None, closed="left")],
}


@dataclass
class FeaturePass:
    """A run of output columns computed together.

    ``tokens[k]`` is the cache token of block ``k`` (of ``widths[k]``
    columns); ``compute(clips, todo)`` yields ``(clip index, row, error)`` for
    the clips in ``todo``, ``row`` covering all the pass's columns.
    """

    tokens: list[str]
    widths: list[int]
    compute: Callable[[Clips, list[int]], Iterator[tuple[int, np.ndarray | None, Exception | None]]]


class ClipFeatureTransformer(TransformerMixin, BaseEstimator):
    """Base of the transformers that turn clips (paths or waveforms) into one row each.

    Subclasses set ``_parameter_constraints`` (with ``cache_dir``,
    ``cache_key``, ``on_error``, ``res_type`` and :data:`DASK_CONSTRAINTS`),
    fit ``feature_names_out_`` and ``n_features_out_``, and implement
    :meth:`_passes` and :meth:`_clips_sr`.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.transformer_tags.preserves_dtype = []  # always float32
        tags.non_deterministic = str(getattr(self, "device", "cpu")).startswith("cuda")
        return tags

    def _validate_params(self) -> None:
        validate_parameter_constraints(self._parameter_constraints, self.get_params(deep=False),
                                       caller_name=type(self).__name__)
        resolve_on_error(self.on_error)  # the deprecated values warn once, at fit
        if self.cache_dir is not None:
            FeatureCache(self.cache_dir)  # an empty name is refused at fit, not at transform

    def _clips_sr(self) -> int:
        """The rate clips are read at by :meth:`_as_clips` (passes may resample again)."""
        raise NotImplementedError

    def _as_clips(self, X, *, reset: bool) -> Clips:
        clips = clips_from_X(self, X, reset=reset, sr=self._clips_sr(), res_type=self.res_type)
        if reset:
            if clips.kind == "paths":
                self.__dict__.pop("n_features_in_", None)
            self.failed_files_ = []
        return clips

    def _passes(self) -> list[FeaturePass]:
        raise NotImplementedError

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """One name per output column (see the class's ``feature_names_out_``)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def __sklearn_clone__(self):
        """sklearn's clone, but a ``dask_client`` given as a ``Client`` is shared, not
        deep-copied (a client holds sockets and an event loop)."""
        client = getattr(self, "dask_client", None)
        if client is None or isinstance(client, str):
            return super().__sklearn_clone__()
        bare = copy.copy(self)
        bare.dask_client = None
        new = clone(bare)
        new.dask_client = client
        return new

    def __getstate__(self):
        state = super().__getstate__()
        if isinstance(state, dict) and not isinstance(state.get("dask_client"), (str, type(None))):
            # a Client cannot be pickled: the copy reconnects to the same scheduler
            state = {**state, "dask_client": client_address(state["dask_client"])}
        return state

    def transform(self, X) -> np.ndarray:
        """One float32 row per clip.

        With a Dask client (``dask_client``) the clips are split into shards
        of ``shard_size`` that the cluster's workers compute; the rows come
        back in the order of ``X``, and failed files are handled by
        ``on_error`` as in one process.

        Parameters
        ----------
        X : list of paths, list of 1-D waveforms, list of (waveform, rate) pairs or \
                ndarray of shape (n_clips, n_samples)
            Waveforms are taken at each model's rate; pairs are resampled to it
            like files.

        Returns
        -------
        ndarray of shape (n_clips, n_features_out_), float32
            Rows of clips that failed to decode are NaN (``on_error="skip"``),
            and the files are listed in ``failed_files_``.
        """
        check_is_fitted(self, "feature_names_out_")
        clips = self._as_clips(X, reset=False)
        report = FailureReport(clips, self.on_error)
        client = resolve_client(self.dask_client)
        if client is None:
            out, failed = self._rows(clips, self.on_error)
        else:
            out, failed = transform_on_cluster(self, clips, client)
        report.update(failed)
        self._report_failed(report)
        return out

    def _rows(self, clips: Clips, on_error: str) -> tuple[np.ndarray, dict[int, Exception]]:
        """Every clip's row, in this process, and the clips that failed (index -> error).

        Looks every block up in the cache, computes the rest and fills the
        cache; a failed clip's blocks are NaN (``on_error="skip"``; zeros
        under the deprecated ``"zeros"``), or its error is raised at once
        (``on_error="raise"``).
        """
        _, fill = resolve_on_error(on_error, warn=False)
        report = FailureReport(clips, on_error)
        n = len(clips)
        out = np.empty((n, self.n_features_out_), dtype=np.float32)
        cache = FeatureCache(self.cache_dir) if self.cache_dir is not None else None
        keys: list[str | None] = [None] * n
        if cache is not None:
            for i in range(n):
                try:
                    keys[i] = clip_key(clips, i, self.cache_key)
                except OSError:
                    keys[i] = None  # unreadable: decoding reports it
        passes = self._passes()
        found: list[dict] = [{} for _ in range(n)]  # the cached blocks this transform needs
        if cache is not None:
            wanted = {t for fp in passes for t in fp.tokens}
            for i in range(n):
                if keys[i]:
                    # copies: a view would keep the whole entry (other settings' blocks) alive
                    found[i] = {t: r.copy() for t, r in cache.read(keys[i]).items()
                                if t in wanted}
        col = 0
        for fp in passes:
            bounds = np.cumsum([0, *fp.widths])
            block = out[:, col:col + bounds[-1]]
            col += int(bounds[-1])
            todo = []
            for i in range(n):
                pieces = [found[i].get(t) for t in fp.tokens]
                if any(p is None or p.shape != (w,) for p, w in zip(pieces, fp.widths)):
                    todo.append(i)
                else:
                    block[i] = np.concatenate(pieces)
            for i, row, err in fp.compute(clips, todo):
                if err is not None:
                    report.add(i, err)
                    block[i] = fill
                    continue
                block[i] = row
                if cache is not None and keys[i] is not None:
                    cache.update(keys[i], {t: row[a:b] for t, a, b in
                                           zip(fp.tokens, bounds[:-1], bounds[1:])})
        return out, report.errors

    def _report_failed(self, report: FailureReport) -> None:
        """Record the failed files in ``failed_files_`` and warn with their list."""
        self.failed_files_ = report.files
        fill = resolve_on_error(self.on_error, warn=False)[1]
        report.warn(f"their rows are {'zeros' if fill == 0 else 'NaN'} (on_error="
                    f"{self.on_error!r}; failed_files_ lists them)", stacklevel=4)
