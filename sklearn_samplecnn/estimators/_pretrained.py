"""Rebuilding an estimator from a model file: the estimators' own job."""

from __future__ import annotations

import os

from ..exceptions import PretrainedFileError
from ..nn import Musicnn, MusicnnVGG
from ..pretrained import CLASSIFIER, TAGGER, load_pretrained
from .classifier import SampleCNNClassifier
from .tagger import SampleCNNTagger

__all__ = ["from_pretrained"]

#: The estimator class that rebuilds each task's files.
REBUILDERS = {CLASSIFIER: SampleCNNClassifier, TAGGER: SampleCNNTagger}


def from_pretrained(model, **params):
    """A fitted :class:`SampleCNNClassifier` or :class:`SampleCNNTagger` from a model file.

    The file's task picks the class (``"classifier"`` or ``"tagger"``), whose
    ``from_pretrained`` rebuilds it.

    Parameters
    ----------
    model : str, os.PathLike or PretrainedModel
        A ``.samplecnn`` file saved from a fitted classifier or tagger (or the
        name of a shipped one), or a loaded one.
    **params
        Override the estimator's parameters (``device="cuda"``, ``threshold=...``).

    Returns
    -------
    SampleCNNClassifier or SampleCNNTagger

    Raises
    ------
    PretrainedFileError
        A bare module, a contrastive encoder or a musicnn model (use those as
        feature extractors).
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_pretrained(model)
    if isinstance(model.module, (Musicnn, MusicnnVGG)):
        raise PretrainedFileError(
            f"{model.path or model.name}: a {type(model.module).__name__} is not rebuilt as a "
            "SampleCNN estimator; use it as a feature extractor or tagger "
            "(MultiScaleFeatureTransformer, MusicnnTransformer).")
    cls = REBUILDERS.get(model.task)
    if cls is None:
        raise PretrainedFileError(
            f"{model.path}: holds a bare module (task={model.task!r}); only files saved from a "
            "fitted SampleCNNClassifier/SampleCNNTagger rebuild an estimator."
        )
    return cls.from_pretrained(model, **params)
