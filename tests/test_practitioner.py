"""What a practitioner reaches for first: path containers, weights, skorch callbacks,
per-segment outputs, compute settings, clean logs and tag lists (one block per gap)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer
from skorch.callbacks import Callback, EpochScoring

import sklearn_samplecnn.features.multiscale as multiscale
from sklearn_samplecnn import MultiScaleFeatureTransformer, SampleCNNClassifier, SampleCNNTagger
from sklearn_samplecnn.estimators import Clips, ClipSplit, SegmentDataset, clip_scoring
from sklearn_samplecnn.nn import SampleCNN, auto_batch_size

from .conftest import TINY, tone

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(sr=8000, max_epochs=3, lr=0.05, verbose=0, random_state=0, **TINY)


class Linear81(torch.nn.Module):
    """A model without batch norm or dropout: one linear layer on an 81-sample segment,
    so a segment's influence on the step is only through its loss. Records torch's
    thread count at every forward pass."""

    input_length = 81
    threads_seen: list[int] = []

    def __init__(self, n_outputs: int = 2) -> None:
        super().__init__()
        self.n_outputs = n_outputs
        self.fc = torch.nn.Linear(81, n_outputs)

    def forward(self, x):
        Linear81.threads_seen.append(torch.get_num_threads())
        return self.fc(x)


def _waves(n=12, length=162, seed=0):
    """Two classes of tones, ``length`` samples at 8 kHz (two segments of 81 each)."""
    rng = np.random.default_rng(seed)
    X = np.stack([tone(300 if i % 2 else 1500, length, 8000, rng=rng) for i in range(n)])
    return X, np.where(np.arange(n) % 2, "low", "high")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A classifier fitted on 12 tone files (1600 samples each: 19 segments of 81)."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("clips")
    paths, labels = [], []
    from sklearn_samplecnn.audio import write_audio

    for i in range(12):
        label = "low" if i % 2 == 0 else "high"
        p = folder / f"clip{i:02d}.wav"
        write_audio(p, tone(300 if label == "low" else 1500, 1600, 8000, rng=rng), 8000)
        paths.append(str(p))
        labels.append(label)
    labels = np.array(labels)
    clf = SampleCNNClassifier(train_split=None, **FAST).fit(paths, labels)
    return clf, paths, labels


# -- 1. paths in the containers people hold them in ------------------------------------
@pytest.mark.parametrize("wrap", [
    pd.Series, np.array, lambda p: np.array(p, dtype=object),
    lambda p: pd.DataFrame({"path": p}),
], ids=["series", "str-array", "object-array", "one-column-frame"])
def test_path_containers_predict_like_a_list(fitted, wrap):
    clf, paths, _ = fitted
    np.testing.assert_array_equal(clf.predict_proba(wrap(paths)), clf.predict_proba(paths))
    np.testing.assert_array_equal(clf.predict(wrap(paths)), clf.predict(paths))


def test_path_containers_fit_and_transform_like_a_list(fitted):
    clf, paths, labels = fitted
    refit = SampleCNNClassifier(train_split=None, **FAST).fit(pd.Series(paths), labels)
    np.testing.assert_allclose(refit.predict_proba(paths), clf.predict_proba(paths), rtol=1e-6)
    feats = MultiScaleFeatureTransformer(extractors=[clf], layers=(-2, -1))
    expected = feats.fit_transform(paths)
    for X in (pd.Series(paths), np.array(paths), pd.DataFrame({"file": paths})):
        np.testing.assert_array_equal(feats.transform(X), expected)


def test_many_column_frame_names_the_path_column(fitted):
    clf, paths, labels = fitted
    frame = pd.DataFrame({"genre": labels, "path": paths, "year": 1999})
    for call in (clf.predict, MultiScaleFeatureTransformer(extractors=[clf]).fit):
        with pytest.raises(ValueError, match=r"pass the column of audio paths, e\.g\. X\['path'\]"):
            call(frame)


# -- 2. sample_weight and class_weight ---------------------------------------------------
LINEAR = dict(module=Linear81, sr=8000, max_epochs=5, lr=0.1, batch_size=64, train_split=None,
              schedule=None, verbose=0, random_state=0)


def _weights(net):
    return {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


def test_a_clip_weighted_zero_is_a_clip_left_out():
    # one batch holds every segment (24 <= 64) and the model has no batch norm, so
    # the only way clip 0 can act on the fit is through its (weighted) loss
    X, y = _waves()
    w = np.ones(len(X))
    w[0] = 0.0
    weighted = SampleCNNClassifier(**LINEAR).fit(X, y, sample_weight=w)
    without = SampleCNNClassifier(**LINEAR).fit(X[1:], y[1:])
    plain = SampleCNNClassifier(**LINEAR).fit(X, y)
    for k, v in _weights(weighted).items():
        torch.testing.assert_close(v, _weights(without)[k], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(v, _weights(plain)[k], atol=1e-4)


def test_uniform_weights_change_nothing_and_others_do(fitted):
    _, paths, labels = fitted
    base = SampleCNNClassifier(train_split=None, **FAST).fit(paths, labels)
    tripled = SampleCNNClassifier(train_split=None, **FAST).fit(paths, labels,
                                                                sample_weight=np.full(12, 3.0))
    skewed = SampleCNNClassifier(train_split=None, **FAST).fit(
        paths, labels, sample_weight=np.linspace(0.1, 3, 12))
    np.testing.assert_allclose(tripled.predict_proba(paths), base.predict_proba(paths),
                               rtol=1e-4, atol=1e-6)
    assert np.abs(skewed.predict_proba(paths) - base.predict_proba(paths)).max() > 1e-3


def test_class_weight_equals_the_hand_computed_sample_weights():
    X, y = _waves(n=12, length=162)
    keep = np.r_[np.flatnonzero(y == "high"), np.flatnonzero(y == "low")[:3]]  # 6 high, 3 low
    X, y = X[keep], y[keep]
    balanced = len(y) / (2 * np.array([np.sum(y == c) for c in y]))
    assert balanced.tolist() == [0.75] * 6 + [1.5] * 3
    cases = [({"class_weight": "balanced"}, {"sample_weight": balanced}),
             ({"class_weight": {"low": 4.0, "high": 1.0}},
              {"sample_weight": np.where(y == "low", 4.0, 1.0)}),
             ({"class_weight": "balanced"}, None)]
    sw = np.linspace(0.5, 2, len(y))
    for params, fit_kw in cases:
        by_class = SampleCNNClassifier(**LINEAR, **params).fit(
            X, y, **({} if fit_kw else {"sample_weight": sw}))
        by_hand = SampleCNNClassifier(**LINEAR).fit(
            X, y, sample_weight=fit_kw["sample_weight"] if fit_kw else sw * balanced)
        np.testing.assert_allclose(by_class.predict_proba(X), by_hand.predict_proba(X),
                                   rtol=1e-5)
    with pytest.raises(ValueError, match="mid"):
        SampleCNNClassifier(**LINEAR, class_weight={"mid": 2.0}).fit(X, y)


def test_tagger_positive_class_weights_reach_the_loss():
    X, _ = _waves(n=12, length=162)
    Y = np.zeros((12, 3), dtype=int)
    Y[:3, 0] = 1   # 3 positives of 12
    Y[:6, 1] = 1   # 6 of 12
    Y[:, 2] = np.arange(12) % 4 == 0  # 3 of 12
    frame = pd.DataFrame(Y, columns=["rock", "jazz", "piano"])
    tagger = SampleCNNTagger(class_weight="balanced", **LINEAR).fit(X, frame)
    expected = torch.tensor([9 / 3, 6 / 6, 9 / 3])
    torch.testing.assert_close(tagger.criterion_.pos_weight, expected)
    named = SampleCNNTagger(class_weight={"jazz": 4.0}, **LINEAR).fit(X, frame)
    torch.testing.assert_close(named.criterion_.pos_weight, torch.tensor([1.0, 4.0, 1.0]))
    # the criterion uses it: BCE with pos_weight, by hand
    logits, target = torch.randn(5, 3), torch.randint(0, 2, (5, 3)).float()
    p = torch.sigmoid(logits)
    by_hand = -(expected * target * torch.log(p) + (1 - target) * torch.log(1 - p))
    torch.testing.assert_close(tagger.criterion_(logits, target), by_hand, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="unknown tags"):
        SampleCNNTagger(class_weight={"metal": 2.0}, **LINEAR).fit(X, frame)


# -- 3. skorch callbacks that need predictions -----------------------------------------
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


# -- 4. outputs below the clip level -----------------------------------------------------
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
    X, y = _waves(n=6, length=200)
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


def test_taggram_plot(fitted, tmp_path):
    pytest.importorskip("matplotlib")
    from sklearn_samplecnn.visualize import plot_taggram

    _, paths, labels = fitted
    lists = [["low", "warm"] if c == "low" else ["high", "bright"] for c in labels]
    tagger = SampleCNNTagger(train_split=None, **{**FAST, "max_epochs": 8}).fit(paths, lists)
    seg = tagger.predict_proba_segments(paths[:2])
    fig = plot_taggram(seg, clip=1, path=tmp_path / "taggram.png")
    assert (tmp_path / "taggram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax, _colorbar) = fig.axes
    image = ax.collections[0].get_array().reshape(4, 20)  # tags x segments
    np.testing.assert_allclose(image, seg.proba[seg.clip == 1].T)
    assert [t.get_text() for t in ax.get_yticklabels()] == tagger.tags_.tolist()
    assert ax.get_xlim() == pytest.approx((0.0, 1600 / 8000))  # the whole clip
    assert ax.get_title() == paths[1]
    # from the estimator and one path; the two most probable tags, most probable on top
    top = plot_taggram(tagger, paths[1], top_k=2, path=tmp_path / "top.png")
    mean = seg.proba[seg.clip == 1].mean(axis=0)
    expected = tagger.tags_[np.argsort(-mean)[:2]].tolist()
    assert [t.get_text() for t in top.axes[0].get_yticklabels()] == expected
    assert set(expected) == {"high", "bright"}  # clip 1 is a high tone
    with pytest.raises(ValueError, match="clip 5 has no segments"):
        plot_taggram(seg, clip=5)


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


# -- 5. compute settings -------------------------------------------------------------------
def test_threads_hold_during_fit_and_predict_and_are_restored():
    X, y = _waves()
    before = torch.get_num_threads()

    class Seen(Callback):
        def on_epoch_begin(self, net, **kwargs):
            Linear81.threads_seen.append(torch.get_num_threads())

    Linear81.threads_seen.clear()
    clf = SampleCNNClassifier(threads=2, callbacks=[Seen()], **LINEAR).fit(X, y)
    assert set(Linear81.threads_seen) == {2} and torch.get_num_threads() == before
    Linear81.threads_seen.clear()
    clf.predict_proba(X)
    clf.predict_proba_segments(X)
    assert set(Linear81.threads_seen) == {2} and torch.get_num_threads() == before


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


def test_auto_batch_size_follows_the_model():
    assert auto_batch_size("cpu", SampleCNN(**{"sizes": "3-3-3-3", "channels": [4] * 5})) >= 64
    assert 1 <= auto_batch_size("cpu", SampleCNN("3^9")) <= 4
    assert 1 <= auto_batch_size("cpu") <= 4  # no module: the paper's model


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


# -- 6. output formats -------------------------------------------------------------------
def test_no_colour_codes_when_stdout_is_not_a_terminal(capsys, monkeypatch):
    X, y = _waves()
    SampleCNNClassifier(**{**LINEAR, "verbose": 1}).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "\x1b[" not in out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    SampleCNNClassifier(**{**LINEAR, "verbose": 1}).fit(X, y)
    assert "\x1b[" in capsys.readouterr().out  # a terminal keeps skorch's colours


def test_the_pandas_extra_brings_parquet():
    # (tomllib is Python >= 3.11; the library supports 3.10)
    extra = re.search(r"^pandas = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)
    assert extra is not None and '"pyarrow' in extra.group(1)


# -- 7. tag lists as y, and docs that tell the truth ----------------------------------------
def test_top_k_tags_rank_by_probability():
    X, y = _waves(n=8)
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


def test_readme_scores_held_out_clips_and_the_docs_say_where_models_come_from():
    readme = (ROOT / "README.md").read_text()
    assert "clf.predict(music.filenames))" not in readme
    assert "train_test_split" in readme and "clf.score(X_test, y_test)" in readme
    assert 'device="cuda"' in readme and "docs/models.md" in readme
    models = (ROOT / "docs" / "models.md").read_text()
    # what ships, where its weights come from and under which licence; then the recipes
    assert "ship inside the package" in models and "MSD_musicnn" in models
    assert "ISC" in models and "samplecnn train" in models
    assert "models.md" in (ROOT / "docs" / "index.md").read_text()


# -- waveforms with their rate: (y, sr) pairs (issue 22) --------------------------------
def test_pairs_are_resampled_like_files(fitted, tmp_path):
    """``[(y, sr), ...]`` at another rate give what the same audio as files gives: resampled
    to the model's rate with the same filter (here from 16 kHz to 8 kHz)."""
    from sklearn_samplecnn import MFCCStatsTransformer, load_audio
    from sklearn_samplecnn.audio import write_audio

    clf, _, _ = fitted
    rng = np.random.default_rng(3)
    paths, pairs = [], []
    for i in range(4):
        y16 = tone(300 if i % 2 else 1500, 3300 + 500 * i, 16000, rng=rng)
        path = tmp_path / f"{i}.wav"
        write_audio(path, y16, 16000, subtype="FLOAT")
        paths.append(str(path))
        pairs.append(load_audio(path, sr=None, return_sr=True))
    assert [sr for _, sr in pairs] == [16000] * 4
    np.testing.assert_allclose(clf.predict_proba(pairs), clf.predict_proba(paths), rtol=1e-6)
    seg = clf.predict_proba_segments(pairs)
    assert seg.path[0] == "X[0]" and seg.end.max() <= 4800 / 16000 + 1e-9
    feats = MultiScaleFeatureTransformer(extractors=[clf], layers=(-1,)).fit(paths)
    np.testing.assert_allclose(feats.transform(pairs), feats.transform(paths), rtol=1e-5)
    mfcc = MFCCStatsTransformer(sr=8000).fit(paths)
    np.testing.assert_allclose(mfcc.transform(pairs), mfcc.transform(paths), rtol=1e-5,
                               atol=1e-5)
    # at the model's own rate a pair is the plain waveform
    y8 = load_audio(paths[0], sr=8000)
    np.testing.assert_array_equal(clf.predict_proba([(y8, 8000)]), clf.predict_proba([y8]))
    # and training takes them: the same model as on the whole clips resampled beforehand
    labels = ["low" if i % 2 else "high" for i in range(4)]
    on_pairs = SampleCNNClassifier(train_split=None, **FAST).fit(pairs, labels)
    at_8k = [load_audio(p, sr=8000) for p in paths]
    on_arrays = SampleCNNClassifier(train_split=None, **FAST).fit(at_8k, labels)
    np.testing.assert_allclose(on_pairs.predict_proba(paths), on_arrays.predict_proba(paths),
                               rtol=1e-6)


def test_bad_pairs_say_what_to_pass(fitted):
    clf, _, _ = fitted
    y = np.zeros(400, dtype=np.float32)
    with pytest.raises(TypeError, match=r"one \(y, sr\) pair; pass a list of pairs"):
        clf.predict_proba((y, 8000))
    with pytest.raises(ValueError, match=r"X\[1\] is a \(y, sr\) pair with sr=0"):
        clf.predict_proba([(y, 8000), (y, 0)])
    with pytest.raises(ValueError, match=r"X\[0\] is a \(y, sr\) pair whose y has shape "
                                         r"\(2, 400\); pass mono"):
        clf.predict_proba([(np.zeros((2, 400)), 8000)])
    with pytest.raises(TypeError, match=r"X mixes \(y, sr\) pairs with other items, e.g. X\[1\]"):
        clf.predict_proba([(y, 8000), y])


def test_the_feature_cache_keeps_rates_apart(fitted, tmp_path):
    clf, paths, _ = fitted
    y = tone(440, 1600, 8000)
    feats = MultiScaleFeatureTransformer(extractors=[clf], layers=(-1,),
                                         cache_dir=tmp_path / "cache").fit(paths)
    at_8k, at_16k = feats.transform([(y, 8000)]), feats.transform([(y, 16000)])
    assert not np.allclose(at_8k, at_16k)  # the same samples, twice as long at 8 kHz
    np.testing.assert_array_equal(feats.transform([(y, 16000)]), at_16k)  # from the cache
