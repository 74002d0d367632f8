"""Training policy as skorch callbacks: the paper's learning-rate schedule."""

from __future__ import annotations

import copy
import math

from skorch.callbacks import Callback

__all__ = ["PaperSchedule", "unwrapped_module"]


def unwrapped_module(net):
    """``net.module_`` without a data-parallel wrapper (Hugging Face accelerate's DDP).

    What a callback saves and restores, so the weights keep one set of names
    before, during and after training (a wrapper prefixes them with ``module.``).

    Parameters
    ----------
    net : skorch.NeuralNet
        Initialised; an ``accelerator`` attribute (None or an ``Accelerator``)
        is honoured.

    Returns
    -------
    torch.nn.Module
    """
    accelerator = getattr(net, "accelerator", None)
    if accelerator is not None:
        return accelerator.unwrap_model(net.module_)
    return net.module_


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
    best_model_weights_ : dict or None
        A copy of the best weights seen, while training (left out of pickles,
        like skorch's ``EarlyStopping``: after training they are the net's).
    wait_ : int
        Epochs since the last improvement.
    final_left_ : int or None
        Epochs left after the last decrease.

    Notes
    -----
    Learned state ends in ``_``: skorch treats every other attribute of a
    callback as a parameter, so ``get_params()`` after ``fit`` holds no state.
    :meth:`state_dict` / :meth:`load_state_dict` carry the state through a
    checkpoint.
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
        self.best_model_weights_ = None
        self.wait_ = 0
        self.final_left_ = None
        return self

    _STATE = ("n_decreases_", "best_score_", "best_epoch_", "stopped_epoch_", "wait_",
              "final_left_")

    def state_dict(self) -> dict:
        """The schedule's state (a checkpoint's): counters and the best weights."""
        return {**{k: getattr(self, k) for k in self._STATE},
                "best_model_weights_": self.best_model_weights_}

    def load_state_dict(self, state: dict) -> None:
        for k in (*self._STATE, "best_model_weights_"):
            setattr(self, k, state[k])

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the live callback keeps its weights
        state["best_model_weights_"] = None  # the net's own weights are the best ones
        return state

    def _score(self, net) -> float:
        last = net.history[-1]
        key = self.monitor if self.monitor in last else "train_loss"
        return float(last[key])

    def on_epoch_end(self, net, **kwargs):
        score = self._score(net)
        epoch = len(net.history)
        if score < self.best_score_:
            self.best_score_, self.best_epoch_, self.wait_ = score, epoch, 0
            self.best_model_weights_ = copy.deepcopy(unwrapped_module(net).state_dict())
        else:
            self.wait_ += 1
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])
        if self.final_left_ is not None:
            self.final_left_ -= 1
            if self.final_left_ <= 0:
                self.stopped_epoch_ = epoch
                raise KeyboardInterrupt  # skorch ends fit() cleanly on this
            return
        if self.wait_ >= self.patience:
            if self.n_decreases_ < self.max_decreases:
                self._reload(net)
                for group in net.optimizer_.param_groups:
                    group["lr"] /= self.factor
                self.n_decreases_ += 1
                self.wait_ = 0
            if self.n_decreases_ >= self.max_decreases:
                self.final_left_ = self.final_epochs
                if self.final_left_ == 0:
                    self.stopped_epoch_ = epoch
                    raise KeyboardInterrupt

    def _reload(self, net):
        if self.best_model_weights_ is not None:
            unwrapped_module(net).load_state_dict(self.best_model_weights_)

    def on_train_end(self, net, **kwargs):
        if self.restore_best:
            self._reload(net)
