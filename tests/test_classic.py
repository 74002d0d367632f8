"""MFCCStatsTransformer and ClipStatistics: the classic MFCC / log-mel statistics baseline."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_samplecnn import MFCCStatsTransformer, MultiScaleFeatureTransformer
from sklearn_samplecnn.audio import load_audio, write_audio
from sklearn_samplecnn.datasets import make_music
from sklearn_samplecnn.features import FeatureCache
from sklearn_samplecnn.nn import ClipStatistics, SampleCNN, mel_filterbank

from .conftest import check_bad_file_rows_are_kept, tone

SMALL = dict(sr=8000, n_mfcc=13, n_mels=40, n_fft=512, hop_length=128)


# -- an independent reference: numpy frames, scipy DCT and Savitzky-Golay -----------
def _db(x, top_db=80.0):
    db = 10 * np.log10(np.maximum(x, 1e-10))
    return db if top_db is None else np.maximum(db, db.max() - top_db)


def _reference(y, *, sr, kind="mfcc", n_mfcc=20, n_mels=128, n_fft=2048, hop_length=512,
               top_db=80.0, deltas=1, stats=("mean", "std"), contrast_bands=0):
    padded = np.pad(y.astype(np.float64), n_fft // 2)  # centred, zero padding
    n_frames = 1 + (len(padded) - n_fft) // hop_length
    frames = padded[np.arange(n_fft)[None] + hop_length * np.arange(n_frames)[:, None]]
    window = scipy.signal.get_window("hann", n_fft)  # periodic
    power = np.abs(np.fft.rfft(frames * window, axis=1)).T ** 2  # (bins, frames)
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float64)
    coef = _db(fb @ power, top_db)
    if kind == "mfcc":
        coef = scipy.fft.dct(coef, type=2, norm="ortho", axis=0)[:n_mfcc]
    blocks = [coef]
    width = min(9, n_frames if n_frames % 2 else n_frames - 1)
    for order in range(1, deltas + 1):
        blocks.append(scipy.signal.savgol_filter(coef, width, order, deriv=order,
                                                 mode="interp", axis=1))
    if contrast_bands:
        blocks.append(_reference_contrast(np.sqrt(power), sr, n_fft, contrast_bands))
    funcs = {"mean": np.mean, "std": np.std, "min": np.min, "max": np.max}
    return np.concatenate([funcs[s](b, axis=1) for b in blocks for s in stats])


def _reference_contrast(mag, sr, n_fft, n_bands, quantile=0.02):
    """Jiang et al.'s octave-band contrast with librosa's band layout."""
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    edges = np.r_[0.0, 200.0 * 2.0 ** np.arange(n_bands + 1)]
    peak, valley = [], []
    for k in range(n_bands + 1):
        mask = (freqs >= edges[k]) & (freqs <= edges[k + 1])
        first, last = np.flatnonzero(mask)[[0, -1]]
        if k > 0:
            mask[first - 1] = True
        if k == n_bands:
            mask[last:] = True
        band = mag[mask]
        if k < n_bands:
            band = band[:-1]
        n = max(1, int(np.rint(quantile * mask.sum())))
        ordered = np.sort(band, axis=0)
        valley.append(ordered[:n].mean(axis=0))
        peak.append(ordered[-n:].mean(axis=0))
    return _db(np.array(peak)) - _db(np.array(valley))


def _assert_close(out, expected, rtol=1e-4):
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def _waveforms(n, length, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 8000
    return [(0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
             + 0.1 * rng.standard_normal(length) * np.linspace(0, 1, length)).astype(np.float32)
            for _ in range(n)]


# -- values ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mfcc", "logmel"])
def test_matches_reference_with_deltas(kind):
    X = np.stack(_waveforms(3, 8000))
    settings = dict(SMALL, kind=kind, deltas=2, stats=("mean", "std", "min", "max"))
    out = MFCCStatsTransformer(**settings).fit_transform(X)
    assert out.dtype == np.float32
    n_coef = 13 if kind == "mfcc" else 40
    assert out.shape == (3, 3 * 4 * n_coef)
    for i in range(3):
        _assert_close(out[i], _reference(X[i], **settings))
    # the deltas are not trivially zero: the clips get louder over time
    assert np.abs(out[:, 4 * n_coef:5 * n_coef]).max() > 0.01


def test_librosa_defaults_at_22050_with_contrast():
    y = _waveforms(1, 22050 * 2, seed=1)[0]
    feats = MFCCStatsTransformer(spectral_contrast=True)
    out = feats.fit_transform(y[None])[0]
    assert out.shape == (2 * 20 + 2 * 20 + 2 * 7,)
    _assert_close(out, _reference(y, sr=22050, contrast_bands=6))
    assert feats.get_feature_names_out()[-1] == "contrast__std__b6"


def test_contrast_at_8khz_takes_five_bands():
    X = np.stack(_waveforms(2, 6000, seed=2))
    feats = MFCCStatsTransformer(**SMALL, deltas=0, spectral_contrast=True)
    out = feats.fit_transform(X)
    assert out.shape == (2, 2 * 13 + 2 * 6)
    for i in range(2):
        _assert_close(out[i], _reference(X[i], **SMALL, deltas=0, contrast_bands=5))
    contrast = out[:, 26:32]
    assert (contrast > 0).all()  # peaks above valleys, in dB


def test_short_clips_are_padded_never_an_error():
    clips = [_waveforms(1, n, seed=n)[0] for n in (1, 100, 300, 900, 2000)]
    feats = MFCCStatsTransformer(**SMALL, deltas=2)
    out = feats.fit_transform(clips)  # ragged: 1, 1, 3, 8 and 16 frames of 128 samples
    assert out.shape == (5, 6 * 13) and np.isfinite(out).all()
    for clip, row in zip(clips, out):
        _assert_close(row, _reference(clip, **SMALL, deltas=2) if len(clip) >= 300
                      else np.concatenate([_reference(clip, **SMALL, deltas=0),
                                           np.zeros(4 * 13)]))
    assert (out[:2, 1 * 13:2 * 13] == 0).all()  # one frame: no spread


def test_clip_statistics_batches_like_single_clips():
    X = torch.from_numpy(np.stack(_waveforms(3, 4000, seed=3)))
    module = ClipStatistics(sr=8000, n_mels=40, n_fft=256, hop_length=64, deltas=2,
                            contrast_bands=5)
    with torch.inference_mode():
        batched = module(X)
        single = torch.stack([module(x) for x in X])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-4)
    assert batched.shape == (3, module.n_features) == (3, 2 * (3 * 20 + 6))


def test_feature_names_and_layout():
    X = np.stack(_waveforms(2, 4000))
    feats = MFCCStatsTransformer(sr=8000).fit(X)
    names = feats.get_feature_names_out()
    assert len(names) == feats.n_features_out_ == 80
    assert names[[0, 19, 20, 40, 79]].tolist() == [
        "mfcc__mean__c00", "mfcc__mean__c19", "mfcc__std__c00", "mfcc_delta__mean__c00",
        "mfcc_delta__std__c19"]
    logmel = MFCCStatsTransformer(sr=8000, kind="logmel", deltas=0, stats="max").fit(X)
    assert logmel.get_feature_names_out().tolist()[::127] == ["logmel__max__m000",
                                                             "logmel__max__m127"]


# -- inputs, errors, cache --------------------------------------------------------
def test_paths_and_waveforms_agree(tone_files):
    paths, _ = tone_files
    feats = MFCCStatsTransformer(**SMALL)
    from_files = feats.fit_transform(paths[:4])
    from_arrays = feats.fit_transform([load_audio(p, sr=8000) for p in paths[:4]])
    np.testing.assert_array_equal(from_files, from_arrays)
    # the low (300 Hz) and high (1500 Hz) tones differ in their first MFCCs
    assert not np.allclose(from_files[0, :3], from_files[1, :3], rtol=0.1)
    one_thread = feats.set_params(n_jobs=1).transform(paths[:4])
    np.testing.assert_array_equal(one_thread, from_files)


def test_bad_files_rows_are_kept(tone_files, tmp_path):
    check_bad_file_rows_are_kept(lambda: MFCCStatsTransformer(**SMALL), tone_files[0], tmp_path)


@pytest.fixture
def count_forwards(monkeypatch):
    calls = []
    forward = ClipStatistics.forward

    def counting(self, x):
        calls.append(x.shape)
        return forward(self, x)

    monkeypatch.setattr(ClipStatistics, "forward", counting)
    return calls


def test_cache_reuse_and_invalidation(tone_files, tmp_path, count_forwards):
    paths = tone_files[0][:4]
    cache = tmp_path / "cache"
    feats = MFCCStatsTransformer(**SMALL, cache_dir=cache).fit(paths)
    first = feats.transform(paths)
    assert len(count_forwards) == 4
    store = FeatureCache(cache)
    entries = sorted(cache.rglob("*.feat"))
    assert len(entries) == 4  # one entry per clip, with its 2 blocks (mfcc, deltas)
    assert [len(store.read(e.stem)) for e in entries] == [2] * 4
    count_forwards.clear()
    np.testing.assert_array_equal(feats.transform(paths), first)
    assert count_forwards == []  # all from the cache
    # fewer blocks: served from the same entries
    np.testing.assert_array_equal(feats.set_params(deltas=0).fit(paths).transform(paths),
                                  first[:, :26])
    assert count_forwards == []
    # a changed file: only that clip is described again
    write_audio(paths[1], tone(700, 1600, 8000), 8000)
    second = feats.set_params(deltas=1).fit(paths).transform(paths)
    assert len(count_forwards) == 1
    np.testing.assert_array_equal(second[[0, 2, 3]], first[[0, 2, 3]])
    assert not np.allclose(second[1], first[1])
    # a setting that changes the values gets new entries
    count_forwards.clear()
    other = feats.set_params(n_mels=20).fit(paths).transform(paths)
    assert len(count_forwards) == 4 and not np.allclose(other, second)
    entries = sorted(cache.rglob("*.feat"))
    assert len(entries) == 5  # the edited file's old entry stays
    assert sorted(len(store.read(e.stem)) for e in entries) == [2, 4, 4, 4, 4]


def test_set_output_clone_and_pickle(tone_files):
    paths = tone_files[0][:3]
    feats = MFCCStatsTransformer(**SMALL, spectral_contrast=2).fit(paths)
    a = feats.transform(paths)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(feats)).transform(paths), a)
    frame = clone(feats).set_output(transform="pandas").fit(paths).transform(paths)
    assert list(frame.columns) == list(feats.get_feature_names_out())
    assert frame.columns[-1] == "contrast__std__b2"
    np.testing.assert_array_equal(frame.to_numpy(), a)


@pytest.mark.parametrize("params, match", [
    ({"kind": "cqt"}, "'kind' parameter.*'cqt'"),
    ({"deltas": 3}, "'deltas' parameter.*3"),
    ({"stats": ("mean", "median")}, "stats must be distinct names.*median"),
    ({"n_mfcc": 50, "n_mels": 40}, r"n_mfcc must be at most n_mels \(40\), got 50"),
    ({"spectral_contrast": 6}, r"spectral_contrast=6 .* at most 5 fit at sr=8000"),
    ({"fmax": 5000.0}, r"fmax <= sr/2 \(4000.0\).*fmax=5000.0"),
    ({"cache_key": "mtime"}, "'cache_key' parameter.*'mtime'"),
    ({"on_error": "ignore"}, "'on_error' parameter.*'ignore'"),
])
def test_parameter_errors_name_the_parameter(params, match):
    X = np.zeros((2, 400), dtype=np.float32)
    with pytest.raises(ValueError, match=match):
        MFCCStatsTransformer(**{"sr": 8000, **params}).fit(X)


def test_n_features_are_checked():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feats = MFCCStatsTransformer(**SMALL).fit(np.zeros((2, 500), dtype=np.float32))
    with pytest.raises(ValueError, match="features"):
        feats.transform(np.zeros((2, 600), dtype=np.float32))


# -- composition ------------------------------------------------------------------
def test_feature_union_with_samplecnn_features_in_grid_search(tmp_path):
    data = make_music(tmp_path / "music", n_clips=12, duration=1.0, sr=8000,
                      styles=("classical", "metal", "hiphop"), random_state=0)
    torch.manual_seed(0)
    cnn = SampleCNN("3^6", channels=[3, 4, 4, 4, 4, 4, 5, 6], n_outputs=2).eval()
    union = FeatureUnion([
        ("mfcc", MFCCStatsTransformer(sr=8000, n_mels=40, cache_dir=tmp_path / "cache")),
        ("cnn", MultiScaleFeatureTransformer(extractors=[(cnn, 8000)], layers=(-1,))),
    ])
    pipe = Pipeline([("features", union), ("scale", StandardScaler()),
                     ("clf", LogisticRegression(max_iter=1000))])
    search = GridSearchCV(pipe, {"features__mfcc__deltas": [0, 1], "clf__C": [0.1, 1.0]},
                          cv=StratifiedKFold(3, shuffle=True, random_state=0))
    search.fit(data.filenames, data.target)
    assert search.best_score_ >= 0.75  # chance is 1/3
    names = search.best_estimator_[0].get_feature_names_out()
    assert names[0] == "mfcc__mfcc__mean__c00" and names[-1].startswith("cnn__3-6__layer-1")
    assert search.predict(data.filenames).shape == (12,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_matches_cpu():
    X = np.stack(_waveforms(4, 16000, seed=4))
    settings = dict(SMALL, deltas=2, spectral_contrast=True)
    cpu = MFCCStatsTransformer(**settings).fit_transform(X)
    gpu_feats = MFCCStatsTransformer(**settings, device="cuda")
    assert gpu_feats.__sklearn_tags__().non_deterministic
    _assert_close(gpu_feats.fit_transform(X), cpu, rtol=1e-3)
