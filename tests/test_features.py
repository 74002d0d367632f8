"""MultiScaleFeatureTransformer, its cache, and pretrained files."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_samplecnn import (
    MultiScaleFeatureTransformer,
    PretrainedFileError,
    SampleCNNClassifier,
    SampleCNNTagger,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn.audio import load_audio, write_audio
from sklearn_samplecnn.estimators import from_pretrained
from sklearn_samplecnn.features import FeatureCache
from sklearn_samplecnn.nn import SampleCNN

from .conftest import TINY, check_bad_file_rows_are_kept, tone

FAST = dict(sr=8000, max_epochs=4, lr=0.05, verbose=0, random_state=0, train_split=None, **TINY)


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    model = SampleCNN("3-3-3", channels=[3, 4, 5, 6], n_outputs=2)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture
def fitted_clf(tone_files):
    paths, labels = tone_files
    return SampleCNNClassifier(**FAST).fit(paths, labels)


def _hand_features(model, clip, layers, seg_pool, clip_pool, tail="overlap"):
    length = model.input_length
    n = len(clip) // length
    segs = clip[: n * length].reshape(n, -1)
    if tail == "overlap" and len(clip) > n * length:  # one more segment ending with the clip
        segs = np.concatenate([segs, clip[None, -length:]])
    segs = torch.from_numpy(np.ascontiguousarray(segs))
    with torch.no_grad():
        _, hidden = model(segs, return_hidden=True)
    parts = []
    for layer in layers:
        h = hidden[model.resolve_layer(layer)].numpy()
        per_seg = h.max(axis=2) if seg_pool == "max" else h.mean(axis=2)
        if clip_pool == "mean+std":
            parts += [per_seg.mean(axis=0), per_seg.std(axis=0)]
        else:
            parts.append(per_seg.mean(axis=0) if clip_pool == "mean" else per_seg.max(axis=0))
    return np.concatenate(parts)


@pytest.mark.parametrize("pooling", ["paper", "mean", "max", "mean+std"])
def test_pooling_matches_hand_computation(tiny_model, pooling):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 27 * 4 + 5)).astype(np.float32)  # 4 segments + a tail of 5
    feats = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)], layers=(-3, "conv1x1"),
                                         pooling=pooling, batch_size=3)
    out = feats.fit_transform(X)
    seg_pool, clip_pool = {"paper": ("max", "mean"), "mean": ("mean", "mean"),
                           "max": ("max", "max"), "mean+std": ("mean", "mean+std")}[pooling]
    paper = feats.set_params(tail="drop").fit_transform(X)  # the tail unseen
    for i in range(3):
        expected = _hand_features(tiny_model, X[i], (-3, "conv1x1"), seg_pool, clip_pool)
        np.testing.assert_allclose(out[i], expected, rtol=1e-4, atol=1e-5)
        expected = _hand_features(tiny_model, X[i], (-3, "conv1x1"), seg_pool, clip_pool,
                                  tail="drop")
        np.testing.assert_allclose(paper[i], expected, rtol=1e-4, atol=1e-5)
    assert out.dtype == np.float32
    names = feats.get_feature_names_out()
    assert len(names) == feats.n_features_out_ == out.shape[1]
    assert names[0] == f"3-2__layer-3__{seg_pool}-{clip_pool.split('+')[0]}__ch000"


def test_defaults_are_all_layers_max_then_mean_and_std(tiny_model):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 27 * 3)).astype(np.float32)
    feats = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)])
    assert feats.get_params()["layers"] == "all" and feats.get_params()["pooling"] == "max+std"
    out = feats.fit_transform(X)
    names = list(tiny_model.hidden_layers)
    assert names == ["strided", "module1", "module2", "conv1x1"]
    for i in range(2):
        expected = _hand_features(tiny_model, X[i], names, "max", "mean+std")
        np.testing.assert_allclose(out[i], expected, rtol=1e-4, atol=1e-5)
    explicit = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)],
                                            layers=(-4, -3, -2, -1), pooling=("max", "mean+std"))
    np.testing.assert_array_equal(explicit.fit_transform(X), out)
    got = feats.get_feature_names_out()
    assert out.shape[1] == len(got) == 2 * (3 + 4 + 5 + 6)
    assert got[0] == "3-2__strided__max-mean__ch000"
    assert got[3] == "3-2__strided__max-std__ch000"  # the layer's means, then its stds
    assert got[-1] == "3-2__conv1x1__max-std__ch005"
    # the paper's features stay one argument away
    paper = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)], layers=(-3, -2, -1),
                                         pooling="paper").fit(X)
    assert paper.n_features_out_ == 4 + 5 + 6


def test_layers_all_with_extractors_of_different_depths(tiny_model):
    torch.manual_seed(1)
    deeper = SampleCNN("3-3-3-3", channels=[2, 2, 2, 2, 3], n_outputs=2).eval()
    X = np.random.default_rng(2).normal(size=(2, 81 * 2)).astype(np.float32)
    feats = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000), (deeper, 8000)],
                                         pooling="paper").fit(X)
    assert feats.n_features_out_ == (3 + 4 + 5 + 6) + (2 + 2 + 2 + 2 + 3)
    layers = [n.split("__")[1] for n in feats.get_feature_names_out()]
    assert layers[-3:] == ["conv1x1"] * 3 and "module3" in layers
    assert feats.fit_transform(X).shape == (2, 29)


def test_pipeline_grid_search_on_files(fitted_clf, tone_files, tmp_path):
    paths, labels = tone_files
    feats = MultiScaleFeatureTransformer(extractors=[FrozenEstimator(fitted_clf)],
                                         cache_dir=tmp_path / "cache")
    pipe = Pipeline([("features", feats), ("scale", StandardScaler()),
                     ("clf", LogisticRegression(max_iter=500))])
    search = GridSearchCV(pipe, {"clf__C": [0.1, 1.0]}, cv=StratifiedKFold(3)).fit(paths, labels)
    assert search.best_score_ >= 0.8  # chance is 0.5
    assert search.predict(paths).shape == (12,)


def test_two_extractors_at_different_rates(tiny_model, fitted_clf, tone_files):
    paths, _ = tone_files
    feats = MultiScaleFeatureTransformer(extractors=[fitted_clf, (tiny_model, 4000)],
                                         layers=(-1,), pooling="paper")
    out = feats.fit_transform(paths)
    assert out.shape == (12, 4 + 6)
    names = feats.get_feature_names_out()
    assert names[0].startswith("3-3__layer-1") and names[-1].startswith("3-2__layer-1")
    # the second extractor saw the files at 4 kHz
    clip = load_audio(paths[0], sr=4000)
    expected = _hand_features(tiny_model, clip, (-1,), "max", "mean")
    np.testing.assert_allclose(out[0, 4:], expected, rtol=1e-4, atol=1e-5)


def _count_forwards(feats, calls=None):
    calls = [] if calls is None else calls
    for ext in feats.extractors_:
        ext.runner.module.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_cache_reuse_invalidation_and_corruption(tiny_model, tone_files, tmp_path):
    paths, _ = tone_files
    paths = paths[:4]
    cache = tmp_path / "cache"
    feats = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)], cache_dir=cache)
    feats.fit(paths)
    calls = _count_forwards(feats)
    first = feats.transform(paths)
    entries = sorted(cache.rglob("*.feat"))
    assert calls and len(entries) == 4  # one entry per clip ...
    store = FeatureCache(cache)
    assert all(len(store.read(e.stem)) == 4 for e in entries)  # ... holding its 4 layers
    calls.clear()
    np.testing.assert_array_equal(feats.transform(paths), first)
    assert calls == []  # all from the cache: no model forward
    # change one file: exactly that entry is recomputed
    write_audio(paths[1], tone(700, 1600, 8000), 8000)
    calls.clear()
    second = feats.transform(paths)
    assert len(calls) >= 1
    np.testing.assert_array_equal(second[[0, 2, 3]], first[[0, 2, 3]])
    assert not np.allclose(second[1], first[1])
    assert len(list(cache.rglob("*.feat"))) == 5  # the edited file's old entry stays
    # corrupt the entries (one of them is the edited file's stale one): detected,
    # recomputed, same values
    for entry in cache.rglob("*.feat"):
        entry.write_bytes(entry.read_bytes()[:-3] + b"xyz")
    calls.clear()
    np.testing.assert_array_equal(feats.transform(paths), second)
    assert len(calls) >= 1
    # a different model gets different entries
    other = MultiScaleFeatureTransformer(extractors=[(SampleCNN("3-3-3", channels=[3, 4, 5, 6],
                                                                n_outputs=2).eval(), 8000)],
                                         cache_dir=cache).fit(paths)
    other.transform(paths)
    entries = sorted(cache.rglob("*.feat"))
    assert len(entries) == 5  # the current clips' entries hold both models' blocks
    # (the stale entry was corrupted above and reads as empty)
    assert sorted(len(store.read(e.stem)) for e in entries) == [0, 8, 8, 8, 8]
    # a subset of the layers is served from the same entries
    calls.clear()
    feats.set_params(layers=(-1,)).fit(paths)
    _count_forwards(feats, calls)
    np.testing.assert_array_equal(feats.transform(paths), second[:, -12:])  # 6 means, 6 stds
    assert calls == []


def test_no_cache_dir_writes_nothing(tiny_model, tone_files, tmp_path, monkeypatch):
    paths, _ = tone_files
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)]).fit_transform(paths[:2])
    assert set(tmp_path.rglob("*")) == before


def test_bad_files_rows_are_kept(tiny_model, tone_files, tmp_path):
    check_bad_file_rows_are_kept(
        lambda: MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)]), tone_files[0],
        tmp_path)


def test_set_output_clone_pickle_and_determinism(tiny_model, tone_files):
    paths, _ = tone_files
    feats = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)]).fit(paths[:3])
    a = feats.transform(paths[:3])
    np.testing.assert_array_equal(feats.transform(paths[:3]), a)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(feats)).transform(paths[:3]), a)
    frame = clone(feats).set_output(transform="pandas").fit(paths[:3]).transform(paths[:3])
    assert list(frame.columns) == list(feats.get_feature_names_out())
    np.testing.assert_array_equal(frame.to_numpy(), a)


def test_unfitted_estimator_extractor_is_explained(tone_files):
    paths, labels = tone_files
    feats = MultiScaleFeatureTransformer(extractors=[SampleCNNTagger(**FAST)])
    with pytest.raises(ValueError, match="FrozenEstimator"):
        feats.fit(paths)
    feats.set_params(fit_extractors=True)
    # all 5 hidden layers of 4 channels, mean and std of each
    assert feats.fit(paths, np.eye(2)[(labels == "low").astype(int)]).n_features_out_ == 40


def test_pretrained_round_trip(fitted_clf, tone_files, tmp_path):
    paths, labels = tone_files
    path = save_pretrained(fitted_clf, tmp_path / "clf.samplecnn", metadata={"data": "tones"})
    loaded = load_pretrained(path)
    assert loaded.sample_rate == 8000 and loaded.input_length == 81
    assert loaded.labels == ["high", "low"]
    assert loaded.config["training"]["data"] == "tones" and loaded.config["training"]["epochs"]
    rebuilt = from_pretrained(loaded)
    np.testing.assert_allclose(rebuilt.predict_proba(paths), fitted_clf.predict_proba(paths),
                               rtol=1e-5)
    np.testing.assert_array_equal(rebuilt.predict(paths), fitted_clf.predict(paths))
    # a file path works as an extractor, same features as the estimator itself
    a = MultiScaleFeatureTransformer(extractors=[str(path)]).fit_transform(paths[:3])
    b = MultiScaleFeatureTransformer(extractors=[fitted_clf]).fit_transform(paths[:3])
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_tagger_round_trip(tone_files, tmp_path):
    paths, labels = tone_files
    Y = np.stack([labels == "low", labels == "high"], axis=1).astype(int)
    tagger = SampleCNNTagger(**FAST).fit(paths, Y)
    rebuilt = from_pretrained(load_pretrained(save_pretrained(tagger, tmp_path / "t.samplecnn")))
    np.testing.assert_array_equal(rebuilt.predict(paths), tagger.predict(paths))
    assert rebuilt.tags_.tolist() == ["0", "1"]


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_unsafe_or_tampered_files_are_refused(fitted_clf, tmp_path, tiny_model):
    fake = tmp_path / "evil.samplecnn"
    fake.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(PretrainedFileError, match="not a safetensors"):
        load_pretrained(fake)
    torch.save(tiny_model.state_dict(), tmp_path / "ckpt.samplecnn")
    with pytest.raises(PretrainedFileError, match="not a safetensors"):
        load_pretrained(tmp_path / "ckpt.samplecnn")
    good = save_pretrained(tiny_model, tmp_path / "m.samplecnn", metadata={"sample_rate": 8000})
    raw = bytearray(good.read_bytes())
    raw[-5] ^= 0xFF  # flip bits in the last weight
    (tmp_path / "tampered.samplecnn").write_bytes(bytes(raw))
    with pytest.raises(PretrainedFileError, match="weights changed"):
        load_pretrained(tmp_path / "tampered.samplecnn")
    with pytest.raises(FileNotFoundError):
        load_pretrained(tmp_path / "missing.samplecnn")
    with pytest.raises(PretrainedFileError, match="bare module"):
        from_pretrained(load_pretrained(good))
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(PretrainedFileError, match="no sklearn-samplecnn config"):
        load_pretrained(tmp_path / "plain.safetensors")


def test_parameter_errors(tiny_model):
    X = np.zeros((2, 50), dtype=np.float32)
    with pytest.raises(ValueError, match="pooling"):
        MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)], pooling="median").fit(X)
    with pytest.raises(ValueError, match="out of range"):
        MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)], layers=(-9,)).fit(X)
    with pytest.raises(ValueError, match="extractors is empty"):
        MultiScaleFeatureTransformer(extractors=[]).fit(X)
    with pytest.raises(TypeError, match="sample_rate"):
        MultiScaleFeatureTransformer(extractors=[tiny_model]).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feats = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)]).fit(X)
    with pytest.raises(ValueError, match="features"):
        feats.transform(np.zeros((2, 60), dtype=np.float32))


def test_ragged_waveforms_are_accepted(tiny_model):
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=n).astype(np.float32) for n in (27 * 3, 27 * 5 + 4, 20)]
    feats = MultiScaleFeatureTransformer(extractors=[(tiny_model, 8000)], layers=(-1,),
                                         pooling="paper")
    out = feats.fit_transform(clips)
    assert out.shape == (3, 6)
    np.testing.assert_allclose(out[0], _hand_features(tiny_model, clips[0], (-1,), "max", "mean"),
                               rtol=1e-4, atol=1e-5)


def test_extractor_modules_are_never_shared(tmp_path):
    """Regression: a process-wide cache of loaded files handed one module object to every
    transformer, and a user's PretrainedModel.module was moved/switched to eval in place."""
    from sklearn_samplecnn import FrameLevelCNN, PretrainedModel

    torch.manual_seed(0)
    module = FrameLevelCNN(window=81, hop=81, n_modules=2, channels=[4, 4, 4, 4], n_outputs=2,
                           input_length=729).train()
    path = save_pretrained(module, tmp_path / "frame.samplecnn", metadata={"sample_rate": 8000})
    X = np.random.default_rng(0).normal(size=(2, 800)).astype(np.float32)
    a = MultiScaleFeatureTransformer(extractors=[str(path)], layers=(-1,)).fit(X)
    b = MultiScaleFeatureTransformer(extractors=[str(path)], layers=(-1,)).fit(X)
    assert a.extractors_[0].runner is not b.extractors_[0].runner
    user = PretrainedModel(module=module, config={"sample_rate": 8000, "input_length": 729})
    c = MultiScaleFeatureTransformer(extractors=[user], layers=(-1,)).fit(X)
    assert c.extractors_[0].runner is not module
    assert module.training  # the caller's module was not switched to eval mode
    np.testing.assert_allclose(a.transform(X), b.transform(X))


def test_feature_cache_entries_merge_blocks_and_refuse_damage(tmp_path):
    store = FeatureCache(tmp_path)
    key = "ab" + "0" * 62
    a, b = np.arange(3, dtype=np.float32), np.array([0.5, -1.0], dtype=np.float32)
    store.put("a" * 24, key, a)
    store.update(key, {"b" * 24: b})  # merged into the same entry
    (entry,) = tmp_path.rglob("*.feat")
    assert entry.parent.name == "ab"
    blocks = store.read(key)
    assert list(blocks) == ["a" * 24, "b" * 24]
    np.testing.assert_array_equal(blocks["b" * 24], b)
    np.testing.assert_array_equal(store.get("a" * 24, key, 3), a)
    assert store.get("a" * 24, key, 4) is None  # another width: not this block
    assert store.get("c" * 24, key, 3) is None and store.read("cd" + "0" * 62) == {}
    raw = entry.read_bytes()
    for damaged in (raw[:-1] + bytes([raw[-1] ^ 1]), raw[:20], b"", raw[:16] + b"SCF1" + raw[20:]):
        entry.write_bytes(damaged)
        assert store.read(key) == {}
