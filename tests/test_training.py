"""The training loop's settings (sklearn_samplecnn.estimators._training): torch threads
during fit and predict, the epoch log without colour codes off a terminal."""

from __future__ import annotations

import sys

import torch
from skorch.callbacks import Callback

from sklearn_samplecnn import SampleCNNClassifier

from .conftest import FIT_FAST, LINEAR, Linear81, waves

FAST = FIT_FAST


def test_threads_hold_during_fit_and_predict_and_are_restored():
    X, y = waves()
    before = torch.get_num_threads()

    class Seen(Callback):
        def on_epoch_begin(self, net, **kwargs):
            Linear81.threads_seen.append(torch.get_num_threads())

    Linear81.threads_seen.clear()
    clf = SampleCNNClassifier(threads=2, callbacks=[Seen()], **LINEAR).fit(X, y)
    assert set(Linear81.threads_seen) == {2} and torch.get_num_threads() == before
    Linear81.threads_seen.clear()
    clf.predict_proba(X)
    clf.predict_proba_segments(X)
    assert set(Linear81.threads_seen) == {2} and torch.get_num_threads() == before


def test_no_colour_codes_when_stdout_is_not_a_terminal(capsys, monkeypatch):
    X, y = waves()
    SampleCNNClassifier(**{**LINEAR, "verbose": 1}).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "\x1b[" not in out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    SampleCNNClassifier(**{**LINEAR, "verbose": 1}).fit(X, y)
    assert "\x1b[" in capsys.readouterr().out  # a terminal keeps skorch's colours
