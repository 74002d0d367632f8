"""sklearn's own estimator checks on every public estimator, with tiny settings."""

from __future__ import annotations

import warnings

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_samplecnn import SampleCNNClassifier, SampleCNNTagger

from .conftest import TINY

# Checks expected to fail, each with its reason (shown by pytest as xfail).
EXPECTED_FAILED_CHECKS = {
    "check_no_attributes_set_in_init": (
        "skorch's NeuralNet.__init__ stores routed parameters (module__*, optimizer__*, "
        "iterator_train__*) as attributes and its own state (history_, initialized_, "
        "virtual_params_); routed parameters are what make the architecture tunable "
        "from GridSearchCV, and get_params/clone handle them."
    ),
}


def _estimators():
    common = dict(max_epochs=3, train_split=None, verbose=0, random_state=0, **TINY)
    return [SampleCNNClassifier(**common), SampleCNNTagger(**common)]


@parametrize_with_checks(
    _estimators(), expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_expected_failures_really_fail():
    """The list above is not stale: each listed check still fails."""
    from sklearn.utils.estimator_checks import check_no_attributes_set_in_init

    for est in _estimators():
        with pytest.raises(AssertionError, match="should not set any attribute"):
            check_no_attributes_set_in_init(type(est).__name__, est)
