"""Faults met by the estimators: on_error in fit and predict, short clips, bad parameters
(the transformer's too), numerics, Ctrl-C and resumption, an unwritable audio cache."""

from __future__ import annotations

import os
import re
import signal
import warnings

import numpy as np
import pytest
import torch

from sklearn_samplecnn import (
    AudioLoadError,
    ClipTooShortError,
    MultiScaleFeatureTransformer,
    SampleCNNClassifier,
    SampleCNNTagger,
)
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.exceptions import SampleCNNError

from ..conftest import tone
from .conftest import BAD, DECODE_KINDS, FAST, SR, XR, YR, _At, _crash, _messages, _stop, clone_with


# -- the error policies of the estimators and the transformer ---------------------------
@pytest.mark.parametrize("kind", DECODE_KINDS)
@pytest.mark.parametrize("entry", ["fit", "predict", "transform"])
def test_raise_policy_names_the_file(good, bad, clf, model_file, entry, kind):
    paths, labels = good
    X = [paths[0], bad[kind], paths[1]]
    with pytest.raises(AudioLoadError, match=BAD[kind][1]) as err:
        if entry == "fit":
            SampleCNNClassifier(**FAST).fit(X, ["low", "low", "high"])
        elif entry == "predict":
            clf.predict_proba(X)
        else:
            MultiScaleFeatureTransformer(extractors=[str(model_file)]).fit(X).transform(X)
    assert bad[kind] in str(err.value)


def test_fit_lists_every_unreadable_header_at_once(good, bad):
    paths, labels = good
    header = [bad[k] for k in DECODE_KINDS if BAD[k][2] == "header"]
    with pytest.raises(AudioLoadError) as err:
        SampleCNNClassifier(**FAST).fit([*paths, *header], [*labels, *["low"] * len(header)])
    assert all(p in str(err.value) for p in header)


@pytest.mark.parametrize("cls", [SampleCNNClassifier, SampleCNNTagger])
def test_fit_skip_trains_on_the_good_files(good, bad, cls):
    paths, labels = good
    failed = [bad[k] for k in DECODE_KINDS]
    est = cls(**{**FAST, "on_error": "skip"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit([*paths, *failed], [*labels, *["low", "high"] * 4, "low"])
    assert sorted(est.failed_files_) == sorted(failed)
    text = _messages(caught)
    for kind in DECODE_KINDS:  # each file named, with its cause
        assert bad[kind] in text and BAD[kind][1] in text, kind
    assert all(torch.isfinite(p).all() for p in est.module_.parameters())
    assert "train_loss" in est.history_[-1] and np.isfinite(est.history_[-1]["train_loss"])
    assert np.isfinite(est.predict_proba(paths)).all()


@pytest.mark.parametrize("output", ["classifier", "tagger", "segments"])
def test_predict_skip_keeps_every_good_row(good, bad, clf, tagger, output):
    paths, _ = good
    failed = [bad[k] for k in DECODE_KINDS]
    X = [paths[0], *failed, *paths[1:]]
    est = clone_with(clf if output != "tagger" else tagger, on_error="skip")
    with pytest.warns(UserWarning, match=f"{len(failed)} of {len(X)} clips") as caught:
        if output == "segments":
            seg = est.predict_proba_segments(X)
        else:
            proba, labels = est.predict_proba(X), est.predict(X)
    assert est.failed_files_ == failed and all(p in _messages(caught) for p in failed)
    if output == "segments":
        ref = est.predict_proba_segments(paths)
        assert set(seg.path) == set(paths)
        np.testing.assert_allclose(seg.proba, ref.proba)
        np.testing.assert_array_equal(seg.start, ref.start)
        return
    keep = [0, *range(1 + len(failed), len(X))]
    np.testing.assert_allclose(proba[keep], est.predict_proba(paths))
    assert np.isnan(proba[1:1 + len(failed)]).all()
    if output == "classifier":
        assert all(v is None for v in labels[1:1 + len(failed)])
        assert set(labels[keep]) <= {"low", "high"}
    else:
        assert (labels[1:1 + len(failed)] == -1).all() and set(labels[keep].ravel()) <= {0, 1}


def test_short_clip_with_short_error_names_the_clip(good, root):
    paths, labels = good
    write_audio(root / "short.wav", tone(440, 40, SR), SR)  # 40 samples < 81
    X = [*paths, str(root / "short.wav")]
    with pytest.raises(ClipTooShortError, match="short.wav: the clip has 40 samples"):
        SampleCNNClassifier(**{**FAST, "short": "error"}).fit(X, [*labels, "low"])
    with pytest.raises(ClipTooShortError, match=r"X\[1\]: the clip has 40 samples"):
        SampleCNNClassifier(**{**FAST, "short": "error"}).fit(
            [np.zeros(200, np.float32), np.zeros(40, np.float32)], [0, 1])


def test_prediction_pads_a_short_clip(clf, good, root):
    write_audio(root / "short2.wav", tone(440, 40, SR), SR)
    est = clone_with(clf, short="error")
    assert np.isfinite(est.predict_proba([good[0][0], str(root / "short2.wav")])).all()


# -- parameters: each bad value names the parameter and repeats the value ---------------
X4 = np.zeros((4, 200), dtype=np.float32)
PARAMS = [
    (SampleCNNClassifier, {"sr": 0}, "sr", "0"),
    (SampleCNNClassifier, {"tail": "wrap"}, "tail", "'wrap'"),
    (SampleCNNClassifier, {"on_error": "ignore"}, "on_error", "'ignore'"),
    (SampleCNNClassifier, {"threads": 0}, "threads", "0"),
    (SampleCNNClassifier, {"checkpoint_dir": 5}, "checkpoint_dir", "5"),
    (SampleCNNClassifier, {"batch_size": 1}, "batch_size", "1"),
    (SampleCNNClassifier, {"segment_mode": "sliding"}, "segment_mode", "'sliding'"),
    (SampleCNNClassifier, {"class_weight": "even"}, "class_weight", "'even'"),
    (SampleCNNTagger, {"threshold": 1.5}, "threshold", "1.5"),
    (SampleCNNTagger, {"aggregate": "median"}, "aggregate", "'median'"),
    (MultiScaleFeatureTransformer, {"on_error": "ignore"}, "on_error", "'ignore'"),
    (MultiScaleFeatureTransformer, {"batch_size": 0}, "batch_size", "0"),
    (MultiScaleFeatureTransformer, {"cache_key": "mtime"}, "cache_key", "'mtime'"),
    (MultiScaleFeatureTransformer, {"short": "error"}, "short", "'error'"),
    (MultiScaleFeatureTransformer, {"pooling": "median"}, "pooling", "'median'"),
    (MultiScaleFeatureTransformer, {"cache_dir": ""}, "cache_dir", "empty string"),
]


@pytest.mark.parametrize("cls, params, name, value", PARAMS,
                         ids=[f"{c.__name__}-{n}" for c, _, n, _ in PARAMS])
def test_bad_parameter_names_itself(model_file, cls, params, name, value):
    if cls is MultiScaleFeatureTransformer:
        est, fit = cls(extractors=[str(model_file)], **params), lambda e: e.fit(X4)
    else:
        est, fit = cls(**{**FAST, **params}), lambda e: e.fit(X4, [0, 1, 0, 1])
    with pytest.raises(ValueError) as err:
        fit(est)
    assert name in str(err.value) and value in str(err.value)


# -- arrays and training numerics ---------------------------------------------------------
def test_int16_waveforms_are_scaled_like_files(clf):
    pcm = (tone(440, 800, SR) * 32767).astype(np.int16)[None].repeat(2, axis=0)
    np.testing.assert_allclose(clf.predict_proba(pcm), clf.predict_proba(pcm / 32768.0),
                               rtol=1e-5, atol=1e-6)


def test_loud_waveforms_warn(clf):
    with pytest.warns(UserWarning, match="amplitude 1e\\+06"):
        clf.predict_proba(np.full((2, 200), 1e6, np.float32))


def test_divergence_keeps_finite_weights():
    X = np.random.default_rng(0).normal(size=(6, 200)).astype(np.float32)
    clf = SampleCNNClassifier(**{**FAST, "lr": 1e38, "max_epochs": 3})
    with pytest.raises(FloatingPointError, match="diverged"):
        clf.fit(X, [0, 1] * 3)
    assert all(torch.isfinite(p).all() for p in clf.module_.parameters())
    assert np.isfinite(clf.predict_proba(X)).all()


def test_adam_takes_no_sgd_defaults():
    X = np.random.default_rng(0).normal(size=(6, 200)).astype(np.float32)
    clf = SampleCNNClassifier(**{**FAST, "optimizer": torch.optim.Adam, "lr": 1e-3}).fit(
        X, [0, 1] * 3)
    assert isinstance(clf.optimizer_, torch.optim.Adam)
    assert "momentum" not in clf.optimizer_.param_groups[0]


# -- interruption and resumption in Python -------------------------------------------------
def _sigint(net):
    os.kill(os.getpid(), signal.SIGINT)


RESUME = {**FAST, "max_epochs": 5, "train_split": 0.2, "lr": 0.05}


def test_ctrl_c_in_fit_is_visible():
    clf = SampleCNNClassifier(**{**RESUME, "callbacks": [_At(2, _sigint)]})
    with pytest.warns(UserWarning, match="interrupted \\(Ctrl-C\\) in epoch 2"):
        clf.fit(XR, YR)
    assert clf.interrupted_ and clf.history_[-1]["interrupted"] is True
    assert len(clf.history_) == 2


def test_a_callbacks_stop_is_no_interruption():
    clf = SampleCNNClassifier(**{**RESUME, "callbacks": [_At(2, _stop)]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(XR, YR)
    assert not clf.interrupted_ and "interrupted" not in clf.history_[-1]
    assert "interrupted" not in _messages(caught) and len(clf.history_) == 2


def test_fit_resumes_from_its_checkpoint_with_the_same_weights(tmp_path):
    ref = SampleCNNClassifier(**RESUME).fit(XR, YR)
    crashing = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path,
                                   callbacks=[_At(3, _crash)])
    with pytest.raises(RuntimeError, match="power cut"):
        crashing.fit(XR, YR)
    resumed = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path).fit(XR, YR)
    assert len(resumed.history_) == 5
    for (name, a), b in zip(ref.module_.state_dict().items(),
                            resumed.module_.state_dict().values()):
        assert torch.equal(a, b), name
    # a finished run is restored without training
    again = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path).fit(XR, YR)
    np.testing.assert_array_equal(again.predict_proba(XR), resumed.predict_proba(XR))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the foreign file's bytes
@pytest.mark.parametrize("change", ["data", "settings", "foreign-file"])
def test_a_checkpoint_of_another_run_is_refused(tmp_path, change):
    SampleCNNClassifier(**{**RESUME, "max_epochs": 1}, checkpoint_dir=tmp_path).fit(XR, YR)
    if change == "foreign-file":
        (tmp_path / "checkpoint.pt").write_bytes(b"\x80\x04not a checkpoint")
    params = {**RESUME, "max_epochs": 1, "lr": 0.1 if change == "settings" else 0.05}
    with pytest.raises(SampleCNNError, match=re.escape(str(tmp_path / "checkpoint.pt"))):
        SampleCNNClassifier(**params, checkpoint_dir=tmp_path).fit(
            XR[::-1] if change == "data" else XR, YR)


def test_unwritable_audio_cache_warns_and_trains(good, tmp_path):
    paths, labels = good
    (tmp_path / "file").write_text("x")
    clf = SampleCNNClassifier(**FAST, audio_cache=str(tmp_path / "file" / "audio"))
    with pytest.warns(RuntimeWarning, match="audio cache .* cannot be written"):
        clf.fit(paths, labels)
    assert np.isfinite(clf.predict_proba(paths)).all()
