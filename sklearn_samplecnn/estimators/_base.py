"""What the SampleCNN estimators share: input handling, the training step, prediction.

``_SampleCNNNet`` is a skorch ``NeuralNet`` that takes ``X`` as audio file
paths, a 2-D waveform array or a list of 1-D waveforms, trains on segments
(each carrying its clip's target and weight) and predicts a clip by pooling
its segments' outputs through the input pipeline. The training loop is
skorch's, with these hooks changed:

* ``train_step`` / ``validation_step``: mixed precision (bf16 autocast, or
  fp16 with a gradient scaler) on CUDA, sample weights in the loss,
  non-blocking copies to the device;
* ``run_single_epoch``: batch losses stay on the device during the epoch (one
  synchronisation per epoch, not per batch), divergence is checked at the end
  of the epoch and the last finite weights are restored, segments that failed
  to decode (``on_error="skip"``) are reported;
* ``fit``: a real Ctrl-C is told apart from a callback's stop (both arrive as
  ``KeyboardInterrupt`` in skorch), and training resumes from
  ``checkpoint_dir`` when a checkpoint of the same run is there.
"""

from __future__ import annotations

import inspect
import numbers
import os
import signal
import threading
import warnings
from collections.abc import Mapping
from contextlib import ExitStack, contextmanager, nullcontext

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import PrintLog
from skorch.utils import TeeGenerator

from .._clips import AudioCache, Clips, clips_from_X
from .._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_sample_weight,
    validate_parameter_constraints,
)
from ..audio import DEFAULT_RES_TYPE, DEFAULT_SR, RES_TYPES
from ..augment import resolve_augment
from ..exceptions import AudioLoadError
from ..nn import SampleCNN
from ..nn.inference import PRECISIONS, InferenceRunner, resolve_precision, torch_threads
from ..pipeline import run_segments
from ..segments import AGGREGATIONS, SHORTS, TAILS, aggregate_segments
from .callbacks import PaperSchedule
from .checkpoint import ResumableCheckpoint
from .data import ClipSplit, SegmentDataset

__all__: list[str] = []

_AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
_ANSI = __import__("re").compile(r"\x1b\[[0-9;]*m")


def _encode_labels(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class indexes of ``y`` in ``classes`` (int64); unknown labels are an error."""
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    unknown = classes[idx] != y
    if np.any(unknown):
        raise ValueError(f"y contains labels not seen in the first fit: "
                         f"{np.unique(y[unknown])[:10].tolist()}; known: {classes.tolist()}.")
    return idx.astype(np.int64)


def _labels(classes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The most probable class per row; ``None`` for the NaN rows of failed clips."""
    failed = np.isnan(proba).any(axis=1)
    labels = classes[np.argmax(np.where(failed[:, None], 0.0, proba), axis=1)]
    if failed.any():
        labels = labels.astype(object)
        labels[failed] = None
    return labels


def _seed_from(random_state) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(random_state.randint(np.iinfo(np.int32).max))


class _PrintLog(PrintLog):
    """skorch's epoch table, with its colour codes only when stdout is a terminal
    (no escape sequences in log files and CI output)."""

    def _sink(self, text, verbose):
        if not verbose:
            return
        import sys

        isatty = getattr(sys.stdout, "isatty", None)
        print(text if isatty is not None and isatty() else _ANSI.sub("", text), flush=True)


class _SampleCNNNet(NeuralNet):
    """What the classifier and the tagger share; not public."""

    # Parameters of this library (skorch's own are checked by skorch).
    _parameter_constraints: dict = {
        "sr": [Interval(numbers.Integral, 1, None, closed="left")],
        "segment_mode": [StrOptions({"fixed", "random"})],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tail": [StrOptions(set(TAILS))],
        "short": [StrOptions(set(SHORTS))],
        "aggregate": [StrOptions(set(AGGREGATIONS))],
        "res_type": [StrOptions(set(RES_TYPES))],
        "audio_cache": [StrOptions({"memory"}), str, os.PathLike, None],
        "on_error": [StrOptions({"raise", "skip"})],
        "precision": [StrOptions(set(PRECISIONS))],
        "schedule": [StrOptions({"paper"}), None],
        "augment": [StrOptions({"default"}), callable, None],
        "checkpoint_dir": [str, os.PathLike, None],
        "threads": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "accelerator": [HasMethods(["prepare", "backward", "autocast"]), None],
        "random_state": ["random_state"],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "train_split": [Interval(numbers.Real, 0, 1, closed="neither"), callable, None],
    }

    def __init__(
        self,
        module=SampleCNN,
        *,
        criterion,
        sr: int = DEFAULT_SR,
        segment_mode: str = "fixed",
        hop_length: int | None = None,
        tail: str = "drop",
        short: str = "pad",
        aggregate: str = "mean",
        res_type: str = DEFAULT_RES_TYPE,
        audio_cache=None,
        on_error: str = "raise",
        precision: str = "auto",
        schedule: str | None = "paper",
        augment=None,
        checkpoint_dir=None,
        threads: int | None = None,
        accelerator=None,
        random_state=None,
        optimizer=torch.optim.SGD,
        lr: float = 0.01,
        max_epochs: int = 100,
        batch_size: int = 23,
        train_split=0.1,
        callbacks=None,
        device: str = "cpu",
        verbose: int = 1,
        warm_start: bool = False,
        **kwargs,
    ) -> None:
        kwargs.setdefault("iterator_train__shuffle", True)
        # predict_proba applies softmax/sigmoid itself, per segment
        kwargs.setdefault("predict_nonlinearity", None)
        # per-segment losses: sample weights and failed segments are applied in get_loss
        kwargs.setdefault("criterion__reduction", "none")
        super().__init__(
            module,
            criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.sr = sr
        self.segment_mode = segment_mode
        self.hop_length = hop_length
        self.tail = tail
        self.short = short
        self.aggregate = aggregate
        self.res_type = res_type
        self.audio_cache = audio_cache
        self.on_error = on_error
        self.precision = precision
        self.schedule = schedule
        self.augment = augment
        self.checkpoint_dir = checkpoint_dir
        self.threads = threads
        self.accelerator = accelerator
        self.random_state = random_state

    @property
    def _raw_module(self) -> torch.nn.Module:
        """``module_`` without the accelerator's (DDP) wrapper, for its attributes."""
        if getattr(self, "_wrapped", False):
            return self.accelerator.unwrap_model(self.module_)
        return self.module_

    @property
    def _device(self) -> torch.device:
        """Where tensors go: the accelerator's device when one is set, else ``device``."""
        if self.accelerator is not None:
            return self.accelerator.device
        return torch.device(self.device)

    # -- sklearn plumbing ------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = str(self.device).startswith("cuda")
        tags.input_tags.two_d_array = True
        return tags

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_"; private state
        # ("_audio_cache_obj", skorch's "_params_to_validate") is no parameter
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def _check_params(self) -> None:
        params = {k: getattr(self, k) for k in self._parameter_constraints}
        validate_parameter_constraints(
            self._parameter_constraints, params, caller_name=type(self).__name__
        )

    def get_default_callbacks(self):
        callbacks = [(name, _PrintLog()) if name == "print_log"
                     else (name, cb) for name, cb in super().get_default_callbacks()]
        if self.schedule == "paper":
            callbacks.append(("paper_schedule", PaperSchedule()))
        if self.checkpoint_dir is not None:
            callbacks.append(("resumable_checkpoint", ResumableCheckpoint(self.checkpoint_dir)))
        return callbacks

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_audio_cache_obj", None)  # decoded audio is not part of the model
        state.pop("_previous_start_weights", None)  # a training-time copy of the weights
        return state

    # -- input handling ------------------------------------------------------------
    def _as_clips(self, X, *, fit: bool) -> Clips:
        """Turn ``X`` into :class:`Clips` at ``sr``, with the audio cache if one is set."""
        cache = None
        if self.audio_cache is not None:
            cache = getattr(self, "_audio_cache_obj", None)
            if cache is None or cache.where != self.audio_cache:
                cache = AudioCache(self.audio_cache)
            self._audio_cache_obj = cache  # not an estimator parameter: starts with "_"
        return clips_from_X(self, X, reset=fit, sr=self.sr, res_type=self.res_type, cache=cache)

    def _check_readable(self, clips: Clips, *, fit: bool) -> np.ndarray:
        """Read all file headers; report every unreadable file at once.

        Returns the indexes of the clips to keep (all of them unless
        ``on_error="skip"`` during fit).
        """
        keep = np.arange(len(clips))
        if clips.kind != "paths":
            return keep
        errors = clips.check_files()
        if not errors:
            return keep
        listing = "\n  ".join(str(e) for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        if fit and self.on_error == "skip":
            bad = {e.path for e in errors}
            warnings.warn(f"Skipping {len(errors)} of {len(clips)} files that cannot be read:"
                          f"\n  {listing}{more}", stacklevel=3)
            self.skipped_files_ = sorted(bad)
            keep = np.array([i for i, p in enumerate(clips.items) if p not in bad], dtype=np.int64)
            if len(keep) == 0:
                raise AudioLoadError(errors[0].path, "no readable file left to train on")
            return keep
        raise AudioLoadError(
            errors[0].path if len(errors) == 1 else f"{len(errors)} of {len(clips)} files",
            f"cannot be read:\n  {listing}{more}" if len(errors) > 1 else errors[0].reason,
        )

    # -- skorch hooks --------------------------------------------------------------
    def _n_outputs_unfitted(self) -> int | None:
        """Outputs known before any fit (from parameters), for ``initialize()``."""
        return self.get_params_for("module").get("n_outputs")

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        n_outputs = getattr(self, "n_outputs_", None) or self._n_outputs_unfitted()
        if n_outputs is None:
            raise ValueError(
                f"{type(self).__name__} does not know its number of outputs before fit: call "
                "fit(X, y), or pass the labels (classes=[...] or tags=[...]) or "
                "module__n_outputs=... to initialize() it without data (e.g. before "
                "load_params)."
            )
        kwargs["n_outputs"] = int(n_outputs)
        if "sr" not in kwargs and isinstance(self.module, type) and \
                "sr" in inspect.signature(self.module).parameters:
            kwargs["sr"] = self.sr  # e.g. the mel front end's filterbank
        self.module_ = self.initialized_instance(self.module, kwargs)
        if not hasattr(self.module_, "input_length"):
            raise TypeError(f"module {self.module!r} must have an input_length attribute.")
        return self

    def initialize(self):
        super().initialize()
        if self.accelerator is not None:  # its own mixed precision and loss scaling
            self._amp_dtype, self._scaler = None, None
            self._prepare_for_accelerator()
            return self
        precision = resolve_precision(self.precision, self.device, training=True)
        self._amp_dtype = _AMP_DTYPES.get(precision)
        self._scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        return self

    def _prepare_for_accelerator(self) -> None:
        """Hand module, criterion and optimiser to ``accelerate`` (DDP, device, precision)."""
        acc = self.accelerator
        for names in (self._criteria, self._modules, self._optimizers):
            for name in names:
                obj = getattr(self, name + "_")
                trainable = isinstance(obj, torch.optim.Optimizer) or (
                    isinstance(obj, torch.nn.Module)
                    and any(p.requires_grad for p in obj.parameters()))
                if trainable:  # a criterion without weights needs no DDP wrapper
                    setattr(self, name + "_", acc.prepare(obj))
        self._wrapped = True

    def _unwrap_accelerator(self) -> None:
        """Plain modules again after training (predict, save_pretrained, pickles)."""
        if not getattr(self, "_wrapped", False):
            return
        for name in self._modules + self._criteria:
            obj = getattr(self, name + "_")
            if isinstance(obj, torch.nn.Module):
                setattr(self, name + "_",
                        self.accelerator.unwrap_model(obj, keep_fp32_wrapper=False))
        self._wrapped = False

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
            self._unwrap_accelerator()

    def get_params_for_optimizer(self, prefix, named_parameters):
        # The paper's optimiser is SGD with Nesterov momentum 0.9; those two
        # defaults apply to SGD only (Adam & co. take no momentum), and what
        # the user routes with optimizer__* always wins.
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer" and self.optimizer is torch.optim.SGD:
            kwargs.setdefault("momentum", 0.9)
            kwargs.setdefault("nesterov", True)
        return args, kwargs

    def get_dataset(self, X, y=None):
        if isinstance(X, torch.utils.data.Dataset):
            return X
        return SegmentDataset(X, y, self._raw_module.input_length, mode=self.segment_mode,
                              hop_length=self.hop_length, tail=self.tail, short=self.short,
                              weights=getattr(self, "_fit_weights", None),
                              on_error=self.on_error)

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        split = self.train_split
        if isinstance(split, numbers.Real) and not isinstance(split, bool):
            split = ClipSplit(float(split), random_state=_seed_from(self.random_state))
        train, valid = (dataset, None) if not split else split(dataset, y, **fit_params)
        if len(train) < 2:
            raise ValueError(
                f"Training needs at least 2 segments; got {len(train)} (from 1 sample clip of "
                f"{len(train.clips)}). Pass more or longer clips."
            )
        fit_stats = getattr(self._raw_module, "fit_standardizer", None)
        if fit_stats is not None and not (self.warm_start and self._fitted_once()):
            # modules with input statistics (the mel front end) learn them
            # from the training segments, before the first step
            loader = torch.utils.data.DataLoader(train, batch_size=self.batch_size)
            fit_stats(xi["x"].to(self._device) for xi, _ in loader)
        return train, valid

    def _fitted_once(self) -> bool:
        return bool(getattr(self, "history_", None)) and len(self.history_) > 0

    def get_iterator(self, dataset, training=False):
        if training:
            kwargs = self.get_params_for("iterator_train")
            n = len(dataset)
            bs = kwargs.get("batch_size", self.batch_size)
            # a last batch of one segment breaks BatchNorm's training statistics
            if n > bs and n % bs == 1:
                kwargs.setdefault("drop_last", True)
        else:
            kwargs = self.get_params_for("iterator_valid")
        if kwargs.get("num_workers", 0) > 0:
            # long-lived workers; a few batches prepared ahead of the model
            kwargs.setdefault("persistent_workers", True)
            kwargs.setdefault("prefetch_factor", 4)
        kwargs.setdefault("batch_size", self.batch_size)
        if self._device.type == "cuda":
            kwargs.setdefault("pin_memory", True)
        iterator = self.iterator_train if training else self.iterator_valid
        loader = iterator(dataset, **kwargs)
        if self.accelerator is not None:
            loader = self.accelerator.prepare(loader)  # each process its share of batches
        return loader

    # -- the training step -----------------------------------------------------
    def _autocast(self):
        if self.accelerator is not None:
            return self.accelerator.autocast()
        dtype = getattr(self, "_amp_dtype", None)
        if dtype is None:
            return nullcontext()
        return torch.autocast(self._device.type, dtype=dtype)

    def infer(self, x, **fit_params):
        """The module's logits for a batch: a tensor of segments, or the dataset's
        ``{"x": segments, ...}``; copied to the device without blocking, and
        augmented (``augment``) when it is a training batch (module in train mode)."""
        if isinstance(x, Mapping):
            x = x["x"]
        if isinstance(x, torch.Tensor):
            x = x.to(self._device, non_blocking=True)
            augment = resolve_augment(self.augment)
            if augment is not None and self.module_.training:
                x = augment(x, self.sr)
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The weighted mean of the per-segment losses.

        Segment ``i`` counts with its clip's sample weight (1 without weights,
        0 for a segment that failed to decode); ``sum(w * loss) / sum(w)``.
        A criterion that reduces by itself (``criterion__reduction="mean"``)
        is used as it is, without weights.
        """
        y_true = y_true.to(y_pred.device, non_blocking=True) \
            if isinstance(y_true, torch.Tensor) else y_true
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if loss.dim() == 0:
            return loss
        loss = loss.float()
        if loss.dim() > 1:
            loss = loss.flatten(1).mean(dim=1)  # tags: the mean over tags
        w = X.get("w") if isinstance(X, Mapping) else None
        if w is None:
            return loss.mean()
        w = w.to(loss.device, non_blocking=True)
        return (loss * w).sum() / w.sum().clamp_min(torch.finfo(torch.float32).tiny)

    def train_step(self, batch, **fit_params):
        """One optimiser step, in mixed precision on CUDA (``precision``).

        Unlike skorch's default no closure is passed to the optimiser: those
        that need one (LBFGS) are not supported.
        """
        self._set_training(True)
        Xi, yi = batch
        acc = self.accelerator
        with acc.accumulate(self.module_) if acc is not None else nullcontext():
            return self._step(Xi, yi, batch, **fit_params)

    def _step(self, Xi, yi, batch, **fit_params):
        acc = self.accelerator
        with self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler = getattr(self, "_scaler", None)
        if acc is not None:
            acc.backward(loss)
        else:
            (scaler.scale(loss) if scaler is not None else loss).backward()
        self.notify("on_grad_computed",
                    named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    batch=batch, training=True)
        for name in self._optimizers:
            optimizer = getattr(self, name + "_")
            if scaler is not None:
                scaler.step(optimizer)
            else:
                optimizer.step()
        if scaler is not None:
            scaler.update()
        self._zero_grad_optimizer(set_to_none=True)
        return {"loss": loss.detach(), "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, yi = batch
        with torch.no_grad(), self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=False)
        return {"loss": loss.detach(), "y_pred": y_pred}

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop, with one device synchronisation per epoch.

        Batch losses are recorded as device tensors and turned into floats
        once, at the end of the epoch. Then a non-finite loss stops training
        and segments that failed to decode are reported. The weights (and
        batch-norm statistics) go back to the last ones known to give a finite
        loss: those at the start of this epoch when its first batch's loss is
        finite, else (the previous epoch's last step spoilt them) those at the
        start of the previous epoch.
        """
        if iterator is None:
            return
        if training:
            start_weights = {k: v.detach().clone() for k, v in self.module_.state_dict().items()}
        failed: dict[int, str] = {}
        n_batches = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            Xi = batch[0]
            x = Xi["x"] if isinstance(Xi, Mapping) else Xi
            if isinstance(Xi, Mapping) and "failed" in Xi and bool(Xi["failed"].any()):
                for k in torch.nonzero(Xi["failed"]).flatten().tolist():
                    failed.setdefault(int(Xi["clip"][k]), Xi["error"][k])
            self.history.record_batch(prefix + "_loss", step["loss"])
            self.history.record_batch(prefix + "_batch_size", len(x))
            self.notify("on_batch_end", batch=batch, training=training, **step)
            n_batches += 1
        self.history.record(prefix + "_batch_count", n_batches)
        batches = [b for b in self.history[-1]["batches"]
                   if isinstance(b.get(prefix + "_loss"), torch.Tensor)]
        if batches:
            losses = torch.stack([b[prefix + "_loss"].float() for b in batches])
            if self.accelerator is not None and self.accelerator.num_processes > 1:
                # every process records the loss over all processes' batches, so the
                # paper schedule takes the same decisions everywhere
                sizes = torch.tensor([float(b[prefix + "_batch_size"]) for b in batches],
                                     device=losses.device)
                total = self.accelerator.reduce(
                    torch.stack([(losses * sizes).sum(), sizes.sum()]), reduction="sum")
                losses = torch.full_like(losses, float(total[0] / total[1]))
            values = losses.cpu().tolist()
            for b, v in zip(batches, values):
                b[prefix + "_loss"] = v
            if training and not np.isfinite(values).all():
                epoch = len(self.history)
                previous = getattr(self, "_previous_start_weights", None)
                if not np.isfinite(values[0]) and previous is not None:
                    start_weights, epoch = previous, epoch - 1
                self.module_.load_state_dict(start_weights)
                bad = next(v for v in values if not np.isfinite(v))
                raise FloatingPointError(
                    f"Training diverged: the loss is {bad} in epoch {len(self.history)}; the "
                    f"weights are restored to those at the start of epoch {epoch}, the last "
                    f"known to give a finite loss. Lower lr (now {self.lr}) or check the "
                    "input scale."
                )
        if training:
            self._previous_start_weights = start_weights
        if failed:
            self._report_failed(iterator.dataset, failed)

    def _report_failed(self, dataset, errors: dict[int, str]) -> None:
        """Add the files behind ``{clip index: error}`` to ``skipped_files_`` and warn
        once for each file, with its cause."""
        new = {dataset.clips.name(i): msg for i, msg in errors.items()}
        names = sorted(set(new) - set(self.skipped_files_))
        if not names:
            return
        self.skipped_files_ = sorted({*self.skipped_files_, *names})
        listing = "\n  ".join(new[n] or n for n in names[:20])
        more = f"\n  ... and {len(names) - 20} more" if len(names) > 20 else ""
        warnings.warn(f"{len(names)} files failed to decode during training; their segments "
                      f"are left out (on_error='skip'):\n  {listing}{more}", stacklevel=2)

    # -- fit ------------------------------------------------------------------------
    def _encode_y(self, y, *, n_clips, reset=True):
        raise NotImplementedError

    def _sample_weights(self, y_encoded: np.ndarray, sample_weight) -> np.ndarray | None:
        """Per-clip weights from ``sample_weight`` (and ``class_weight`` in subclasses)."""
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, np.empty((len(y_encoded), 0)),
                                    dtype=np.float32, ensure_non_negative=True)

    def fit(self, X, y, sample_weight=None, **fit_params):
        """Train on clips ``X`` with clip-level targets ``y``.

        Parameters
        ----------
        X : list of str/Path, ndarray of shape (n_clips, n_samples), or list of 1-D arrays
            Audio files (any sequence of paths: list, numpy array, pandas
            Series), or waveforms already at ``sr``.
        y : array-like
            Class labels (classifier) or a 0/1 tag matrix (tagger).
        sample_weight : array-like of shape (n_clips,) or None, default=None
            Per-clip weights, applied to each of the clip's segments in the loss.
        **fit_params
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self : object
        """
        clips, y, weights = self._prepare_fit(X, y, sample_weight, reset=True)
        self._fit_weights = weights
        try:
            with self._fit_context():
                if not self.warm_start or not self.initialized_:
                    self.initialize()
                self._train(clips, y, **fit_params)
        finally:
            self._fit_weights = None
        return self

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Train ``max_epochs`` more epochs without re-initialising the module.

        The first call initialises it (like :meth:`fit`); later calls must use
        the same classes or tags. ``classes`` is accepted for sklearn
        compatibility and ignored: the classes come from the first ``y``.
        ``checkpoint_dir`` applies to :meth:`fit` only.

        Returns
        -------
        self : object
        """
        first = not self.initialized_
        clips, y, weights = self._prepare_fit(X, y, sample_weight, reset=first)
        self._fit_weights = weights
        try:
            with self._fit_context(seeded=first):
                if first:
                    self.initialize()
                self._train(clips, y, resume=False, **fit_params)
        finally:
            self._fit_weights = None
        return self

    @contextmanager
    def _fit_context(self, seeded: bool = True):
        """Seed torch for one fit (weights, shuffling, crops, dropout; restored after),
        set the thread count, turn cuDNN's autotuner on for CUDA, and tell a Ctrl-C
        from a callback's stop."""
        seed = _seed_from(self.random_state) if seeded else None
        with ExitStack() as stack:
            if seed is not None:
                stack.enter_context(torch.random.fork_rng(devices=[]))
                torch.manual_seed(seed)
            stack.enter_context(torch_threads(self.threads))
            if self._device.type == "cuda":
                stack.enter_context(torch.backends.cudnn.flags(enabled=True, benchmark=True))
            stack.enter_context(self._watch_sigint())
            yield

    @contextmanager
    def _watch_sigint(self):
        """Record a real Ctrl-C (SIGINT) while training; skorch turns it, like a
        callback's request to stop, into a KeyboardInterrupt that ends ``fit``."""
        self._sigint = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            self._sigint = True
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _train(self, clips, y, *, resume: bool = True, **fit_params):
        """skorch's ``partial_fit`` body: resume from a checkpoint, run the epochs,
        and make an interruption visible (``interrupted_``, a warning, the history)."""
        epochs = None
        self.interrupted_ = False
        self._previous_start_weights = None  # a fit's own epochs only
        checkpoint = self._checkpoint_callback()
        if resume and checkpoint is not None:
            state = checkpoint.load(self, clips, y, getattr(self, "_fit_weights", None))
            if state is not None:
                epochs = self.max_epochs - len(self.history)
                if state["complete"] or epochs <= 0:
                    return
        self.notify("on_train_begin", X=clips, y=y)
        try:
            self.fit_loop(clips, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            if self._sigint:
                self._mark_interrupted()
        finally:
            self._previous_start_weights = None  # a copy of the weights: not kept
        self.notify("on_train_end", X=clips, y=y)

    def _checkpoint_callback(self) -> ResumableCheckpoint | None:
        for _, cb in getattr(self, "callbacks_", []):
            if isinstance(cb, ResumableCheckpoint):
                return cb
        return None

    def _mark_interrupted(self) -> None:
        self.interrupted_ = True
        epoch = len(self.history)
        if epoch:
            self.history.record("interrupted", True)
        complete = epoch and "train_loss" in self.history[-1]
        warnings.warn(
            f"Training was interrupted (Ctrl-C) in epoch {epoch}"
            f"{'' if complete else ', which did not finish'}; interrupted_ is True and the "
            "net holds the best weights so far. Call fit again to start over, or set "
            "checkpoint_dir to resume where it stopped.", UserWarning, stacklevel=4)

    def _prepare_fit(self, X, y, sample_weight, *, reset: bool):
        self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        clips = self._as_clips(X, fit=reset)
        if reset and clips.kind == "paths":
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
        if reset:
            self.skipped_files_ = []
            self.failed_files_ = []
        keep = self._check_readable(clips, fit=True)
        y = self._encode_y(y, n_clips=len(clips), reset=reset)
        weights = self._sample_weights(y, sample_weight)
        if len(keep) < len(clips):
            clips, y = clips.subset(keep), y[keep]
            weights = None if weights is None else weights[keep]
        return clips, y, weights

    # -- prediction -------------------------------------------------------------------
    def _nonlinearity(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _segment_outputs(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray, Clips]:
        """Per-segment probabilities, their clip index, their start sample, and the clips.

        Runs the input pipeline (:func:`sklearn_samplecnn.pipeline.run_segments`):
        ``iterator_valid__num_workers`` worker processes decode while the model
        runs. Clips that fail to decode raise (``on_error="raise"``) or are
        recorded in ``failed_files_`` with no segments (``"skip"``).
        """
        check_is_fitted(self, "module_")
        clips = self._as_clips(X, fit=False)
        if self.on_error == "raise":
            self._check_readable(clips, fit=False)  # every unreadable header listed at once
        runner = InferenceRunner(self.module_, self._device, self.precision)
        valid = self.get_params_for("iterator_valid")
        batch_size = valid.get("batch_size", self.batch_size)

        def fn(x):
            return self._nonlinearity(runner(x))

        probs, clip_index, starts, failed = [], [], [], {}
        with torch_threads(self.threads):
            for res in run_segments(clips, fn, segment_length=self._raw_module.input_length,
                                    batch_size=batch_size, device=self._device,
                                    n_jobs=valid.get("num_workers", 0),
                                    hop_length=self.hop_length, tail=self.tail,
                                    short="pad" if self.short == "error" else self.short,
                                    static_batch=self._device.type == "cuda",
                                    dtype=runner.input_dtype):
                if res.error is not None:
                    if self.on_error == "raise":
                        raise res.error
                    failed[res.index] = res.error
                    continue
                probs.append(res.rows)
                clip_index.append(np.full(len(res.rows), res.index, dtype=np.int64))
                starts.append(res.starts)
        self.failed_files_ = [clips.name(i) for i in sorted(failed)]
        if failed:
            listing = "\n  ".join(str(failed[i]) for i in sorted(failed)[:20])
            more = f"\n  ... and {len(failed) - 20} more" if len(failed) > 20 else ""
            warnings.warn(f"{len(failed)} of {len(clips)} clips could not be decoded and get "
                          f"no prediction (on_error='skip'; failed_files_ lists them):\n  "
                          f"{listing}{more}", stacklevel=3)
        if not probs:
            return (np.zeros((0, self.n_outputs_), np.float32), np.zeros(0, np.int64),
                    np.zeros(0, np.int64), clips)
        index = np.concatenate(clip_index)
        starts = np.concatenate(starts)
        order = np.lexsort((starts, index))  # clip by clip, in time order
        return np.concatenate(probs)[order], index[order], starts[order], clips

    def _dataset_proba(self, dataset) -> np.ndarray:
        """Segment probabilities of a torch dataset (skorch's ``forward_iter``): what
        skorch callbacks such as ``EpochScoring`` score during training."""
        outs = [self._nonlinearity(yp.detach())  # EpochScoring may pass training outputs
                for yp in self.forward_iter(dataset, training=False)]
        return torch.cat(outs).cpu().numpy() if outs else np.zeros((0, self.n_outputs_))

    def predict_proba(self, X) -> np.ndarray:
        """Clip probabilities: the mean (``aggregate``) of the segment outputs.

        Parameters
        ----------
        X : list of paths, ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            A torch dataset of segments (what skorch's ``EpochScoring`` passes
            during training) gives one row per segment instead.

        Returns
        -------
        ndarray of shape (n_clips, n_outputs)
            Rows of clips that could not be decoded (``on_error="skip"``) are NaN.
        """
        if isinstance(X, torch.utils.data.Dataset):
            return self._dataset_proba(X)
        probs, clip_index, _, clips = self._segment_outputs(X)
        out = np.full((len(clips), self.n_outputs_), np.nan)
        done = np.unique(clip_index)
        if len(done):
            remap = np.searchsorted(done, clip_index)
            out[done] = aggregate_segments(probs.astype(np.float64), remap, len(done),
                                           how=self.aggregate)
        return out

    def predict_proba_segments(self, X):
        """Probabilities of every segment of every clip, with times: a taggram.

        Parameters
        ----------
        X : list of paths, ndarray of shape (n_clips, n_samples) or list of 1-D arrays

        Returns
        -------
        sklearn.utils.Bunch
            ``proba`` (n_segments, n_outputs), ``clip`` (the clip index of each
            row), ``path`` (its file, or ``X[i]``), ``start`` and ``end`` (seconds
            into the clip), ``columns`` (class or tag names). Rows come clip by
            clip in time order; clips that failed (``on_error="skip"``) have none.
            ``pandas.DataFrame(bunch.proba, columns=bunch.columns)`` with the
            other fields as columns gives a table.
        """
        from sklearn.utils import Bunch

        probs, clip_index, starts, clips = self._segment_outputs(X)
        length = self._raw_module.input_length
        return Bunch(proba=probs.astype(np.float64), clip=clip_index,
                     path=np.array([clips.name(int(i)) for i in clip_index], dtype=object),
                     start=starts / self.sr, end=(starts + length) / self.sr,
                     columns=np.array([str(c) for c in self._output_names()], dtype=object))

    def _output_names(self):
        raise NotImplementedError
