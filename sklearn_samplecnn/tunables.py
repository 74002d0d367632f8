"""Process-level settings for fast CPU runs: the glibc malloc tunables.

glibc serves the large activation buffers of a SampleCNN forward pass with
``mmap`` and hands them back to the operating system after every call, so
each forward pass page-faults its buffers in again. Started with
:data:`GLIBC_TUNABLES` in the environment, glibc keeps and reuses them, and
CPU training and inference run much faster (see docs/performance.md).

The tunables are read once, when the process starts, so they cannot be set
from inside a running Python: :func:`reexec_with_tunables` restarts the
interpreter with them. The command-line tool does that for itself; examples
and benchmarks may call it first thing in their ``__main__`` block. Set
``SAMPLECNN_NO_REEXEC=1`` to turn the restart off.

Standard library only: this runs before numpy or torch are imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["GLIBC_TUNABLES", "NO_REEXEC_ENV", "reexec_with_tunables", "should_reexec"]

#: The glibc malloc settings that keep large activation buffers out of mmap:
#: no mmap'd chunks, and no trimming of the heap below 16 GiB.
GLIBC_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"
#: Environment variable that, when set to anything but "" or "0", turns the restart off.
NO_REEXEC_ENV = "SAMPLECNN_NO_REEXEC"


def _is_glibc() -> bool:
    """Whether this process runs on Linux with glibc (musl, macOS and Windows do not)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError, TypeError):
        return False


def should_reexec(environ: os._Environ | dict | None = None) -> bool:
    """Whether :func:`reexec_with_tunables` would restart the interpreter.

    True on Linux with glibc when ``GLIBC_TUNABLES`` is not set at all (a value
    chosen by the user is always kept) and ``SAMPLECNN_NO_REEXEC`` is unset,
    empty or ``"0"``.
    """
    env = os.environ if environ is None else environ
    if "GLIBC_TUNABLES" in env:
        return False
    if env.get(NO_REEXEC_ENV, "") not in ("", "0"):
        return False
    return _is_glibc()


def reexec_with_tunables(argv: Sequence[str]) -> None:
    """Restart this interpreter with :data:`GLIBC_TUNABLES` set, running ``argv``.

    Replaces the current process (``os.execve``): nothing after the call runs
    when the restart happens. Does nothing, and returns, when
    :func:`should_reexec` is False or the restart fails.

    Parameters
    ----------
    argv : sequence of str
        The interpreter's arguments, e.g. ``sys.argv`` for a script
        (``["examples/demo.py", "--quick"]``) or
        ``["-m", "sklearn_samplecnn.cli", "train", ...]`` for a module.

    Examples
    --------
    At the top of a script's ``__main__`` block::

        if __name__ == "__main__":
            reexec_with_tunables(sys.argv)
            main()
    """
    if not should_reexec():
        return
    env = dict(os.environ, GLIBC_TUNABLES=GLIBC_TUNABLES)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    try:
        os.execve(sys.executable, [sys.executable, *argv], env)
    except OSError:
        return  # could not restart: go on without the tunables
