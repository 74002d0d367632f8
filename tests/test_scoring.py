"""Scoring during training (sklearn_samplecnn.estimators.scoring and skorch's callbacks)
and a net used without fit (initialize, then load_params)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score
from skorch.callbacks import EpochScoring

from sklearn_samplecnn import SampleCNNClassifier, SampleCNNTagger
from sklearn_samplecnn.estimators import Clips, ClipSplit, SegmentDataset, clip_scoring

from .conftest import FIT_FAST

FAST = FIT_FAST


def _valid_clips(paths, targets, valid_size):
    dataset = SegmentDataset(Clips(paths, "paths", sr=8000), targets, 81)
    _, valid = ClipSplit(valid_size, random_state=0)(dataset)
    return valid


def test_epoch_scoring_on_segments_and_clips_classifier(fitted):
    _, paths, labels = fitted
    callbacks = [
        EpochScoring("accuracy", name="valid_seg_acc", lower_is_better=False),
        EpochScoring(clip_scoring("accuracy"), name="valid_clip_acc", lower_is_better=False),
        EpochScoring(clip_scoring("roc_auc"), name="valid_clip_auc", lower_is_better=False),
    ]
    clf = SampleCNNClassifier(train_split=0.25, schedule=None, callbacks=callbacks,
                              **FAST).fit(paths, labels)
    for key in ("valid_seg_acc", "valid_clip_acc", "valid_clip_auc"):
        scores = clf.history[:, key]
        assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    # the last epoch's scores are those of the final model on the held-out clips
    valid = _valid_clips(paths, (labels == "low").astype(np.int64), 0.25)
    held_out = valid.clips.items
    truth = labels[[paths.index(p) for p in held_out]]
    assert clf.history[-1, "valid_clip_acc"] == accuracy_score(truth, clf.predict(held_out))
    proba = clf.predict_proba(held_out)
    onehot = (truth[:, None] == clf.classes_[None, :]).astype(int)
    assert clf.history[-1, "valid_clip_auc"] == pytest.approx(roc_auc_score(onehot, proba),
                                                              abs=1e-6)
    seg = clf.predict_proba_segments(held_out)
    seg_truth = truth[seg.clip]
    assert clf.history[-1, "valid_seg_acc"] == pytest.approx(
        accuracy_score(seg_truth, clf.classes_[seg.proba.argmax(axis=1)]))


def test_epoch_scoring_on_segments_and_clips_tagger(fitted):
    _, paths, labels = fitted
    Y = np.stack([labels == "low", labels == "high", np.arange(12) % 3 == 0], axis=1).astype(int)
    callbacks = [
        EpochScoring("accuracy", name="valid_seg_acc", lower_is_better=False),
        EpochScoring(clip_scoring("roc_auc"), name="valid_clip_auc", lower_is_better=False),
        EpochScoring(clip_scoring("f1_macro"), name="valid_clip_f1", lower_is_better=False),
    ]
    tagger = SampleCNNTagger(train_split=0.5, schedule=None, callbacks=callbacks,
                             **FAST).fit(paths, Y)
    held_out = _valid_clips(paths, Y.astype(np.float32), 0.5).clips.items
    rows = [paths.index(p) for p in held_out]
    P = tagger.predict_proba(held_out)
    ok = Y[rows].min(axis=0) != Y[rows].max(axis=0)
    assert ok.any()
    assert tagger.history[-1, "valid_clip_auc"] == pytest.approx(
        roc_auc_score(Y[rows][:, ok], P[:, ok], average="macro"), abs=1e-6)
    assert all(0.0 <= s <= 1.0 for s in tagger.history[:, "valid_seg_acc"])
    assert all(0.0 <= s <= 1.0 for s in tagger.history[:, "valid_clip_f1"])


def test_clip_scoring_on_training_clips_needs_use_caching_false(fitted):
    _, paths, labels = fitted
    cb = EpochScoring(clip_scoring("accuracy"), on_train=True, name="train_clip_acc")
    with pytest.raises(ValueError, match="on_train=False"):  # shuffled cached outputs
        SampleCNNClassifier(train_split=None, callbacks=[cb], **FAST).fit(paths, labels)
    cb = EpochScoring(clip_scoring("accuracy"), on_train=True, use_caching=False,
                      name="train_clip_acc")
    clf = SampleCNNClassifier(train_split=None, schedule=None, callbacks=[cb],
                              **FAST).fit(paths, labels)
    assert clf.history[-1, "train_clip_acc"] == accuracy_score(labels, clf.predict(paths))


@pytest.mark.parametrize("kind", ["classifier", "tagger", "n_outputs"])
def test_initialize_then_load_params(fitted, kind, tmp_path):
    clf, paths, labels = fitted
    if kind == "tagger":
        source = SampleCNNTagger(train_split=None, **FAST).fit(
            paths, pd.DataFrame({"low": labels == "low", "high": labels == "high"}).astype(int))
        fresh = SampleCNNTagger(tags=["low", "high"], **FAST)
    elif kind == "classifier":
        source, fresh = clf, SampleCNNClassifier(classes=clf.classes_, **FAST)
    else:
        source, fresh = clf, SampleCNNClassifier(module__n_outputs=2, **FAST)
    source.save_params(f_params=tmp_path / "w.pt")
    fresh.initialize()
    fresh.load_params(f_params=tmp_path / "w.pt")
    np.testing.assert_array_equal(fresh.predict_proba(paths), source.predict_proba(paths))
    if kind == "classifier":
        np.testing.assert_array_equal(fresh.predict(paths), clf.predict(paths))
    elif kind == "tagger":
        assert fresh.predict_tags(paths) == source.predict_tags(paths)
    else:  # labels unknown: class indexes
        np.testing.assert_array_equal(fresh.predict(paths),
                                      (clf.predict(paths) == clf.classes_[1]).astype(int))


def test_initialize_without_labels_says_what_to_pass():
    with pytest.raises(ValueError, match=r"classes=\[\.\.\.\] or tags=\[\.\.\.\]"):
        SampleCNNClassifier(**FAST).initialize()
