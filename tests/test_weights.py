"""sample_weight and class_weight of the estimators: a weight is a clip's share of the loss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_samplecnn import SampleCNNClassifier, SampleCNNTagger

from .conftest import FIT_FAST, LINEAR, waves

FAST = FIT_FAST


def _weights(net):
    return {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


def test_a_clip_weighted_zero_is_a_clip_left_out():
    # one batch holds every segment (24 <= 64) and the model has no batch norm, so
    # the only way clip 0 can act on the fit is through its (weighted) loss
    X, y = waves()
    w = np.ones(len(X))
    w[0] = 0.0
    weighted = SampleCNNClassifier(**LINEAR).fit(X, y, sample_weight=w)
    without = SampleCNNClassifier(**LINEAR).fit(X[1:], y[1:])
    plain = SampleCNNClassifier(**LINEAR).fit(X, y)
    for k, v in _weights(weighted).items():
        torch.testing.assert_close(v, _weights(without)[k], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(v, _weights(plain)[k], atol=1e-4)


def test_uniform_weights_change_nothing_and_others_do(fitted):
    _, paths, labels = fitted
    base = SampleCNNClassifier(train_split=None, **FAST).fit(paths, labels)
    tripled = SampleCNNClassifier(train_split=None, **FAST).fit(paths, labels,
                                                                sample_weight=np.full(12, 3.0))
    skewed = SampleCNNClassifier(train_split=None, **FAST).fit(
        paths, labels, sample_weight=np.linspace(0.1, 3, 12))
    np.testing.assert_allclose(tripled.predict_proba(paths), base.predict_proba(paths),
                               rtol=1e-4, atol=1e-6)
    assert np.abs(skewed.predict_proba(paths) - base.predict_proba(paths)).max() > 1e-3


def test_class_weight_equals_the_hand_computed_sample_weights():
    X, y = waves(n=12, length=162)
    keep = np.r_[np.flatnonzero(y == "high"), np.flatnonzero(y == "low")[:3]]  # 6 high, 3 low
    X, y = X[keep], y[keep]
    balanced = len(y) / (2 * np.array([np.sum(y == c) for c in y]))
    assert balanced.tolist() == [0.75] * 6 + [1.5] * 3
    cases = [({"class_weight": "balanced"}, {"sample_weight": balanced}),
             ({"class_weight": {"low": 4.0, "high": 1.0}},
              {"sample_weight": np.where(y == "low", 4.0, 1.0)}),
             ({"class_weight": "balanced"}, None)]
    sw = np.linspace(0.5, 2, len(y))
    for params, fit_kw in cases:
        by_class = SampleCNNClassifier(**LINEAR, **params).fit(
            X, y, **({} if fit_kw else {"sample_weight": sw}))
        by_hand = SampleCNNClassifier(**LINEAR).fit(
            X, y, sample_weight=fit_kw["sample_weight"] if fit_kw else sw * balanced)
        np.testing.assert_allclose(by_class.predict_proba(X), by_hand.predict_proba(X),
                                   rtol=1e-5)
    with pytest.raises(ValueError, match="mid"):
        SampleCNNClassifier(**LINEAR, class_weight={"mid": 2.0}).fit(X, y)


def test_tagger_positive_class_weights_reach_the_loss():
    X, _ = waves(n=12, length=162)
    Y = np.zeros((12, 3), dtype=int)
    Y[:3, 0] = 1   # 3 positives of 12
    Y[:6, 1] = 1   # 6 of 12
    Y[:, 2] = np.arange(12) % 4 == 0  # 3 of 12
    frame = pd.DataFrame(Y, columns=["rock", "jazz", "piano"])
    tagger = SampleCNNTagger(class_weight="balanced", **LINEAR).fit(X, frame)
    expected = torch.tensor([9 / 3, 6 / 6, 9 / 3])
    torch.testing.assert_close(tagger.criterion_.pos_weight, expected)
    named = SampleCNNTagger(class_weight={"jazz": 4.0}, **LINEAR).fit(X, frame)
    torch.testing.assert_close(named.criterion_.pos_weight, torch.tensor([1.0, 4.0, 1.0]))
    # the criterion uses it: BCE with pos_weight, by hand
    logits, target = torch.randn(5, 3), torch.randint(0, 2, (5, 3)).float()
    p = torch.sigmoid(logits)
    by_hand = -(expected * target * torch.log(p) + (1 - target) * torch.log(1 - p))
    torch.testing.assert_close(tagger.criterion_(logits, target), by_hand, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="unknown tags"):
        SampleCNNTagger(class_weight={"metal": 2.0}, **LINEAR).fit(X, frame)
