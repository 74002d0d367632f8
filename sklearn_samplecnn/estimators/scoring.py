"""Scoring clips, not segments, inside skorch's training loop.

skorch's ``EpochScoring`` scores the validation *segments* (each with its
clip's target). :func:`clip_scoring` makes a scorer that first pools the
segment probabilities of each clip (their mean, as ``predict_proba`` does)
and scores clips, the level the paper reports.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

from ..segments import aggregate_segments

__all__ = ["clip_scoring"]

_METRICS: dict[str, tuple[Callable, str]] = {
    "accuracy": (accuracy_score, "label"),
    "balanced_accuracy": (balanced_accuracy_score, "label"),
    "f1_macro": (lambda y, p: f1_score(y, p, average="macro"), "label"),
    "roc_auc": (lambda y, p: roc_auc_score(y, p, average="macro"), "proba"),
}


def clip_scoring(metric: str = "accuracy") -> Callable:
    """A scorer for skorch's ``EpochScoring`` that scores clips, not segments.

    Parameters
    ----------
    metric : {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}, default="accuracy"
        ``"roc_auc"`` is the macro ROC-AUC over tags (taggers) or one-vs-rest
        over classes; the others compare the most probable class (classifier)
        or thresholded tags (tagger) with the clips' targets.

    Returns
    -------
    callable
        ``scorer(net, dataset, y)`` for ``EpochScoring(scoring=...)``, on the
        validation clips (``on_train=False``, the default). On the training
        clips pass ``use_caching=False`` too: cached training outputs come in
        shuffled order, which the scorer detects and refuses.

    Examples
    --------
    >>> from skorch.callbacks import EpochScoring
    >>> cb = EpochScoring(clip_scoring("accuracy"), lower_is_better=False,
    ...                   name="valid_clip_acc")
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}.")
    score, needs = _METRICS[metric]

    def scorer(net, dataset, y=None) -> float:
        proba = net.predict_proba(dataset)  # one row per segment (cached by EpochScoring)
        clips = np.asarray(dataset.clip_index)
        target = np.asarray(dataset.y)
        if y is not None and not np.array_equal(np.asarray(y), target[clips]):
            raise ValueError(
                f"clip_scoring({metric!r}) pools segments in the dataset's order, but the "
                "outputs it was given come in another order: EpochScoring(on_train=True) "
                "caches the shuffled training batches. Score validation clips "
                "(on_train=False, the default), or pass use_caching=False to score the "
                "training clips."
            )
        n = int(clips.max()) + 1
        pooled = aggregate_segments(proba, clips, n)
        if needs == "proba":
            if target.ndim == 1:  # classes: one-vs-rest indicators
                target = np.eye(pooled.shape[1])[target]
            keep = target.min(axis=0) != target.max(axis=0)
            return float(score(target[:, keep], pooled[:, keep]))
        if target.ndim == 2:  # tags
            return float(score(target, (pooled >= getattr(net, "threshold", 0.5)).astype(int)))
        return float(score(target, np.argmax(pooled, axis=1)))

    scorer.__name__ = f"clip_{metric}"
    return scorer
