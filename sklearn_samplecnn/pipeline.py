"""Deprecated: the segment loop moved to :mod:`sklearn_samplecnn.engine` (``engine.loop``).

``sklearn_samplecnn.pipeline`` was not an sklearn Pipeline; import
:func:`~sklearn_samplecnn.engine.run_segments` and the other names from
:mod:`sklearn_samplecnn.engine` instead.
"""

from ._deprecate import warn_deprecated
from .engine.loop import (  # noqa: F401
    ClipResult,
    SegmentBatch,
    SegmentBatches,
    release_buffers,
    resolve_n_jobs,
    run_segments,
)

__all__ = ["ClipResult", "SegmentBatch", "SegmentBatches", "release_buffers", "resolve_n_jobs",
           "run_segments"]

warn_deprecated("the module sklearn_samplecnn.pipeline", "sklearn_samplecnn.engine",
                stacklevel=2)
