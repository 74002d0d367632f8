"""The estimators' training loop: skorch's, through the hooks skorch made for it.

* ``train_step_single`` / ``_step_optimizer`` (skorch's hooks; skorch's own
  ``train_step`` drives them, so optimisers that need a closure, such as
  LBFGS, work) and ``validation_step``: mixed precision (bf16 autocast, or
  fp16 with a gradient scaler) on CUDA, sample weights in the loss,
  non-blocking copies to the device, or Hugging Face accelerate's data
  parallelism, precision and gradient accumulation when an ``accelerator``
  is set, as skorch's ``AccelerateMixin`` does it;
* ``run_single_epoch``: batch losses stay on the device during the epoch (one
  synchronisation per epoch, not per batch), divergence is checked at the end
  of the epoch and the last finite weights are restored, segments that failed
  to decode (``on_error="skip"``) are reported;
* the fit context: seeding, threads, cuDNN's autotuner, and a real Ctrl-C told
  apart from a callback's stop (both arrive as ``KeyboardInterrupt`` in
  skorch); resuming from a :class:`ResumableCheckpoint`.
"""

from __future__ import annotations

import signal
import threading
import warnings
from collections.abc import Mapping
from contextlib import ExitStack, contextmanager, nullcontext

import numpy as np
import torch
from skorch.dataset import unpack_data

from ..augment import resolve_augment
from ..nn.runtime import torch_threads
from .checkpoint import ResumableCheckpoint

__all__ = ["TrainingLoop", "seed_from"]


def seed_from(random_state) -> int | None:
    """The torch seed for ``random_state`` (an int, a RandomState or None)."""
    if random_state is None:
        return None
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(random_state.randint(np.iinfo(np.int32).max))


class TrainingLoop:
    """Mixin for skorch nets: the training step, the epoch loop and the fit context."""

    def _prepare_for_accelerator(self) -> None:
        """Hand module, criterion and optimiser to ``accelerate`` (DDP, device, precision).

        What skorch's ``AccelerateMixin._initialize_accelerator`` does, with two
        differences that are why the estimators do not inherit that mixin:
        ``accelerator`` is an optional parameter here (``None`` trains without
        accelerate), and a criterion or module without trainable weights is not
        prepared (``DistributedDataParallel`` refuses modules without gradients,
        such as the estimators' losses).
        """
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
        # not skorch's infer: it would move x to ``device`` again, which is not
        # where the module is when an accelerator places it
        return self.module_(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The weighted mean of the per-segment losses.

        Segment ``i`` counts with its clip's sample weight (1 without weights,
        0 for a segment that failed to decode); ``sum(w * loss) / sum(w)``.
        A criterion that reduces by itself (``criterion__reduction="mean"``)
        is used as it is, without weights.
        """
        y_true = y_true.to(y_pred.device, non_blocking=True) \
            if isinstance(y_true, torch.Tensor) else y_true
        loss = self.criterion_(y_pred, y_true)  # skorch's get_loss moves y_true to ``device``
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
        """skorch's training step (a closure handed to the optimisers), inside accelerate's
        gradient accumulation when an ``accelerator`` is set (as ``AccelerateMixin``)."""
        acc = self.accelerator
        with acc.accumulate(self.module_) if acc is not None else nullcontext():
            return super().train_step(batch, **fit_params)

    def train_step_single(self, batch, **fit_params):
        """skorch's hook: the loss of one batch and its gradients, in mixed precision on
        CUDA (``precision``: autocast, the fp16 loss scaled) or through the accelerator.

        The loss is returned detached: the epoch keeps every batch's loss on the device
        until its end (:meth:`run_single_epoch`), never their graphs.
        """
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        acc = self.accelerator
        with self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler = getattr(self, "_scaler", None)
        if acc is not None:
            acc.backward(loss)
        elif scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        return {"loss": loss.detach(), "y_pred": y_pred}

    def _step_optimizer(self, step_fn):
        """skorch's hook for the optimiser step. Plain training hands ``step_fn`` to the
        optimisers as their closure (LBFGS calls it again); a gradient scaler and
        accelerate cannot take a closure, so ``step_fn`` runs once and the optimisers
        step after it (as skorch's ``AccelerateMixin``)."""
        scaler = getattr(self, "_scaler", None)
        if self.accelerator is None and scaler is None:
            return super()._step_optimizer(step_fn)
        step_fn()
        for name in self._optimizers:
            optimizer = getattr(self, name + "_")
            if scaler is not None:
                scaler.step(optimizer)
            else:
                optimizer.step()
        if scaler is not None:
            scaler.update()
        return None

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
        for i, error in failed.items():  # into this fit's one report
            name = iterator.dataset.clips.name(i)
            self._fit_failed(name, error or name)

    @contextmanager
    def _training_context(self, seeded: bool = True):
        """Seed torch for one fit (weights, shuffling, crops, dropout; restored after),
        set the thread count, turn cuDNN's autotuner on for CUDA, and tell a Ctrl-C
        from a callback's stop."""
        seed = seed_from(self.random_state) if seeded else None
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
        if checkpoint is not None:
            checkpoint.check_folder()  # before the first epoch, not after the last
        if resume and checkpoint is not None:
            state = checkpoint.load(self, clips, y, getattr(self, "_fit_weights", None))
            if state is not None:
                # a finished run is trained on to a larger max_epochs, unless a callback
                # (the paper schedule, early stopping) ended it
                epochs = self.max_epochs - len(self.history)
                if epochs <= 0 or (state["complete"] and state.get("stopped_early", True)):
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

