"""MultiScaleFeatureTransformer beyond test_features.py: per-segment embeddings, threads and
batch sizes, cache tokens by device and precision, rates apart in the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sklearn_samplecnn.features.multiscale as multiscale
from sklearn_samplecnn import MultiScaleFeatureTransformer
from sklearn_samplecnn.nn import SampleCNN, auto_batch_size

from .conftest import FIT_FAST, tone

FAST = FIT_FAST


@pytest.mark.parametrize("pooling", ["paper", "max"])
def test_segment_embeddings_pool_to_the_clip_features(fitted, pooling):
    clf, paths, _ = fitted
    torch.manual_seed(1)
    other = SampleCNN("3-3-3", channels=[4, 4, 4, 6], n_outputs=2).eval()  # input 27 at 4 kHz
    feats = MultiScaleFeatureTransformer(extractors=[clf, (other, 4000)], layers=(-2, -1),
                                         pooling=pooling).fit(paths[:2])
    clip_rows = feats.transform(paths[:2])
    per_ext = feats.transform_segments(paths[:2])
    assert [b.name for b in per_ext] == [e.name for e in feats.extractors_]
    a, b = per_ext
    # 1600/81 = 19 and 800/27 = 29 whole segments, then one ending with the clip
    assert a.features.shape == (2 * 20, 8) and b.features.shape == (2 * 30, 10)
    np.testing.assert_allclose(b.start[:30], np.append(np.arange(29) * 27, 800 - 27) / 4000)
    np.testing.assert_allclose(b.end - b.start, 27 / 4000)
    pool = np.mean if pooling == "paper" else np.max
    for i in range(2):
        row = np.concatenate([pool(a.features[a.clip == i], axis=0),
                              pool(b.features[b.clip == i], axis=0)])
        np.testing.assert_allclose(row, clip_rows[i], rtol=1e-5, atol=1e-6)
    assert a.feature_names[0].endswith("__max__ch000")  # the segment pool of both


def test_transformer_threads_and_auto_batch_size(fitted, monkeypatch):
    clf, paths, _ = fitted
    seen = []
    real = multiscale.run_segments

    def spy(*args, **kwargs):
        seen.append((torch.get_num_threads(), kwargs["batch_size"]))
        yield from real(*args, **kwargs)

    monkeypatch.setattr(multiscale, "run_segments", spy)
    before = torch.get_num_threads()
    feats = MultiScaleFeatureTransformer(extractors=[clf], threads=2).fit(paths[:2])
    feats.transform(paths[:2])
    feats.transform_segments(paths[:2])
    assert len(seen) == 2 and {t for t, _ in seen} == {2} and torch.get_num_threads() == before
    assert {b for _, b in seen} == {auto_batch_size("cpu", clf.module_)}
    assert all(b >= 64 for _, b in seen)


def test_cache_tokens_differ_by_device_and_precision(fitted):
    clf, paths, _ = fitted
    feats = MultiScaleFeatureTransformer(extractors=[clf], layers=(-2, -1)).fit(paths[:1])
    ext = feats.extractors_[0]
    cpu = feats._layer_tokens(ext)
    assert ext.runner.precision == "fp32" and len(set(cpu)) == 2
    feats.device = "cuda"  # the tokens read the device type and the runner's precision
    ext.runner.precision = "fp32"
    gpu32 = feats._layer_tokens(ext)
    ext.runner.precision = "fp16"
    gpu16 = feats._layer_tokens(ext)
    assert len({*cpu, *gpu32, *gpu16}) == 6


def test_the_feature_cache_keeps_rates_apart(fitted, tmp_path):
    clf, paths, _ = fitted
    y = tone(440, 1600, 8000)
    feats = MultiScaleFeatureTransformer(extractors=[clf], layers=(-1,),
                                         cache_dir=tmp_path / "cache").fit(paths)
    at_8k, at_16k = feats.transform([(y, 8000)]), feats.transform([(y, 16000)])
    assert not np.allclose(at_8k, at_16k)  # the same samples, twice as long at 8 kHz
    np.testing.assert_array_equal(feats.transform([(y, 16000)]), at_16k)  # from the cache
