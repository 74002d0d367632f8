"""Faults met by the feature transformers: failed files keep every good row; the feature
cache unwritable, corrupt, replaced underneath, shared by two processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from sklearn_samplecnn import (
    MultiScaleFeatureTransformer,
)
from sklearn_samplecnn.audio import write_audio

from ..conftest import tone
from .conftest import BAD, DECODE_KINDS, IS_ROOT, SR, _messages, clone_with


@pytest.mark.filterwarnings("ignore:on_error='zeros' is deprecated:FutureWarning")
@pytest.mark.parametrize("on_error", ["zeros", "skip", "segments"])
def test_transform_keeps_every_good_row(good, bad, model_file, on_error):
    paths, _ = good
    failed = [bad[k] for k in DECODE_KINDS]
    X = [*paths[:3], *failed, *paths[3:]]
    feats = MultiScaleFeatureTransformer(extractors=[str(model_file)],
                                         on_error="skip" if on_error == "segments" else on_error)
    ref = feats.fit(paths).transform(paths)
    with pytest.warns(UserWarning) as caught:
        if on_error == "segments":
            (seg,) = feats.transform_segments(X)
        else:
            out = feats.transform(X)
    assert feats.failed_files_ == failed
    assert all(p in _messages(caught) and BAD[k][1] in _messages(caught)
               for k, p in zip(DECODE_KINDS, failed))
    if on_error == "segments":
        assert set(seg.path) == set(paths)
        return
    keep = [0, 1, 2, *range(3 + len(failed), len(X))]
    np.testing.assert_array_equal(out[keep], ref)
    rows = out[3:3 + len(failed)]
    assert (rows == 0).all() if on_error == "zeros" else np.isnan(rows).all()


# -- caches ----------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["under-a-file", "read-only"])
def test_unwritable_feature_cache_warns_once_and_keeps_every_row(good, model_file, tmp_path,
                                                                 how):
    paths, _ = good
    if how == "under-a-file":
        (tmp_path / "file").write_text("x")
        cache = tmp_path / "file" / "cache"
    else:
        if IS_ROOT:
            pytest.skip("root writes into read-only folders")
        cache = tmp_path / "ro"
        cache.mkdir()
        cache.chmod(0o555)
    feats = MultiScaleFeatureTransformer(extractors=[str(model_file)], cache_dir=cache)
    with pytest.warns(RuntimeWarning,
                      match=re.escape(f"feature cache {cache} cannot be written")) as w:
        out = feats.fit(paths).transform(paths)
    assert len([x for x in w if "cannot be written" in str(x.message)]) == 1
    np.testing.assert_array_equal(
        out, MultiScaleFeatureTransformer(extractors=[str(model_file)]).fit(paths)
        .transform(paths))


@pytest.mark.parametrize("damage", ["flipped", "truncated", "empty"])
def test_corrupt_cache_entry_is_recomputed(good, model_file, tmp_path, damage):
    paths, _ = good
    feats = MultiScaleFeatureTransformer(extractors=[str(model_file)], cache_dir=tmp_path)
    first = feats.fit(paths[:2]).transform(paths[:2])
    entry = sorted(tmp_path.rglob("*.feat"))[0]
    raw = entry.read_bytes()
    entry.write_bytes({"flipped": raw[:-1] + bytes([raw[-1] ^ 1]), "truncated": raw[:10],
                       "empty": b""}[damage])
    np.testing.assert_array_equal(feats.transform(paths[:2]), first)
    assert entry.read_bytes() == raw  # rewritten


def _replace_keeping_size_and_mtime(path: str, y: np.ndarray) -> None:
    st = os.stat(path)
    tmp = path + ".new.wav"
    write_audio(tmp, y, SR)
    assert os.path.getsize(tmp) == st.st_size
    os.replace(tmp, path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("cache", ["audio_cache", "feature_cache"])
def test_a_replaced_file_of_same_size_and_mtime_is_seen(clf, model_file, tmp_path, cache):
    path = str(tmp_path / "song.wav")
    write_audio(path, tone(300, 1600, SR), SR)
    if cache == "audio_cache":
        est = clone_with(clf, audio_cache="memory")
        run = est.predict_proba
    else:
        est = MultiScaleFeatureTransformer(extractors=[str(model_file)],
                                           cache_dir=tmp_path / "c").fit([path])
        run = est.transform
    before = run([path])
    _replace_keeping_size_and_mtime(path, tone(1500, 1600, SR))
    after = run([path])
    assert not np.allclose(before, after)
    fresh = clf.predict_proba([path]) if cache == "audio_cache" else \
        MultiScaleFeatureTransformer(extractors=[str(model_file)]).fit([path]).transform([path])
    np.testing.assert_allclose(after, fresh, rtol=1e-6)


def test_two_processes_sharing_a_cache_agree(good, model_file, tmp_path):
    paths, _ = good
    script = (
        "import sys, numpy as np, torch; torch.set_num_threads(1)\n"
        "from sklearn_samplecnn import MultiScaleFeatureTransformer as T\n"
        "f = T(extractors=[sys.argv[1]], cache_dir=sys.argv[2]).fit(sys.argv[4:])\n"
        "np.save(sys.argv[3], f.transform(sys.argv[4:]))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(model_file),
                               str(tmp_path / "cache"), str(tmp_path / f"out{i}.npy"), *paths],
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    a, b = np.load(tmp_path / "out0.npy"), np.load(tmp_path / "out1.npy")
    np.testing.assert_array_equal(a, b)
    ref = MultiScaleFeatureTransformer(extractors=[str(model_file)]).fit(paths).transform(paths)
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
    assert not list((tmp_path / "cache").rglob("*.tmp"))
