"""The pooling registry: names, descriptions, resolution, user additions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sklearn_samplecnn import MultiScaleFeatureTransformer
from sklearn_samplecnn.nn import SampleCNN
from sklearn_samplecnn.pooling import (
    CLIP_POOLS,
    POOLINGS,
    SEGMENT_POOLS,
    ClipPool,
    describe_pooling,
    register_pooling,
    resolve_pooling,
)


def test_every_pooling_names_registered_pools():
    for name, (seg, clip) in POOLINGS.items():
        assert seg in SEGMENT_POOLS and clip in CLIP_POOLS, name
        assert resolve_pooling(name) == (seg, clip)
    assert describe_pooling("max+std") == "max over time, mean and std over segments"
    assert resolve_pooling(("mean", "max")) == ("mean", "max")


@pytest.mark.parametrize("bad, message", [
    ("median", r"pooling must be one of \[.*\] or a pair .* got 'median'"),
    (("max", "median"), r"pooling=\(.max., .median.\).*the clip pool one of"),
    (("sum", "mean"), "the segment pool must be one of"),
    (3, "a name or a pair"),
])
def test_unknown_pooling_names_the_choices(bad, message):
    with pytest.raises(ValueError, match=message):
        resolve_pooling(bad)


def test_pools_compute_what_they_say():
    h = torch.tensor([[[1.0, 3.0, 2.0], [-1.0, 0.0, 4.0]]])  # (batch, channels, time)
    np.testing.assert_array_equal(SEGMENT_POOLS["max"].reduce(h), [[3.0, 4.0]])
    np.testing.assert_allclose(SEGMENT_POOLS["mean"].reduce(h), [[2.0, 1.0]])
    rows = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)  # (segments, channels)
    mean, std = CLIP_POOLS["mean+std"].reduce(rows)
    np.testing.assert_allclose(mean, [2.0, 4.0])
    np.testing.assert_allclose(std, [1.0, 2.0])
    assert CLIP_POOLS["mean+std"].stats == ("mean", "std")


def test_a_registered_pooling_works_in_the_transformer():
    torch.manual_seed(0)
    model = SampleCNN("3-3-3", channels=[4, 4, 4, 8], n_outputs=2).eval()
    X = np.random.default_rng(0).normal(size=(3, 200)).astype(np.float32)
    register_pooling("max+range", "max", "range", clip=ClipPool(
        ("range",), lambda rows: [rows.max(axis=0) - rows.min(axis=0)], "range over segments"))
    try:
        feats = MultiScaleFeatureTransformer(extractors=[(model, 8000)], layers=(-1,),
                                             pooling="max+range").fit(X)
        out = feats.transform(X)
        hi = MultiScaleFeatureTransformer(extractors=[(model, 8000)], layers=(-1,),
                                          pooling=("max", "max")).fit(X).transform(X)
        assert feats.pooling_ == ("max", "range")
        assert feats.get_feature_names_out()[0] == "3-2__layer-1__max-range__ch000"
        assert (out >= 0).all() and (out <= hi - out.min()).all() and out.shape == (3, 8)
        with pytest.raises(ValueError, match="exists already"):
            register_pooling("max+range", "max", "mean")
    finally:
        del POOLINGS["max+range"], CLIP_POOLS["range"]
    with pytest.raises(ValueError, match="unknown clip pool 'median'"):
        register_pooling("max+median", "max", "median")
    assert "max+median" not in POOLINGS
