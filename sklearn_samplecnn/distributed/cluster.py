"""Dask execution of the feature transformers: clients, shards, workers that keep models.

A transformer whose ``dask_client`` names a client splits its clips into
contiguous shards and submits one task per shard; the fitted transformer
travels once, as pickled bytes, and each worker process unpickles it on its
first shard and keeps it (models on its device). Rows come back in input
order; failed files are handled by ``on_error`` exactly as in one process.
"""

from __future__ import annotations

import pickle
import sys
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np

from .._fileio import digest, file_key
from .._progress import progress as progress_bar
from ..engine import Clips
from ..exceptions import AudioLoadError

__all__ = ["client_address", "resolve_client", "shard_bounds", "transform_on_cluster"]

#: Written in every store's manifest; a store of another format is refused.
_INSTALL = 'pip install "sklearn-samplecnn[distributed]"'
_KEEP_LOADED = 2  # fitted transformers kept per worker process (models stay on its device)


# -- clients -------------------------------------------------------------------------
def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"running on a Dask cluster needs dask.distributed ({exc}); "
                          f"{_INSTALL}") from None
    return distributed


_CLIENTS: dict[str, object] = {}


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
    """``[(start, stop), ...]``: contiguous shards of ``shard_size`` clips covering ``n``."""
    return [(a, min(a + shard_size, n)) for a in range(0, n, shard_size)]


def _compute_shard(transformer, items: list, kind: str, on_error: str,
                   key: str | None) -> tuple[np.ndarray, dict[int, Exception], list | None]:
    """(rows, failed clip index -> error, file keys or None) of one shard, in this process."""
    clips = Clips(items, kind, sr=transformer._clips_sr(), res_type=transformer.res_type)
    rows, failed = transformer._rows(clips, on_error)
    keys = None
    if key is not None:
        keys = []
        for p in items:
            try:
                keys.append(file_key(p, content=key == "content"))
            except OSError:
                keys.append(None)  # a missing file: its error is in ``failed``
    return rows, failed, keys


_LOADED: OrderedDict[str, object] = OrderedDict()
_LOADS: dict[str, int] = {}
_LOAD_LOCK = threading.Lock()


def _worker_transformer(token: str, payload: bytes):
    """The fitted transformer ``payload`` holds, unpickled once per worker process and kept."""
    with _LOAD_LOCK:
        transformer = _LOADED.get(token)
        if transformer is None:
            transformer = pickle.loads(payload)
            _LOADS[token] = _LOADS.get(token, 0) + 1
            _LOADED[token] = transformer
            while len(_LOADED) > _KEEP_LOADED:
                _LOADED.popitem(last=False)
        else:
            _LOADED.move_to_end(token)
    return transformer


def _worker_loads() -> dict[str, int]:
    """How many times this worker process unpickled each transformer (for tests)."""
    return dict(_LOADS)


def _shard_task(token: str, payload: bytes, items: list, kind: str, on_error: str,
                key: str | None):
    """What a Dask worker runs for one shard.

    A file that fails with ``on_error="raise"`` comes back as the error
    itself, for the client to raise: a data problem, not a failed task for
    the worker's log.
    """
    try:
        return _compute_shard(_worker_transformer(token, payload), items, kind, on_error, key)
    except AudioLoadError as exc:
        return exc


def _payload(transformer) -> tuple[str, bytes]:
    """The fitted transformer as bytes for the workers (in-process there, no progress bar)
    and their digest, which names it on the workers: the same fitted transformer is the
    same token in every ``transform``, so a worker loads it once."""
    ship = object.__new__(type(transformer))
    ship.__dict__.update(transformer.__dict__)
    ship.__dict__.pop("failed_files_", None)  # the last transform's report: changes each time
    ship.dask_client = None
    ship.verbose = 0
    data = pickle.dumps(ship, protocol=pickle.HIGHEST_PROTOCOL)
    return digest(data)[:32], data


def _map_shards(transformer, items: list, kind: str, shards: Sequence[tuple[int, int, int]],
                client, *, on_error: str, key: str | None) -> Iterator[tuple[int, tuple]]:
    """Yield ``(shard number, shard result)`` for ``shards`` (number, start, stop).

    Without a client the shards run here, in order; with one, as Dask tasks,
    yielded as they complete. An error (``on_error="raise"``, or anything
    unexpected) cancels the shards still pending and propagates.
    """
    if client is None or not shards:
        for k, a, b in shards:
            yield k, _compute_shard(transformer, items[a:b], kind, on_error, key)
        return
    distributed = _import_distributed()
    token, data = _payload(transformer)
    payload = client.scatter(data, hash=False, broadcast=True)
    run = uuid.uuid4().hex[:8]
    futures = {}
    for k, a, b in shards:
        chunk = items[a:b] if kind == "paths" else client.scatter(list(items[a:b]), hash=False)
        future = client.submit(_shard_task, token, payload, chunk, kind, on_error, key,
                               key=f"samplecnn-shard-{run}-{k:05d}")
        futures[future.key] = (k, future)
    try:
        # this client's loop: there may be no default client to take one from
        pending = [f for _, f in futures.values()]
        for future in distributed.as_completed(pending, loop=client.loop):
            k, _ = futures.pop(future.key)
            result = future.result()  # re-raises an unexpected error of the task here
            future.release()
            if isinstance(result, AudioLoadError):
                raise result
            yield k, result
    finally:
        if futures:
            client.cancel([f for _, f in futures.values()])
        payload.release()


def _progress(transformer, total: int, desc: str):
    if not getattr(transformer, "verbose", 0) or not total:
        return None
    return progress_bar(total, desc)


def transform_on_cluster(transformer, clips: Clips, client
                         ) -> tuple[np.ndarray, dict[int, Exception]]:
    """Every clip's row computed on ``client``'s cluster, and the failed clips.

    What a transformer's ``transform`` runs when it has a client: shards of
    ``transformer.shard_size`` clips, one task each; rows placed in the order
    of ``clips``.
    """
    n = len(clips)
    out = np.empty((n, transformer.n_features_out_), dtype=np.float32)
    failed: dict[int, Exception] = {}
    shards = [(k, a, b) for k, (a, b) in enumerate(shard_bounds(n, transformer.shard_size))]
    progress = _progress(transformer, n, "features on Dask")
    try:
        for k, (rows, errors, _) in _map_shards(transformer, *clips.parts(), shards,
                                                client, on_error=transformer.on_error,
                                                key=None):
            a = shards[k][1]
            out[a:a + len(rows)] = rows
            failed.update({a + i: err for i, err in errors.items()})
            if progress is not None:
                progress.update(len(rows))
    finally:
        if progress is not None:
            progress.close()
    return out, failed


