"""Logs that read well when standard error is not a terminal: whole lines (no carriage
returns, no cursor movement), no Dask nanny noise at exit, counts in the right number."""

from __future__ import annotations

import io
import logging
import time

import numpy as np
import pytest
import torch

from sklearn_samplecnn import MFCCStatsTransformer, MultiScaleFeatureTransformer, save_pretrained
from sklearn_samplecnn._progress import LineProgress, progress
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.cli import main
from sklearn_samplecnn.nn import SampleCNN

from .conftest import tone


def test_progress_lines_in_a_log():
    out = io.StringIO()
    bar = LineProgress(25, "features 3-9", file=out)
    for _ in range(25):
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    # every tenth of 25 (2 clips), then the end once
    assert [line.split(":")[1].split()[0] for line in lines] == [
        f"{n}/25" for n in (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25)]
    assert lines[-1].startswith("features 3-9: 25/25 clips (100%)")


def test_transformers_write_whole_lines_when_stderr_is_not_a_terminal(capsys, tmp_path):
    assert isinstance(progress(3, "x"), LineProgress)  # under capsys, not a terminal
    torch.manual_seed(0)
    model = SampleCNN("3-3-3", channels=[4] * 4, n_outputs=2).eval()
    X = np.random.default_rng(0).normal(size=(12, 270)).astype(np.float32)
    MultiScaleFeatureTransformer(extractors=[(model, 8000)], verbose=1).fit_transform(X)
    MFCCStatsTransformer(sr=8000, verbose=1).fit_transform(X)
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b[" not in err
    lines = err.splitlines()
    assert lines[-1].startswith("classic features: 12/12 clips (100%)")
    assert any(line.startswith("features 3-2: 12/12 clips (100%)") for line in lines)


def test_cli_counts_in_the_right_number(tmp_path, capsys, monkeypatch):
    from sklearn_samplecnn import SampleCNNClassifier

    monkeypatch.setenv("SAMPLECNN_NO_REEXEC", "1")
    X = np.stack([tone(300 * (1 + i % 2), 400, 8000) for i in range(4)])
    clf = SampleCNNClassifier(sr=8000, max_epochs=1, train_split=None, verbose=0,
                              random_state=0, module__sizes="3-3-3-3",
                              module__channels=[4] * 5).fit(X, ["a", "b", "a", "b"])
    save_pretrained(clf, tmp_path / "m.samplecnn")
    write_audio(tmp_path / "one.wav", X[0], 8000)
    code = main(["predict", str(tmp_path / "m.samplecnn"), str(tmp_path / "one.wav"),
                 "-o", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 0
    assert "predicting 1 file with" in err and "wrote 1 prediction to" in err


def test_stopping_a_busy_local_cluster_says_nothing(monkeypatch):
    pytest.importorskip("distributed")
    from sklearn_samplecnn.cli.commands import _dask_client

    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    keep = Keep(level=logging.WARNING)
    logging.getLogger("distributed.nanny").addHandler(keep)
    try:
        with _dask_client("local", 1, quiet=True) as client:
            client.submit(time.sleep, 60)  # still running when the cluster is stopped
            time.sleep(1.0)
    finally:
        logging.getLogger("distributed.nanny").removeHandler(keep)
    assert not [m for m in seen if "killing" in m or "killed" in m]
