"""The fault suite's bad files and fitted models, shared by every layer's faults.

Bad files are generated here: valid files written with libsndfile, then cut,
filled with NaN, or replaced by links and folders (:data:`BAD`).
docs/reliability.md lists what the suite guarantees.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from skorch.callbacks import Callback

from sklearn_samplecnn import (
    SampleCNNClassifier,
    SampleCNNTagger,
    save_pretrained,
)
from sklearn_samplecnn import cli as cli_module
from sklearn_samplecnn.audio import write_audio

from ..conftest import TINY, tone

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


class _At(Callback):
    """Run ``action(net)`` at the end of epoch ``epoch``."""

    def __init__(self, epoch, action):
        self.epoch = epoch
        self.action = action

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            self.action(net)


def _stop(net):
    raise KeyboardInterrupt  # how skorch callbacks (EarlyStopping) end training


def _crash(net):
    raise RuntimeError("power cut")


#: A tiny training set for interrupted and resumed runs.
XR = (np.random.default_rng(1).normal(size=(10, 300)) * 0.3).astype(np.float32)
YR = np.arange(10) % 2


def _messages(caught) -> str:
    return "\n".join(str(w.message) for w in caught)


def clone_with(est, **params):
    """A fitted estimator's copy with other prediction settings (no refit)."""
    import copy

    return copy.deepcopy(est).set_params(**params)


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli_module.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
