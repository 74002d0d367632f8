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


def test_mean_max_is_the_mean_and_the_max_over_segments(tmp_path):
    """pooling="mean+max": mean over time within a segment, then each channel's mean and
    max over the clip's segments, layer by layer; in the transformer and the CLI."""
    from sklearn_samplecnn import cli, save_pretrained
    from sklearn_samplecnn.audio import write_audio

    torch.manual_seed(0)
    model = SampleCNN("3-3-3", channels=[4, 4, 4, 8], n_outputs=2).eval()
    X = 0.1 * np.random.default_rng(0).normal(size=(2, 270)).astype(np.float32)  # 10 segments
    feats = MultiScaleFeatureTransformer(extractors=[(model, 8000)],
                                         layers=("module2", "conv1x1"), pooling="mean+max").fit(X)
    with torch.no_grad():
        _, hidden = model(torch.from_numpy(X[0].reshape(10, 27)), return_hidden=True)
    per_segment = [hidden[la].mean(dim=2).numpy() for la in ("module2", "conv1x1")]
    expected = np.concatenate([v for h in per_segment for v in (h.mean(0), h.max(0))])
    np.testing.assert_allclose(feats.transform(X)[0], expected, rtol=1e-5, atol=1e-6)
    assert list(feats.get_feature_names_out()[[0, 4, 8, -1]]) == [
        "3-2__module2__mean-mean__ch000", "3-2__module2__mean-max__ch000",
        "3-2__conv1x1__mean-mean__ch000", "3-2__conv1x1__mean-max__ch007"]
    path = save_pretrained(model, tmp_path / "m.samplecnn", metadata={"sample_rate": 8000})
    write_audio(tmp_path / "a.wav", X[0], 8000, subtype="FLOAT")
    assert cli.main(["extract", "-m", str(path), str(tmp_path / "a.wav"), "--layers",
                     "module2,conv1x1", "--pooling", "mean+max", "-q", "-o",
                     str(tmp_path / "f.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "f.npy")[0], expected, rtol=1e-4, atol=1e-5)
