"""SampleCNNClassifier and SampleCNNTagger: skorch nets that train on audio.

Both take ``X`` as a list of audio file paths, a 2-D float array of
waveforms ``(n_clips, n_samples)`` already at ``sr``, or a list of 1-D
waveforms of any lengths. They cut every clip into segments of the module's
input length, train on the segments (each carrying its clip's labels) and
predict a clip by the mean of its segments' outputs.
"""

from __future__ import annotations

import inspect
import numbers
import os
import warnings
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNet
from skorch.utils import to_tensor

from .._clips import AudioCache, Clips, clips_from_X
from ..audio import DEFAULT_RES_TYPE, DEFAULT_SR, RES_TYPES
from ..augment import resolve_augment
from ..exceptions import AudioLoadError
from ..nn import SampleCNN
from ..segments import AGGREGATIONS, SHORTS, TAILS, aggregate_segments
from .callbacks import PaperSchedule
from .data import ClipSplit, SegmentDataset

__all__ = ["SampleCNNClassifier", "SampleCNNTagger"]


def _encode_labels(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class indexes of ``y`` in ``classes`` (int64); unknown labels are an error."""
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    unknown = classes[idx] != y
    if np.any(unknown):
        raise ValueError(f"y contains labels not seen in the first fit: "
                         f"{np.unique(y[unknown])[:10].tolist()}; known: {classes.tolist()}.")
    return idx.astype(np.int64)


def _seed_from(random_state) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(random_state.randint(np.iinfo(np.int32).max))


class _SampleCNNNet(NeuralNet):
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
        "on_error": [StrOptions({"raise", "skip"})],
        "schedule": [StrOptions({"paper"}), None],
        "augment": [StrOptions({"default"}), callable, None],
        "random_state": ["random_state"],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "train_split": [Interval(numbers.Real, 0, 1, closed="neither"), callable, None],
    }

    def __init__(
        self,
        module=SampleCNN,
        *,
        criterion,
        sr: int = DEFAULT_SR,
        segment_mode: str = "fixed",
        hop_length: int | None = None,
        tail: str = "drop",
        short: str = "pad",
        aggregate: str = "mean",
        res_type: str = DEFAULT_RES_TYPE,
        audio_cache=None,
        on_error: str = "raise",
        schedule: str | None = "paper",
        augment=None,
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
        # The paper's optimiser: SGD with Nesterov momentum 0.9 (routed, so
        # GridSearchCV can change them); shuffled training batches.
        kwargs.setdefault("optimizer__momentum", 0.9)
        kwargs.setdefault("optimizer__nesterov", True)
        kwargs.setdefault("iterator_train__shuffle", True)
        # predict_proba applies softmax/sigmoid itself, per segment
        kwargs.setdefault("predict_nonlinearity", None)
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
        self.segment_mode = segment_mode
        self.hop_length = hop_length
        self.tail = tail
        self.short = short
        self.aggregate = aggregate
        self.res_type = res_type
        self.audio_cache = audio_cache
        self.on_error = on_error
        self.schedule = schedule
        self.augment = augment
        self.random_state = random_state

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
        params = {k: getattr(self, k) for k in self._parameter_constraints}
        validate_parameter_constraints(
            self._parameter_constraints, params, caller_name=type(self).__name__
        )

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        if self.schedule == "paper":
            callbacks.append(("paper_schedule", PaperSchedule()))
        return callbacks

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

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_audio_cache_obj", None)  # decoded audio is not part of the model
        return state

    def _check_readable(self, clips: Clips, *, fit: bool) -> np.ndarray:
        """Read all file headers; report every unreadable file at once.

        Returns the indexes of the clips to keep (all of them unless
        ``on_error="skip"`` during fit).
        """
        keep = np.arange(len(clips))
        if clips.kind != "paths":
            return keep
        errors = clips.check_files()
        if not errors:
            return keep
        listing = "\n  ".join(str(e) for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        if fit and self.on_error == "skip":
            bad = {e.path for e in errors}
            warnings.warn(f"Skipping {len(errors)} of {len(clips)} files that cannot be read:"
                          f"\n  {listing}{more}", stacklevel=3)
            self.skipped_files_ = sorted(bad)
            keep = np.array([i for i, p in enumerate(clips.items) if p not in bad], dtype=np.int64)
            if len(keep) == 0:
                raise AudioLoadError(errors[0].path, "no readable file left to train on")
            return keep
        raise AudioLoadError(
            errors[0].path if len(errors) == 1 else f"{len(errors)} of {len(clips)} files",
            f"cannot be read:\n  {listing}{more}" if len(errors) > 1 else errors[0].reason,
        )

    # -- skorch hooks --------------------------------------------------------------
    def initialize_module(self):
        kwargs = self.get_params_for("module")
        kwargs["n_outputs"] = self.n_outputs_
        if "sr" not in kwargs and isinstance(self.module, type) and \
                "sr" in inspect.signature(self.module).parameters:
            kwargs["sr"] = self.sr  # e.g. the mel front end's filterbank
        self.module_ = self.initialized_instance(self.module, kwargs)
        if not hasattr(self.module_, "input_length"):
            raise TypeError(f"module {self.module!r} must have an input_length attribute.")
        return self

    def get_dataset(self, X, y=None):
        if isinstance(X, torch.utils.data.Dataset):
            return X
        return SegmentDataset(X, y, self.module_.input_length, mode=self.segment_mode,
                              hop_length=self.hop_length, tail=self.tail, short=self.short)

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        split = self.train_split
        if isinstance(split, numbers.Real) and not isinstance(split, bool):
            split = ClipSplit(float(split), random_state=_seed_from(self.random_state))
        train, valid = (dataset, None) if not split else split(dataset, y, **fit_params)
        if len(train) < 2:
            raise ValueError(
                f"Training needs at least 2 segments; got {len(train)} (from 1 sample clip of "
                f"{len(train.clips)}). Pass more or longer clips."
            )
        fit_stats = getattr(self.module_, "fit_standardizer", None)
        if fit_stats is not None and not (self.warm_start and self._fitted_once()):
            # modules with input statistics (the mel front end) learn them
            # from the training segments, before the first step
            loader = torch.utils.data.DataLoader(train, batch_size=self.batch_size)
            fit_stats(x.to(self.device) for x, _ in loader)
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
        if kwargs.get("num_workers", 0) > 0:
            # long-lived workers: resampy's JIT and caches survive the epoch
            kwargs.setdefault("persistent_workers", True)
        kwargs.setdefault("batch_size", self.batch_size)
        if str(self.device).startswith("cuda"):
            kwargs.setdefault("pin_memory", True)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, **kwargs)

    def infer(self, x, **fit_params):
        # training batches only: skorch puts the module in train mode for
        # train steps, in eval mode for validation and prediction
        augment = resolve_augment(self.augment)
        if augment is not None and self.module_.training:
            x = augment(to_tensor(x, device=self.device), self.sr)
        return super().infer(x, **fit_params)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        loss = kwargs.get("loss")
        if training and loss is not None and not torch.isfinite(loss).all():
            raise FloatingPointError(
                f"Training diverged: the loss is {loss.item()} in epoch {len(self.history)}; "
                f"lower lr (now {self.lr}) or check the input scale."
            )

    # -- fit / predict -------------------------------------------------------------
    def _encode_y(self, y):
        raise NotImplementedError

    def fit(self, X, y, **fit_params):
        """Train on clips ``X`` with clip-level targets ``y``.

        Parameters
        ----------
        X : list of str/Path, ndarray of shape (n_clips, n_samples), or list of 1-D arrays
            Audio files, or waveforms already at ``sr``.
        y : array-like
            Class labels (classifier) or a 0/1 tag matrix (tagger).

        Returns
        -------
        self
        """
        clips, y = self._prepare_fit(X, y, reset=True)
        with self._seeded():
            super().fit(clips, y, **fit_params)
        return self

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train ``max_epochs`` more epochs without re-initialising the module.

        The first call initialises it (like :meth:`fit`); later calls must use
        the same classes or tags. ``classes`` is accepted for sklearn
        compatibility and ignored: the classes come from the first ``y``.
        """
        if isinstance(X, Clips):  # fit() calls this with prepared clips
            return super().partial_fit(X, y, **fit_params)
        first = not self.initialized_
        clips, y = self._prepare_fit(X, y, reset=first)
        with self._seeded() if first else nullcontext():
            if first:
                self.initialize()
            super().partial_fit(clips, y, **fit_params)
        return self

    @contextmanager
    def _seeded(self):
        """Seed torch for one fit (weights, shuffling, crops, dropout), then restore."""
        seed = _seed_from(self.random_state)
        if seed is None:
            yield
            return
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield

    def _prepare_fit(self, X, y, *, reset: bool):
        self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        clips = self._as_clips(X, fit=reset)
        if reset and clips.kind == "paths":
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
        if reset:
            self.skipped_files_ = []
        keep = self._check_readable(clips, fit=True)
        y = self._encode_y(y, n_clips=len(clips), reset=reset)
        if len(keep) < len(clips):
            clips, y = clips.subset(keep), y[keep]
        return clips, y

    def _segment_outputs(self, X) -> tuple[np.ndarray, np.ndarray, int]:
        """Per-segment probabilities, their clip index and the number of clips."""
        check_is_fitted(self, "module_")
        clips = self._as_clips(X, fit=False)
        self._check_readable(clips, fit=False)
        dataset = SegmentDataset(clips, None, self.module_.input_length, mode="fixed",
                                 hop_length=self.hop_length, tail=self.tail,
                                 short="pad" if self.short == "error" else self.short)
        outs = [self._nonlinearity(yp) for yp in self.forward_iter(dataset, training=False)]
        probs = torch.cat(outs).numpy() if outs else np.zeros((0, self.n_outputs_), np.float32)
        return probs, dataset.clip_index, len(clips)

    def predict_proba(self, X) -> np.ndarray:
        """Clip probabilities: the mean (``aggregate``) of the segment outputs.

        Returns
        -------
        ndarray of shape (n_clips, n_outputs)
        """
        probs, clip_index, n = self._segment_outputs(X)
        out = aggregate_segments(probs.astype(np.float64), clip_index, n, how=self.aggregate)
        return out

    def _nonlinearity(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class SampleCNNClassifier(ClassifierMixin, _SampleCNNNet):
    """SampleCNN for single-label classification (genre): softmax over classes.

    Parameters
    ----------
    module : type or nn.Module, default=SampleCNN
        The torch module; its arguments are routed as ``module__sizes``,
        ``module__channels``, ``module__dropout``... (``n_outputs`` is set
        from the number of classes).
    sr : int, default=22050
        Sample rate the model works at; files are resampled to it, arrays
        must already be at it.
    segment_mode : {"fixed", "random"}, default="fixed"
        Training segments: each clip's fixed non-overlapping segments (the
        paper) or the same number of random crops, redrawn every epoch.
    hop_length : int or None, default=None
        Samples between segment starts; ``None`` means non-overlapping.
    tail : {"drop", "pad", "repeat"}, default="drop"
        What happens to the samples after a clip's last whole segment.
    short : {"pad", "repeat", "error"}, default="pad"
        What happens to a clip shorter than one segment ("error" applies to
        training; prediction pads).
    aggregate : {"mean", "max"}, default="mean"
        How segment probabilities make a clip probability.
    res_type : str, default="kaiser_fast"
        Resampling filter for files (see :func:`sklearn_samplecnn.audio.resample`).
    audio_cache : {"memory"} or path or None, default=None
        Keep decoded, resampled clips in memory or as ``.npy`` files in a folder.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable training files: raise an error listing all of them, or
        skip them with a warning (listed in ``skipped_files_``). Prediction
        always raises, naming every unreadable file.
    schedule : {"paper"} or None, default="paper"
        Add :class:`PaperSchedule` (reload best weights and divide lr by 5 on a
        3-epoch validation-loss plateau; stop after 4 decreases) to the callbacks.
    augment : None, "default" or callable, default=None
        Augment training batches on the device (never validation or
        prediction batches): ``"default"`` is
        :class:`~sklearn_samplecnn.augment.AudioAugment` with its defaults
        (CLMR's chain), or pass an ``AudioAugment(...)`` or any callable
        ``f(batch, sr) -> batch`` of the same shape.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling, crops, dropout and the
        validation split (same seed, same weights on CPU).
    optimizer : default=torch.optim.SGD
        With ``optimizer__momentum=0.9`` and ``optimizer__nesterov=True``.
    lr : float, default=0.01
    max_epochs : int, default=100
    batch_size : int, default=23
        Segments per batch (the paper's MTAT setting).
    train_split : float, callable or None, default=0.1
        Fraction of clips held out for the validation loss (stratified by
        class), a skorch-style ``split(dataset, y)`` callable, or ``None``.
    callbacks, device, verbose, warm_start, **kwargs
        As in :class:`skorch.NeuralNet` (``iterator_train__num_workers=2``
        decodes audio in two worker processes).

    Attributes
    ----------
    classes_ : ndarray
        The labels, in the order of ``predict_proba``'s columns.
    module_ : torch.nn.Module
    history_ : skorch History
    n_outputs_ : int
    skipped_files_ : list of str
    n_features_in_ : int
        Only when fitted on a 2-D waveform array.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn import SampleCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 81)).astype(np.float32)
    >>> y = np.array(["a", "b"] * 4)
    >>> clf = SampleCNNClassifier(module__sizes="3-3-3-3", module__channels=[4] * 5,
    ...                           max_epochs=2, train_split=None, verbose=0, random_state=0)
    >>> clf.fit(X, y).predict_proba(X).shape
    (8, 2)
    """

    def __init__(self, module=SampleCNN, *, criterion=torch.nn.CrossEntropyLoss, **kwargs):
        super().__init__(module, criterion=criterion, **kwargs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # a raw-waveform CNN trained for a few epochs on sklearn's tabular test
        # data is not expected to reach its accuracy bars
        tags.classifier_tags.poor_score = True
        return tags

    def _encode_y(self, y, *, n_clips, reset=True):
        y = column_or_1d(y, warn=True) if not isinstance(y, list) else np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one label per clip), got shape {y.shape}.")
        if len(y) != n_clips:
            raise ValueError(f"X has {n_clips} clips but y has {len(y)} labels.")
        check_classification_targets(y)
        if reset:
            self.classes_ = LabelEncoder().fit(y).classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"SampleCNNClassifier needs at least 2 classes in y; got 1 class "
                    f"({self.classes_[0]!r})."
                )
            self.n_outputs_ = len(self.classes_)
        return _encode_labels(y, self.classes_)

    def _nonlinearity(self, logits):
        return torch.softmax(logits.float(), dim=-1)

    def predict_proba(self, X) -> np.ndarray:
        proba = super().predict_proba(X)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each clip."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class SampleCNNTagger(ClassifierMixin, _SampleCNNNet):
    """SampleCNN for multi-label auto-tagging: one sigmoid per tag.

    ``y`` is an ``(n_clips, n_tags)`` 0/1 indicator matrix (array or
    DataFrame, whose columns become ``tags_``) or a list of tag lists per
    clip. Parameters are those of :class:`SampleCNNClassifier`, plus:

    Parameters
    ----------
    threshold : float, default=0.5
        ``predict`` marks a tag present when its probability is at least this.

    Attributes
    ----------
    tags_ : ndarray of str
        Tag names (column names, the tags in lists, or "0", "1", ...).
    classes_ : list of ndarray or ndarray
        ``[array([0, 1])] * n_tags``, as sklearn's multi-label classifiers; the
        labels when fitted on 1-D labels.
    multilabel_ : bool
        False when fitted on 1-D labels: then, like sklearn's
        ``OneVsRestClassifier``, each class gets its own sigmoid output and
        ``predict`` returns labels.
    n_outputs_ : int

    See Also
    --------
    SampleCNNClassifier : one label per clip.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn import SampleCNNTagger
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 81)).astype(np.float32)
    >>> Y = np.array([[1, 0, 1], [0, 1, 1]] * 4)
    >>> tagger = SampleCNNTagger(module__sizes="3-3-3-3", module__channels=[4] * 5,
    ...                          max_epochs=2, train_split=None, verbose=0, random_state=0)
    >>> tagger.fit(X, Y).predict(X).shape
    (8, 3)
    """

    _parameter_constraints = {
        **_SampleCNNNet._parameter_constraints,
        "threshold": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(self, module=SampleCNN, *, criterion=torch.nn.BCEWithLogitsLoss,
                 threshold: float = 0.5, **kwargs):
        super().__init__(module, criterion=criterion, **kwargs)
        self.threshold = threshold

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True  # 1-D labels: one-vs-rest
        return tags

    def _encode_y(self, y, *, n_clips, reset=True):
        columns = getattr(y, "columns", None)
        Y = np.asarray(y)
        if Y.ndim == 1 or (Y.ndim == 2 and Y.shape[1] == 1 and not np.isin(Y, (0, 1)).all()):
            # one label per clip: one-vs-rest, one sigmoid per class (as
            # sklearn's OneVsRestClassifier); predict returns labels
            Y = column_or_1d(Y, warn=True)
            check_classification_targets(Y)
            if reset:
                self.multilabel_ = False
                self.classes_ = LabelEncoder().fit(Y).classes_
                if len(self.classes_) < 2:
                    raise ValueError(f"SampleCNNTagger needs at least 2 classes in a 1-D y; "
                                     f"got 1 class ({self.classes_[0]!r}).")
                self.tags_ = np.array([str(c) for c in self.classes_], dtype=object)
            elif self.multilabel_:
                raise ValueError("This tagger was fitted on a tag matrix; y must be 2-D.")
            Y = _encode_labels(Y, self.classes_)
            Y = np.eye(len(self.classes_), dtype=np.float32)[Y]
        else:
            if Y.ndim != 2:
                raise ValueError(
                    f"y must be a 2-D 0/1 tag matrix (n_clips, n_tags) or 1-D labels, got "
                    f"shape {Y.shape}; turn lists of tag names into a matrix with "
                    "sklearn.preprocessing.MultiLabelBinarizer."
                )
            if not np.issubdtype(Y.dtype, np.number) or not np.isin(Y, (0, 1)).all():
                raise ValueError(
                    f"y must hold only 0 and 1 (tag absent/present); got type of target "
                    f"{type_of_target(Y)!r}."
                )
            if reset:
                self.multilabel_ = True
                self.classes_ = [np.array([0, 1])] * Y.shape[1]
                self.tags_ = np.array([str(c) for c in columns] if columns is not None else
                                      [str(i) for i in range(Y.shape[1])], dtype=object)
            elif not self.multilabel_ or Y.shape[1] != self.n_outputs_:
                raise ValueError(f"y must have {self.n_outputs_} tag columns as in the first "
                                 f"fit, got shape {Y.shape}.")
        if Y.shape[0] != n_clips:
            raise ValueError(f"X has {n_clips} clips but y has {Y.shape[0]} rows.")
        self.n_outputs_ = Y.shape[1]
        return Y.astype(np.float32)

    def _nonlinearity(self, logits):
        return torch.sigmoid(logits.float())

    def predict_proba(self, X) -> np.ndarray:
        """Tag probabilities (n_clips, n_tags); rows sum to 1 when fitted on 1-D labels."""
        proba = super().predict_proba(X)
        if not self.multilabel_:
            proba = proba / np.maximum(proba.sum(axis=1, keepdims=True), 1e-12)
        return proba

    def predict(self, X) -> np.ndarray:
        """0/1 tags (probability >= ``threshold``), shape (n_clips, n_tags);
        labels of shape (n_clips,) when fitted on 1-D labels."""
        proba = self.predict_proba(X)
        if not self.multilabel_:
            return self.classes_[np.argmax(proba, axis=1)]
        return (proba >= self.threshold).astype(np.int64)

    def score(self, X, y, sample_weight=None) -> float:
        """Macro ROC-AUC over the tags that occur and are absent somewhere in ``y``
        (accuracy when fitted on 1-D labels)."""
        if not self.multilabel_:
            return super().score(X, y, sample_weight=sample_weight)
        Y = np.asarray(y)
        if Y.ndim != 2 or Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y must have shape (n_clips, {self.n_outputs_}), got {Y.shape}.")
        P = self.predict_proba(X)
        ok = (Y.min(axis=0) != Y.max(axis=0))
        if not ok.any():
            raise ValueError("No tag in y has both positive and negative clips; AUC is undefined.")
        return float(roc_auc_score(Y[:, ok], P[:, ok], average="macro",
                                   sample_weight=sample_weight))
