"""The skorch estimators on generated audio files and waveform arrays."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_samplecnn import (
    AudioLoadError,
    PaperSchedule,
    SampleCNNClassifier,
    SampleCNNTagger,
)
from sklearn_samplecnn.audio import write_audio

from .conftest import TINY, tone

FAST = dict(sr=8000, max_epochs=6, lr=0.05, verbose=0, random_state=0, **TINY)


def test_classifier_on_files_beats_chance(tone_files):
    paths, labels = tone_files
    clf = SampleCNNClassifier(train_split=None, **FAST).fit(paths[:8], labels[:8])
    proba = clf.predict_proba(paths[8:])
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.classes_) == {"high", "low"}
    assert clf.score(paths, labels) >= 0.9  # pitch is easy; chance is 0.5
    assert clf.predict(paths[8:]).dtype == labels.dtype


def test_classifier_on_arrays_and_ragged_lists():
    rng = np.random.default_rng(1)
    X = np.stack([tone(300 if i % 2 else 1500, 800, 8000, rng=rng) for i in range(10)])
    y = np.arange(10) % 2
    clf = SampleCNNClassifier(train_split=None, **FAST).fit(X, y)
    assert clf.n_features_in_ == 800
    assert clf.score(X, y) >= 0.9
    ragged = [X[0][:500], X[1], X[2][:81]]
    assert clf.predict_proba(ragged).shape == (3, 2)


def test_tagger_on_files(tone_files):
    paths, labels = tone_files
    Y = np.stack([labels == "low", labels == "high", np.ones(len(labels), bool)], axis=1)
    tagger = SampleCNNTagger(train_split=None, **FAST).fit(paths, Y.astype(int))
    proba = tagger.predict_proba(paths)
    assert proba.shape == (12, 3) and ((proba >= 0) & (proba <= 1)).all()
    assert tagger.predict(paths).shape == (12, 3)
    assert set(np.unique(tagger.predict(paths))) <= {0, 1}
    assert tagger.score(paths, Y.astype(int)) > 0.9  # macro ROC-AUC of the 2 informative tags
    assert tagger.tags_.tolist() == ["0", "1", "2"]


def test_validation_split_and_paper_schedule(tone_files):
    paths, labels = tone_files
    clf = SampleCNNClassifier(train_split=0.25, **{**FAST, "max_epochs": 3}).fit(paths, labels)
    assert "valid_loss" in clf.history_[-1]
    assert "lr" in clf.history_[-1]  # recorded by PaperSchedule


class _FakeNet:
    """Just what PaperSchedule touches."""

    def __init__(self):
        self.module_ = torch.nn.Linear(1, 1)
        self.optimizer_ = torch.optim.SGD(self.module_.parameters(), lr=0.01)
        self.history = _History()


class _History(list):
    def record(self, key, value):
        self[-1][key] = value


def test_paper_schedule_divides_lr_reloads_and_stops():
    net, cb = _FakeNet(), PaperSchedule().initialize()
    losses = [1.0, 0.5] + [0.9] * 40
    stopped_at = None
    for epoch, loss in enumerate(losses, start=1):
        net.history.append({"valid_loss": loss})
        if epoch == 2:
            best = net.module_.weight.detach().clone()
        else:
            with torch.no_grad():
                net.module_.weight += 1.0
        try:
            cb.on_epoch_end(net)
        except KeyboardInterrupt:
            stopped_at = epoch
            break
    lrs = [h["lr"] for h in net.history]
    # plateau of 3 after the best epoch 2 -> lr/5 at epoch 5, 8, 11, 14; one more epoch; stop
    assert lrs[:5] == [0.01] * 5
    np.testing.assert_allclose(net.optimizer_.param_groups[0]["lr"], 0.01 / 5**4)
    assert cb.n_decreases_ == 4 and stopped_at == 15
    cb.on_train_end(net)
    torch.testing.assert_close(net.module_.weight, best)


def test_same_seed_same_weights(tone_files):
    paths, labels = tone_files
    a = SampleCNNClassifier(train_split=0.25, **FAST).fit(paths, labels)
    b = SampleCNNClassifier(train_split=0.25, **FAST).fit(paths, labels)
    for p, q in zip(a.module_.parameters(), b.module_.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    c = SampleCNNClassifier(train_split=0.25, **{**FAST, "random_state": 1}).fit(paths, labels)
    assert not torch.equal(next(a.module_.parameters()), next(c.module_.parameters()))


def test_clone_pickle_and_params(tone_files):
    paths, labels = tone_files
    clf = SampleCNNClassifier(train_split=None, **FAST)
    params = clf.get_params()
    assert params["module__sizes"] == "3-3-3-3"
    assert not any(k.startswith("_") for k in params)
    clf.fit(paths, labels)
    group = clf.optimizer_.param_groups[0]  # the paper's SGD: Nesterov momentum 0.9
    assert group["nesterov"] is True and group["momentum"] == 0.9
    after = clf.get_params()  # no fitted state among the parameters (callbacks included)
    assert not any(k.startswith("_") or k.endswith("_") or "best_" in k for k in after)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(paths), clf.predict_proba(paths))
    fresh = clone(clf)
    assert not hasattr(fresh, "module_") and fresh.get_params()["sr"] == 8000


def test_grid_search_routes_module_params(tone_files):
    paths, labels = tone_files
    grid = GridSearchCV(
        SampleCNNClassifier(train_split=None, **{**FAST, "max_epochs": 2}),
        {"module__channels": [[2] * 5, [4] * 5]}, cv=2,
    ).fit(paths, labels)
    assert grid.best_estimator_.module_.channels in ((2,) * 5, (4,) * 5)


def test_workers_random_crops_and_audio_cache(tone_files, tmp_path):
    paths, labels = tone_files
    clf = SampleCNNClassifier(train_split=None, segment_mode="random",
                              audio_cache=str(tmp_path / "cache"),
                              iterator_train__num_workers=2, **{**FAST, "max_epochs": 2})
    clf.fit(paths, labels)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == len(paths)
    assert clf.predict_proba(paths).shape == (12, 2)


def test_bad_files_in_fit_and_predict(tone_files, tmp_path):
    paths, labels = tone_files
    (tmp_path / "broken.wav").write_bytes(b"garbage" * 50)
    bad = [*paths, str(tmp_path / "broken.wav"), str(tmp_path / "missing.wav")]
    y = np.array([*labels, "low", "high"])
    clf = SampleCNNClassifier(train_split=None, **{**FAST, "max_epochs": 1})
    with pytest.raises(AudioLoadError) as err:
        clf.fit(bad, y)
    assert "broken.wav" in str(err.value) and "missing.wav" in str(err.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.set_params(on_error="skip").fit(bad, y)
    assert any("broken.wav" in str(w.message) for w in caught)
    assert sorted(clf.failed_files_) == sorted(bad[-2:])
    # predicting with on_error="skip": NaN rows / None labels for the bad files, rest kept
    with pytest.warns(UserWarning, match="2 of 14 clips"):
        proba = clf.predict_proba(bad)
    assert np.isnan(proba[-2:]).all() and np.isfinite(proba[:-2]).all()
    assert sorted(clf.failed_files_) == sorted(bad[-2:])
    with pytest.warns(UserWarning):
        pred = clf.predict(bad)
    assert pred[-1] is None and pred[-2] is None and set(pred[:-2]) <= {"low", "high"}
    np.testing.assert_allclose(proba[:-2], clf.predict_proba(paths))
    with pytest.raises(AudioLoadError, match="missing.wav"):
        clf.set_params(on_error="raise").predict(bad)


def test_nan_in_file_is_reported_by_name(tone_files, tmp_path):
    paths, labels = tone_files
    nan = tone(440, 1600, 8000)
    nan[100] = np.nan
    write_audio(tmp_path / "nan.wav", nan, 8000, subtype="FLOAT")
    clf = SampleCNNClassifier(train_split=None, **{**FAST, "max_epochs": 1})
    with pytest.raises(AudioLoadError, match="nan.wav.*NaN"):
        clf.fit([*paths, str(tmp_path / "nan.wav")], [*labels, "low"])


def test_bad_parameters_and_inputs_are_named():
    X = np.zeros((4, 100), dtype=np.float32)
    with pytest.raises(ValueError, match="'tail' parameter"):
        SampleCNNClassifier(tail="wrap", **TINY).fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="'sr' parameter"):
        SampleCNNClassifier(sr=0, **TINY).fit(X, [0, 1, 0, 1])
    with pytest.raises(TypeError, match="single path"):
        SampleCNNClassifier(**TINY).fit("song.wav", [0])
    with pytest.raises(ValueError, match="NaN"):
        SampleCNNClassifier(**TINY).fit(np.full((4, 100), np.nan), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="4 clips but y has 3"):
        SampleCNNClassifier(**TINY).fit(X, [0, 1, 0])
    with pytest.raises(ValueError, match="only 0 and 1"):
        SampleCNNTagger(**TINY).fit(X, np.array([[0, 2], [1, 0], [0, 1], [1, 1]]))
    with pytest.raises(ValueError, match=r"X\[1\] contains NaN"):
        SampleCNNClassifier(**TINY).fit([np.zeros(90), np.array([np.nan] * 5)], [0, 1])


def test_divergence_is_reported():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 200)).astype(np.float32)
    # a huge step overflows the weights to inf after the first update
    clf = SampleCNNClassifier(train_split=None, lr=1e38, max_epochs=5, verbose=0,
                              random_state=0, **TINY)
    with pytest.raises(FloatingPointError, match="diverged"):
        clf.fit(X, [0, 1] * 3)


def test_pickle_leaves_the_audio_cache_behind(tone_files):
    paths, labels = tone_files
    clf = SampleCNNClassifier(train_split=None, audio_cache="memory",
                              **{**FAST, "max_epochs": 1}).fit(paths, labels)
    assert clf._audio_cache_obj._memory  # decoded clips are held while fitting/predicting
    again = pickle.loads(pickle.dumps(clf))
    assert not hasattr(again, "_audio_cache_obj")
    np.testing.assert_array_equal(again.predict_proba(paths), clf.predict_proba(paths))


def test_pickle_holds_one_copy_of_the_weights(tone_files):
    """Regression: the paper schedule kept a second copy of the weights in a parameter
    (``callbacks__paper_schedule___best_state``), in get_params() and in the pickle."""
    paths, labels = tone_files
    common = {**FAST, "module__channels": [256] * 5, "max_epochs": 2, "train_split": 0.25}
    with_schedule = SampleCNNClassifier(schedule="paper", **common).fit(paths, labels)
    without = SampleCNNClassifier(schedule=None, **common).fit(paths, labels)
    weights = sum(t.numel() * t.element_size()
                  for t in with_schedule.module_.state_dict().values())
    assert weights > 2_000_000  # big enough to tell one copy from two
    extra = len(pickle.dumps(with_schedule)) - len(pickle.dumps(without))
    assert extra < 0.1 * weights, (extra, weights)
    schedule = dict(with_schedule.callbacks_)["paper_schedule"]
    assert schedule.best_model_weights_ is not None  # pickling did not touch the live net
    assert not any("best_" in k or k.startswith("_") for k in with_schedule.get_params())


def test_from_pretrained_and_the_dataset_parameter(tone_files, tmp_path):
    from sklearn_samplecnn import PretrainedFileError, SampleCNNTagger, save_pretrained
    from sklearn_samplecnn.estimators import SegmentDataset

    paths, labels = tone_files
    made = []

    class CountingDataset(SegmentDataset):
        def __init__(self, *args, **kwargs):
            made.append(kwargs["segment_length"])
            super().__init__(*args, **kwargs)

    clf = SampleCNNClassifier(dataset=CountingDataset, **{**FAST, "max_epochs": 1,
                                                          "train_split": None})
    clf.fit(paths, labels)
    assert made == [81]  # the estimator's settings reach a user's dataset class
    path = save_pretrained(clf, tmp_path / "c.samplecnn")
    again = SampleCNNClassifier.from_pretrained(path, device="cpu")
    np.testing.assert_allclose(again.predict_proba(paths), clf.predict_proba(paths))
    assert list(again.classes_) == list(clf.classes_) and again.sr == clf.sr
    with pytest.raises(PretrainedFileError, match="holds a classifier"):
        SampleCNNTagger.from_pretrained(path)


def test_parameter_validation_follows_sklearns_config():
    from sklearn import config_context

    X = np.zeros((4, 100), dtype=np.float32)
    bad = SampleCNNClassifier(tail="wrap", **TINY)
    with pytest.raises(ValueError, match="'tail' parameter of SampleCNNClassifier"):
        bad.fit(X, [0, 1, 0, 1])
    with config_context(skip_parameter_validation=True):
        # skipped at the estimator: the segmenting code below it still refuses the value
        with pytest.raises(ValueError, match="tail must be one of") as err:
            bad.fit(X, [0, 1, 0, 1])
    assert "parameter of" not in str(err.value)


def test_lbfgs_gets_its_closure():
    """skorch's train_step hands the step to the optimiser as a closure (LBFGS calls it
    several times per batch); the estimators use skorch's hooks, not a train_step of
    their own."""
    rng = np.random.default_rng(0)
    X = np.stack([tone(f, 162, 8000, rng=rng) for f in [300, 1200] * 8]).astype(np.float32)
    y = np.array(["low", "high"] * 8)
    calls = []

    class Counting(SampleCNNClassifier):
        def train_step_single(self, batch, **fit_params):
            calls.append(1)
            return super().train_step_single(batch, **fit_params)

    clf = Counting(optimizer=torch.optim.LBFGS, optimizer__max_iter=3,
                   **{**FAST, "lr": 0.5, "max_epochs": 3, "batch_size": 16,
                      "train_split": None, "schedule": None}).fit(X, y)
    losses = [h["train_loss"] for h in clf.history_]
    assert len(calls) > 3 * len(losses)  # more than one evaluation per batch
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
