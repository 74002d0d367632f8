"""Deprecations: one wording, one warning class (``FutureWarning``, shown to users by default).

A renamed name keeps working, with a warning naming the new spelling, until
:data:`REMOVED_IN`. Standard library only.
"""

from __future__ import annotations

import warnings

__all__ = ["REMOVED_IN", "warn_deprecated"]

#: The release that removes the deprecated spellings.
REMOVED_IN = "0.2"


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (a ``FutureWarning``).

    Parameters
    ----------
    old : str
        The deprecated spelling, as the user wrote it (``"on_error='nan'"``).
    new : str
        What to write instead (``"on_error='skip'"``).
    stacklevel : int, default=3
        Passed to :func:`warnings.warn`: 3 points at the caller of the function
        that calls this one.
    """
    warnings.warn(f"{old} is deprecated and will be removed in {REMOVED_IN}; use {new} "
                  "instead.", FutureWarning, stacklevel=stacklevel)
