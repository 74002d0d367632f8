"""Prediction below the clip level (sklearn_samplecnn.estimators._prediction): segment
probabilities with their times."""

from __future__ import annotations

import numpy as np

from sklearn_samplecnn import SampleCNNTagger

from .conftest import FIT_FAST, waves

FAST = FIT_FAST


def test_segment_probabilities_average_to_the_clip_probabilities(fitted):
    clf, paths, _ = fitted
    seg = clf.predict_proba_segments(paths[:3])
    # 1600 samples: 19 whole segments of 81, then one ending with the clip (tail="overlap")
    assert seg.proba.shape == (3 * 20, 2) and seg.columns.tolist() == clf.classes_.tolist()
    np.testing.assert_array_equal(seg.clip, np.repeat([0, 1, 2], 20))
    assert seg.path.tolist() == [p for p in paths[:3] for _ in range(20)]
    starts = np.append(np.arange(19) * 81, 1600 - 81) / 8000
    np.testing.assert_allclose(seg.start[:20], starts)
    np.testing.assert_allclose(seg.end[:20], starts + 81 / 8000)
    assert seg.end[19] == 1600 / 8000  # the whole clip is seen
    clip_proba = clf.predict_proba(paths[:3])
    for i in range(3):
        np.testing.assert_allclose(seg.proba[seg.clip == i].mean(axis=0), clip_proba[i],
                                   rtol=1e-6)


def test_segment_probabilities_of_ragged_waveforms_with_a_hop():
    X, y = waves(n=6, length=200)
    tagger = SampleCNNTagger(train_split=None, hop_length=40, **FAST).fit(
        X, [["low"] if c == "low" else ["high", "bright"] for c in y])
    ragged = [X[0][:81], X[1][:200], X[2][:140]]
    seg = tagger.predict_proba_segments(ragged)
    # hop 40, then one segment ending with the clip (tail='overlap'):
    # 0 | 0, 40, 80, 119 (120 + 81 > 200) | 0, 40, 59
    np.testing.assert_array_equal(seg.clip, [0, 1, 1, 1, 1, 2, 2, 2])
    np.testing.assert_allclose(seg.start * 8000, [0, 0, 40, 80, 119, 0, 40, 59])
    np.testing.assert_allclose((seg.end - seg.start) * 8000, 81)
    assert seg.columns.tolist() == ["bright", "high", "low"]
    assert seg.path.tolist() == ["X[0]", *["X[1]"] * 4, *["X[2]"] * 3]
    # the paper's whole segments only: 0 | 0, 40, 80 | 0, 40
    tagger.set_params(tail="drop")
    seg = tagger.predict_proba_segments(ragged)
    np.testing.assert_allclose(seg.start * 8000, [0, 0, 40, 80, 0, 40])
