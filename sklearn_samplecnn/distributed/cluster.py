"""Run a callable over shards on a Dask cluster: clients, shards, workers that keep it loaded.

:func:`map_shards` runs ``fn(shard)`` for every shard, as one Dask task per
shard, and yields the results as they complete. ``fn`` travels once, as
pickled bytes; a worker plugin
(:class:`~sklearn_samplecnn.distributed.plugin.KeepLoaded`) unpickles it on each
worker process the first time one of its tasks needs it and keeps it (with
whatever it holds: models on the worker's device), so a model is loaded once
per worker, never once per task. Nothing here knows what ``fn`` computes:
the feature transformers hand over their own shard function.
"""

from __future__ import annotations

import pickle
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence

from .._fileio import digest

__all__ = ["INSTALL", "client_address", "map_shards", "preload", "resolve_client", "shard_bounds",
           "worker_loads"]

#: How to get what running on a cluster needs.
INSTALL = 'pip install "sklearn-samplecnn[distributed]"'


# -- clients -------------------------------------------------------------------------
def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"running on a Dask cluster needs dask.distributed ({exc}); "
                          f"{INSTALL}") from None
    return distributed


_CLIENTS: dict[str, object] = {}  # one client per scheduler address, made on first use


def resolve_client(dask_client):
    """The ``dask.distributed.Client`` a transformer's ``dask_client`` names, or ``None``.

    Parameters
    ----------
    dask_client : None, "auto", str or Client
        ``None``: run in this process. ``"auto"``: the active client
        (``distributed.default_client()``) if there is one, else this process;
        inside a Dask task it is always this process (a task never fans out
        again). An address such as ``"tcp://scheduler:8786"``: a client
        connected to it (made once per address, then reused). A ``Client``:
        itself.

    Returns
    -------
    Client or None
    """
    if dask_client is None:
        return None
    if isinstance(dask_client, str):
        if dask_client == "auto":
            if "distributed" not in sys.modules:  # never imported: no client can exist
                return None
            import distributed

            try:
                distributed.get_worker()
                return None  # inside a task: compute here
            except ValueError:
                pass
            try:
                return distributed.default_client()
            except ValueError:
                return None
        client = _CLIENTS.get(dask_client)
        if client is None or client.status not in ("running", "connecting"):
            distributed = _import_distributed()
            client = distributed.Client(dask_client, set_as_default=False)
            _CLIENTS[dask_client] = client
        return client
    return dask_client


def client_address(client) -> str:
    """The scheduler address of ``client`` (what a pickled transformer reconnects to)."""
    return str(client.scheduler.address)


# -- shards --------------------------------------------------------------------------
def shard_bounds(n: int, shard_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: contiguous shards of ``shard_size`` items covering ``n``."""
    return [(a, min(a + shard_size, n)) for a in range(0, n, shard_size)]


# -- the callables kept on the workers -----------------------------------------------
def _plugin(worker=None):
    """This worker's :class:`~sklearn_samplecnn.distributed.plugin.KeepLoaded` (``worker``:
    what ``client.run`` passes; inside a task, the task's worker)."""
    from .plugin import NAME

    if worker is None:
        import distributed

        worker = distributed.get_worker()
    return worker.plugins[NAME]


def _register(client) -> None:
    from .plugin import NAME, KeepLoaded

    client.register_plugin(KeepLoaded(), name=NAME)  # idempotent: the loaded ones stay


def _run_shard(token: str, payload: bytes, shard):
    """What a Dask worker runs for one shard: the kept callable on the shard."""
    return _plugin().get(token, payload)(shard)


def _load(token: str, payload: bytes, dask_worker=None) -> None:
    _plugin(dask_worker).get(token, payload)


def worker_loads(dask_worker=None) -> dict[str, int]:
    """How many times this worker process unpickled each callable (run it with
    ``client.run(worker_loads)``, which passes ``dask_worker``)."""
    return dict(_plugin(dask_worker).loads)


def _payload(fn: Callable) -> tuple[str, bytes]:
    """``fn`` as bytes and their digest, which names it on the workers: the same callable
    (a fitted transformer's shard function) is the same token in every call."""
    data = pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
    return digest(data)[:32], data


def preload(fn: Callable, client) -> None:
    """Load ``fn`` on every worker of ``client`` now (otherwise each worker loads it for
    its first shard), e.g. to time the loading apart from the work."""
    _register(client)
    token, data = _payload(fn)
    client.run(_load, token, data)


def map_shards(fn: Callable, shards: Sequence[tuple[int, object]], client, *,
               scatter: bool = False) -> Iterator[tuple[int, object]]:
    """Yield ``(k, fn(shard))`` for every ``(k, shard)`` of ``shards``.

    Parameters
    ----------
    fn : callable
        Picklable; ``fn(shard)`` computes one shard. Sent once, kept on each
        worker (:class:`~sklearn_samplecnn.distributed.plugin.KeepLoaded`).
    shards : sequence of (int, object)
        Numbered shards, e.g. ``(k, list of paths)``.
    client : distributed.Client or None
        ``None``: the shards run here, in order. Else one task per shard,
        results yielded as they complete.
    scatter : bool, default=False
        Send each shard to the cluster first (large shards: waveform arrays).

    Yields
    ------
    (int, object)
        The shard's number and ``fn``'s result. An error in a task cancels
        the shards still pending and is raised here.
    """
    if client is None or not shards:
        for k, shard in shards:
            yield k, fn(shard)
        return
    distributed = _import_distributed()
    _register(client)
    token, data = _payload(fn)
    payload = client.scatter(data, hash=False, broadcast=True)
    run = uuid.uuid4().hex[:8]
    futures = {}
    for k, shard in shards:
        if scatter:
            shard = client.scatter([shard], hash=False)[0]  # the shard as one object
        future = client.submit(_run_shard, token, payload, shard,
                               key=f"samplecnn-shard-{run}-{k:05d}")
        futures[future.key] = (k, future)
    try:
        # this client's loop: there may be no default client to take one from
        pending = [f for _, f in futures.values()]
        for future in distributed.as_completed(pending, loop=client.loop):
            k, _ = futures.pop(future.key)
            result = future.result()  # re-raises an unexpected error of the task here
            future.release()
            yield k, result
    finally:
        if futures:
            client.cancel([f for _, f in futures.values()])
        payload.release()
