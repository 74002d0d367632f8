"""The Dask worker plugin that keeps the callables of
:func:`~sklearn_samplecnn.distributed.map_shards` loaded on each worker.

Imported only when a cluster is used (it imports ``distributed``).
"""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["NAME", "KeepLoaded"]

#: The plugin's name on the workers.
NAME = "sklearn-samplecnn-keep-loaded"


class KeepLoaded(WorkerPlugin):
    """Keep the last ``keep`` callables of ``map_shards`` loaded on a Dask worker.

    Registered once per client; registering it again is a no-op
    (``idempotent``), so what the workers hold stays. On each worker process
    a callable is unpickled the first time a task needs it and kept, so a
    callable holding models (a fitted transformer's shard function) is loaded
    once per worker, not once per task.

    Parameters
    ----------
    keep : int, default=2
        Callables kept per worker (the least recently used goes first).
    """

    idempotent = True

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self.loaded: OrderedDict[str, Callable] = OrderedDict()
        self.loads: dict[str, int] = {}
        self._lock = threading.Lock()

    def __getstate__(self):
        return {"keep": self.keep}  # what the scheduler ships: no loaded state

    def __setstate__(self, state):
        self.__init__(state["keep"])

    def teardown(self, worker) -> None:
        self.loaded.clear()

    def get(self, token: str, payload: bytes) -> Callable:
        """The callable ``payload`` holds (named ``token``), unpickled once and kept."""
        with self._lock:
            fn = self.loaded.get(token)
            if fn is None:
                fn = pickle.loads(payload)
                self.loads[token] = self.loads.get(token, 0) + 1
                self.loaded[token] = fn
                while len(self.loaded) > self.keep:
                    self.loaded.popitem(last=False)
            else:
                self.loaded.move_to_end(token)
        return fn
