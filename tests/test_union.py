"""BlockScaler: standardised blocks of equal total variance in a FeatureUnion."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_samplecnn import BlockScaler


def test_values_are_standardised_columns_times_the_block_scale():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=3.0, scale=[1.0, 5.0, 0.1, 2.0], size=(30, 4))
    out = BlockScaler(weight=3.0).fit_transform(X)
    expected = StandardScaler().fit_transform(X) * 3.0 / 2.0  # weight / sqrt(4)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(out.var(axis=0).sum(), 9.0)  # weight ** 2


def test_blocks_of_any_width_get_the_same_total_variance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 503)) * rng.uniform(0.1, 10, size=503)
    wide = FunctionTransformer(lambda a: a[:, :500], feature_names_out="one-to-one")
    narrow = FunctionTransformer(lambda a: a[:, 500:], feature_names_out="one-to-one")
    union = FeatureUnion([("wide", make_pipeline(wide, BlockScaler())),
                          ("narrow", make_pipeline(narrow, BlockScaler(weight=2.0)))])
    out = union.fit_transform(X)
    assert out.shape == (40, 503)
    assert out[:, :500].var(axis=0).sum() == pytest.approx(1.0)
    assert out[:, 500:].var(axis=0).sum() == pytest.approx(4.0)
    # a global StandardScaler would have given the wide block 500 / 503 of the variance
    assert StandardScaler().fit_transform(X)[:, :500].var(axis=0).sum() == pytest.approx(500)


def test_constant_columns_float32_and_unseen_data():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], dtype=np.float32)
    scaler = BlockScaler().fit(X)
    np.testing.assert_array_equal(scaler.scale_, [np.std([1, 3, 5]), 1.0])
    out = scaler.transform(np.array([[3.0, 7.0]], dtype=np.float32))
    assert out.dtype == np.float32
    # the constant column is centred, not divided by ~0
    np.testing.assert_allclose(out, [[0.0, 2.0 / np.sqrt(2)]], rtol=1e-6)
    assert scaler.block_scale_ == pytest.approx(1 / np.sqrt(2))


def test_names_and_errors():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 0.0, 1.0]})
    scaler = BlockScaler().fit(X)
    assert scaler.get_feature_names_out().tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="weight"):
        BlockScaler(weight=0.0).fit(X)
    with pytest.raises(ValueError, match="unseen at fit time"):
        scaler.transform(pd.DataFrame(np.zeros((2, 3)), columns=["a", "b", "c"]))
    with pytest.raises(ValueError, match="3 features"):
        BlockScaler().fit(X.to_numpy()).transform(np.zeros((2, 3)))
