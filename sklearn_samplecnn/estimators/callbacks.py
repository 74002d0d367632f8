"""Training policy as skorch callbacks: the paper's learning-rate schedule."""

from __future__ import annotations

import copy
import math

from skorch.callbacks import Callback

__all__ = ["PaperSchedule"]


class PaperSchedule(Callback):
    """The training schedule of section 5.2 of the paper.

    Watch the validation loss; when it has not improved for ``patience``
    epochs, reload the best weights seen so far and divide the learning rate by
    ``factor``. After ``max_decreases`` such decreases (lr 0.01 -> 0.000016 with
    the defaults), train ``final_epochs`` more epochs, reload the best weights
    and stop. Training also ends at the net's ``max_epochs``; the best weights
    are restored then too.

    Parameters
    ----------
    monitor : str, default="valid_loss"
        The history key to watch. When the net has no validation split
        (``train_split=None``) and the key is missing, ``"train_loss"`` is used.
    patience : int, default=3
    factor : float, default=5.0
        The learning rate is divided by this.
    max_decreases : int, default=4
    final_epochs : int, default=1
    restore_best : bool, default=True
        Load the best weights at the end of training.

    Attributes
    ----------
    n_decreases_ : int
    best_score_ : float
    best_epoch_ : int
    stopped_epoch_ : int or None
    """

    def __init__(self, monitor: str = "valid_loss", patience: int = 3, factor: float = 5.0,
                 max_decreases: int = 4, final_epochs: int = 1, restore_best: bool = True) -> None:
        self.monitor = monitor
        self.patience = patience
        self.factor = factor
        self.max_decreases = max_decreases
        self.final_epochs = final_epochs
        self.restore_best = restore_best

    def initialize(self):
        for name, value, low in (("patience", self.patience, 1),
                                 ("max_decreases", self.max_decreases, 0),
                                 ("final_epochs", self.final_epochs, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if not self.factor > 1:
            raise ValueError(f"factor must be > 1, got {self.factor!r}.")
        self.n_decreases_ = 0
        self.best_score_ = math.inf
        self.best_epoch_ = 0
        self.stopped_epoch_ = None
        self._best_state = None
        self._wait = 0
        self._final_left = None
        return self

    def _score(self, net) -> float:
        last = net.history[-1]
        key = self.monitor if self.monitor in last else "train_loss"
        return float(last[key])

    def on_epoch_end(self, net, **kwargs):
        score = self._score(net)
        epoch = len(net.history)
        if score < self.best_score_:
            self.best_score_, self.best_epoch_, self._wait = score, epoch, 0
            self._best_state = copy.deepcopy(net.module_.state_dict())
        else:
            self._wait += 1
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])
        if self._final_left is not None:
            self._final_left -= 1
            if self._final_left <= 0:
                self.stopped_epoch_ = epoch
                raise KeyboardInterrupt  # skorch ends fit() cleanly on this
            return
        if self._wait >= self.patience:
            if self.n_decreases_ < self.max_decreases:
                self._reload(net)
                for group in net.optimizer_.param_groups:
                    group["lr"] /= self.factor
                self.n_decreases_ += 1
                self._wait = 0
            if self.n_decreases_ >= self.max_decreases:
                self._final_left = self.final_epochs
                if self._final_left == 0:
                    self.stopped_epoch_ = epoch
                    raise KeyboardInterrupt

    def _reload(self, net):
        if self._best_state is not None:
            net.module_.load_state_dict(self._best_state)

    def on_train_end(self, net, **kwargs):
        if self.restore_best:
            self._reload(net)
