"""Prediction through the input pipeline: clip probabilities and per-segment taggrams."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..engine import Clips, FailureReport, check_headers, run_segments
from ..nn.runtime import InferenceRunner, torch_threads
from ..segments import aggregate_segments

__all__ = ["SegmentPrediction"]


class SegmentPrediction:
    """Mixin for the estimators: predict clips by pooling their segments' outputs."""

    def _nonlinearity(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from the module's logits (softmax, sigmoid); subclasses implement it."""
        raise NotImplementedError

    def _segment_outputs(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray, Clips]:
        """Per-segment probabilities, their clip index, their start sample, and the clips.

        Runs the segment loop (:func:`sklearn_samplecnn.engine.run_segments`):
        ``n_jobs`` worker processes (or the routed ``iterator_valid__num_workers``)
        decode while the model runs. Clips that fail to decode raise (``on_error="raise"``) or are
        recorded in ``failed_files_`` with no segments (``"skip"``).
        """
        check_is_fitted(self, "module_")
        clips = self._as_clips(X, fit=False)
        report = FailureReport(clips, self.on_error)
        if self.on_error == "raise":
            check_headers(clips, report)  # every unreadable header listed at once
        runner = InferenceRunner(self.module_, self._device, self.precision)
        valid = self.get_params_for("iterator_valid")
        batch_size = valid.get("batch_size", self.batch_size)

        def fn(x):
            return self._nonlinearity(runner(x))

        probs, clip_index, starts = [], [], []
        with torch_threads(self.threads):
            for res in run_segments(clips, fn, segment_length=self._raw_module.input_length,
                                    batch_size=batch_size, device=self._device,
                                    n_jobs=valid.get("num_workers", self.n_jobs),
                                    hop_length=self.hop_length, tail=self.tail,
                                    short="pad" if self.short == "error" else self.short,
                                    static_batch=self._device.type == "cuda",
                                    input_dtype=runner.input_dtype):
                if res.error is not None:
                    report.add(res.index, res.error)
                    continue
                probs.append(res.rows)
                clip_index.append(np.full(len(res.rows), res.index, dtype=np.int64))
                starts.append(res.starts)
        self.failed_files_ = report.files
        report.warn("they get no prediction: NaN rows, no segments (failed_files_ lists them)",
                    stacklevel=4)
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
        X : list of paths, ndarray of shape (n_clips, n_samples), list of 1-D arrays \
                or list of (array, int) pairs
            As in ``fit``. A torch dataset of segments (what skorch's ``EpochScoring`` passes
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
            into the clip; with ``tail="overlap"`` the last segment of a clip ends
            at the clip's end and starts before the previous one ends, with
            ``"drop"`` the samples after the last ``end`` were not seen, with
            ``"pad"``/``"repeat"`` the last ``end`` may pass the clip's end),
            ``columns`` (class or tag names). Rows come clip by
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

    def _output_names(self) -> np.ndarray:
        """The class or tag names of the outputs, in order; subclasses implement it."""
        raise NotImplementedError
