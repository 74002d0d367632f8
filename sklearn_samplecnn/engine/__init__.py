"""The engine: what the estimators and the feature transformers share to run models on audio.

* :mod:`~sklearn_samplecnn.engine.clips`: ``X`` (paths, waveforms, ``(y, sr)``
  pairs) validated into :class:`Clips`, which load any span of a clip at the
  model's rate; :class:`AudioCache` keeps decoded clips on request.
* :mod:`~sklearn_samplecnn.engine.loop`: the segment loop. Worker processes
  decode, segment and batch; one device loop (:func:`run_segments`) runs a
  function over every segment and hands each clip's rows back as soon as
  they are complete. Every inference path of the library runs through it.
"""

from .clips import AudioCache, Clips, clips_from_X
from .loop import (
    ClipResult,
    SegmentBatch,
    SegmentBatches,
    release_buffers,
    resolve_n_jobs,
    run_segments,
)

__all__ = ["AudioCache", "ClipResult", "Clips", "SegmentBatch", "SegmentBatches",
           "clips_from_X", "release_buffers", "resolve_n_jobs", "run_segments"]
