"""The engine: what the estimators and the feature transformers share to run models on audio.

* :mod:`~sklearn_samplecnn.engine.clips`: ``X`` (paths, waveforms, ``(y, sr)``
  pairs) validated into :class:`Clips`, which load any span of a clip at the
  model's rate; :class:`AudioCache` keeps decoded clips on request.
* :mod:`~sklearn_samplecnn.engine.loop`: the segment loop. Worker processes
  decode, segment and batch; one device loop (:func:`run_segments`) runs a
  function over every segment and hands each clip's rows back as soon as
  they are complete. Every inference path of the library runs through it.
* :mod:`~sklearn_samplecnn.engine.failures`: the one ``on_error`` policy for
  clips that cannot be decoded, and its one report (:class:`FailureReport`).
"""

from .clips import AudioCache, Clips, clips_from_X
from .failures import ON_ERROR, FailureReport, check_headers, on_error_constraint, resolve_on_error
from .loop import (
    ClipResult,
    SegmentBatch,
    SegmentBatches,
    release_buffers,
    resolve_n_jobs,
    run_segments,
)

__all__ = ["AudioCache", "ClipResult", "Clips", "FailureReport", "ON_ERROR", "SegmentBatch",
           "SegmentBatches", "check_headers", "clips_from_X", "on_error_constraint",
           "release_buffers", "resolve_n_jobs", "resolve_on_error", "run_segments"]
