"""Deprecated: the process set-up moved to :mod:`sklearn_samplecnn.tunables`."""

from ._deprecate import warn_deprecated
from .tunables import (  # noqa: F401
    GLIBC_TUNABLES,
    NO_REEXEC_ENV,
    reexec_with_tunables,
    should_reexec,
)

__all__ = ["GLIBC_TUNABLES", "NO_REEXEC_ENV", "reexec_with_tunables", "should_reexec"]

warn_deprecated("the module sklearn_samplecnn._runtime", "sklearn_samplecnn.tunables",
                stacklevel=2)
