"""What the SampleCNN estimators share: parameters, input handling, skorch's hooks, fit.

``_SampleCNNNet`` is a skorch ``NeuralNet`` that takes ``X`` as audio file
paths, a 2-D waveform array or a list of 1-D waveforms, trains on segments
(each carrying its clip's target and weight) and predicts a clip by pooling
its segments' outputs. The training loop lives in :mod:`._training`, the
prediction through the input pipeline in :mod:`._prediction`.
"""

from __future__ import annotations

import inspect
import numbers
import os

import numpy as np
import torch
from sklearn import get_config
from skorch import NeuralNet
from skorch.callbacks import PrintLog

from .._compat import (
    HasMethods,
    Interval,
    StrOptions,
    check_sample_weight,
    validate_parameter_constraints,
)
from .._deprecate import warn_deprecated
from ..audio import DEFAULT_RES_TYPE, DEFAULT_SR, RES_TYPES
from ..engine import (
    AudioCache,
    Clips,
    FailureReport,
    check_headers,
    clips_from_X,
    on_error_constraint,
    resolve_n_jobs,
)
from ..exceptions import PretrainedFileError
from ..nn import SampleCNN
from ..nn.protocol import TRAINABLE, check_segment_model
from ..nn.runtime import PRECISIONS, resolve_precision
from ..pretrained import ESTIMATOR_SETTINGS, PretrainedModel, load_pretrained
from ..segments import AGGREGATIONS, SHORTS, TAILS
from ._prediction import SegmentPrediction
from ._training import TrainingLoop, seed_from
from .callbacks import PaperSchedule, unwrapped_module
from .checkpoint import ResumableCheckpoint
from .data import ClipSplit, SegmentDataset

__all__: list[str] = []

_AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
_ANSI = __import__("re").compile(r"\x1b\[[0-9;]*m")


def _label_kind(value) -> str:
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return "strings"
    if isinstance(value, (numbers.Number, np.number)):
        return "numbers"
    return "None" if value is None else type(value).__name__


def _check_labels(y) -> None:
    """One label per clip, all strings or all numbers, none missing: an error naming
    ``y`` and what is wrong otherwise (numpy would turn ``["rock", 3]`` into strings,
    sorting a mix fails with a bare ``'<' not supported``)."""
    values = list(y.ravel()) if isinstance(y, np.ndarray) else list(y)
    kinds: dict[str, object] = {}
    for v in values:
        kinds.setdefault(_label_kind(v), v)
    if len(kinds) > 1:
        shown = " and ".join(f"{kind} ({example!r})" for kind, example in kinds.items())
        raise ValueError(f"y mixes label types: {shown}; give every clip a label of one type, "
                         "all strings (e.g. [str(v) for v in y]) or all numbers.")
    kind = next(iter(kinds), None)
    if kind not in (None, "strings", "numbers"):
        raise ValueError(f"y must hold strings or numbers, one label per clip; got {kind} "
                         f"({kinds[kind]!r}).")
    if kind == "numbers":
        missing = [i for i, v in enumerate(values) if v != v]  # NaN
        if missing:
            raise ValueError(f"y has no label (NaN) for {len(missing)} of {len(values)} "
                             f"clips, e.g. y[{missing[0]}]; every clip needs a label.")


def _encode_labels(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class indexes of ``y`` in ``classes`` (int64); unknown labels are an error."""
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    unknown = classes[idx] != y
    if np.any(unknown):
        raise ValueError(f"y contains labels not seen in the first fit: "
                         f"{np.unique(y[unknown])[:10].tolist()}; known: {classes.tolist()}.")
    return idx.astype(np.int64)


def _labels(classes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The most probable class per row; ``None`` for the NaN rows of failed clips."""
    failed = np.isnan(proba).any(axis=1)
    labels = classes[np.argmax(np.where(failed[:, None], 0.0, proba), axis=1)]
    if failed.any():
        labels = labels.astype(object)
        labels[failed] = None
    return labels


class _PrintLog(PrintLog):
    """skorch's epoch table, with its colour codes only when stdout is a terminal
    (no escape sequences in log files and CI output)."""

    def _sink(self, text, verbose):
        if not verbose:
            return
        import sys

        isatty = getattr(sys.stdout, "isatty", None)
        print(text if isatty is not None and isatty() else _ANSI.sub("", text), flush=True)


class _SampleCNNNet(TrainingLoop, SegmentPrediction, NeuralNet):
    """What the classifier and the tagger share; not public."""

    # Parameters of this library (skorch's own are checked by skorch).
    _parameter_constraints: dict = {
        "sr": [Interval(numbers.Integral, 1, None, closed="left")],
        "segment_mode": [StrOptions({"fixed", "random"})],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tail": [StrOptions(set(TAILS))],
        "short": [StrOptions(set(SHORTS))],
        "aggregate": [StrOptions(set(AGGREGATIONS))],
        "res_type": [StrOptions(set(RES_TYPES))],
        "audio_cache": [StrOptions({"memory"}), str, os.PathLike, None],
        "on_error": [on_error_constraint()],
        "precision": [StrOptions(set(PRECISIONS))],
        "schedule": [StrOptions({"paper"}), None],
        "augment": [StrOptions({"default"}), callable, None],
        "checkpoint_dir": [str, os.PathLike, None],
        "threads": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_jobs": [numbers.Integral, None],
        "accelerator": [HasMethods(["prepare", "backward", "autocast"]), None],
        "random_state": ["random_state"],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "train_split": [Interval(numbers.Real, 0, 1, closed="neither"), callable, None],
    }

    #: The segment settings this estimator takes as parameters: the classifier and the
    #: tagger cut clips into segments and aggregate their outputs; an estimator without
    #: them (contrastive: random crops) leaves them out of its parameters.
    _segment_params: tuple[str, ...] = ("segment_mode", "hop_length", "tail", "aggregate")
    #: Whether the criterion gives one loss per segment (``criterion__reduction="none"`` by
    #: default: sample weights and failed segments are applied in ``get_loss``).
    _per_segment_loss: bool = True

    def __init__(
        self,
        module=SampleCNN,
        *,
        criterion,
        sr: int = DEFAULT_SR,
        segment_mode: str = "fixed",
        hop_length: int | None = None,
        tail: str = "overlap",
        short: str = "pad",
        aggregate: str = "mean",
        res_type: str = DEFAULT_RES_TYPE,
        audio_cache=None,
        on_error: str = "raise",
        precision: str = "auto",
        schedule: str | None = "paper",
        augment=None,
        checkpoint_dir=None,
        threads: int | None = None,
        n_jobs: int | None = 0,
        accelerator=None,
        random_state=None,
        optimizer=torch.optim.SGD,
        lr: float = 0.01,
        max_epochs: int = 100,
        batch_size: int = 23,
        train_split=0.1,
        callbacks=None,
        device: str = "cpu",
        verbose: int = 1,
        warm_start: bool = False,
        **kwargs,
    ) -> None:
        kwargs.setdefault("iterator_train__shuffle", True)
        kwargs.setdefault("dataset", SegmentDataset)
        # predict_proba applies softmax/sigmoid itself, per segment
        kwargs.setdefault("predict_nonlinearity", None)
        if self._per_segment_loss:
            kwargs.setdefault("criterion__reduction", "none")
        super().__init__(
            module,
            criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.sr = sr
        for name, value in (("segment_mode", segment_mode), ("hop_length", hop_length),
                            ("tail", tail), ("aggregate", aggregate)):
            if name in self._segment_params:
                setattr(self, name, value)
        self.short = short
        self.res_type = res_type
        self.audio_cache = audio_cache
        self.on_error = on_error
        self.precision = precision
        self.schedule = schedule
        self.augment = augment
        self.checkpoint_dir = checkpoint_dir
        self.threads = threads
        self.n_jobs = n_jobs
        self.accelerator = accelerator
        self.random_state = random_state

    @property
    def _raw_module(self) -> torch.nn.Module:
        """``module_`` without the accelerator's (DDP) wrapper, for its attributes."""
        return unwrapped_module(self)

    @property
    def _device(self) -> torch.device:
        """Where tensors go: the accelerator's device when one is set, else ``device``."""
        if self.accelerator is not None:
            return self.accelerator.device
        return torch.device(self.device)

    # -- sklearn plumbing ------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = str(self.device).startswith("cuda")
        tags.input_tags.two_d_array = True
        return tags

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_"; private state
        # ("_audio_cache_obj", skorch's "_params_to_validate") is no parameter
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def _check_params(self) -> None:
        """This library's parameters against ``_parameter_constraints`` (skorch's own are
        checked by skorch); skipped under ``sklearn.set_config(skip_parameter_validation=True)``.

        (sklearn's ``_fit_context`` is not used on these nets: it calls
        ``_validate_params``, which is skorch's own check of routed parameters,
        valid only after ``initialize``.)"""
        if get_config()["skip_parameter_validation"]:
            return
        params = {k: getattr(self, k) for k in self._parameter_constraints}
        validate_parameter_constraints(
            self._parameter_constraints, params, caller_name=type(self).__name__
        )

    def get_default_callbacks(self):
        callbacks = [(name, _PrintLog()) if name == "print_log"
                     else (name, cb) for name, cb in super().get_default_callbacks()]
        if self.schedule == "paper":
            callbacks.append(("paper_schedule", PaperSchedule()))
        if self.checkpoint_dir is not None:
            callbacks.append(("resumable_checkpoint", ResumableCheckpoint(self.checkpoint_dir)))
        return callbacks

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_audio_cache_obj", None)  # decoded audio is not part of the model
        state.pop("_fit_report", None)  # the report of a fit in progress
        state.pop("_previous_start_weights", None)  # a training-time copy of the weights
        return state

    # -- to and from a model file -------------------------------------------------------
    _pretrained_task: str | None = None  # one of sklearn_samplecnn.pretrained.TASKS

    def _pretrained_outputs(self) -> tuple[str | None, list, bool | None, dict]:
        """``(task, labels, multilabel, notes)`` a model file records for this fitted
        estimator; subclasses give their labels or tags."""
        return self._pretrained_task, [], None, {}

    def to_pretrained(self):
        """This fitted estimator as a :class:`~sklearn_samplecnn.PretrainedModel`.

        What :func:`~sklearn_samplecnn.save_pretrained` writes: the module, the
        rate, the task and the labels or tags, the settings a rebuilt estimator
        needs to predict the same (``from_pretrained``) and training notes
        (epochs, last losses).

        Returns
        -------
        PretrainedModel
            Holding this estimator's ``module_`` itself (not a copy).

        Raises
        ------
        PretrainedFileError
            The estimator is not fitted.
        """
        module = getattr(self, "module_", None)
        if module is None:
            raise PretrainedFileError(f"{type(self).__name__} is not fitted; call fit() first.")
        task, labels, multilabel, notes = self._pretrained_outputs()
        training = {}
        history = getattr(self, "history_", None)
        if history:
            last = history[-1]
            training["epochs"] = len(history)
            for key in ("train_loss", "valid_loss"):
                if key in last:
                    training[key] = float(last[key])
        return PretrainedModel.from_module(
            module, sample_rate=int(self.sr), task=task, labels=labels, multilabel=multilabel,
            estimator={k: getattr(self, k) for k in ESTIMATOR_SETTINGS if hasattr(self, k)},
            training={**notes, **training})

    @classmethod
    def from_pretrained(cls, model, **params):
        """A fitted estimator for prediction from a model file or a loaded model.

        Parameters
        ----------
        model : str, os.PathLike or PretrainedModel
            Saved with :func:`save_pretrained` from a fitted estimator of this class.
        **params
            Override the estimator's parameters (``device="cuda"``, ``threshold=...``).

        Returns
        -------
        estimator : object
            Same predictions as the estimator that was saved. Its settings (rate,
            segments, aggregation...) come from the file; labels or tags too.
        """
        if isinstance(model, (str, os.PathLike)):
            model = load_pretrained(model)
        if model.task != cls._pretrained_task:
            raise PretrainedFileError(
                f"{model.path}: holds a {model.task or 'bare module'} (task={model.task!r}); "
                f"{cls.__name__} rebuilds files saved from a fitted {cls.__name__}."
            )
        names = set(cls._get_param_names(cls(verbose=0)))
        settings = {k: v for k, v in (model.config.get("estimator") or {}).items()
                    if k in names}
        settings["sr"] = model.sample_rate  # files before 0.1.0's release also held "sr"
        module_kwargs = {f"module__{k}": v for k, v in model.config["module_config"].items()
                         if k != "n_outputs"}
        est = cls(module=type(model.module), verbose=0,
                  **{**settings, **module_kwargs, **params})
        est.n_outputs_ = int(model.config["module_config"]["n_outputs"])
        est._restore_outputs(model)
        est.initialize()
        est.module_.load_state_dict(model.module.state_dict())
        est.module_.eval()
        return est

    def _restore_outputs(self, model) -> None:
        """Set the fitted label attributes (``classes_``...) from a model file's config."""
        raise NotImplementedError

    # -- input handling ------------------------------------------------------------
    def _as_clips(self, X, *, fit: bool) -> Clips:
        """Turn ``X`` into :class:`Clips` at ``sr``, with the audio cache if one is set."""
        cache = None
        if self.audio_cache is not None:
            cache = getattr(self, "_audio_cache_obj", None)
            if cache is None or cache.where != self.audio_cache:
                cache = AudioCache(self.audio_cache)
            self._audio_cache_obj = cache  # not an estimator parameter: starts with "_"
        return clips_from_X(self, X, reset=fit, sr=self.sr, res_type=self.res_type, cache=cache)

    # -- the failure report of fit ------------------------------------------------------
    def _start_fit_report(self, clips: Clips) -> np.ndarray:
        """Open the report of this fit's failed clips and read every header: the indexes
        of the clips to train on (``on_error``, :func:`~sklearn_samplecnn.engine.check_headers`)."""
        self._fit_report = FailureReport(clips, self.on_error)
        return check_headers(clips, self._fit_report)

    def _fit_failed(self, name: str, error) -> None:
        """Clip ``name`` (its path, or ``X[i]``) failed while training or for a teacher."""
        report = self._fit_report
        index = report.index_of(name)
        report.add(index, error)

    def _close_fit_report(self, *, reset: bool) -> None:
        """``failed_files_`` of this fit and its one warning."""
        report = self.__dict__.pop("_fit_report", None)
        if report is None:
            return
        self.failed_files_ = report.files
        before = [] if reset else getattr(self, "_fit_failed_files", [])
        self._fit_failed_files = sorted({*before, *report.files})  # skipped_files_ (deprecated)
        report.warn("they are left out of training (failed_files_ lists them)", stacklevel=4)

    @property
    def skipped_files_(self) -> list[str]:
        """Deprecated: the files left out of training are in ``failed_files_`` after ``fit``."""
        warn_deprecated("skipped_files_", "failed_files_ (the files the last fit, predict or "
                        "transform call could not decode)")
        if not hasattr(self, "_fit_failed_files"):
            raise AttributeError(f"{type(self).__name__} is not fitted: no skipped_files_.")
        return list(self._fit_failed_files)

    # -- skorch hooks --------------------------------------------------------------
    def _n_outputs_unfitted(self) -> int | None:
        """Outputs known before any fit (from parameters), for ``initialize()``."""
        return self.get_params_for("module").get("n_outputs")

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        n_outputs = getattr(self, "n_outputs_", None) or self._n_outputs_unfitted()
        if n_outputs is None:
            raise ValueError(
                f"{type(self).__name__} does not know its number of outputs before fit: call "
                "fit(X, y), or pass the labels (classes=[...] or tags=[...]) or "
                "module__n_outputs=... to initialize() it without data (e.g. before "
                "load_params)."
            )
        kwargs["n_outputs"] = int(n_outputs)
        if "sr" not in kwargs and isinstance(self.module, type) and \
                "sr" in inspect.signature(self.module).parameters:
            kwargs["sr"] = self.sr  # e.g. the mel front end's filterbank
        self.module_ = self.initialized_instance(self.module, kwargs)
        check_segment_model(self.module_, f"module {self.module!r}:", TRAINABLE)
        return self

    def initialize(self):
        super().initialize()
        if self.accelerator is not None:  # its own mixed precision and loss scaling
            self._amp_dtype, self._scaler = None, None
            self._prepare_for_accelerator()
            return self
        precision = resolve_precision(self.precision, self.device, training=True)
        self._amp_dtype = _AMP_DTYPES.get(precision)
        self._scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        return self

    def get_params_for_optimizer(self, prefix, named_parameters):
        # The paper's optimiser is SGD with Nesterov momentum 0.9; those two
        # defaults apply to SGD only (Adam & co. take no momentum), and what
        # the user routes with optimizer__* always wins.
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer" and self.optimizer is torch.optim.SGD:
            kwargs.setdefault("momentum", 0.9)
            kwargs.setdefault("nesterov", True)
        return args, kwargs

    def get_dataset(self, X, y=None):
        """The training dataset: ``dataset`` (:class:`SegmentDataset` by default) built
        from the clips with the estimator's segment settings; ``dataset__*`` override them."""
        if isinstance(X, torch.utils.data.Dataset):
            return X
        if not callable(self.dataset):  # an instance given by the user
            return self.dataset
        kwargs = {"segment_length": self._raw_module.input_length, "mode": self.segment_mode,
                  "hop_length": self.hop_length, "tail": self.tail, "short": self.short,
                  "weights": getattr(self, "_fit_weights", None), "on_error": self.on_error}
        kwargs.update(self.get_params_for("dataset"))
        return self.dataset(X, y, **kwargs)

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        split = self.train_split
        if isinstance(split, numbers.Real) and not isinstance(split, bool):
            split = ClipSplit(float(split), random_state=seed_from(self.random_state))
        train, valid = (dataset, None) if not split else split(dataset, y, **fit_params)
        if len(train) < 2:
            raise ValueError(
                f"Training needs at least 2 segments; got {len(train)} (from 1 sample clip of "
                f"{len(train.clips)}). Pass more or longer clips."
            )
        fit_stats = getattr(self._raw_module, "fit_standardizer", None)
        if fit_stats is not None and not (self.warm_start and self._fitted_once()):
            # modules with input statistics (the mel front end) learn them
            # from the training segments, before the first step
            loader = torch.utils.data.DataLoader(train, batch_size=self.batch_size)
            fit_stats(xi["x"].to(self._device) for xi, _ in loader)
        return train, valid

    def _fitted_once(self) -> bool:
        return bool(getattr(self, "history_", None)) and len(self.history_) > 0

    def get_iterator(self, dataset, training=False):
        if training:
            kwargs = self.get_params_for("iterator_train")
            n = len(dataset)
            bs = kwargs.get("batch_size", self.batch_size)
            # a last batch of one segment breaks BatchNorm's training statistics
            if n > bs and n % bs == 1:
                kwargs.setdefault("drop_last", True)
        else:
            kwargs = self.get_params_for("iterator_valid")
        kwargs.setdefault("num_workers", resolve_n_jobs(self.n_jobs))  # routed ones win
        if kwargs["num_workers"] > 0:
            # long-lived workers; a few batches prepared ahead of the model
            kwargs.setdefault("persistent_workers", True)
            kwargs.setdefault("prefetch_factor", 4)
        kwargs.setdefault("batch_size", self.batch_size)
        if self._device.type == "cuda":
            kwargs.setdefault("pin_memory", True)
        iterator = self.iterator_train if training else self.iterator_valid
        loader = iterator(dataset, **kwargs)
        if self.accelerator is not None:
            loader = self.accelerator.prepare(loader)  # each process its share of batches
        return loader

    # -- fit ------------------------------------------------------------------------
    def _encode_y(self, y, *, n_clips: int, reset: bool = True) -> np.ndarray:
        """Targets as the loss wants them (class indexes, 0/1 float tags), one row per
        clip; ``reset`` records the classes or tags (first fit). Subclasses implement it."""
        raise NotImplementedError

    def _sample_weights(self, y_encoded: np.ndarray, sample_weight) -> np.ndarray | None:
        """Per-clip weights from ``sample_weight`` (and ``class_weight`` in subclasses)."""
        if sample_weight is None:
            return None
        return check_sample_weight(sample_weight, np.empty((len(y_encoded), 0)),
                                    dtype=np.float32, ensure_non_negative=True)

    def fit(self, X, y, sample_weight=None, **fit_params):
        """Train on clips ``X`` with clip-level targets ``y``.

        Parameters
        ----------
        X : list of str/Path, ndarray of shape (n_clips, n_samples), list of 1-D arrays \
                or list of (array, int) pairs
            Audio files (any sequence of paths: list, numpy array, pandas
            Series), waveforms already at ``sr``, or ``(waveform, rate)`` pairs
            (resampled to ``sr`` like files).
        y : array-like
            Class labels (classifier) or a 0/1 tag matrix (tagger).
        sample_weight : array-like of shape (n_clips,) or None, default=None
            Per-clip weights, applied to each of the clip's segments in the loss.
        **fit_params
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self : object
        """
        try:
            clips, y, weights = self._prepare_fit(X, y, sample_weight, reset=True)
            self._fit_weights = weights
            with self._training_context():
                if not self.warm_start or not self.initialized_:
                    self.initialize()
                self._train(clips, y, **fit_params)
        finally:
            self._fit_weights = None
            self._close_fit_report(reset=True)
        return self

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Train ``max_epochs`` more epochs without re-initialising the module.

        The first call initialises it (like :meth:`fit`); later calls must use
        the same classes or tags. ``classes`` is accepted for sklearn
        compatibility and ignored: the classes come from the first ``y``.
        ``checkpoint_dir`` applies to :meth:`fit` only.

        Returns
        -------
        self : object
        """
        first = not self.initialized_
        try:
            clips, y, weights = self._prepare_fit(X, y, sample_weight, reset=first)
            self._fit_weights = weights
            with self._training_context(seeded=first):
                if first:
                    self.initialize()
                self._train(clips, y, resume=False, **fit_params)
        finally:
            self._fit_weights = None
            self._close_fit_report(reset=first)
        return self

    def _fit_clips(self, X, *, reset: bool) -> tuple[Clips, np.ndarray]:
        """Check the parameters, turn ``X`` into clips (resetting what a first fit
        records) and read the headers: the clips and the indexes of those to keep."""
        self._check_params()
        clips = self._as_clips(X, fit=reset)
        if reset and clips.kind == "paths":
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
        return clips, self._start_fit_report(clips)

    def _prepare_fit(self, X, y, sample_weight, *, reset: bool):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        clips, keep = self._fit_clips(X, reset=reset)
        y = self._encode_y(y, n_clips=len(clips), reset=reset)
        weights = self._sample_weights(y, sample_weight)
        if len(keep) < len(clips):
            clips, y = clips.subset(keep), y[keep]
            weights = None if weights is None else weights[keep]
        return clips, y, weights
