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
from .._progress import progress as progress_bar
from ..audio import file_key
from ..distributed import client_address, map_shards, preload, resolve_client, shard_bounds
from ..engine import Clips, FailureReport, clips_from_X, resolve_on_error
from ..exceptions import AudioLoadError
from .cache import FeatureCache, clip_key

__all__ = ["DASK_CONSTRAINTS", "ClipFeatureTransformer", "FeaturePass", "ShardRows"]

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
            out, failed = self._rows_on_cluster(clips, client)
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

    def load_on_workers(self, client=None) -> None:
        """Load the fitted transformer (its models) on every worker of a Dask cluster now.

        ``transform`` loads it on each worker for that worker's first shard and
        keeps it there; this does it up front, e.g. to time the loading apart
        from the work.

        Parameters
        ----------
        client : distributed.Client or None, default=None
            ``None``: the one ``dask_client`` names.
        """
        check_is_fitted(self, "feature_names_out_")
        client = resolve_client(self.dask_client if client is None else client)
        if client is None:
            raise ValueError("load_on_workers needs a Dask client: pass one, or set "
                             "dask_client.")
        preload(ShardRows(self), client)

    def _rows_on_cluster(self, clips: Clips, client) -> tuple[np.ndarray, dict[int, Exception]]:
        """:meth:`_rows` computed on ``client``'s cluster: shards of ``shard_size`` clips,
        one task each (:func:`~sklearn_samplecnn.distributed.map_shards`), rows placed in the
        order of ``clips``."""
        n = len(clips)
        out = np.empty((n, self.n_features_out_), dtype=np.float32)
        failed: dict[int, Exception] = {}
        items, kind = clips.parts()
        bounds = shard_bounds(n, self.shard_size)
        shards = [(k, (items[a:b], kind, None)) for k, (a, b) in enumerate(bounds)]
        progress = self._progress(n, "features on Dask")
        try:
            for k, (rows, errors, _) in self._map_shards(shards, client, kind):
                a = bounds[k][0]
                out[a:a + len(rows)] = rows
                failed.update({a + i: err for i, err in errors.items()})
                if progress is not None:
                    progress.update(len(rows))
        finally:
            if progress is not None:
                progress.close()
        return out, failed

    def _map_shards(self, shards, client, kind: str = "paths"):
        """``(k, (rows, failed, file keys))`` of each shard ``(k, (items, kind, key))``,
        computed by :class:`ShardRows` here or on ``client``; a file that fails under
        ``on_error="raise"`` is raised here."""
        for k, result in map_shards(ShardRows(self), shards, client, scatter=kind != "paths"):
            if isinstance(result, AudioLoadError):
                raise result
            yield k, result

    def _progress(self, total: int, desc: str):
        if not self.verbose or not total:
            return None
        return progress_bar(total, desc)

    def _report_failed(self, report: FailureReport) -> None:
        """Record the failed files in ``failed_files_`` and warn with their list."""
        self.failed_files_ = report.files
        fill = resolve_on_error(self.on_error, warn=False)[1]
        report.warn(f"their rows are {'zeros' if fill == 0 else 'NaN'} (on_error="
                    f"{self.on_error!r}; failed_files_ lists them)", stacklevel=4)


class ShardRows:
    """A fitted transformer's rows of one shard, wherever the shard runs.

    What :func:`~sklearn_samplecnn.distributed.map_shards` ships to the
    workers for ``transform`` and for the feature store: a copy of the fitted
    transformer that runs in the worker's process (no client, no progress
    bar, no last report). Called with ``(items, kind, key)``, it returns
    ``(rows, {clip index: error}, file keys)`` (keys only when ``key`` is
    ``"content"`` or ``"stat"``), or the error of a file that fails under
    ``on_error="raise"`` (a data problem, returned for the client to raise,
    not a failed task in the worker's log).

    Parameters
    ----------
    transformer : fitted ClipFeatureTransformer
    """

    def __init__(self, transformer: ClipFeatureTransformer) -> None:
        ship = object.__new__(type(transformer))
        ship.__dict__.update(transformer.__dict__)
        ship.__dict__.pop("failed_files_", None)  # the last transform's report: changes each time
        ship.dask_client = None
        ship.verbose = 0
        self.transformer = ship

    def __call__(self, shard: tuple[list, str, str | None]):
        items, kind, key = shard
        t = self.transformer
        clips = Clips(items, kind, sr=t._clips_sr(), res_type=t.res_type)
        try:
            rows, failed = t._rows(clips, t.on_error)
        except AudioLoadError as exc:
            return exc
        keys = None
        if key is not None:
            keys = []
            for p in items:
                try:
                    keys.append(file_key(p, content=key == "content"))
                except OSError:
                    keys.append(None)  # a missing file: its error is in ``failed``
        return rows, failed, keys


def transform_on_cluster(transformer, clips: Clips, client):
    """Deprecated: ``transformer.transform`` with a ``dask_client`` does this; every
    clip's row computed on ``client``'s cluster, and the failed clips."""
    from .._deprecate import warn_deprecated

    warn_deprecated("sklearn_samplecnn.distributed.transform_on_cluster",
                    "the transformer's transform with dask_client=client")
    return transformer._rows_on_cluster(clips, client)
