"""X as clips (sklearn_samplecnn.engine.clips): paths in the containers people hold them
in, and waveforms with their rate, (y, sr) pairs, resampled like files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sklearn_samplecnn import MultiScaleFeatureTransformer, SampleCNNClassifier

from .conftest import FIT_FAST, tone

FAST = FIT_FAST


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
