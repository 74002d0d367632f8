"""The local cluster of ``samplecnn extract --dask local`` and Ctrl-C: one quiet exit.

A terminal sends Ctrl-C (SIGINT) to every process of its group, the local
cluster's workers included; each would print a ``KeyboardInterrupt``
traceback. So the workers start with SIGINT ignored (an ignored signal stays
ignored in a new program, and Python then leaves it so), and Dask runs
:func:`dask_setup` in each as it starts (a worker ``preload``): from then on a
Ctrl-C only silences the worker's logging. The command's own process stops
the cluster, its logs silenced too, and exits 130: being stopped in the
middle of a task prints nothing (no traceback, no warning about the
cancelled task, no failed heartbeat).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

__all__ = ["WORKER_PRELOAD", "dask_setup", "quiet_dask_logs", "workers_deaf_to_ctrl_c"]

#: What the command passes as the workers' ``preload``: this module.
WORKER_PRELOAD = __name__


def _quiet(signum, frame) -> None:
    logging.disable(logging.CRITICAL)


def dask_setup(worker) -> None:
    """In a worker process: a Ctrl-C silences its logging instead of raising in it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _quiet)


@contextlib.contextmanager
def workers_deaf_to_ctrl_c() -> Iterator[None]:
    """SIGINT ignored while the local cluster starts its worker processes, which inherit
    it. A Ctrl-C during those few seconds is not seen (by this process either)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def quiet_dask_logs(quiet: bool = True) -> Iterator[None]:
    """Dask's logging in this process silenced (when ``quiet``) and restored after."""
    logger = logging.getLogger("distributed")
    level = logger.level
    if quiet:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)
