"""Data-parallel training through Hugging Face accelerate (the estimators' accelerator=)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

accelerate = pytest.importorskip("accelerate")

from sklearn_samplecnn import SampleCNNClassifier, SampleCNNTagger, save_pretrained  # noqa: E402
from sklearn_samplecnn.nn import SampleCNN  # noqa: E402

from .conftest import TINY  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """accelerate keeps one process-wide state; each test builds its own Accelerator."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


KW = dict(max_epochs=3, train_split=None, verbose=0, random_state=0, batch_size=8, **TINY)


def _data(n=24):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 81 * 2)).astype(np.float32), np.array(["a", "b"] * (n // 2))


def test_one_process_equals_the_plain_estimator():
    X, y = _data()
    plain = SampleCNNClassifier(**KW).fit(X, y)
    acc = SampleCNNClassifier(accelerator=accelerate.Accelerator(cpu=True), **KW).fit(X, y)
    assert type(acc.module_) is SampleCNN  # unwrapped after training
    for k, v in plain.module_.state_dict().items():
        torch.testing.assert_close(acc.module_.state_dict()[k], v, rtol=0, atol=0)
    np.testing.assert_array_equal(acc.predict_proba(X), plain.predict_proba(X))


def test_mixed_precision_and_gradient_accumulation(tmp_path):
    X, _ = _data()
    Y = (np.random.default_rng(1).random((len(X), 3)) > 0.5).astype(int)
    acc = accelerate.Accelerator(cpu=True, mixed_precision="bf16", gradient_accumulation_steps=2)
    tagger = SampleCNNTagger(accelerator=acc, **{**KW, "train_split": 0.25}).fit(X, Y)
    assert np.isfinite([h["train_loss"] for h in tagger.history_]).all()
    assert "valid_loss" in tagger.history_[-1]
    assert tagger.predict_proba(X).shape == (len(X), 3)
    assert save_pretrained(tagger, tmp_path / "t.samplecnn").exists()


def test_two_processes_agree_and_checkpoint_once(tmp_path):
    """2 processes (gloo on CPU), data-parallel: the same weights and losses in both, one
    checkpoint written by the main process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         str(Path(__file__).with_name("_accelerate_job.py")), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = np.load(tmp_path / "rank0.npz"), np.load(tmp_path / "rank1.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert (tmp_path / "rank0.txt").read_text() == (tmp_path / "rank1.txt").read_text()
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["checkpoint.pt"]
