"""The library's error tree.

Every error raised on purpose by sklearn-samplecnn derives from
:class:`SampleCNNError`, so ``except SampleCNNError`` catches them all. Each
also derives from the builtin that describes it best (``OSError`` for files,
``ValueError`` for bad values), so code written against the builtins keeps
working.
"""

from __future__ import annotations

import os

__all__ = ["SampleCNNError", "AudioLoadError", "ClipTooShortError", "PretrainedFileError",
           "DatasetNotFoundError", "FeatureStoreError", "list_failures"]


def list_failures(failures, limit: int = 20) -> str:
    """The failures (errors or messages) as indented lines, the first ``limit`` of them
    and a count of the rest: the one format every report of bad files uses."""
    failures = [str(f) for f in failures]
    listing = "".join(f"\n  {f}" for f in failures[:limit])
    more = f"\n  ... and {len(failures) - limit} more" if len(failures) > limit else ""
    return listing + more


class SampleCNNError(Exception):
    """Base class of every error raised by sklearn-samplecnn."""


class AudioLoadError(SampleCNNError, OSError):
    """An audio file could not be read or holds unusable audio.

    The message always names the file and the cause; ``path`` and ``reason``
    hold them separately.
    """

    def __init__(self, path: str | os.PathLike, reason: str | None = None) -> None:
        # One argument: an already formatted message (how torch's DataLoader
        # re-raises an error from a worker process).
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(self.path if reason is None else f"{self.path}: {reason}")

    def __reduce__(self):  # keep the two-argument form picklable (worker processes)
        return (type(self), (self.path, self.reason))


class ClipTooShortError(SampleCNNError, ValueError):
    """A clip is shorter than one segment and the caller asked for an error."""


class PretrainedFileError(SampleCNNError, ValueError):
    """A pretrained file is missing pieces, mismatching or was tampered with."""


class DatasetNotFoundError(SampleCNNError, FileNotFoundError):
    """A dataset is not where the loader looked; the message says what was expected."""


class FeatureStoreError(SampleCNNError, ValueError):
    """A feature store folder cannot be used: not a store, unfinished, or another run's."""
