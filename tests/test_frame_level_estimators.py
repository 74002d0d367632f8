"""The estimators with Table 2's frame-level modules (routed as ``module=...``)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_samplecnn import FrameLevelCNN, MelFrameLevelCNN, SampleCNNClassifier
from sklearn_samplecnn.segments import segment_signal

from .conftest import tone

SR = 8000
COMMON = dict(sr=SR, max_epochs=8, lr=0.05, train_split=None, schedule=None, verbose=0,
              random_state=0)
# raw: 27-sample frames every 9 samples over 243 samples -> 25 frames, 3 modules
RAW = dict(module=FrameLevelCNN, module__window=27, module__hop=9, module__input_length=243,
           module__channels=[4] * 5)
# mel: FFT 64, hop 16 over 256 samples -> 13 frames of 8 bands, 3 modules
MEL = dict(module=MelFrameLevelCNN, module__n_fft=64, module__window=64, module__hop=16,
           module__n_mels=8, module__input_length=256,
           module__channels=[4] * 4)


@pytest.fixture(scope="module")
def pitch_data():
    """12 clips of 0.1 s, low vs high pitch at random loudness (2 classes)."""
    rng = np.random.default_rng(0)
    y = np.arange(12) % 2
    X = np.stack([
        tone((300 if c else 1500) * rng.uniform(0.9, 1.1), 800, SR, rng=rng)
        * rng.uniform(0.2, 2.0)
        for c in y
    ])
    return X, y


def test_raw_frame_level_classifier(pitch_data):
    X, y = pitch_data
    clf = SampleCNNClassifier(**COMMON, **RAW).fit(X, y)
    module = clf.module_
    assert isinstance(module, FrameLevelCNN)
    assert (module.window, module.hop, module.input_length, module.n_modules) == (27, 9, 243, 3)
    assert module.n_outputs == 2
    proba = clf.predict_proba(X)
    assert proba.shape == (12, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.score(X, y) >= 0.9  # pitch is easy; chance is 0.5
    # routed parameters survive clone (GridSearchCV's path)
    params = clone(clf).get_params()
    assert params["module"] is FrameLevelCNN and params["module__hop"] == 9


def _mel_stats(module: MelFrameLevelCNN, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std of the log-mel features of X's training segments."""
    segments = np.concatenate([segment_signal(x, module.input_length) for x in X])
    with torch.no_grad():
        mel = module.melspec(torch.from_numpy(segments)).double().numpy()
    return mel.mean(axis=(0, 2)), mel.std(axis=(0, 2))


def test_mel_frame_level_standardizer_fitted_and_used(pitch_data):
    X, y = pitch_data
    clf = SampleCNNClassifier(**COMMON, **MEL).fit(X, y)
    module = clf.module_
    assert isinstance(module, MelFrameLevelCNN) and module.n_modules == 3
    assert bool(module.standardizer_fitted)

    # fitted during fit, on the training segments (3 per clip), not left at 0/1
    mean, std = _mel_stats(module, X)
    assert not np.allclose(module.input_mean.numpy(), 0.0)
    assert not np.allclose(module.input_std.numpy(), 1.0)
    np.testing.assert_allclose(module.input_mean.numpy(), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(module.input_std.numpy(), np.maximum(std, 1e-5),
                               rtol=1e-3, atol=1e-5)
    assert clf.score(X, y) >= 0.9

    # saved with the model: a pickle round trip predicts the same
    proba = clf.predict_proba(X)
    restored = pickle.loads(pickle.dumps(clf))
    assert bool(restored.module_.standardizer_fitted)
    np.testing.assert_array_equal(restored.module_.input_mean.numpy(),
                                  module.input_mean.numpy())
    np.testing.assert_allclose(restored.predict_proba(X), proba, rtol=1e-6, atol=1e-7)

    # and used at predict: resetting them to 0/1 changes the outputs
    restored.module_.input_mean.zero_()
    restored.module_.input_std.fill_(1.0)
    assert not np.allclose(restored.predict_proba(X), proba, atol=1e-4)


def test_mel_standardizer_kept_on_warm_start(pitch_data):
    X, y = pitch_data
    clf = SampleCNNClassifier(**{**COMMON, "max_epochs": 1}, **MEL).fit(X, y)
    before = clf.module_.input_mean.clone()
    # more epochs on louder clips: the statistics stay those of the first fit
    clf.set_params(warm_start=True).fit(3 * X, y)
    np.testing.assert_array_equal(clf.module_.input_mean.numpy(), before.numpy())


def test_estimator_sample_rate_reaches_the_mel_front_end(pitch_data):
    X, y = pitch_data
    clf = SampleCNNClassifier(**{**COMMON, "max_epochs": 1}, **MEL).fit(X, y)
    assert clf.module_.get_config()["sr"] == SR  # not the 22,050 Hz default
