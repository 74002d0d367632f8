"""DistilledSampleCNN: a SampleCNN student trained on a teacher's outputs, no labels."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone

from sklearn_samplecnn import (
    DistilledSampleCNN,
    MultiScaleFeatureTransformer,
    SampleCNNTagger,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.estimators import TeacherWindows, from_pretrained
from sklearn_samplecnn.nn import MSD_TAGS

from .conftest import TINY

COMMON = dict(verbose=0, random_state=0, **TINY)


class WindowStats(TransformerMixin, BaseEstimator):
    """A cheap teacher: per waveform its length, first sample, RMS, peak and the energy of
    its first and second halves; counts the waveforms it saw (class-wide, across clones)."""

    seen = 0

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        type(self).seen += len(X)
        rows = []
        for x in X:
            x = np.asarray(x, dtype=np.float64)
            half = len(x) // 2
            rows.append([len(x), x[0], np.sqrt(np.mean(x ** 2)), np.abs(x).max(),
                         np.mean(x[:half] ** 2), np.mean(x[half:] ** 2)])
        return np.asarray(rows, dtype=np.float32)


def _clips(n=10, length=800, seed=0):
    """Waveforms at 8 kHz whose loudness and brightness vary: something to learn."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 8000
    out = []
    for _ in range(n):
        f, a = rng.uniform(200, 2000), rng.uniform(0.05, 0.6)
        out.append((a * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * 3 * t))
                    + 0.01 * rng.standard_normal(length)).astype(np.float32))
    return out


def test_student_learns_the_teachers_embedding():
    X = _clips(12)
    est = DistilledSampleCNN(WindowStats(), sr=8000, max_epochs=15, batch_size=8,
                             train_split=None, **COMMON).fit(X)
    losses = [h["train_loss"] for h in est.history_]
    assert losses[-1] < 0.6 * losses[0]
    # the first column (every window's length) is constant: left out of the loss
    assert 0 not in est.embedding_columns_ and len(est.embedding_columns_) == 5
    assert est.n_windows_ == 12 * (800 // 81)
    assert len(est.soft_columns_) == 0 and est.n_outputs_ == 1


def test_windows_are_centred_on_the_teachers_view():
    X = [np.arange(500, dtype=np.float32) / 1000]
    est = DistilledSampleCNN(WindowStats(), sr=8000, teacher_crop=41, max_epochs=1,
                             batch_size=2, train_split=None, **COMMON)
    clips, _, _ = est._prepare_fit(X, None, reset=True)
    rows = np.concatenate(est._targets)
    # windows of 81 samples at 0, 81, ...; the teacher sees samples 20..60 of each
    starts = np.arange(0, 500 - 81 + 1, 81)
    np.testing.assert_allclose(rows[:, 0], 41)
    np.testing.assert_allclose(rows[:, 1], (starts + 20) / 1000, rtol=1e-6)
    data = TeacherWindows(clips, est._targets, 81)
    assert len(data) == len(starts)
    item, target = data[2]
    np.testing.assert_allclose(item["x"].numpy(), np.arange(162, 243) / 1000, rtol=1e-6)
    np.testing.assert_array_equal(target.numpy(), rows[2])
    half = data.subset([0])
    assert isinstance(half, TeacherWindows) and len(half.targets) == len(half)


def test_feature_store_keeps_the_teachers_outputs(tmp_path):
    X = _clips(6)
    store = tmp_path / "store"
    kw = dict(sr=8000, max_epochs=1, batch_size=8, train_split=None, feature_store=store,
              **COMMON)
    WindowStats.seen = 0
    first = DistilledSampleCNN(WindowStats(), **kw).fit(X)
    assert WindowStats.seen == 6 * 9  # every window once
    second = DistilledSampleCNN(WindowStats(), **kw).fit(X)
    assert WindowStats.seen == 6 * 9  # read back: the teacher did not run
    for a, b in zip(first.module_.state_dict().values(), second.module_.state_dict().values()):
        torch.testing.assert_close(a, b)
    # another window setting is another entry
    DistilledSampleCNN(WindowStats(), hop_length=40, **kw).fit(X)
    assert WindowStats.seen == 6 * 9 + 6 * 18  # windows 40 samples apart
    assert not hasattr(second, "_targets")  # not kept after training (nor pickled)
    assert len(pickle.dumps(second)) < 2_000_000


def test_musicnn_teacher_gives_tags_and_a_tagger_file(tmp_path):
    rng = np.random.default_rng(0)
    X = [(0.2 * rng.standard_normal(16000 * 3)).astype(np.float32) for _ in range(3)]
    est = DistilledSampleCNN("MSD_musicnn", module__sizes="3-3-3-3-3-3-3",
                             module__channels=[4] * 8, max_epochs=1, batch_size=8,
                             train_split=None, verbose=0, random_state=0).fit(X)
    assert est.teacher_.tags_ == list(MSD_TAGS) and list(est.tags_) == list(MSD_TAGS)
    assert len(est.soft_columns_) == 50 and est.n_outputs_ == 50
    assert len(est.embedding_columns_) <= 1506 and est.module_.input_length == 2187
    proba = est.predict_proba(X)
    assert proba.shape == (3, 50) and ((proba > 0) & (proba < 1)).all()
    path = save_pretrained(est, tmp_path / "student.samplecnn")
    model = load_pretrained(path)
    assert model.config["task"] == "tagger" and model.labels == list(MSD_TAGS)
    assert "MusicnnTransformer" in model.config["training"]["distilled_from"]
    tagger = from_pretrained(model)
    assert isinstance(tagger, SampleCNNTagger)
    np.testing.assert_allclose(tagger.predict_proba(X), proba, rtol=1e-4, atol=1e-6)
    feats = MultiScaleFeatureTransformer(extractors=[str(path)]).fit(X)
    assert feats.transform(X).shape == (3, feats.n_features_out_)


def test_checkpoint_resume_restores_the_head(tmp_path):
    X = _clips(6)
    kw = dict(sr=8000, batch_size=8, train_split=None, checkpoint_dir=tmp_path / "ckpt",
              **COMMON)
    full = DistilledSampleCNN(WindowStats(), max_epochs=2, **kw).fit(X)
    again = DistilledSampleCNN(WindowStats(), max_epochs=2, **kw).fit(X)  # complete: restored
    for a, b in zip(full.head_.state_dict().values(), again.head_.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_bad_files_are_skipped_or_named(tmp_path):
    paths = []
    for k, y in enumerate(_clips(4)):
        paths.append(str(tmp_path / f"c{k}.wav"))
        write_audio(paths[-1], y, 8000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + b"\0" * 40)
    X = [paths[0], str(bad), *paths[1:]]
    kw = dict(sr=8000, max_epochs=1, batch_size=4, train_split=None, **COMMON)
    with pytest.raises(OSError, match="bad.wav"):
        DistilledSampleCNN(WindowStats(), **kw).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = DistilledSampleCNN(WindowStats(), on_error="skip", **kw).fit(X)
    assert est.failed_files_ == [str(bad)] and est.n_windows_ == 4 * (800 // 81)


def test_teacher_rate_and_parameters_are_checked():
    X = _clips(2, length=16000)
    with pytest.raises(ValueError, match="runs at 16000 Hz but the student at sr=8000"):
        DistilledSampleCNN("MSD_musicnn", sr=8000, max_epochs=1, **COMMON).fit(X)
    with pytest.raises(ValueError, match="teacher"):
        DistilledSampleCNN(object(), sr=8000, **COMMON).fit(X)
    with pytest.raises(TypeError, match="segment_mode"):
        DistilledSampleCNN(WindowStats(), segment_mode="random")
    with pytest.raises(ValueError, match="soft_targets=9 but the teacher gives 6 columns"):
        DistilledSampleCNN(WindowStats(), soft_targets=9, sr=8000, **COMMON).fit(X)
    est = DistilledSampleCNN(WindowStats(), sr=8000, max_epochs=1, **COMMON)
    assert clone(est).get_params()["teacher_crop"] == "auto"
    with pytest.raises(AttributeError, match="predict_proba"):
        est.predict(X)


SHIPPED_STUDENT = "samplecnn_musicnn_16k"

_FRESH_PROCESS = r"""
import socket, sys

def _refuse(*args, **kwargs):
    raise OSError("network access in an offline test")

socket.socket.connect = _refuse                      # no network: any download attempt fails
socket.create_connection = _refuse
import numpy as np
from sklearn_samplecnn import MultiScaleFeatureTransformer, load_pretrained, shipped_models

name = sys.argv[1]
assert name in shipped_models(), sorted(shipped_models())
model = load_pretrained(name)
print(model.config["name"], model.sample_rate, model.module.input_length,
      next(model.module.parameters()).dtype)
rng = np.random.default_rng(0)
clips = [(0.2 * rng.standard_normal(16000 * 5)).astype(np.float32) for _ in range(2)]
X = MultiScaleFeatureTransformer(extractors=[name]).fit_transform(clips)
print(X.shape, bool(np.isfinite(X).all()))
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.cli import main

write_audio("clip.wav", clips[0], 16000)
code = main(["extract", "--model", name, "clip.wav", "-o", "f.npy", "-q"])
print(code, np.load("f.npy").shape == (1, X.shape[1]))
"""


def test_shipped_student_loads_by_name_in_a_fresh_offline_process(tmp_path):
    """The distilled student ships in the package: a new process with the network cut
    loads it by name, as a transformer's extractor and from the command line."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, SHIPPED_STUDENT],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                              "SAMPLECNN_NO_REEXEC": "1", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    first, second, third = run.stdout.split("\n")[:3]
    assert first == f"{SHIPPED_STUDENT} 16000 59049 torch.float32"
    assert second.endswith("True") and second.startswith("(2, ")
    assert third == "0 True"  # samplecnn extract --model <name>: the same columns


def test_shipped_student_agrees_with_its_teacher(tmp_path):
    """The shipped student's tag scores follow musicnn's on music it was trained beside
    (generated clips; the held-out figure is in docs/models.md)."""
    from sklearn_samplecnn import MusicnnTransformer
    from sklearn_samplecnn.datasets import make_music

    model = load_pretrained(SHIPPED_STUDENT)
    assert model.config["task"] == "tagger" and model.labels == list(MSD_TAGS)
    assert model.config["training"]["weights"] == "float16"
    music = make_music(tmp_path, n_clips=4, task="genre", duration=8.0, sr=16000,
                       styles=["rock", "jazz"], random_state=5)
    student = from_pretrained(model).predict_proba(music.filenames)
    t = MusicnnTransformer().fit(music.filenames).tag_scores(music.filenames)
    assert student.shape == t.shape == (4, 50)
    r = [np.corrcoef(a, b)[0, 1] for a, b in zip(student, t)]
    assert min(r) > 0.5, r
