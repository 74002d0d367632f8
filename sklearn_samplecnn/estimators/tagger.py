"""SampleCNNTagger: multi-label auto-tagging on audio clips."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import LabelEncoder, MultiLabelBinarizer
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from .._compat import Interval, StrOptions
from ..nn import SampleCNN
from ..pretrained import TAGGER
from ._base import _check_labels, _encode_labels, _labels, _SampleCNNNet

__all__ = ["SampleCNNTagger"]


def _is_tag_lists(y) -> bool:
    """Whether ``y`` is one list/tuple/set of tag names per clip."""
    if isinstance(y, np.ndarray) and y.dtype != object:
        return False
    if not isinstance(y, (list, tuple, np.ndarray)) or len(y) == 0:
        return False
    return all(isinstance(row, (list, tuple, set, frozenset)) for row in y) and all(
        isinstance(t, str) for row in y for t in row)


class SampleCNNTagger(ClassifierMixin, _SampleCNNNet):
    """SampleCNN for multi-label auto-tagging: one sigmoid per tag.

    ``y`` is an ``(n_clips, n_tags)`` 0/1 indicator matrix (array or
    DataFrame, whose columns become ``tags_``), or one list (tuple, set) of
    tag names per clip (``[["rock", "guitar"], ["piano"], []]``: a
    ``MultiLabelBinarizer`` inside, the sorted names become ``tags_``).
    Parameters are those of :class:`SampleCNNClassifier` (``classes`` aside),
    plus:

    Parameters
    ----------
    threshold : float, default=0.5
        ``predict`` marks a tag present when its probability is at least this.
    tags : array-like of str or None, default=None
        Tag names, for a net used without ``fit`` (``initialize()`` then
        ``load_params(...)``); ``fit`` takes them from ``y``. With neither,
        ``module__n_outputs=k`` names the tags "0" ... "k-1".
    class_weight : "balanced", dict, array-like or None, default=None
        Weights of the positive class of each tag (``pos_weight`` of
        ``BCEWithLogitsLoss``): ``"balanced"`` weighs tag ``t`` by
        ``n_negative_t / n_positive_t`` of the training clips, a dict maps tag
        names (labels, for 1-D ``y``) to weights (1 for the others), an array
        gives one weight per tag.

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
    pos_weight_ : ndarray of shape (n_tags,) or None
        The positive-class weight of each tag in the loss (``class_weight``
        resolved on the first fit's targets); ``None`` without ``class_weight``.
    n_outputs_ : int
        Sigmoid outputs (tags, or classes for 1-D labels).
    module_, history_, failed_files_, interrupted_, n_features_in_
        As for :class:`SampleCNNClassifier`.

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
        "tags": ["array-like", None],
        "class_weight": [StrOptions({"balanced"}), dict, "array-like", None],
    }

    def __init__(self, module=SampleCNN, *, criterion=torch.nn.BCEWithLogitsLoss,
                 threshold: float = 0.5, tags=None, class_weight=None, **kwargs):
        super().__init__(module, criterion=criterion, **kwargs)
        self.threshold = threshold
        self.tags = tags
        self.class_weight = class_weight

    _pretrained_task = TAGGER

    def _pretrained_outputs(self):
        return TAGGER, list(self.tags_ if self.multilabel_ else self.classes_), \
            bool(self.multilabel_), {}

    def _restore_outputs(self, model) -> None:
        labels = np.asarray(model.labels, dtype=object if any(
            isinstance(v, str) for v in model.labels) else None)
        self.multilabel_ = bool(model.config.get("multilabel", True))
        self.tags_ = np.array([str(t) for t in labels], dtype=object)
        self.classes_ = [np.array([0, 1])] * self.n_outputs_ if self.multilabel_ else labels

    def _n_outputs_unfitted(self) -> int | None:
        if self.tags is not None:
            return len(self.tags)
        return super()._n_outputs_unfitted()

    def initialize(self):
        super().initialize()
        if not hasattr(self, "tags_"):  # initialize() without fit
            self.multilabel_ = True
            tags = self.tags if self.tags is not None else range(self._n_outputs_unfitted())
            self.tags_ = np.array([str(t) for t in tags], dtype=object)
            self.n_outputs_ = len(self.tags_)
            self.classes_ = [np.array([0, 1])] * self.n_outputs_
        return self

    def initialize_criterion(self):
        super().initialize_criterion()
        pos_weight = getattr(self, "pos_weight_", None)
        if pos_weight is not None:
            self.criterion_.pos_weight = torch.as_tensor(pos_weight, device=self._device)
        return self

    def _tag_weights(self, Y: np.ndarray) -> np.ndarray | None:
        """``class_weight`` as one positive-class weight per tag, for the training targets
        ``Y`` (n_clips, n_tags); ``None`` without ``class_weight``."""
        if self.class_weight is None:
            return None
        Y = np.asarray(Y, dtype=np.float64)
        if isinstance(self.class_weight, str):
            pos = Y.sum(axis=0)
            return ((len(Y) - pos) / np.maximum(pos, 1)).astype(np.float32)
        w = self.class_weight
        if isinstance(w, dict):  # {tag name (or label, for 1-D y): weight}
            names = list(self.tags_ if self.multilabel_ else self.classes_)
            unknown = set(w) - set(names)
            if unknown:
                raise ValueError(f"class_weight names unknown tags {sorted(unknown)}; "
                                 f"the tags are {names[:20]}.")
            w = [w.get(name, 1.0) for name in names]
        w = np.asarray(w, dtype=np.float32)
        if w.shape != (Y.shape[1],) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"class_weight must give one weight >= 0 per tag "
                             f"({Y.shape[1]}), got shape {w.shape}.")
        return w

    def _output_names(self):
        return self.tags_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True  # 1-D labels: one-vs-rest
        return tags

    def _encode_y(self, y, *, n_clips, reset=True):
        columns = getattr(y, "columns", None)
        if _is_tag_lists(y):
            if not reset and not self.multilabel_:
                raise ValueError("This tagger was fitted on 1-D labels; y must be 1-D.")
            mlb = MultiLabelBinarizer(classes=None if reset else list(self.tags_))
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # an unknown tag in a later fit is an error
                try:
                    Y = mlb.fit_transform([list(t) for t in y])
                except UserWarning as exc:
                    raise ValueError(f"y holds tags not seen in the first fit ({exc}).") \
                        from None
            if Y.shape[1] == 0:
                raise ValueError(f"y holds no tags: the tag lists of all {len(Y)} clips are "
                                 "empty; a tagger needs at least one tag that some clip has.")
            columns = [str(c) for c in mlb.classes_]
            y = Y
        Y = np.asarray(y)
        if Y.ndim == 1:  # one label per clip: of one kind (a list's, before numpy's cast)
            _check_labels(y if isinstance(y, (list, tuple)) else Y)
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
            if Y.shape[1] == 0:
                raise ValueError(f"y has no tag columns (shape {Y.shape}); a tagger needs at "
                                 "least one tag.")
            if Y.dtype.kind == "f" and np.isnan(Y).any():
                i, j = np.argwhere(np.isnan(Y))[0]
                name = f" (tag {str(columns[j])!r})" if columns is not None else ""
                raise ValueError(f"y contains NaN ({int(np.isnan(Y).sum())} of {Y.size} "
                                 f"values), e.g. at row {i}, column {j}{name}; every tag of "
                                 "every clip must be 0 (absent) or 1 (present).")
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
        if reset:  # learned from the first fit's targets, like the tags
            self.pos_weight_ = self._tag_weights(Y)
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
        labels of shape (n_clips,) when fitted on 1-D labels.

        With ``on_error="skip"``, clips that could not be decoded get a row of
        -1 (``None`` for labels) and are listed in ``failed_files_``. Use
        :meth:`predict_tags` for lists of tag names.
        """
        proba = self.predict_proba(X)
        if isinstance(X, torch.utils.data.Dataset):  # segments, during training
            return (proba >= self.threshold).astype(np.int64) if self.multilabel_ \
                else np.argmax(proba, axis=1)
        if not self.multilabel_:
            return _labels(self.classes_, proba)
        tags = (proba >= self.threshold).astype(np.int64)
        tags[np.isnan(proba).any(axis=1)] = -1  # failed clips (on_error="skip"): not "no tag"
        return tags

    def predict_tags(self, X, top_k: int | None = None) -> list:
        """The names of each clip's tags: ``[["rock", "guitar"], [], ...]``.

        Parameters
        ----------
        X : list of paths, ndarray of shape (n_clips, n_samples), list of 1-D arrays \
                or list of (array, int) pairs
            As in ``fit``.
        top_k : int or None, default=None
            ``None``: the tags whose probability is at least ``threshold``, in
            the order of ``tags_``. An int: the ``top_k`` most probable tags of
            every clip, most probable first, whatever the threshold (musicnn's
            ``top_tags``); ties keep the order of ``tags_``.

        Returns
        -------
        list of (list of str or None)
            One list per clip; ``None`` for clips that could not be decoded
            (``on_error="skip"``).
        """
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) \
                    or not 1 <= top_k <= self.n_outputs_:
                raise ValueError(f"top_k must be an integer in [1, {self.n_outputs_}] (the "
                                 f"number of tags) or None, got {top_k!r}.")
            proba = self.predict_proba(X)
            order = np.argsort(-proba, axis=1, kind="stable")[:, :int(top_k)]
            return [None if np.isnan(p).any() else [str(self.tags_[j]) for j in idx]
                    for p, idx in zip(proba, order)]
        if not self.multilabel_:
            raise ValueError("predict_tags needs a tagger fitted on tags; this one was fitted "
                             "on 1-D labels: use predict, or predict_tags(X, top_k=k) for the "
                             "k most probable labels.")
        return [None if row[0] < 0 else [t for t, on in zip(self.tags_, row) if on]
                for row in self.predict(X)]

    def score(self, X, y, sample_weight=None) -> float:
        """Macro ROC-AUC over the tags that occur and are absent somewhere in ``y``
        (accuracy when fitted on 1-D labels)."""
        if not self.multilabel_:
            return super().score(X, y, sample_weight=sample_weight)
        Y = self._encode_y(y, n_clips=len(y), reset=False) if _is_tag_lists(y) else \
            np.asarray(y)
        if Y.ndim != 2 or Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y must have shape (n_clips, {self.n_outputs_}), got {Y.shape}.")
        P = self.predict_proba(X)
        ok = (Y.min(axis=0) != Y.max(axis=0))
        if not ok.any():
            raise ValueError("No tag in y has both positive and negative clips; AUC is undefined.")
        return float(roc_auc_score(Y[:, ok], P[:, ok], average="macro",
                                   sample_weight=sample_weight))
