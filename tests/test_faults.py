"""Fault injection: bad audio, bad parameters, bad model files, caches, interruptions.

Each case injects one fault into one entry point (``load_audio``, the two
estimators, the transformer, ``load_pretrained``, every CLI command) and
asserts the error type, that the message names the file or the parameter
(and its value), and that every good row or result is kept. Bad files are
generated here: valid files written with libsndfile, then cut, filled with
NaN, or replaced by links and folders. docs/reliability.md lists what these
tests guarantee.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_samplecnn import (
    AudioLoadError,
    ClipTooShortError,
    MultiScaleFeatureTransformer,
    PretrainedFileError,
    SampleCNNClassifier,
    SampleCNNTagger,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn import cli as cli_module
from sklearn_samplecnn.audio import audio_info, load_audio, write_audio
from sklearn_samplecnn.cli.output import write_csv
from sklearn_samplecnn.estimators import from_pretrained
from sklearn_samplecnn.exceptions import SampleCNNError

from .conftest import TINY, tone
from .test_pretrained import _rewrite, _set

SR = 8000
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
FAST = {"sr": SR, "max_epochs": 1, "train_split": None, "verbose": 0, "random_state": 0,
        "batch_size": 16, **TINY}


@pytest.fixture(autouse=True)
def _no_reexec(monkeypatch):
    monkeypatch.setenv("SAMPLECNN_NO_REEXEC", "1")


# -- the bad files -------------------------------------------------------------------
def _cut(path: Path, fraction: float) -> Path:
    """Write a 0.5 s tone in ``path``'s format, then keep only ``fraction`` of its bytes."""
    write_audio(path, tone(440, 4000, SR), SR)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _with_value(path: Path, value: float) -> Path:
    y = tone(440, 4000, SR)
    y[2000] = value
    write_audio(path, y, SR, subtype="FLOAT")
    return path


def _unreadable(path: Path) -> Path:
    write_audio(path, tone(440, 1600, SR), SR)
    path.chmod(0)
    return path


def _symlink(path: Path, target: str) -> Path:
    os.symlink(target, path)
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _samples(path: Path, n: int, sr: int) -> Path:
    write_audio(path, np.zeros(n, np.float32), sr)
    return path


#: kind -> (how to make it in a folder, the cause the error must give, where decoding
#: fails: "header" (audio_info refuses it) or "body" (the header reads, the data does not))
BAD = {
    "missing": (lambda d: d / "missing.wav", "file not found", "header"),
    "directory": (lambda d: _folder(d / "folder.wav"), "is a directory", "header"),
    "empty": (lambda d: _bytes(d / "empty.wav", b""), "empty file", "header"),
    "non_audio": (lambda d: _bytes(d / "text.wav", b"not audio at all " * 40),
                  "not a readable audio file", "header"),
    "truncated_wav": (lambda d: _cut(d / "cut.wav", 0.5), "truncated or corrupt", "header"),
    "truncated_flac": (lambda d: _cut(d / "cut.flac", 0.5), "corrupt audio data", "body"),
    "truncated_mp3": (lambda d: _cut(d / "cut.mp3", 0.5), "truncated or corrupt", "body"),
    "truncated_ogg": (lambda d: _cut(d / "cut.ogg", 0.9), "truncated or corrupt file",
                      "body"),
    "nan_wav": (lambda d: _with_value(d / "nan.wav", np.nan), "NaN or infinite", "body"),
    "inf_wav": (lambda d: _with_value(d / "inf.wav", np.inf), "NaN or infinite", "body"),
    "resample_to_zero": (lambda d: _samples(d / "two.wav", 2, 44100),
                         "resample to 0 samples", "body"),
    "zero_frames": (lambda d: _samples(d / "zero.wav", 0, SR), "no audio samples", "body"),
    "symlink_loop": (lambda d: _symlink(d / "loop.wav", "loop.wav"), "symbolic link loop",
                     "header"),
    "broken_symlink": (lambda d: _symlink(d / "broken.wav", "nowhere.wav"),
                       "broken symbolic link", "header"),
    "permission_denied": (lambda d: _unreadable(d / "locked.wav"), "permission denied",
                          "header"),
}
#: What the estimators, the transformer and the CLI meet in practice (all at once).
DECODE_KINDS = ["missing", "non_audio", "truncated_wav", "truncated_flac", "truncated_mp3",
                "truncated_ogg", "nan_wav", "inf_wav", "resample_to_zero"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def bad(root) -> dict[str, str]:
    folder = root / "bad"
    folder.mkdir()
    out = {}
    for kind, (make, _, _) in BAD.items():
        if kind == "permission_denied" and IS_ROOT:
            continue
        out[kind] = str(make(folder))
    return out


@pytest.fixture(scope="module")
def good(root) -> tuple[list[str], np.ndarray]:
    """6 WAV files at 8 kHz (0.2 s), two classes told apart by pitch."""
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(6):
        label = "low" if i % 2 == 0 else "high"
        p = root / "good" / label / f"clip{i}.wav"
        write_audio(p, tone(300 if label == "low" else 1500, 1600, SR, rng=rng), SR)
        paths.append(str(p))
        labels.append(label)
    return paths, np.array(labels)


@pytest.fixture(scope="module")
def clf(good):
    paths, labels = good
    return SampleCNNClassifier(**{**FAST, "max_epochs": 2}).fit(paths, labels)


@pytest.fixture(scope="module")
def tagger(good):
    paths, labels = good
    Y = np.stack([labels == "low", labels == "high", np.arange(6) % 3 == 0], axis=1)
    return SampleCNNTagger(**FAST).fit(paths, Y.astype(int))


@pytest.fixture(scope="module")
def model_file(clf, root):
    return save_pretrained(clf, root / "clf.samplecnn")


def _messages(caught) -> str:
    return "\n".join(str(w.message) for w in caught)


# -- load_audio: every fault names the file and the real cause --------------------------
@pytest.mark.parametrize("kind", list(BAD))
def test_load_audio_names_the_file_and_the_cause(bad, kind):
    if kind not in bad:
        pytest.skip("root reads any file: no permission error to provoke")
    path, (_, cause, where) = bad[kind], BAD[kind]
    with pytest.raises(AudioLoadError, match=cause) as err:
        load_audio(path, sr=SR)
    assert isinstance(err.value, OSError) and err.value.path == path
    assert str(err.value).startswith(f"{path}: ")
    if where == "body":  # the header reads: only decoding finds the fault
        audio_info(path)


# -- the error policies of the estimators and the transformer ---------------------------
@pytest.mark.parametrize("kind", DECODE_KINDS)
@pytest.mark.parametrize("entry", ["fit", "predict", "transform"])
def test_raise_policy_names_the_file(good, bad, clf, model_file, entry, kind):
    paths, labels = good
    X = [paths[0], bad[kind], paths[1]]
    with pytest.raises(AudioLoadError, match=BAD[kind][1]) as err:
        if entry == "fit":
            SampleCNNClassifier(**FAST).fit(X, ["low", "low", "high"])
        elif entry == "predict":
            clf.predict_proba(X)
        else:
            MultiScaleFeatureTransformer(extractors=[str(model_file)]).fit(X).transform(X)
    assert bad[kind] in str(err.value)


def test_fit_lists_every_unreadable_header_at_once(good, bad):
    paths, labels = good
    header = [bad[k] for k in DECODE_KINDS if BAD[k][2] == "header"]
    with pytest.raises(AudioLoadError) as err:
        SampleCNNClassifier(**FAST).fit([*paths, *header], [*labels, *["low"] * len(header)])
    assert all(p in str(err.value) for p in header)


@pytest.mark.parametrize("cls", [SampleCNNClassifier, SampleCNNTagger])
def test_fit_skip_trains_on_the_good_files(good, bad, cls):
    paths, labels = good
    failed = [bad[k] for k in DECODE_KINDS]
    est = cls(**{**FAST, "on_error": "skip"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit([*paths, *failed], [*labels, *["low", "high"] * 4, "low"])
    assert sorted(est.failed_files_) == sorted(failed)
    text = _messages(caught)
    for kind in DECODE_KINDS:  # each file named, with its cause
        assert bad[kind] in text and BAD[kind][1] in text, kind
    assert all(torch.isfinite(p).all() for p in est.module_.parameters())
    assert "train_loss" in est.history_[-1] and np.isfinite(est.history_[-1]["train_loss"])
    assert np.isfinite(est.predict_proba(paths)).all()


@pytest.mark.parametrize("output", ["classifier", "tagger", "segments"])
def test_predict_skip_keeps_every_good_row(good, bad, clf, tagger, output):
    paths, _ = good
    failed = [bad[k] for k in DECODE_KINDS]
    X = [paths[0], *failed, *paths[1:]]
    est = clone_with(clf if output != "tagger" else tagger, on_error="skip")
    with pytest.warns(UserWarning, match=f"{len(failed)} of {len(X)} clips") as caught:
        if output == "segments":
            seg = est.predict_proba_segments(X)
        else:
            proba, labels = est.predict_proba(X), est.predict(X)
    assert est.failed_files_ == failed and all(p in _messages(caught) for p in failed)
    if output == "segments":
        ref = est.predict_proba_segments(paths)
        assert set(seg.path) == set(paths)
        np.testing.assert_allclose(seg.proba, ref.proba)
        np.testing.assert_array_equal(seg.start, ref.start)
        return
    keep = [0, *range(1 + len(failed), len(X))]
    np.testing.assert_allclose(proba[keep], est.predict_proba(paths))
    assert np.isnan(proba[1:1 + len(failed)]).all()
    if output == "classifier":
        assert all(v is None for v in labels[1:1 + len(failed)])
        assert set(labels[keep]) <= {"low", "high"}
    else:
        assert (labels[1:1 + len(failed)] == -1).all() and set(labels[keep].ravel()) <= {0, 1}


def clone_with(est, **params):
    """A fitted estimator's copy with other prediction settings (no refit)."""
    import copy

    return copy.deepcopy(est).set_params(**params)


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


def test_short_clip_with_short_error_names_the_clip(good, root):
    paths, labels = good
    write_audio(root / "short.wav", tone(440, 40, SR), SR)  # 40 samples < 81
    X = [*paths, str(root / "short.wav")]
    with pytest.raises(ClipTooShortError, match="short.wav: the clip has 40 samples"):
        SampleCNNClassifier(**{**FAST, "short": "error"}).fit(X, [*labels, "low"])
    with pytest.raises(ClipTooShortError, match=r"X\[1\]: the clip has 40 samples"):
        SampleCNNClassifier(**{**FAST, "short": "error"}).fit(
            [np.zeros(200, np.float32), np.zeros(40, np.float32)], [0, 1])


def test_prediction_pads_a_short_clip(clf, good, root):
    write_audio(root / "short2.wav", tone(440, 40, SR), SR)
    est = clone_with(clf, short="error")
    assert np.isfinite(est.predict_proba([good[0][0], str(root / "short2.wav")])).all()


# -- parameters: each bad value names the parameter and repeats the value ---------------
X4 = np.zeros((4, 200), dtype=np.float32)
PARAMS = [
    (SampleCNNClassifier, {"sr": 0}, "sr", "0"),
    (SampleCNNClassifier, {"tail": "wrap"}, "tail", "'wrap'"),
    (SampleCNNClassifier, {"on_error": "ignore"}, "on_error", "'ignore'"),
    (SampleCNNClassifier, {"threads": 0}, "threads", "0"),
    (SampleCNNClassifier, {"checkpoint_dir": 5}, "checkpoint_dir", "5"),
    (SampleCNNClassifier, {"batch_size": 1}, "batch_size", "1"),
    (SampleCNNClassifier, {"segment_mode": "sliding"}, "segment_mode", "'sliding'"),
    (SampleCNNClassifier, {"class_weight": "even"}, "class_weight", "'even'"),
    (SampleCNNTagger, {"threshold": 1.5}, "threshold", "1.5"),
    (SampleCNNTagger, {"aggregate": "median"}, "aggregate", "'median'"),
    (MultiScaleFeatureTransformer, {"on_error": "ignore"}, "on_error", "'ignore'"),
    (MultiScaleFeatureTransformer, {"batch_size": 0}, "batch_size", "0"),
    (MultiScaleFeatureTransformer, {"cache_key": "mtime"}, "cache_key", "'mtime'"),
    (MultiScaleFeatureTransformer, {"short": "error"}, "short", "'error'"),
    (MultiScaleFeatureTransformer, {"pooling": "median"}, "pooling", "'median'"),
    (MultiScaleFeatureTransformer, {"cache_dir": ""}, "cache_dir", "empty string"),
]


@pytest.mark.parametrize("cls, params, name, value", PARAMS,
                         ids=[f"{c.__name__}-{n}" for c, _, n, _ in PARAMS])
def test_bad_parameter_names_itself(model_file, cls, params, name, value):
    if cls is MultiScaleFeatureTransformer:
        est, fit = cls(extractors=[str(model_file)], **params), lambda e: e.fit(X4)
    else:
        est, fit = cls(**{**FAST, **params}), lambda e: e.fit(X4, [0, 1, 0, 1])
    with pytest.raises(ValueError) as err:
        fit(est)
    assert name in str(err.value) and value in str(err.value)


# -- arrays and training numerics ---------------------------------------------------------
def test_int16_waveforms_are_scaled_like_files(clf):
    pcm = (tone(440, 800, SR) * 32767).astype(np.int16)[None].repeat(2, axis=0)
    np.testing.assert_allclose(clf.predict_proba(pcm), clf.predict_proba(pcm / 32768.0),
                               rtol=1e-5, atol=1e-6)


def test_loud_waveforms_warn(clf):
    with pytest.warns(UserWarning, match="amplitude 1e\\+06"):
        clf.predict_proba(np.full((2, 200), 1e6, np.float32))


def test_divergence_keeps_finite_weights():
    X = np.random.default_rng(0).normal(size=(6, 200)).astype(np.float32)
    clf = SampleCNNClassifier(**{**FAST, "lr": 1e38, "max_epochs": 3})
    with pytest.raises(FloatingPointError, match="diverged"):
        clf.fit(X, [0, 1] * 3)
    assert all(torch.isfinite(p).all() for p in clf.module_.parameters())
    assert np.isfinite(clf.predict_proba(X)).all()


def test_adam_takes_no_sgd_defaults():
    X = np.random.default_rng(0).normal(size=(6, 200)).astype(np.float32)
    clf = SampleCNNClassifier(**{**FAST, "optimizer": torch.optim.Adam, "lr": 1e-3}).fit(
        X, [0, 1] * 3)
    assert isinstance(clf.optimizer_, torch.optim.Adam)
    assert "momentum" not in clf.optimizer_.param_groups[0]


# -- interruption and resumption in Python -------------------------------------------------
class _At(Callback):
    """Run ``action(net)`` at the end of epoch ``epoch``."""

    def __init__(self, epoch, action):
        self.epoch = epoch
        self.action = action

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            self.action(net)


def _sigint(net):
    os.kill(os.getpid(), signal.SIGINT)


def _stop(net):
    raise KeyboardInterrupt  # how skorch callbacks (EarlyStopping) end training


def _crash(net):
    raise RuntimeError("power cut")


XR = (np.random.default_rng(1).normal(size=(10, 300)) * 0.3).astype(np.float32)
YR = np.arange(10) % 2
RESUME = {**FAST, "max_epochs": 5, "train_split": 0.2, "lr": 0.05}


def test_ctrl_c_in_fit_is_visible():
    clf = SampleCNNClassifier(**{**RESUME, "callbacks": [_At(2, _sigint)]})
    with pytest.warns(UserWarning, match="interrupted \\(Ctrl-C\\) in epoch 2"):
        clf.fit(XR, YR)
    assert clf.interrupted_ and clf.history_[-1]["interrupted"] is True
    assert len(clf.history_) == 2


def test_a_callbacks_stop_is_no_interruption():
    clf = SampleCNNClassifier(**{**RESUME, "callbacks": [_At(2, _stop)]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(XR, YR)
    assert not clf.interrupted_ and "interrupted" not in clf.history_[-1]
    assert "interrupted" not in _messages(caught) and len(clf.history_) == 2


def test_fit_resumes_from_its_checkpoint_with_the_same_weights(tmp_path):
    ref = SampleCNNClassifier(**RESUME).fit(XR, YR)
    crashing = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path,
                                   callbacks=[_At(3, _crash)])
    with pytest.raises(RuntimeError, match="power cut"):
        crashing.fit(XR, YR)
    resumed = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path).fit(XR, YR)
    assert len(resumed.history_) == 5
    for (name, a), b in zip(ref.module_.state_dict().items(),
                            resumed.module_.state_dict().values()):
        assert torch.equal(a, b), name
    # a finished run is restored without training
    again = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path).fit(XR, YR)
    np.testing.assert_array_equal(again.predict_proba(XR), resumed.predict_proba(XR))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the foreign file's bytes
@pytest.mark.parametrize("change", ["data", "settings", "foreign-file"])
def test_a_checkpoint_of_another_run_is_refused(tmp_path, change):
    SampleCNNClassifier(**{**RESUME, "max_epochs": 1}, checkpoint_dir=tmp_path).fit(XR, YR)
    if change == "foreign-file":
        (tmp_path / "checkpoint.pt").write_bytes(b"\x80\x04not a checkpoint")
    params = {**RESUME, "max_epochs": 1, "lr": 0.1 if change == "settings" else 0.05}
    with pytest.raises(SampleCNNError, match=re.escape(str(tmp_path / "checkpoint.pt"))):
        SampleCNNClassifier(**params, checkpoint_dir=tmp_path).fit(
            XR[::-1] if change == "data" else XR, YR)


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


def test_unwritable_audio_cache_warns_and_trains(good, tmp_path):
    paths, labels = good
    (tmp_path / "file").write_text("x")
    clf = SampleCNNClassifier(**FAST, audio_cache=str(tmp_path / "file" / "audio"))
    with pytest.warns(RuntimeWarning, match="audio cache .* cannot be written"):
        clf.fit(paths, labels)
    assert np.isfinite(clf.predict_proba(paths)).all()


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


# -- model files: refused by load_pretrained and by every command ----------------------------
def _flip_last_byte(src, dst):
    raw = bytearray(Path(src).read_bytes())
    raw[-1] ^= 0xFF
    Path(dst).write_bytes(bytes(raw))


def _unsealed_edit(src, dst):
    _rewrite(src, dst, _set("labels", ["high", "rock"]), reseal=False)


def _huge(src, dst):
    _rewrite(src, dst, lambda c: c["module_config"].update(channels=[2500] * 5))


def _foreign(src, dst):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(dst))


MODEL_FAULTS = {
    "pickle": (lambda s, d: torch.save({"w": torch.zeros(2)}, d), "pickled checkpoints"),
    "empty": (lambda s, d: Path(d).write_bytes(b""), "not a safetensors"),
    "truncated": (lambda s, d: Path(d).write_bytes(Path(s).read_bytes()[:300]),
                  "not a safetensors"),
    "weights_edited": (_flip_last_byte, "weights changed since saving"),
    "header_edited": (_unsealed_edit, "config changed since saving"),
    "huge_channels": (_huge, "2500"),
    "foreign_safetensors": (_foreign, "no sklearn-samplecnn config"),
}


@pytest.mark.parametrize("route", ["load_pretrained", "info", "predict", "extract"])
@pytest.mark.parametrize("fault", list(MODEL_FAULTS))
def test_bad_model_file_is_refused(model_file, good, tmp_path, capsys, fault, route):
    make, message = MODEL_FAULTS[fault]
    path = tmp_path / "bad.samplecnn"
    make(model_file, path)
    if route == "load_pretrained":
        with pytest.raises(PretrainedFileError, match=message) as err:
            load_pretrained(path)
        assert str(err.value).startswith(f"{path}: ")
        return
    out = tmp_path / "out.csv"
    argv = {"info": ["info", path], "predict": ["predict", path, good[0][0], "-o", out],
            "extract": ["extract", "-m", path, good[0][0], "-q", "-o", out]}[route]
    code, _, err = cli(capsys, *argv)
    assert code == 1 and err.startswith(f"samplecnn: error: {path}: ") and message in err
    assert "Traceback" not in err and not out.exists()


# -- the command line ---------------------------------------------------------------------------
def cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli_module.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mixed(good, tmp_path):
    """A class-folder tree of the 6 good files plus a cut FLAC and a WAV holding NaN:
    both pass the header check and fail while decoding."""
    folder = tmp_path / "mixed"
    for p in good[0]:
        dst = folder / Path(p).parent.name / Path(p).name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst)
    bad = [str(BAD["truncated_flac"][0](folder / "low")), str(BAD["nan_wav"][0](folder / "high"))]
    good_paths = sorted(str(p) for p in folder.rglob("clip*.wav"))
    return folder, good_paths, bad


def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_cli_predict_keeps_the_good_predictions(model_file, mixed, tmp_path, capsys):
    folder, good_paths, bad = mixed
    out = tmp_path / "p.csv"
    code, _, err = cli(capsys, "predict", model_file, folder, "-o", out)
    assert code == 1 and any(p in err for p in bad) and not out.exists()  # nothing written
    code, _, err = cli(capsys, "predict", model_file, folder, "--on-error", "skip", "-o", out)
    assert code == 0, err
    rows = read_csv(out)
    assert sorted(r[0] for r in rows[1:]) == good_paths
    for p, cause in zip(bad, ["corrupt audio data", "contains NaN or infinite"]):
        assert f"{p}: {cause}" in err
    assert "2 of 8 files could not be decoded and are left out" in err
    ref = from_pretrained(load_pretrained(model_file)).predict_proba([r[0] for r in rows[1:]])
    np.testing.assert_allclose([[float(v) for v in r[2:]] for r in rows[1:]], ref, atol=1e-5)


@pytest.mark.parametrize("on_error", ["skip", "zeros"])
def test_cli_extract_keeps_the_good_rows(model_file, mixed, tmp_path, capsys, on_error):
    folder, good_paths, bad = mixed
    out = tmp_path / "f.npy"
    code, _, err = cli(capsys, "extract", "-m", model_file, folder, "-q", "-o", out)
    assert code == 1 and any(p in err for p in bad) and not out.exists()
    code, _, err = cli(capsys, "extract", "-m", model_file, folder, "-q", "--on-error",
                       on_error, "-o", out)
    assert code == 0, err
    X = np.load(out)
    rows = [r[0] for r in read_csv(tmp_path / "f.rows.csv")[1:]]
    assert len(rows) == len(X) == 8 and all(p in err for p in bad)
    failed = np.array([r in bad for r in rows])
    assert (X[failed] == 0).all() if on_error == "zeros" else np.isnan(X[failed]).all()
    ref = MultiScaleFeatureTransformer(extractors=[str(model_file)]).fit(good_paths)
    order = [rows.index(p) for p in good_paths]
    np.testing.assert_allclose(X[order], ref.transform(good_paths), rtol=1e-5, atol=1e-6)


def test_cli_train_skips_files_that_fail_mid_body(mixed, tmp_path, capsys):
    folder, _, bad = mixed
    out = tmp_path / "m.samplecnn"
    argv = ["train", folder, "--sizes", "3-3-3-3", "--channels", "4,4,4,4,4", "--sr", "8000",
            "--epochs", "1", "-q", "--valid-fraction", "0", "-o", out]
    code, _, err = cli(capsys, *argv)
    assert code == 1 and any(p in err for p in bad) and not out.exists()
    code, stdout, err = cli(capsys, *argv, "--on-error", "skip")
    assert code == 0, err
    assert all(p in err for p in bad) and "corrupt audio data" in err
    assert "skipped 2 files" in stdout
    assert load_pretrained(out).config["training"]["n_clips"] == 6


def test_cli_taggram_per_segment_and_per_file(model_file, mixed, tmp_path, capsys):
    folder, good_paths, bad = mixed
    code, _, err = cli(capsys, "predict", model_file, folder, "--on-error", "skip",
                       "--per-segment", "-o", tmp_path / "seg.csv")
    assert code == 0, err
    rows = read_csv(tmp_path / "seg.csv")
    assert rows[0] == ["path", "start", "end", "label", "prob_high", "prob_low"]
    ref = from_pretrained(load_pretrained(model_file)).predict_proba_segments(good_paths)
    assert sorted(r[0] for r in rows[1:]) == sorted(ref.path)
    first = [r for r in rows[1:] if r[0] == good_paths[0]]
    assert [float(r[1]) for r in first] == pytest.approx(ref.start[ref.path == good_paths[0]])
    assert float(first[0][2]) == pytest.approx(81 / SR)
    code, _, err = cli(capsys, "predict", model_file, folder, "--on-error", "skip",
                       "--per-file", tmp_path / "per")
    assert code == 0, err
    made = sorted(str(p.relative_to(tmp_path / "per")) for p in (tmp_path / "per").rglob("*"))
    assert made == sorted(["high", "low", *(str(Path(p).relative_to(folder)) + ".csv"
                                            for p in good_paths)])
    own = tmp_path / "per" / f"{Path(good_paths[0]).relative_to(folder)}.csv"
    assert read_csv(own) == [rows[0], *first]


def test_cli_extract_per_segment_parquet_and_odd_names(model_file, good, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    odd = tmp_path / "line\nbreak, \"quoted\".wav"
    shutil.copy(good[0][0], odd)
    files = [str(odd), good[0][1]]
    for name in ("f.npy", "f.csv", "f.parquet"):
        code, _, err = cli(capsys, "extract", "-m", model_file, *files, "-q", "-o",
                           tmp_path / name)
        assert code == 0, err
    X = np.load(tmp_path / "f.npy")
    assert [r[0] for r in read_csv(tmp_path / "f.rows.csv")[1:]] == files
    assert [r[0] for r in read_csv(tmp_path / "f.csv")[1:]] == files
    table = pd.read_parquet(tmp_path / "f.parquet")
    assert list(table["path"]) == files
    np.testing.assert_array_equal(table.iloc[:, 1:].to_numpy(np.float32), X)
    code, _, err = cli(capsys, "extract", "-m", model_file, *files, "-q", "--per-segment",
                       "-o", tmp_path / "s.parquet")
    assert code == 0, err
    seg = pd.read_parquet(tmp_path / "s.parquet")
    # 19 whole segments and one ending with the clip, per file
    assert list(seg.columns[:3]) == ["path", "start", "end"] and len(seg) == 2 * 20
    (ref,) = MultiScaleFeatureTransformer(extractors=[str(model_file)]).fit(files) \
        .transform_segments(files)
    np.testing.assert_allclose(seg.iloc[:, 3:].to_numpy(np.float32), ref.features, rtol=1e-6)
    np.testing.assert_allclose(seg["end"], ref.end)
    code, _, err = cli(capsys, "extract", "-m", model_file, *files, "-q", "--per-file",
                       tmp_path / "per")
    assert code == 0, err
    made = sorted((tmp_path / "per").rglob("*.csv"))
    assert [p.name for p in made] == sorted(f"{Path(f).name}.csv" for f in files)
    for f in made:
        table = pd.read_csv(f)
        assert list(table.columns[:3]) == ["path", "start", "end"] and len(table) == 20
        assert table["path"].nunique() == 1 and table["path"][0] in files


def test_cli_outputs_are_atomic_and_replacement_is_said(model_file, good, tmp_path, capsys,
                                                       monkeypatch):
    out = tmp_path / "p.csv"
    assert cli(capsys, "predict", model_file, good[0][0], "-o", out)[0] == 0
    code, _, err = cli(capsys, "predict", model_file, *good[0][:2], "-o", out)
    assert code == 0 and "(replaced the existing file)" in err and len(read_csv(out)) == 3
    before = out.read_bytes()

    def rows():
        yield ["a", 1]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_csv(out, ["path", "x"], rows())
    assert out.read_bytes() == before and os.listdir(tmp_path) == ["p.csv"]
    # Ctrl-C while extracting: exit 130, no file

    def ctrl_c(self, X):
        raise KeyboardInterrupt

    monkeypatch.setattr(MultiScaleFeatureTransformer, "transform", ctrl_c)
    code, _, err = cli(capsys, "extract", "-m", model_file, good[0][0], "-q", "-o",
                       tmp_path / "f.npy")
    assert code == 130 and "interrupted" in err and os.listdir(tmp_path) == ["p.csv"]


@pytest.mark.parametrize("argv, message", [
    (["extract", "-m", "{m}", "{a}", "--cache-dir", "", "-o", "{t}/f.npy"], "--cache-dir"),
    (["extract", "-m", "{m}", "-m", "{m}", "{a}", "--per-segment", "-o", "{t}/f.npy"],
     "take one --model"),
    (["predict", "{m}", "{a}", "-o", "{t}/p.csv", "--per-file", "{t}/d"], "not allowed with"),
    (["train", "{t}", "-o", "{t}"], "is a folder"),
    (["predict", "{m}", "{a}", "--threads", "0"], "--threads"),
])
def test_cli_usage_faults(model_file, good, tmp_path, capsys, argv, message):
    fill = {"m": model_file, "a": good[0][0], "t": tmp_path}
    code, _, err = cli(capsys, *(a.format(**fill) for a in argv))
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_threads_reach_torch(model_file, good, tmp_path, capsys, monkeypatch):
    seen = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (seen.append(n), real(n)))
    for argv in (["predict", model_file, good[0][0], "-o", tmp_path / "p.csv"],
                 ["extract", "-m", model_file, good[0][0], "-q", "-o", tmp_path / "f.npy"]):
        seen.clear()
        assert cli(capsys, *argv, "--threads", "3")[0] == 0
        assert 3 in seen and torch.get_num_threads() == 1  # set while running, then restored


def test_cli_log_has_no_colour_codes_when_not_a_terminal(mixed, tmp_path, capsys):
    folder = mixed[0]
    for p in mixed[2]:
        os.remove(p)
    code, out, err = cli(capsys, "train", folder, "--sizes", "3-3-3-3", "--channels",
                         "4,4,4,4,4", "--sr", "8000", "--epochs", "2", "-o",
                         tmp_path / "m.samplecnn")
    assert code == 0, err
    assert "train_loss" in out and "\x1b[" not in out + err


# -- Ctrl-C and kill -9 during `samplecnn train` (subprocesses) ---------------------------------
def _train_argv(folder, out, *extra) -> list[str]:
    return [sys.executable, "-m", "sklearn_samplecnn.cli", "train", str(folder), "--sizes",
            "3-3-3-3", "--channels", "4,4,4,4,4", "--sr", "8000", "--seed", "0", "--threads",
            "1", "--audio-cache", "memory", "-q", "-o", str(out), *map(str, extra)]


def _env() -> dict:
    return {**os.environ, "SAMPLECNN_NO_REEXEC": "1"}


def _checkpoint(folder: Path) -> dict | None:
    """The checkpoint's epoch count and completeness, or None while there is none."""
    path = folder / "checkpoint.pt"
    if not path.exists():
        return None
    state = torch.load(path, weights_only=True)  # written atomically: never half a file
    return {"epochs": len(json.loads(state["history"])), "complete": state["complete"]}


def _wait_for(proc, folder: Path, epochs: int, timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = _checkpoint(folder)
        if state is not None and state["epochs"] >= epochs:
            return state
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of epoch {epochs} after {timeout} s")


@pytest.fixture
def clips(tmp_path):
    """8 one-second clips of two classes: epochs long enough to interrupt."""
    rng = np.random.default_rng(0)
    for i in range(8):
        label = "low" if i % 2 else "high"
        write_audio(tmp_path / "clips" / label / f"c{i}.wav",
                    tone(300 if label == "low" else 1500, SR, SR, rng=rng), SR)
    return tmp_path / "clips"


@pytest.mark.parametrize("save", [False, True], ids=["no-model", "save-interrupted"])
def test_cli_train_ctrl_c_exits_130(clips, tmp_path, save):
    out = tmp_path / "m.samplecnn"
    argv = _train_argv(clips, out, "--epochs", "500", "--schedule", "none", "--checkpoint-dir",
                       tmp_path / "ckpt", *(["--save-interrupted"] if save else []))
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _wait_for(proc, tmp_path / "ckpt", 1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted (Ctrl-C)" in err and "rerun the same command to resume" in err
    assert out.exists() == save
    if save:
        assert load_pretrained(out).config["training"]["interrupted"] is True
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_train_resumes_after_kill_with_the_same_weights(clips, tmp_path, capsys):
    epochs = ["--epochs", "12"]
    ref = tmp_path / "ref.samplecnn"
    assert cli_module.main(_train_argv(clips, ref, *epochs)[3:]) == 0
    capsys.readouterr()
    out, ckpt = tmp_path / "m.samplecnn", tmp_path / "ckpt"
    argv = _train_argv(clips, out, *epochs, "--checkpoint-dir", ckpt)
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(proc, ckpt, 2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    killed = _checkpoint(ckpt)
    assert not out.exists() and killed["epochs"] >= 2 and not killed["complete"]
    proc = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"resuming from {ckpt / 'checkpoint.pt'}" in proc.stderr
    a, b = load_pretrained(ref), load_pretrained(out)
    for name, weights in a.module.state_dict().items():
        assert torch.equal(weights, b.module.state_dict()[name]), name
    assert b.config["training"]["epochs"] == a.config["training"]["epochs"] > killed["epochs"]
