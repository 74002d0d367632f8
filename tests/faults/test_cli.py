"""Faults met by the command line: bad files in predict, extract and train, atomic outputs,
usage errors, Ctrl-C and kill -9 during training (subprocesses)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_samplecnn import (
    MultiScaleFeatureTransformer,
    load_pretrained,
)
from sklearn_samplecnn import cli as cli_module
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.cli.output import write_csv
from sklearn_samplecnn.estimators import from_pretrained

from ..conftest import tone
from .conftest import BAD, SR, cli


# -- the command line ---------------------------------------------------------------------------
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
