"""sklearn's own estimator checks on every public estimator, with tiny settings."""

from __future__ import annotations

import os
import tempfile
import warnings

import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import has_fit_parameter

from sklearn_samplecnn import (
    BlockScaler,
    ContrastiveSampleCNN,
    DistilledSampleCNN,
    MFCCStatsTransformer,
    MultiScaleFeatureTransformer,
    MusicnnTransformer,
    SampleCNNClassifier,
    SampleCNNTagger,
    save_pretrained,
)
from sklearn_samplecnn.nn import Musicnn, SampleCNN

from .conftest import TINY

# Checks expected to fail, each with its reason (shown by pytest as xfail).
EXPECTED_FAILED_CHECKS = {
    "check_no_attributes_set_in_init": (
        "skorch's NeuralNet.__init__ stores routed parameters (module__*, optimizer__*, "
        "iterator_train__*) as attributes and its own state (history_, initialized_, "
        "virtual_params_); routed parameters are what make the architecture tunable "
        "from GridSearchCV, and get_params/clone handle them."
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "a net trained by shuffled mini-batch SGD: a clip with weight 2 counts twice in the "
        "loss of its batches, while a repeated clip lands in other batches and shifts every "
        "later batch, so the two fits follow different paths (as for sklearn's own "
        "SGDClassifier, which declares the same)."
    ),
}


def _estimators():
    common = dict(max_epochs=3, train_split=None, verbose=0, random_state=0, **TINY)
    torch.manual_seed(0)
    # a pretrained file, the transformer's main input (a torch module inside a
    # parameter would trip the checks' joblib hashing, which differs for
    # deep copies of a module)
    extractor = os.path.join(tempfile.mkdtemp(prefix="samplecnn-checks-"), "tiny.samplecnn")
    save_pretrained(SampleCNN("3-3-3", channels=[2, 3, 3, 4], n_outputs=2), extractor,
                    metadata={"sample_rate": 8000})
    # musicnn's architecture on 16-frame patches (4,096 samples): the shipped models'
    # 3 s patches would make each of the many checks' transforms take seconds
    tiny_musicnn = os.path.join(os.path.dirname(extractor), "tiny_musicnn.samplecnn")
    save_pretrained(Musicnn(n_outputs=3, midend_filters=4, backend_units=4, n_frames=16),
                    tiny_musicnn, metadata={"sample_rate": 16000})
    # ContrastiveSampleCNN is unsupervised with neither predict nor transform:
    # the checks that apply (fit on odd inputs, n_features_in_, clone, pickle,
    # parameters untouched by fit...) run; tests/test_contrastive.py checks the rest
    return [SampleCNNClassifier(**common), SampleCNNTagger(**common),
            ContrastiveSampleCNN(batch_size=8, **common),
            # a cheap teacher: MFCC statistics of each window
            DistilledSampleCNN(MFCCStatsTransformer(sr=8000, n_mfcc=4, n_mels=8, n_fft=64,
                                                    hop_length=32), sr=8000, batch_size=8,
                               **common),
            MultiScaleFeatureTransformer(extractors=[extractor], layers=(-2, -1)),
            MusicnnTransformer(tiny_musicnn, layers=("cnn3", "mean_pool"), batch_size=8),
            MFCCStatsTransformer(sr=8000, n_mfcc=5, n_mels=10, n_fft=64, hop_length=32,
                                 spectral_contrast=True),
            BlockScaler()]


def _expected(est):
    transformers = (MultiScaleFeatureTransformer, MFCCStatsTransformer, BlockScaler)
    return {} if isinstance(est, transformers) else EXPECTED_FAILED_CHECKS


@parametrize_with_checks(
    _estimators(), expected_failed_checks=_expected
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_expected_failures_really_fail():
    """The list above is not stale: each listed check still fails."""
    from sklearn.utils.estimator_checks import (
        check_no_attributes_set_in_init,
        check_sample_weight_equivalence_on_dense_data,
    )

    for est in _estimators()[:3]:
        with pytest.raises(AssertionError, match="should not set any attribute"):
            check_no_attributes_set_in_init(type(est).__name__, est)
        if not has_fit_parameter(est, "sample_weight"):  # the check does not apply
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(AssertionError):
                check_sample_weight_equivalence_on_dense_data(type(est).__name__, est)
