"""MultiScaleFeatureTransformer: pretrained SampleCNNs as clip-level features.

Section 4 of the paper: slide each pretrained model over the whole clip in
non-overlapping segments, take the activations of several hidden layers, pool
each over time within a segment and then over the clip's segments, and
concatenate over layers and models. The result is one float32 row per clip,
ready for any sklearn classifier in a Pipeline.
"""

from __future__ import annotations

import numbers
import os
from functools import partial

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions, fit_context
from .._fileio import digest
from .._progress import progress as progress_bar
from ..audio import DEFAULT_RES_TYPE, FILE_KEYS, RES_TYPES
from ..engine import Clips, FailureReport, on_error_constraint, run_segments
from ..nn.protocol import check_segment_model, edge_pad, segment_hop
from ..nn.runtime import (
    PRECISIONS,
    InferenceRunner,
    auto_batch_size,
    torch_threads,
)
from ..pooling import CLIP_POOLS, POOLINGS, SEGMENT_POOLS, resolve_pooling
from ..segments import SHORTS, TAILS
from ._base import DASK_CONSTRAINTS, ClipFeatureTransformer, FeaturePass
from .extractors import Extractor, resolve_extractor

__all__ = ["MultiScaleFeatureTransformer", "POOLINGS"]  # POOLINGS: sklearn_samplecnn.pooling

class MultiScaleFeatureTransformer(ClipFeatureTransformer):
    """Clip-level features from pretrained SampleCNNs (several layers and models).

    For each extractor: resample the clip to the extractor's rate, cut it
    into segments of its input length, run the model, take the requested
    hidden layers' activations, pool each over time within a segment, then
    over the clip's segments; concatenate over layers and extractors.

    Parameters
    ----------
    extractors : list
        Each item is a ``.samplecnn`` file path (see :func:`save_pretrained`), a
        :class:`PretrainedModel`, a fitted :class:`SampleCNNClassifier` or
        :class:`SampleCNNTagger` (wrap it in ``sklearn.frozen.FrozenEstimator``
        when the transformer sits in a GridSearchCV, which clones, and so
        unfits, estimators among parameters), or a ``(torch module, sample
        rate)`` pair. Models of different input lengths and rates may be mixed.
    layers : "all" or tuple of int or str, default="all"
        Hidden layers: ``"all"`` takes every hidden layer of each extractor,
        bottom to top; or a tuple of negative indexes counting from the top
        (-1 is the 1x1 conv of a SampleCNN, -2 and -3 the last two modules)
        and names such as ``"module8"``. The paper's setting is
        ``(-3, -2, -1)``; all layers transferred better from small pretrained
        models (docs/transfer.md).
    pooling : str or (str, str), default="max+std"
        A name of :data:`sklearn_samplecnn.pooling.POOLINGS`, or a pair
        ``(segment pool, clip pool)`` of :data:`~sklearn_samplecnn.pooling.SEGMENT_POOLS`
        and :data:`~sklearn_samplecnn.pooling.CLIP_POOLS`. The segment pool
        reduces each activation over time within one segment (``"max"``,
        ``"mean"``); the clip pool reduces over the clip's segments into one
        or more statistics per channel (``"mean"``, ``"max"``, ``"mean+std"``:
        mean and standard deviation, two features per channel, ...). The
        default ``"max+std"`` is max over time, then mean and standard
        deviation over segments; ``"paper"`` is section 4's ``("max",
        "mean")``: the paper's features are ``layers=(-3, -2, -1),
        pooling="paper"``. :func:`~sklearn_samplecnn.pooling.register_pooling`
        adds your own.
    hop_length : int or None, default=None
        Samples between segment starts; ``None``: each model's own, that is
        non-overlapping segments (musicnn: its consecutive 3 s patches).
    tail : {"overlap", "drop", "pad", "repeat"}, default="overlap"
        The end of a clip after its last whole segment: ``"overlap"`` covers
        it with one more segment ending with the clip, so every sample is
        seen; ``"drop"`` ignores it (the paper's section 4: non-overlapping
        segments only, up to one segment of each clip unseen).
    short : {"pad", "repeat"}, default="pad"
        See :func:`sklearn_samplecnn.segments.segment_starts`; a clip is never
        cut to nothing.
    batch_size : int or "auto", default="auto"
        Segments per forward pass, across clips. ``"auto"`` picks
        :func:`sklearn_samplecnn.nn.auto_batch_size` for the device and the
        model: a few segments of the paper's model on CPU (they stay in
        cache), hundreds for tiny models or on a GPU.
    device : str, default="cpu"
        Where the models run: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    precision : {"auto", "fp32", "fp16", "bf16"}, default="auto"
        Arithmetic of the models: ``"auto"`` is float32 on CPU and float16 on
        CUDA (features within about 1e-3 of float32). Part of the cache key.
    n_jobs : int or None, default=None
        Worker processes decoding, resampling and segmenting files while the
        model runs, as joblib counts them: ``None`` is 1 (unless a
        ``joblib.parallel_config`` says otherwise), ``-1`` all cores, ``0``
        decodes in this process. Waveform arrays need no workers, and a
        daemonic process (a Dask worker by default, a ``multiprocessing.Pool``
        worker) cannot start any: there the clips are decoded in the process
        itself.
    cache_dir : str, path or None, default=None
        Store features per (clip, extractor weights hash, layer, pooling,
        rate, segment settings, resampling filter, device type, precision);
        later transforms, every fold and grid point of a GridSearchCV
        included, reuse them (a grid over ``layers`` too: each layer is a
        block of the clip's entry; one file per clip,
        :class:`~sklearn_samplecnn.features.FeatureCache`). ``None`` writes
        nothing to disk. A cache that cannot be
        written warns once and is skipped.
    cache_key : {"stat", "content"}, default="stat"
        How a file is recognised in the cache (:data:`sklearn_samplecnn.audio.FILE_KEYS`,
        the kinds the feature store's ``key`` takes too): by path, size, modification
        time, inode and change time (one ``stat``, so a cached rerun costs
        next to nothing), or by a hash of its bytes (survives copying the
        files and the cache elsewhere; reads every file once per transform).
    res_type : str, default="soxr_hq"
        Resampling filter, see :func:`sklearn_samplecnn.audio.resample`.
    on_error : {"raise", "skip"}, default="raise"
        A clip that fails to decode: raise an error naming it, or skip it:
        its row is NaN, one warning lists the failed files with their causes
        and ``failed_files_`` records them. The other rows are always kept
        (:mod:`sklearn_samplecnn.engine.failures`). The former ``"nan"``
        (now ``"skip"``) and ``"zeros"`` are deprecated.
    threads : int or None, default=None
        torch threads running the models on CPU (``None``: torch's setting);
        the decoding workers always use one each. With a cheap model (a tiny
        SampleCNN, a frame-level baseline) and ``n_jobs`` workers on few
        cores, ``threads=1`` keeps torch's spinning threads off the decoding
        workers' cores (docs/performance.md has the figures); with the
        paper's models keep ``None``: they need every core.
    compile : bool, default=False
        Run the models through ``torch.compile``: on a GPU the compiled model
        is much faster, but compiling takes seconds once per process (less
        with torch's compile cache warm), so it pays off on large
        extractions. docs/performance.md has the measured speed-up and cost.
    fit_extractors : bool, default=False
        Train extractors given as unfitted estimators on the data passed to
        ``fit`` (a clone is trained; the pretrained path is the main use).
    dask_client : "auto", None, str or distributed.Client, default="auto"
        Where ``transform`` runs. ``"auto"``: on the active Dask client (the
        last ``distributed.Client`` created, or the one of a ``with Client():``
        block) if there is one, else in this process; never from inside a
        Dask task. ``None``: always in this process. An address
        (``"tcp://scheduler:8786"``) or a ``Client``: on that cluster. The
        clips are split into shards of ``shard_size``, one task each; every
        worker process loads the fitted transformer (its models on the
        worker's device) once and keeps it; rows come back in input order and
        ``on_error`` applies as in one process. See docs/cluster.md.
    shard_size : int, default=256
        Clips per Dask task, and per file of a feature store
        (:func:`sklearn_samplecnn.distributed.write_feature_store`).
    verbose : int, default=0
        Progress over clips when > 0, on standard error: a tqdm bar on a
        terminal (or in Jupyter), else one plain line per tenth of the clips
        (no carriage returns or escape sequences in a log).

    Attributes
    ----------
    pooling_ : (str, str)
        The resolved ``(segment pool, clip pool)``.
    extractors_ : list
        The resolved extractors (models in eval mode).
    n_features_out_ : int
    feature_names_out_ : ndarray of str
        ``"<model>__<layer>__<segment pool>-<clip statistic>__ch<k>"``, e.g.
        ``"3-9__conv1x1__max-std__ch017"`` (``layers="all"``: layer names) or
        ``"3-9__layer-1__max-mean__ch017"`` (``layers=(-1,)``: as given).
    failed_files_ : list of str
        Files the last ``transform`` could not decode (``on_error="skip"``).
    n_features_in_ : int
        Only when fitted on a 2-D waveform array.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_samplecnn import MultiScaleFeatureTransformer
    >>> from sklearn_samplecnn.nn import SampleCNN
    >>> torch.manual_seed(0) and None
    >>> model = SampleCNN("3-3-3", channels=[4, 4, 4, 8], n_outputs=2).eval()
    >>> X = np.random.default_rng(0).normal(size=(3, 100)).astype(np.float32)
    >>> feats = MultiScaleFeatureTransformer(extractors=[(model, 8000)])
    >>> feats.fit_transform(X).shape  # 4 hidden layers, 4+4+4+8 channels, mean and std
    (3, 40)
    >>> feats.get_feature_names_out()[[0, -1]].tolist()
    ['3-2__strided__max-mean__ch000', '3-2__conv1x1__max-std__ch007']
    >>> paper = MultiScaleFeatureTransformer(extractors=[(model, 8000)], layers=(-2, -1),
    ...                                      pooling="paper")
    >>> paper.fit_transform(X).shape
    (3, 12)
    >>> paper.get_feature_names_out()[-1]
    '3-2__layer-1__max-mean__ch007'
    """

    _parameter_constraints: dict = {
        "extractors": [list, tuple],
        "layers": [tuple, list, StrOptions({"all"})],
        "pooling": [str, tuple, list],  # names: resolve_pooling (a registry users extend)
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tail": [StrOptions(set(TAILS))],
        "short": [StrOptions(set(SHORTS) - {"error"})],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "device": [str],
        "precision": [StrOptions(set(PRECISIONS))],
        "n_jobs": [numbers.Integral, None],
        "cache_dir": [str, os.PathLike, None],
        "cache_key": [StrOptions(set(FILE_KEYS))],
        "threads": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "compile": ["boolean"],
        "res_type": [StrOptions(set(RES_TYPES))],
        "on_error": [on_error_constraint(deprecated=True)],
        "fit_extractors": ["boolean"],
        "verbose": ["verbose"],
        **DASK_CONSTRAINTS,
    }

    def __init__(self, extractors=(), *, layers="all", pooling="max+std",
                 hop_length=None, tail="overlap", short="pad", batch_size="auto", device="cpu",
                 precision="auto", n_jobs=None, cache_dir=None, cache_key="stat",
                 res_type=DEFAULT_RES_TYPE, on_error="raise", fit_extractors=False,
                 threads=None, compile=False, verbose=0, dask_client="auto", shard_size=256):
        self.extractors = extractors
        self.layers = layers
        self.pooling = pooling
        self.hop_length = hop_length
        self.tail = tail
        self.short = short
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.cache_key = cache_key
        self.res_type = res_type
        self.on_error = on_error
        self.fit_extractors = fit_extractors
        self.threads = threads
        self.compile = compile
        self.verbose = verbose
        self.dask_client = dask_client
        self.shard_size = shard_size

    def _clips_sr(self) -> int:
        return 1  # files are read at each extractor's rate, in its pass

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check and load the extractors and record the output size (no training).

        Parameters
        ----------
        X : list of paths or ndarray of shape (n_clips, n_samples)
            Only used to validate input (and to train extractors when
            ``fit_extractors=True``).
        y : array-like or None, default=None
            Ignored, or the targets of extractors trained with ``fit_extractors``.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        if len(self.extractors) == 0:
            raise ValueError("extractors is empty; give at least one pretrained model.")
        clips = self._as_clips(X, reset=True)
        X_fit = clips.items if clips.kind == "paths" else X
        return self._fit_extractors(
            [resolve_extractor(item, i, X_fit, y, fit_extractors=self.fit_extractors)
             for i, item in enumerate(self.extractors)])

    def _fit_extractors(self, models: list[tuple]) -> MultiScaleFeatureTransformer:
        """Resolve layers and output names for ``(module, sample rate, fingerprint)``
        triples and fit ``extractors_``, ``feature_names_out_`` and ``n_features_out_``."""
        if not isinstance(self.layers, str) and len(self.layers) == 0:
            raise ValueError("layers is empty; give at least one hidden layer, or 'all'.")
        self.pooling_ = resolve_pooling(self.pooling)
        resolved, names, seen = [], [], {}
        for i, (module, sr, fingerprint) in enumerate(models):
            check_segment_model(module, f"extractors[{i}] module")
            if self.layers == "all":
                layers = tuple(module.hidden_layers)
                tokens = layers
            else:
                layers = tuple(module.resolve_layer(layer) for layer in self.layers)
                tokens = tuple(f"layer{la}" if isinstance(la, numbers.Integral) else str(la)
                               for la in self.layers)
            if len(set(layers)) != len(layers):
                raise ValueError(f"layers={self.layers!r} name the same layer twice for "
                                 f"extractors[{i}] ({layers}).")
            name = str(getattr(module, "name", type(module).__name__)).replace("^", "-")
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name}_{seen[name]}"
            run = InferenceRunner(module, self.device, self.precision, compile=self.compile)
            with torch.inference_mode():
                probe = torch.zeros(1, module.input_length, device=self._device())
                _, hidden = run(probe, return_hidden=layers)
            channels = tuple(int(hidden[la].shape[1]) for la in layers)
            resolved.append(Extractor(
                name, run, sr, int(module.input_length), fingerprint, layers, tokens, channels,
                hop=segment_hop(module), edge_pad=edge_pad(module)))
            names.append(name)
        self.extractors_ = resolved
        seg_pool, clip_pool = self.pooling_
        stats = CLIP_POOLS[clip_pool].stats
        feature_names = []
        for ext in resolved:
            for token, c in zip(ext.layer_tokens, ext.channels):
                for stat in stats:
                    feature_names += [f"{ext.name}__{token}__{seg_pool}-{stat}__ch{k:03d}"
                                      for k in range(c)]
        self.feature_names_out_ = np.array(feature_names, dtype=object)
        self.n_features_out_ = len(feature_names)
        return self

    def _device(self) -> torch.device:
        return torch.device(self.device)

    # -- transforming -------------------------------------------------------------
    def _layer_tokens(self, ext: Extractor) -> list[str]:
        """One cache token per layer: a grid over ``layers`` reuses every layer's entries."""
        tokens = []
        for layer in ext.layers:
            tokens.append(digest(ext.fingerprint, layer, *self.pooling_, str(ext.sr),
                                 str(ext.input_length), str(self.hop_length), self.tail,
                                 self.short, self.res_type, self._device().type,
                                 ext.runner.precision)[:24])
        return tokens

    def _passes(self) -> list[FeaturePass]:
        per_channel = len(CLIP_POOLS[self.pooling_[1]].stats)
        return [FeaturePass(self._layer_tokens(ext), [c * per_channel for c in ext.channels],
                            partial(self._compute, ext)) for ext in self.extractors_]

    def transform_segments(self, X):
        """Per-segment embeddings with timestamps, before pooling over the clip.

        Each extractor's requested layers, pooled over time within each
        segment only (the ``pooling``'s first half), one row per segment, like
        openl3's frame embeddings. Extractors of different input lengths cut
        different segments, so the result has one entry per extractor.

        Parameters
        ----------
        X : list of paths, list of 1-D waveforms or ndarray of shape (n_clips, n_samples)

        Returns
        -------
        list of sklearn.utils.Bunch
            One per extractor: ``name``, ``features`` (n_segments,
            sum of channels), ``feature_names``, ``clip`` (clip index per row),
            ``path`` (its file, or ``X[i]``), ``start`` and ``end`` (seconds into
            the clip). Rows come clip by clip in time order; clips that fail to
            decode raise or have no rows (``on_error``; listed in
            ``failed_files_``). No cache.
        """
        check_is_fitted(self, "extractors_")
        clips = self._as_clips(X, reset=False)
        seg_pool = self.pooling_[0]
        out, report = [], FailureReport(clips, self.on_error)
        for ext in self.extractors_:
            bunch = self._segment_rows(ext, clips, report)
            bunch.feature_names = np.array(
                [f"{ext.name}__{t}__{seg_pool}__ch{k:03d}"
                 for t, c in zip(ext.layer_tokens, ext.channels) for k in range(c)],
                dtype=object)
            out.append(bunch)
        self._report_no_rows(report)
        return out

    def _segment_rows(self, ext: Extractor, clips: Clips, report: FailureReport):
        """Every segment's row of one extractor, clip by clip in time order, as a Bunch
        (``name``, ``features``, ``clip``, ``path``, ``start``, ``end``); clips that fail go
        into ``report`` (or raise: ``on_error="raise"``)."""
        from sklearn.utils import Bunch

        rows, index, starts = [], [], []
        for res in self._run(ext, clips, list(range(len(clips)))):
            if res.error is not None:
                report.add(res.index, res.error)
                continue
            rows.append(res.rows)
            index.append(np.full(len(res.rows), res.index, dtype=np.int64))
            starts.append(res.starts)
        index = np.concatenate(index) if index else np.zeros(0, np.int64)
        starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        order = np.lexsort((starts, index))
        width = sum(ext.channels)
        features = np.concatenate(rows)[order] if rows else np.zeros((0, width), np.float32)
        # the samples each segment reads, in the clip (edge padding taken off)
        first = starts[order] - ext.edge_pad
        return Bunch(name=ext.name, features=features.astype(np.float32), clip=index[order],
                     path=np.array([clips.name(int(i)) for i in index[order]], dtype=object),
                     start=np.maximum(first, 0) / ext.sr,
                     end=(first + ext.input_length) / ext.sr)

    def _report_no_rows(self, report: FailureReport) -> None:
        """``failed_files_`` and the warning of a per-segment output."""
        self.failed_files_ = report.files
        report.warn("they have no rows (failed_files_ lists them)", stacklevel=4)

    def _segment_fn(self, ext: Extractor):
        """``x (batch, input_length) -> (batch, sum of channels)``: the requested layers,
        each pooled over time within the segment, on the device."""
        seg_pool = self.pooling_[0]

        reduce = SEGMENT_POOLS[seg_pool].reduce

        def fn(x: torch.Tensor) -> torch.Tensor:
            _, hidden = ext.runner(x, return_hidden=ext.layers)
            return torch.cat([reduce(hidden[la]) for la in ext.layers], dim=1)

        return fn

    def _run(self, ext: Extractor, clips: Clips, todo: list[int]):
        """The input pipeline over ``todo`` for one extractor: per-segment pooled rows."""
        device = self._device()
        batch_size = auto_batch_size(device, ext.runner.module) if self.batch_size == "auto" \
            else int(self.batch_size)
        at_rate = clips.at_rate(ext.sr, self.res_type)
        with torch_threads(self.threads):
            yield from run_segments(at_rate, self._segment_fn(ext),
                                    segment_length=ext.input_length, batch_size=batch_size,
                                    device=device, order=todo, n_jobs=self.n_jobs,
                                    hop_length=ext.hop if self.hop_length is None
                                    else self.hop_length, tail=self.tail,
                                    short=self.short, static_batch=device.type == "cuda",
                                    input_dtype=ext.runner.input_dtype,
                                    edge_pad=ext.edge_pad)

    def _compute(self, ext: Extractor, clips: Clips, todo: list[int]):
        """Yield ``(clip index, feature row, error)`` for the clips in ``todo``.

        Runs :func:`sklearn_samplecnn.engine.run_segments`: ``n_jobs`` worker
        processes decode, resample and batch while the model runs.
        """
        if not todo:
            return
        progress = None
        if self.verbose:
            progress = progress_bar(len(todo), f"features {ext.name}")
        try:
            for res in self._run(ext, clips, todo):
                if progress is not None:
                    progress.update(1)
                if res.error is not None:
                    yield res.index, None, res.error
                else:
                    yield res.index, _pool_clip(res.rows, self.pooling_[1], ext.channels), None
        finally:
            if progress is not None:
                progress.close()


def _pool_clip(rows: np.ndarray, how: str, channels: tuple[int, ...]) -> np.ndarray:
    """Pool per-segment vectors (n_segments, sum(channels)) over segments with the clip pool
    ``how``: layer by layer, each statistic of the pool in turn (the means, then the
    standard deviations of ``"mean+std"``)."""
    reduce = CLIP_POOLS[how].reduce
    if len(CLIP_POOLS[how].stats) == 1:
        return reduce(rows)[0]
    layers = np.split(rows, np.cumsum(channels)[:-1], axis=1)
    return np.concatenate([v for h in layers for v in reduce(h)])
