"""Every renamed public name still works, with a FutureWarning naming the new spelling."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import torch

from sklearn_samplecnn import (
    MultiScaleFeatureTransformer,
    SampleCNNClassifier,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.nn import SampleCNN

from .conftest import TINY, tone

SR = 8000


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SampleCNN("3-3-3-3", channels=[4] * 5, n_outputs=2).eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("deprecations")
    paths = []
    for i in range(4):
        p = root / f"{i}.wav"
        write_audio(p, tone(200 + 50 * i, 400, SR), SR)
        paths.append(str(p))
    (root / "bad.wav").write_bytes(b"not audio" * 20)
    return paths, str(root / "bad.wav")


def _fresh_import(name: str):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_pipeline_module_is_the_engine():
    from sklearn_samplecnn import engine

    with pytest.warns(FutureWarning, match="sklearn_samplecnn.pipeline is deprecated.*engine"):
        pipeline = _fresh_import("sklearn_samplecnn.pipeline")
    assert pipeline.run_segments is engine.run_segments
    assert pipeline.SegmentBatches is engine.SegmentBatches


def test_runtime_module_is_tunables():
    from sklearn_samplecnn import tunables

    with pytest.warns(FutureWarning, match="_runtime is deprecated.*tunables"):
        runtime = _fresh_import("sklearn_samplecnn._runtime")
    assert runtime.reexec_with_tunables is tunables.reexec_with_tunables
    assert runtime.GLIBC_TUNABLES == tunables.GLIBC_TUNABLES


@pytest.mark.parametrize("old, fill", [("nan", np.nan), ("zeros", 0.0)])
def test_transformer_on_error_nan_and_zeros(model, files, old, fill):
    paths, bad = files
    X = [paths[0], bad, *paths[1:]]
    feats = MultiScaleFeatureTransformer(extractors=[(model, SR)], on_error=old)
    with pytest.warns(FutureWarning, match=f"on_error='{old}' is deprecated.*'skip'"):
        feats.fit(paths)
    with pytest.warns(UserWarning, match="1 of 5 clips could not be decoded"):
        out = feats.transform(X)
    np.testing.assert_array_equal(out[1], np.full(out.shape[1], fill, np.float32))
    skip = MultiScaleFeatureTransformer(extractors=[(model, SR)], on_error="skip").fit(paths)
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(skip.transform(X)[[0, 2, 3, 4]], out[[0, 2, 3, 4]])
    assert feats.failed_files_ == skip.failed_files_ == [bad]


def test_skipped_files_is_failed_files_of_fit(files):
    paths, bad = files
    clf = SampleCNNClassifier(sr=SR, on_error="skip", max_epochs=1, train_split=None,
                              verbose=0, random_state=0, **TINY)
    with pytest.warns(UserWarning, match="left out of training"):
        clf.fit([*paths, bad], ["a", "b", "a", "b", "a"])
    assert clf.failed_files_ == [bad]
    with pytest.warns(UserWarning, match="could not be decoded"):
        clf.predict_proba([bad, *paths])  # the last call's failures...
    with pytest.warns(FutureWarning, match="skipped_files_ is deprecated.*failed_files_"):
        assert clf.skipped_files_ == [bad]  # ...and the files fit left out, as before


def test_to_estimator_is_estimators_from_pretrained(files, tmp_path):
    from sklearn_samplecnn.estimators import from_pretrained

    paths, _ = files
    clf = SampleCNNClassifier(sr=SR, max_epochs=1, train_split=None, verbose=0,
                              random_state=0, **TINY).fit(paths, ["a", "b", "a", "b"])
    model = load_pretrained(save_pretrained(clf, tmp_path / "c.samplecnn"))
    with pytest.warns(FutureWarning, match="to_estimator.*estimators.from_pretrained"):
        old = model.to_estimator()
    np.testing.assert_array_equal(old.predict_proba(paths),
                                  from_pretrained(model).predict_proba(paths))


@pytest.mark.parametrize("name", ["read_feature_store", "write_feature_store", "STORE_FORMAT"])
def test_feature_store_names_in_distributed(name):
    from sklearn_samplecnn import distributed, features

    with pytest.warns(FutureWarning, match=f"distributed.{name} is deprecated"):
        assert getattr(distributed, name) is getattr(features, name)


def test_extractor_module_is_its_runner(model):
    feats = MultiScaleFeatureTransformer(extractors=[(model, SR)]).fit(np.zeros((2, 200)))
    ext = feats.extractors_[0]
    with pytest.warns(FutureWarning, match="Extractor.module is deprecated.*runner"):
        assert ext.module is ext.runner


def test_run_segments_dtype_is_input_dtype():
    from sklearn_samplecnn.engine import Clips, run_segments

    clips = Clips([np.arange(162, dtype=np.float32)], "arrays", sr=SR)
    with pytest.warns(FutureWarning, match=r"dtype=\.\.\.\) is deprecated.*input_dtype"):
        (res,) = run_segments(clips, lambda x: x[:, :1], segment_length=81, batch_size=4,
                              dtype=torch.float32)
    np.testing.assert_array_equal(res.rows[:, 0], [0, 81])


def test_cache_keys_are_the_file_keys():
    from sklearn_samplecnn.audio import FILE_KEYS
    from sklearn_samplecnn.features import cache

    with pytest.warns(FutureWarning, match="CACHE_KEYS is deprecated.*FILE_KEYS"):
        assert cache.CACHE_KEYS == FILE_KEYS


def test_transform_on_cluster_is_transform(model):
    from sklearn_samplecnn import distributed
    from sklearn_samplecnn.engine import Clips

    feats = MultiScaleFeatureTransformer(extractors=[(model, SR)], dask_client=None)
    X = np.random.default_rng(0).normal(size=(3, 200)).astype(np.float32)
    feats.fit(X)
    with pytest.warns(FutureWarning, match="transform_on_cluster is deprecated"):
        rows, failed = distributed.transform_on_cluster(feats, Clips(list(X), "arrays", sr=SR),
                                                        None)
    np.testing.assert_allclose(rows, feats.transform(X))
    assert failed == {}
