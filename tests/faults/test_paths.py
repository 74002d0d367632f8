"""Fault injection, round three: paths that are not regular files, outputs that cannot be
written, a disk that fills at the end of a run, and Ctrl-C on a local Dask cluster.

No test here can hang on a regression: every read of a pipe or a device runs under a
watchdog (SIGALRM) whose exception is no ``OSError`` (which the code under test may
catch), and the fixed code refuses those paths before opening them. docs/reliability.md
lists what these tests guarantee.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sklearn_samplecnn import (
    AudioLoadError,
    MultiScaleFeatureTransformer,
    PretrainedFileError,
    SampleCNNClassifier,
    load_pretrained,
)
from sklearn_samplecnn._fileio import atomic_write
from sklearn_samplecnn.audio import audio_info, file_key, load_audio
from sklearn_samplecnn.exceptions import SampleCNNError
from sklearn_samplecnn.pretrained import PretrainedModel

from .conftest import FAST, SR, cli


class _Hang(BaseException):
    """Raised by the watchdog: not an OSError, so no ``except OSError`` swallows it."""


@contextlib.contextmanager
def no_hang(seconds: int = 30):
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``:
    a read of ``/dev/zero`` never ends, opening a FIFO waits for a writer."""
    def fire(signum, frame):
        raise _Hang(f"still running after {seconds} s: a read that never ends")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _fifo(folder: Path, name: str) -> str:
    path = folder / name
    os.mkfifo(path)
    return str(path)


def _device(folder: Path, name: str) -> str:
    path = folder / name
    os.symlink("/dev/zero", path)
    return str(path)


@pytest.fixture
def not_regular(tmp_path) -> dict[str, str]:
    """A FIFO and a link to /dev/zero named like audio files, and what each is."""
    if not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"):
        pytest.skip("needs POSIX FIFOs and /dev/zero")
    return {_fifo(tmp_path, "pipe.wav"): "named pipe (FIFO)",
            _device(tmp_path, "zero.wav"): "character device"}


# -- what is not a regular file is never read, and the error says what it is ----------------
def test_load_audio_says_what_a_non_regular_path_is(not_regular):
    for path, what in not_regular.items():
        for read in (lambda p: load_audio(p, sr=SR), audio_info):
            with no_hang(), pytest.raises(AudioLoadError, match=re.escape(what)) as err:
                read(path)
            assert str(err.value).startswith(f"{path}: is a ") and "empty" not in str(err.value)


def test_content_keys_never_read_a_device_or_a_pipe(not_regular, good, model_file, tmp_path):
    paths = good[0][:2]
    bad = list(not_regular)
    for path, what in not_regular.items():
        with no_hang(), pytest.raises(AudioLoadError, match=re.escape(what)):
            file_key(path, content=True)
    feats = MultiScaleFeatureTransformer(extractors=[str(model_file)], cache_dir=tmp_path / "c",
                                         cache_key="content", on_error="skip").fit(paths)
    with no_hang(), pytest.warns(UserWarning) as caught:
        out = feats.transform([paths[0], *bad, paths[1]])
    assert feats.failed_files_ == bad and np.isnan(out[1:3]).all()
    np.testing.assert_array_equal(out[[0, 3]], feats.transform(paths))
    text = "\n".join(str(w.message) for w in caught)
    assert all(f"{p}: is a {w}" in text for p, w in not_regular.items())


def test_feature_store_content_keys_never_read_a_device_or_a_pipe(not_regular, good,
                                                                  model_file, tmp_path):
    pytest.importorskip("pyarrow")
    from sklearn_samplecnn.features import read_feature_store, write_feature_store

    paths = [good[0][0], *not_regular, good[0][1]]
    feats = MultiScaleFeatureTransformer(extractors=[str(model_file)], on_error="skip",
                                         shard_size=2).fit(good[0][:2])
    with no_hang(), pytest.warns(UserWarning, match="character device"):
        done = write_feature_store(feats, paths, tmp_path / "store", key="content")
    assert done.failed_files == list(not_regular)
    back = read_feature_store(tmp_path / "store")
    assert back.file_keys[1:3] == [None, None] and all(back.file_keys[k] for k in (0, 3))
    assert [e.split(": is a ")[1][:10] for e in back.errors[1:3]] == ["named pipe", "character "]


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_model_loaders_say_what_a_non_regular_path_is(tmp_path, capsys, kind):
    if kind != "folder" and (not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero")):
        pytest.skip("needs POSIX FIFOs and /dev/zero")
    path = {"folder": lambda: str(tmp_path),
            "fifo": lambda: _fifo(tmp_path, "m.samplecnn"),
            "device": lambda: _device(tmp_path, "m.samplecnn")}[kind]()
    what = {"folder": "is a folder", "fifo": "is a named pipe (FIFO)",
            "device": "is a character device"}[kind]
    for load in (load_pretrained,
                 lambda p: PretrainedModel.from_state_dict(p, sample_rate=SR)):
        with no_hang(), pytest.raises(PretrainedFileError, match=re.escape(what)) as err:
            load(path)
        assert str(err.value).startswith(f"{path}: ")
    with no_hang():
        code, _, err = cli(capsys, "info", path)
    assert code == 2 and what in err and "Traceback" not in err


# -- outputs are checked before the first epoch or prediction -----------------------------------
@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if training, prediction or extraction starts."""
    def started(*args, **kwargs):
        raise AssertionError("work started before the outputs were checked")

    for name in ("fit", "predict_proba", "predict_proba_segments"):
        monkeypatch.setattr(SampleCNNClassifier, name, started)
    monkeypatch.setattr(MultiScaleFeatureTransformer, "fit", started)


OUTPUTS = [
    ("train", "-o", "{f}/m.samplecnn", "not a folder"),
    ("train", "--checkpoint-dir", "{f}/ckpt", "not a folder"),
    ("train", "--checkpoint-dir", "{f}", "is a file, not a folder"),
    ("train", "-o", "{t}", "is a folder"),
    ("predict", "-o", "{f}/p.csv", "not a folder"),
    ("predict", "--per-file", "{f}", "is a file, not a folder"),
    ("extract", "-o", "{f}/f.npy", "not a folder"),
    ("extract", "-o", "{f}/store/", "not a folder"),
    ("extract", "--per-file", "{f}/per", "not a folder"),
]


@pytest.mark.parametrize("command, option, target, problem", OUTPUTS,
                         ids=[f"{c}{o}-{t.split('/')[-1] or 'store'}" for c, o, t, _ in OUTPUTS])
def test_cli_checks_outputs_before_any_work(good, model_file, tmp_path, capsys, no_work,
                                            command, option, target, problem):
    afile = tmp_path / "afile.txt"
    afile.write_text("not a folder")
    target = target.format(f=afile, t=tmp_path)
    folder = Path(good[0][0]).parent.parent
    argv = {"train": ["train", folder, "--sizes", "3-3-3-3", "--channels", "4,4,4,4,4",
                      "--sr", "8000", "--epochs", "1", "-q",
                      *([] if option == "-o" else ["-o", tmp_path / "m.samplecnn"])],
            "predict": ["predict", model_file, *good[0][:2]],
            "extract": ["extract", "-m", model_file, *good[0][:2], "-q"]}[command]
    code, _, err = cli(capsys, *argv, option, target)
    assert code == 2, err
    assert err.startswith(f"samplecnn: error: {option if option != '-o' else '--output'} "
                          f"{str(target)!r}: ") and problem in err
    assert afile.read_text() == "not a folder" and sorted(os.listdir(tmp_path)) == ["afile.txt"]


def test_checkpoint_dir_is_checked_before_the_first_epoch(tmp_path):
    (tmp_path / "afile.txt").write_text("x")
    folder = tmp_path / "afile.txt" / "ckpt"
    clf = SampleCNNClassifier(**FAST, checkpoint_dir=folder)
    with pytest.raises(SampleCNNError, match=re.escape(f"checkpoint_dir {str(folder)!r}: ")) \
            as err:
        clf.fit(np.zeros((4, 200), np.float32), [0, 1, 0, 1])
    assert "afile.txt is a file, not a folder" in str(err.value)
    assert not getattr(clf, "history_", None)  # no epoch ran


# -- a failed write: the option and the path named, the trained model kept ---------------------
def _full_disk(real, target):
    """``atomic_write`` that fails like a full disk (an OSError naming no file) for
    ``target`` and works for every other path."""
    def write(path, *args, **kwargs):
        if os.path.abspath(path) == os.path.abspath(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, *args, **kwargs)
    return write


def test_atomic_write_names_the_path_of_a_failed_write(tmp_path):
    def fill(f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as err:
        atomic_write(tmp_path / "x.bin", fill)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "x.bin")
    assert str(tmp_path / "x.bin") in str(err.value) and os.listdir(tmp_path) == []


def test_cli_train_keeps_the_model_when_the_save_fails(good, tmp_path, capsys, monkeypatch):
    import sklearn_samplecnn.pretrained as pretrained

    out = tmp_path / "m.samplecnn"
    monkeypatch.setattr(pretrained, "atomic_write", _full_disk(pretrained.atomic_write, out))
    folder = Path(good[0][0]).parent.parent
    code, stdout, err = cli(capsys, "train", folder, "--sizes", "3-3-3-3", "--channels",
                            "4,4,4,4,4", "--sr", "8000", "--epochs", "1", "-q", "-o", out)
    assert code == 1 and not out.exists()
    assert f"--output {str(out)!r}: the model cannot be written (No space left on device" in err
    kept = Path(re.search(r"the trained model was saved to (\S+) instead", err).group(1))
    assert kept.parent == tmp_path and kept.name.startswith("m.unsaved-")
    model = load_pretrained(kept)
    assert model.labels == ["high", "low"] and model.config["training"]["epochs"] == 1


def test_a_checkpoint_that_cannot_be_written_warns_and_training_goes_on(tmp_path, monkeypatch):
    import sklearn_samplecnn.estimators.checkpoint as checkpoint

    target = tmp_path / "ckpt" / "checkpoint.pt"
    monkeypatch.setattr(checkpoint, "atomic_write", _full_disk(checkpoint.atomic_write, target))
    clf = SampleCNNClassifier(**{**FAST, "max_epochs": 3}, checkpoint_dir=tmp_path / "ckpt")
    X = (np.random.default_rng(0).normal(size=(6, 300)) * 0.3).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="checkpoint.pt cannot be written") as caught:
        clf.fit(X, [0, 1] * 3)
    assert len([w for w in caught if "cannot be written" in str(w.message)]) == 1
    assert len(clf.history_) == 3 and np.isfinite(clf.predict_proba(X)).all()


@pytest.mark.parametrize("command", ["predict-o", "predict-per-file", "extract-npy",
                                     "extract-store"])
def test_cli_write_errors_name_the_option_and_the_path(good, model_file, tmp_path, capsys,
                                                       monkeypatch, command):
    import sklearn_samplecnn.cli.output as output
    import sklearn_samplecnn.features.store as store

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output, "atomic_write", full)
    monkeypatch.setattr(store, "atomic_write", full)
    if command == "extract-store":
        pytest.importorskip("pyarrow")
    option, target = {"predict-o": ("--output", tmp_path / "p.csv"),
                      "predict-per-file": ("--per-file", tmp_path / "per"),
                      "extract-npy": ("--output", tmp_path / "f.npy"),
                      "extract-store": ("--output", f"{tmp_path / 'store'}/")}[command]
    argv = (["predict", model_file] if command.startswith("predict") else
            ["extract", "-m", model_file, "-q"])
    code, _, err = cli(capsys, *argv, *good[0][:2], "-o" if option == "--output" else option,
                       target)
    assert code == 1 and "Traceback" not in err
    assert f"samplecnn: error: {option} {str(target)!r}: cannot be written (No space left " \
           "on device" in err


# -- Ctrl-C on a local Dask cluster ------------------------------------------------------------
_SLOW_EXTRACT = """
import sys, time
from sklearn_samplecnn.features import MultiScaleFeatureTransformer

def slow(self, X):
    print("WORKING", file=sys.stderr, flush=True)
    time.sleep(300)

MultiScaleFeatureTransformer.transform = slow
from sklearn_samplecnn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_extract_on_a_local_cluster_exits_130_quietly_on_ctrl_c(good, model_file,
                                                                     tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: the command, and every
    worker of its local cluster (here the work itself is replaced by a long sleep in the
    command's process, while the cluster and its workers are up)."""
    pytest.importorskip("distributed")
    argv = [sys.executable, "-c", _SLOW_EXTRACT, "extract", "-m", str(model_file),
            *good[0][:2], "--dask", "local", "--dask-workers", "1", "--threads", "1",
            "-o", str(tmp_path / "f.npy")]
    # a terminal's command has Ctrl-C's default action, even when this suite runs as a
    # background job (`make test &`), whose children inherit SIGINT ignored
    proc = subprocess.Popen(argv, env={**os.environ, "SAMPLECNN_NO_REEXEC": "1"},
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []

    def read() -> None:  # never blocks the test: a start that hangs ends at the deadline
        for line in proc.stderr:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        end = time.monotonic() + 120  # the cluster is up and the work has started
        while "WORKING" not in "".join(lines) and proc.poll() is None \
                and time.monotonic() < end:
            time.sleep(0.1)
        assert "WORKING" in "".join(lines), "".join(lines)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=90)
        reader.join(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "samplecnn: interrupted (Ctrl-C)" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert not (tmp_path / "f.npy").exists()

