"""SampleCNNTagger's tag lists: y as lists of tag names, ranked tags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MultiLabelBinarizer

from sklearn_samplecnn import SampleCNNTagger

from .conftest import FIT_FAST, waves

FAST = FIT_FAST


def test_top_k_tags_rank_by_probability():
    X, y = waves(n=8)
    lists = [["low", "calm"] if c == "low" else ["high", "bright", "loud"] for c in y]
    tagger = SampleCNNTagger(train_split=None, **FAST).fit(X, lists)
    proba = tagger.predict_proba(X)
    top2 = tagger.predict_tags(X, top_k=2)
    for p, tags in zip(proba, top2):
        ranked = tagger.tags_[np.argsort(-p, kind="stable")].tolist()
        assert tags == ranked[:2]
    assert tagger.predict_tags(X[:1], top_k=5)[0] == sorted(
        tagger.tags_, key=lambda t: -proba[0][list(tagger.tags_).index(t)])
    for bad in (0, 6, 2.0, True):
        with pytest.raises(ValueError, match=r"top_k must be an integer in \[1, 5\]"):
            tagger.predict_tags(X, top_k=bad)
    # a tagger fitted on 1-D labels ranks its labels too
    one_vs_rest = SampleCNNTagger(train_split=None, **FAST).fit(X, y)
    assert [t[0] for t in one_vs_rest.predict_tags(X, top_k=1)] == list(one_vs_rest.predict(X))


def test_tag_lists_round_trip(fitted):
    _, paths, labels = fitted
    lists = [["low", "tone"] if c == "low" else ["high", "tone"] for c in labels]
    lists[3] = ["high"]
    by_lists = SampleCNNTagger(train_split=None, **FAST).fit(paths, lists)
    assert by_lists.tags_.tolist() == ["high", "low", "tone"]
    Y = MultiLabelBinarizer(classes=["high", "low", "tone"]).fit_transform(lists)
    by_matrix = SampleCNNTagger(train_split=None, **FAST).fit(
        paths, pd.DataFrame(Y, columns=["high", "low", "tone"]))
    np.testing.assert_array_equal(by_lists.predict_proba(paths), by_matrix.predict_proba(paths))
    predicted = by_lists.predict_tags(paths)
    assert predicted == [[t for t, on in zip(by_lists.tags_, row) if on]
                         for row in by_lists.predict(paths)]
    assert predicted[0] == ["low", "tone"] and predicted[1] == ["high", "tone"]
    assert by_lists.score(paths, lists) == by_matrix.score(paths, Y)
    with pytest.raises(ValueError, match="not seen in the first fit"):
        by_lists.partial_fit(paths[:2], [["low"], ["drums"]])
