"""Training that survives a kill: a checkpoint every epoch, and resuming from it.

skorch's ``Checkpoint`` + ``LoadInitState`` save the module, optimiser and
history, and resuming with them trains ``max_epochs`` more epochs. A run that
must end with the same weights as an uninterrupted one needs more: the
paper schedule's state (best weights, plateau counter, decreases), the
random generators, the gradient scaler, and the number of epochs left.
:class:`ResumableCheckpoint` saves all of that after every epoch, in one file
written atomically (a kill during the write leaves the previous checkpoint),
and the estimators' ``fit`` resumes from it.

Every checkpoint carries a SHA-256 over everything it holds (weights,
optimiser, schedule, history, random generators), as model files do: a
damaged checkpoint (flipped bytes in its weights) is refused with its path,
never resumed silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from .._fileio import atomic_write, digest, output_problem
from ..exceptions import SampleCNNError

__all__ = ["ResumableCheckpoint"]

FORMAT = "sklearn-samplecnn-checkpoint/2"
OLD_FORMATS = ("sklearn-samplecnn-checkpoint/1",)  # no SHA-256: resumed with a warning
FILENAME = "checkpoint.pt"
# parameters that may change between a run and its resumption
_FREE = {"callbacks", "verbose", "max_epochs", "checkpoint_dir", "device", "threads", "n_jobs",
         "audio_cache", "precision", "warm_start"}


def _run_fingerprint(net, clips, y, weights) -> str:
    """What makes a checkpoint belong to a run: the settings that change the result
    and the training data (clip list, targets, weights)."""
    params = {k: repr(v) for k, v in sorted(net.get_params(deep=False).items())
              if k not in _FREE and not k.startswith(("iterator_", "callbacks__"))}
    data = [json.dumps(params, sort_keys=True), clips.kind]
    if clips.kind == "paths":
        data.append("\n".join(os.path.abspath(p) for p in clips.items))
    else:
        data += [np.ascontiguousarray(a).tobytes() for a in clips.items]
        data += [] if clips.rates is None else [repr(clips.rates)]
    data.append(b"" if y is None else np.ascontiguousarray(y).tobytes())
    data.append(b"" if weights is None else np.ascontiguousarray(weights).tobytes())
    return digest(*data)


def _unwrapped(net, name: str) -> torch.nn.Module:
    module = getattr(net, name + "_")
    return net.accelerator.unwrap_model(module) if net.accelerator is not None else module


def _update(h, obj) -> None:
    """Feed ``obj`` (tensors, dicts, lists, tuples, numbers, strings, None) to ``h``,
    unambiguously and in a fixed order (dict keys sorted)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}|".encode())
        for key in sorted(obj, key=repr):
            _update(h, key)
            _update(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}|".encode())
        for value in obj:
            _update(h, value)
    else:
        text = repr(obj).encode()
        h.update(f"V{type(obj).__name__}{len(text)}|".encode() + text)


def state_sha256(state: dict) -> str:
    """SHA-256 over a checkpoint's content (every entry but ``"sha256"``): its weights,
    optimiser, schedule, history and random generators."""
    h = hashlib.sha256()
    _update(h, {k: v for k, v in state.items() if k != "sha256"})
    return h.hexdigest()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumableCheckpoint(Callback):
    """Save everything a training run needs to resume, after every epoch.

    Added by the estimators when ``checkpoint_dir`` is set; ``fit`` with the
    same data and settings then resumes from ``<dirname>/checkpoint.pt`` and
    ends with the same weights as an uninterrupted run (on CPU, with
    ``random_state`` set and decoding in the training process; random crops
    drawn in DataLoader workers follow the workers' own generators). A
    finished run is marked complete: fitting again restores its result
    without training, or, with a larger ``max_epochs``, trains on to it
    (unless a callback stopped that run early).

    Every checkpoint holds a SHA-256 of its content; a damaged one is
    refused. A checkpoint that cannot be written (a full disk) is reported
    once with a warning and training goes on: the model in memory is never
    lost to its checkpoint.

    Parameters
    ----------
    dirname : str or os.PathLike
        Folder of the checkpoint (created).

    Attributes
    ----------
    fingerprint_ : str
        The run the checkpoint belongs to (settings and data); a checkpoint of
        another run in the same folder is an error, never silently used.
    """

    def __init__(self, dirname) -> None:
        self.dirname = dirname

    @property
    def path(self) -> Path:
        return Path(self.dirname).expanduser() / FILENAME

    def check_folder(self) -> None:
        """Refuse, before the first epoch, a ``checkpoint_dir`` that cannot be written
        (a file, a folder under a file, a read-only folder, a full file system)."""
        problem = output_problem(self.dirname, folder=True)
        if problem is not None:
            raise SampleCNNError(f"checkpoint_dir {os.fspath(self.dirname)!r}: {problem}; "
                                 "no epoch was trained.")

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.fingerprint_ = _run_fingerprint(net, X, y, getattr(net, "_fit_weights", None))
        self.failed_ = None

    def on_epoch_end(self, net, **kwargs):
        self.save(net, complete=False)

    def on_train_end(self, net, **kwargs):
        if not getattr(net, "interrupted_", False) and len(net.history):
            self.save(net, complete=True)

    def save(self, net, *, complete: bool) -> None:
        acc = net.accelerator
        if acc is not None:
            acc.wait_for_everyone()
            if not acc.is_main_process:  # written once, by the main process
                return
        if getattr(self, "failed_", None) is not None:  # warned once: not tried again
            return
        schedule = dict(net.callbacks_).get("paper_schedule")
        scaler = getattr(net, "_scaler", None)
        state = {
            "format": FORMAT,
            "fingerprint": self.fingerprint_,
            "complete": complete,
            # a finished run that ended before max_epochs: a callback stopped it
            "stopped_early": complete and len(net.history) < net.max_epochs,
            "module": (net.accelerator.unwrap_model(net.module_) if net.accelerator is not None
                       else net.module_).state_dict(),
            # other trained modules of the net (a projection or embedding head)
            "modules": {name: _unwrapped(net, name).state_dict()
                        for name in net._modules if name != "module"},
            "optimizer": net.optimizer_.state_dict(),
            "scaler": None if scaler is None else scaler.state_dict(),
            "schedule": None if schedule is None else schedule.state_dict(),
            "history": json.dumps(net.history.to_list(), default=float),
            "rng": _rng_state(),
        }
        state["sha256"] = state_sha256(state)
        try:
            atomic_write(self.path, lambda f: torch.save(state, f), fsync=True)
        except OSError as exc:  # a full disk: the run goes on, the model is in memory
            self.failed_ = exc
            warnings.warn(f"the checkpoint {self.path} cannot be written ({exc}); training "
                          "goes on without checkpoints (an interruption now cannot be "
                          "resumed)", RuntimeWarning, stacklevel=2)

    def load(self, net, clips, y, weights) -> dict | None:
        """Restore ``net`` (initialised) from the checkpoint of this run, if there is one.

        Returns the checkpoint, or ``None`` when the folder holds none.

        Raises
        ------
        SampleCNNError
            The checkpoint belongs to another run (other data or settings), or
            is not a checkpoint of this library.
        """
        self.fingerprint_ = _run_fingerprint(net, clips, y, weights)
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location=net._device, weights_only=True)
        except Exception as exc:  # torch raises several types for foreign files
            raise SampleCNNError(f"{self.path}: not a readable training checkpoint "
                                 f"({type(exc).__name__}: {exc}).") from None
        fmt = state.get("format") if isinstance(state, dict) else None
        if fmt not in (FORMAT, *OLD_FORMATS):
            raise SampleCNNError(f"{self.path}: not a training checkpoint of this library.")
        if fmt == FORMAT:
            found = state_sha256(state)
            if state.get("sha256") != found:
                raise SampleCNNError(
                    f"{self.path}: the checkpoint is damaged (SHA-256 {found[:12]}... != "
                    f"recorded {str(state.get('sha256'))[:12]}...); it is not resumed. "
                    "Delete it to start over, or restore a good copy.")
        else:
            warnings.warn(f"{self.path}: a checkpoint of format {fmt!r} has no SHA-256, so "
                          "damage cannot be detected; resuming from it anyway.", UserWarning,
                          stacklevel=4)
        if state["fingerprint"] != self.fingerprint_:
            raise SampleCNNError(
                f"{self.path} belongs to another training run (other data or settings); "
                "remove it or choose another checkpoint_dir."
            )
        module = net.accelerator.unwrap_model(net.module_) if net.accelerator is not None \
            else net.module_
        module.load_state_dict(state["module"])
        for name, weights in state.get("modules", {}).items():
            _unwrapped(net, name).load_state_dict(weights)
        net.optimizer_.load_state_dict(state["optimizer"])
        if state["scaler"] is not None and getattr(net, "_scaler", None) is not None:
            net._scaler.load_state_dict(state["scaler"])
        schedule = dict(net.callbacks_).get("paper_schedule")
        if schedule is not None and state["schedule"] is not None:
            schedule.load_state_dict(state["schedule"])
        net.history_ = History(json.loads(state["history"]))
        _set_rng_state(state["rng"])
        if net.verbose:
            what = f"epoch {len(net.history)}"
            if state["complete"]:
                what = f"finished run of {len(net.history)} epochs" + (
                    ", stopped early by a callback" if state.get("stopped_early") else "")
            print(f"resumed from {self.path} ({what})", flush=True)
        return state
