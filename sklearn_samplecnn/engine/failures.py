"""The one failure policy and its one report: clips that cannot be decoded.

Every estimator, transformer and command of the library takes ``on_error``
with one meaning:

* ``"raise"``: the first clip that cannot be decoded (a missing or corrupt
  file, a header that promises samples the body lacks, NaN samples, a clip
  that resamples to nothing) raises an error naming it; when headers are
  read first, every unreadable header is listed in that one error.
* ``"skip"``: the clip is left out and the rest go on. Training leaves its
  segments out; ``transform``, ``predict_proba`` and ``predict`` keep one row
  per clip, NaN (``None`` labels) for a skipped clip, the way scikit-learn
  marks missing values (``SimpleImputer`` or ``HistGradientBoosting*`` take
  it from there); per-segment outputs give it no rows. The skipped files are
  listed in one warning per call, each with its cause, and in the
  estimator's ``failed_files_``.

:class:`FailureReport` is that policy for one call; :func:`check_headers`
reads every file's header first. The transformers' former values
``"nan"`` (now ``"skip"``) and ``"zeros"`` (``"skip"`` and zeros instead of
NaN) still work, with a ``FutureWarning`` (:func:`resolve_on_error`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from .._compat import StrOptions
from .._deprecate import warn_deprecated
from ..exceptions import AudioLoadError, list_failures
from .clips import Clips

__all__ = ["ON_ERROR", "FailureReport", "check_headers", "on_error_constraint",
           "resolve_on_error"]

#: The values of ``on_error``, everywhere.
ON_ERROR = ("raise", "skip")
# the transformers' former values: "nan" is "skip"; "zeros" is "skip" with zero rows
_DEPRECATED = {"nan": ("skip", np.nan), "zeros": ("skip", 0.0)}


def on_error_constraint(*, deprecated: bool = False) -> StrOptions:
    """The ``_parameter_constraints`` entry of ``on_error`` (with the transformers'
    deprecated values when ``deprecated``)."""
    if not deprecated:
        return StrOptions(set(ON_ERROR))
    return StrOptions({*ON_ERROR, *_DEPRECATED}, deprecated=set(_DEPRECATED))


def resolve_on_error(on_error: str, *, warn: bool = True) -> tuple[str, float]:
    """``(policy, fill)``: ``"raise"`` or ``"skip"``, and the value of a skipped clip's row.

    ``fill`` is NaN except for the deprecated ``"zeros"``. The deprecated
    ``"nan"`` and ``"zeros"`` warn (``FutureWarning``) when ``warn``.
    """
    if on_error in _DEPRECATED:
        policy, fill = _DEPRECATED[on_error]
        if warn:
            new = "on_error='skip'" + (
                " (rows of NaN; SimpleImputer(strategy='constant', fill_value=0) in the "
                "pipeline gives zeros)" if on_error == "zeros" else "")
            warn_deprecated(f"on_error={on_error!r}", new, stacklevel=4)
        return policy, fill
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {list(ON_ERROR)}, got {on_error!r}.")
    return on_error, np.nan


class FailureReport:
    """The clips one call could not decode, under one ``on_error`` policy.

    Parameters
    ----------
    clips : Clips or sequence of str
        The call's clips, or their names (paths): names and count for the report.
    on_error : {"raise", "skip"}
        ``"raise"``: :meth:`add` raises the error at once; ``"skip"``: it
        records it for :meth:`warn` and :attr:`files`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_samplecnn.engine import Clips
    >>> from sklearn_samplecnn.exceptions import AudioLoadError
    >>> report = FailureReport(Clips([np.zeros(4, np.float32)] * 3, "arrays", sr=8000), "skip")
    >>> report.add(1, AudioLoadError("X[1]", "contains NaN"))
    >>> report.files, report.message("their rows are NaN")
    (['X[1]'], '1 of 3 clips could not be decoded; their rows are NaN:\\n  X[1]: contains NaN')
    """

    def __init__(self, clips: Clips | Sequence[str], on_error: str) -> None:
        self.clips = clips
        self._name = clips.name if isinstance(clips, Clips) else lambda i: str(clips[i])
        self.on_error = resolve_on_error(on_error, warn=False)[0]
        self.errors: dict[int, Exception] = {}

    def __len__(self) -> int:
        return len(self.errors)

    def add(self, index: int, error: Exception) -> None:
        """Clip ``index`` failed with ``error``: raised at once under ``"raise"``; the
        first error of a clip is the one kept."""
        if self.on_error == "raise":
            raise error
        self.errors.setdefault(int(index), error)

    def index_of(self, name: str) -> int:
        """The index of the clip named ``name`` (its path, or ``X[i]``)."""
        for i in range(len(self.clips)):
            if self._name(i) == name:
                return i
        raise KeyError(f"no clip named {name!r} in this report.")

    def update(self, errors: dict[int, Exception]) -> None:
        """:meth:`add` each ``{clip index: error}`` (a shard's report)."""
        for index, error in errors.items():
            self.add(index, error)

    @property
    def files(self) -> list[str]:
        """The failed clips' names (paths, or ``X[i]``), in input order."""
        return [self._name(i) for i in sorted(self.errors)]

    def listing(self) -> str:
        """The failed clips with their causes, one indented line each (at most 20)."""
        return list_failures(self.errors[i] for i in sorted(self.errors))

    def message(self, consequence: str) -> str:
        """``"<k> of <n> clips could not be decoded; <consequence>:"`` and the
        :meth:`listing`."""
        return (f"{len(self.errors)} of {len(self.clips)} clips could not be decoded; "
                f"{consequence}:{self.listing()}")

    def warn(self, consequence: str, *, stacklevel: int = 3) -> None:
        """One ``UserWarning`` with :meth:`message`, when any clip failed."""
        if self.errors:
            warnings.warn(self.message(consequence), UserWarning, stacklevel=stacklevel)


def check_headers(clips: Clips, report: FailureReport) -> np.ndarray:
    """Read every file's header first; return the indexes of the clips to go on with.

    Under ``"raise"`` every unreadable header is listed in one
    :class:`~sklearn_samplecnn.exceptions.AudioLoadError`; under ``"skip"``
    they go into ``report`` and are left out. Clips given as arrays have no
    header: all are kept.

    Raises
    ------
    AudioLoadError
        Unreadable headers under ``"raise"``, or no readable file at all.
    """
    keep = np.arange(len(clips))
    if clips.kind != "paths":
        return keep
    errors = clips.check_files()
    if not errors:
        return keep
    if report.on_error == "raise":
        raise AudioLoadError(*_one_error(errors, len(clips)))
    bad = {e.path for e in errors}
    for i, path in enumerate(clips.items):
        if path in bad:
            report.add(i, next(e for e in errors if e.path == path))
    keep = np.array([i for i, p in enumerate(clips.items) if p not in bad], dtype=np.int64)
    if len(keep) == 0:
        raise AudioLoadError(errors[0].path if len(errors) == 1 else
                             f"{len(errors)} of {len(clips)} files",
                             f"no readable file left:{list_failures(errors)}")
    return keep


def _one_error(errors: Iterable[AudioLoadError], n: int) -> tuple[str, str]:
    errors = list(errors)
    if len(errors) == 1:
        return errors[0].path, errors[0].reason
    return f"{len(errors)} of {n} files", f"cannot be read:{list_failures(errors)}"
