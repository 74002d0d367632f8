"""Shared fixtures: tiny generated audio, tiny models, one torch thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_samplecnn.audio import write_audio

torch.set_num_threads(1)

#: The repository's root.
ROOT = Path(__file__).resolve().parents[1]

# A SampleCNN small enough for tests: input 81 samples, 4 filters per layer.
TINY = {"module__sizes": "3-3-3-3", "module__channels": [4, 4, 4, 4, 4]}


def tone(freq: float, n: int, sr: int, *, rng=None, noise=0.05) -> np.ndarray:
    """A sine with a little noise, float32."""
    t = np.arange(n) / sr
    y = 0.5 * np.sin(2 * np.pi * freq * t)
    if rng is not None:
        y = y + noise * rng.standard_normal(n)
    return y.astype(np.float32)


@pytest.fixture
def tone_files(tmp_path):
    """12 WAV files, 2 classes told apart by pitch (easy), at 8 kHz, 0.2 s each."""
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(12):
        label = "low" if i % 2 == 0 else "high"
        freq = (300 if label == "low" else 1500) * rng.uniform(0.9, 1.1)
        p = tmp_path / f"clip{i:02d}.wav"
        write_audio(p, tone(freq, 1600, 8000, rng=rng), 8000)
        paths.append(str(p))
        labels.append(label)
    return paths, np.array(labels)


def check_bad_file_rows_are_kept(make_transformer, paths, tmp_path) -> None:
    """A clip-feature transformer on [good, unreadable, good]: ``on_error="raise"`` names
    the file; ``"skip"`` (and the deprecated ``"zeros"``) fill its row, warn, list it and
    keep the good rows."""
    (tmp_path / "bad.wav").write_bytes(b"nope" * 100)
    X = [paths[0], str(tmp_path / "bad.wav"), paths[1]]
    feats = make_transformer().fit(X)
    with pytest.raises(OSError, match="bad.wav"):
        feats.transform(X)
    good = feats.transform([paths[0], paths[1]])
    for fill in ("zeros", "skip"):
        feats.set_params(on_error=fill)
        with pytest.warns(UserWarning, match="bad.wav"):
            out = feats.transform(X)
        assert feats.failed_files_ == [str(tmp_path / "bad.wav")]
        np.testing.assert_array_equal(out[[0, 2]], good)
        assert (out[1] == 0).all() if fill == "zeros" else np.isnan(out[1]).all()


# -- what practitioners fit first (estimators, transformers, clips, prediction tests) ------
#: A tiny, fast classifier fit.
FIT_FAST = dict(sr=8000, max_epochs=3, lr=0.05, verbose=0, random_state=0, **TINY)


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


#: A classifier of :class:`Linear81`, trained without a schedule.
LINEAR = dict(module=Linear81, sr=8000, max_epochs=5, lr=0.1, batch_size=64, train_split=None,
              schedule=None, verbose=0, random_state=0)


def waves(n=12, length=162, seed=0):
    """Two classes of tones, ``length`` samples at 8 kHz (two segments of 81 each)."""
    rng = np.random.default_rng(seed)
    X = np.stack([tone(300 if i % 2 else 1500, length, 8000, rng=rng) for i in range(n)])
    return X, np.where(np.arange(n) % 2, "low", "high")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A classifier fitted on 12 tone files (1600 samples each: 19 segments of 81)."""
    from sklearn_samplecnn import SampleCNNClassifier

    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("clips")
    paths, labels = [], []
    for i in range(12):
        label = "low" if i % 2 == 0 else "high"
        p = folder / f"clip{i:02d}.wav"
        write_audio(p, tone(300 if label == "low" else 1500, 1600, 8000, rng=rng), 8000)
        paths.append(str(p))
        labels.append(label)
    labels = np.array(labels)
    clf = SampleCNNClassifier(train_split=None, **FIT_FAST).fit(paths, labels)
    return clf, paths, labels


def run_script_json(args: list[str], tmp_path: Path, timeout: float = 300) -> dict:
    """A script's ``--quick`` mode in a subprocess, as CI and users run it (from the
    repository root, ``--out`` in ``tmp_path``); its JSON."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "result.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, *args, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert f"wrote {out}" in proc.stdout
    return json.loads(out.read_text())
