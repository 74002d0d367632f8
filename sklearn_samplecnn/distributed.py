"""Dask execution and the resumable feature store.

Two ways past one process, both built on existing engines:

* **A Dask cluster** (``dask.distributed``): a feature transformer whose
  ``dask_client`` names a client (``"auto"``, the default, takes the active
  one) splits its clips into contiguous *shards* of ``shard_size`` clips and
  submits one task per shard. The fitted transformer travels once, as
  pickled bytes; each worker process unpickles it on its first shard and
  keeps it (models on its device) for every later shard and call, so an
  extractor is loaded once per worker, never once per task. Rows come back
  in input order, and failed files are handled by ``on_error`` exactly as in
  one process.
* **A feature store** (:func:`write_feature_store`): a folder of Parquet files,
  one per shard, written atomically as shards finish, with a
  ``_manifest.json`` describing the run. A killed run restarted with the same
  inputs and settings skips the finished shards; :func:`read_feature_store`
  gives back the matrix ``transform`` would have returned.

Nothing here imports dask or pyarrow until it is used (both are optional:
``pip install "sklearn-samplecnn[distributed]"``), nor the feature transformers:
any fitted transformer with the :class:`~sklearn_samplecnn.features._base.
ClipFeatureTransformer` interface works.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ._clips import Clips
from ._fileio import atomic_write, digest, file_key
from .exceptions import AudioLoadError, FeatureStoreError

__all__ = ["STORE_FORMAT", "read_feature_store", "resolve_client", "write_feature_store"]

#: Written in every store's manifest; a store of another format is refused.
STORE_FORMAT = "sklearn-samplecnn-store/1"
MANIFEST = "_manifest.json"  # a leading "_": Parquet readers skip it in a folder scan
STORE_KEYS = ("content", "stat")
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
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="clip")


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
        for k, (rows, errors, _) in _map_shards(transformer, clips.items, clips.kind, shards,
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


# -- the feature store ---------------------------------------------------------------
def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(f"the feature store is written in Parquet and needs pyarrow ({exc}); "
                          f"{_INSTALL}") from None
    return pa, pq


def _shard_file(store: Path, k: int) -> Path:
    return store / f"shard-{k:05d}.parquet"


def _check_paths(paths) -> list[str]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"paths must be a list of audio file paths, got a single path "
                        f"{paths!r}; wrap it in a list.")
    paths = list(paths)
    if not paths:
        raise ValueError("paths is empty: give at least one audio file.")
    bad = [p for p in paths if not isinstance(p, (str, os.PathLike))]
    if bad:
        raise TypeError("the feature store takes audio file paths (its rows are keyed by "
                        f"file); got {type(bad[0]).__name__} items. Use transform for "
                        "waveform arrays.")
    return [os.fspath(p) for p in paths]


def _manifest(transformer, paths: list[str], key: str) -> dict:
    from . import __version__

    tokens = [list(fp.tokens) for fp in transformer._passes()]
    names = [str(n) for n in transformer.get_feature_names_out()]
    return {
        "format": STORE_FORMAT,
        "transformer": type(transformer).__name__,
        "settings_sha256": digest(type(transformer).__name__, json.dumps(tokens), *names),
        "feature_names": names,
        "n_clips": len(paths),
        "paths_sha256": digest(*paths),
        "shard_size": int(transformer.shard_size),
        "n_shards": len(shard_bounds(len(paths), transformer.shard_size)),
        "key": key,
        "params": {k: repr(v)[:200] for k, v in transformer.get_params(deep=False).items()
                   if k != "dask_client"},  # for people reading it; never compared
        "library_version": __version__,
    }


_MISMATCH = {
    "format": "was written by another version of the store format",
    "transformer": "holds another transformer's features",
    "settings_sha256": "holds features of other settings (models, layers, pooling, rates, "
                       "device type or precision)",
    "feature_names": "holds other feature columns",
    "n_clips": "was written for another number of input files",
    "paths_sha256": "was written for other input files (or another order)",
    "shard_size": "was written with another shard size",
    "key": "keys its files another way",
}


def _open_store(store: Path, manifest: dict) -> None:
    """Create ``store`` with ``manifest``, or check that the one there matches it."""
    file = store / MANIFEST
    if file.exists():
        try:
            found = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FeatureStoreError(f"{store}: its {MANIFEST} cannot be read ({exc}); "
                                    "delete the folder to start over.") from None
        for field, why in _MISMATCH.items():
            if found.get(field) != manifest[field]:
                detail = "" if field in ("feature_names", "settings_sha256", "paths_sha256") \
                    else f" ({field} {found.get(field)!r} there, {manifest[field]!r} now)"
                raise FeatureStoreError(
                    f"{store} {why}{detail}; it cannot be resumed with this command. "
                    "Write to another folder, or delete this one to start over.")
        return
    if store.exists() and any(store.iterdir()):
        raise FeatureStoreError(f"{store} is a folder with files but no {MANIFEST}: not a "
                                "feature store. Give an empty or new folder.")
    atomic_write(file, lambda f: f.write(json.dumps(manifest, indent=1).encode()), fsync=True)


def _finished(store: Path, k: int, paths: list[str], columns: list[str]) -> bool:
    """Whether shard ``k``'s file is there, complete and for these paths."""
    file = _shard_file(store, k)
    if not file.exists():
        return False
    _, pq = _pyarrow()
    try:
        meta = pq.read_metadata(file)
        ok = meta.num_rows == len(paths) and meta.schema.names == columns and \
            pq.read_table(file, columns=["path"]).column("path").to_pylist() == paths
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        ok, why = False, str(exc)
    else:
        why = "other rows or columns than expected"
    if not ok:
        warnings.warn(f"{file} is unreadable or incomplete ({why}); computing it again",
                      RuntimeWarning, stacklevel=3)
    return ok


def _write_shard(store: Path, k: int, paths: list[str], keys: list, errors: dict,
                 rows: np.ndarray, names: list[str]) -> None:
    """Shard ``k`` as one Parquet file, written to a temporary name and renamed."""
    pa, pq = _pyarrow()
    columns = [pa.array(paths, pa.string()), pa.array(keys, pa.string()),
               pa.array([str(errors[i]) if i in errors else None for i in range(len(paths))],
                        pa.string())]
    columns += [pa.array(rows[:, j], pa.float32()) for j in range(rows.shape[1])]
    table = pa.Table.from_arrays(columns, names=["path", "key", "error", *names])
    atomic_write(_shard_file(store, k), lambda f: pq.write_table(table, f), fsync=True)


def write_feature_store(transformer, paths: Sequence[str | os.PathLike],
                        store: str | os.PathLike, *, key: str = "content") -> Bunch:
    """Extract features of ``paths`` into a resumable folder of Parquet shards.

    The files are split into contiguous shards of ``transformer.shard_size``;
    each finished shard is written at once as ``shard-NNNNN.parquet`` (to a
    temporary name, then renamed: a file there is always complete) with the
    columns ``path``, ``key`` (the file's key, see ``key``), ``error`` (why
    the file failed to decode, else null) and one float32 column per
    feature name. ``_manifest.json`` records the format, the transformer's
    settings (the cache tokens of every block: models' weights hashes,
    layers, pooling, rates, device type, precision), the feature names, a
    hash of the ordered paths and the shard size.

    Run it again with the same transformer settings and paths (after a crash,
    a kill, a pre-empted job) and the finished shards are kept, not
    recomputed; other settings or paths are refused with a
    :class:`~sklearn_samplecnn.exceptions.FeatureStoreError` saying what
    differs (the store is never silently mixed or overwritten).

    Shards run where the transformer's ``transform`` would: on its Dask
    client (``dask_client``), or in this process. The writing is done here,
    so the store need not be on a filesystem the workers share.

    Parameters
    ----------
    transformer : fitted MultiScaleFeatureTransformer or MFCCStatsTransformer
    paths : sequence of str or path-like
        Audio files, in the order of the store's rows.
    store : str or path-like
        A new or empty folder, or a store written earlier by the same command.
    key : {"content", "stat"}, default="content"
        The ``key`` column: a SHA-256 of each file's bytes (survives copies;
        one more read of each file, usually from the page cache) or its stat
        identity (path, size, times, inode: no read). Recorded, not checked
        on resume.

    Returns
    -------
    Bunch
        ``store`` (Path), ``n_shards``, ``computed`` and ``reused`` (shard
        counts of this run), ``failed_files`` (every file of the store that
        failed to decode, in row order).

    Raises
    ------
    FeatureStoreError
        ``store`` holds another run's features, or files but no manifest.
    AudioLoadError
        With ``on_error="raise"``, the first file that fails; the shards
        finished before it are kept.

    See Also
    --------
    read_feature_store : the matrix, paths and feature names back.
    """
    check_is_fitted(transformer, "feature_names_out_")
    if key not in STORE_KEYS:
        raise ValueError(f"key must be one of {STORE_KEYS}, got {key!r}.")
    paths = _check_paths(paths)
    _pyarrow()
    store = Path(store).expanduser()
    manifest = _manifest(transformer, paths, key)
    names = manifest["feature_names"]
    _open_store(store, manifest)
    bounds = shard_bounds(len(paths), transformer.shard_size)
    columns = ["path", "key", "error", *names]
    todo = [(k, a, b) for k, (a, b) in enumerate(bounds)
            if not _finished(store, k, paths[a:b], columns)]
    client = resolve_client(transformer.dask_client)
    progress = _progress(transformer, sum(b - a for _, a, b in todo), "feature store")
    try:
        for k, (rows, errors, keys) in _map_shards(transformer, paths, "paths", todo, client,
                                                   on_error=transformer.on_error, key=key):
            a, b = bounds[k]
            _write_shard(store, k, paths[a:b], keys, errors, rows, names)
            if progress is not None:
                progress.update(b - a)
    finally:
        if progress is not None:
            progress.close()
    failed = {}
    _, pq = _pyarrow()
    for k, (a, _) in enumerate(bounds):
        errors = pq.read_table(_shard_file(store, k), columns=["error"]).column("error")
        failed.update({a + i: e for i, e in enumerate(errors.to_pylist()) if e is not None})
    transformer._report_failed(Clips(paths, "paths", sr=1), failed)
    return Bunch(store=store, n_shards=len(bounds), computed=len(todo),
                 reused=len(bounds) - len(todo), failed_files=[paths[i] for i in sorted(failed)])


def read_feature_store(store: str | os.PathLike, *, as_frame: bool = False) -> Bunch:
    """Read a feature store written by :func:`write_feature_store` (or ``samplecnn extract``).

    Parameters
    ----------
    store : str or path-like
        The store's folder.
    as_frame : bool, default=False
        Also give the whole table as a pandas DataFrame (``frame``).

    Returns
    -------
    Bunch
        ``data``: float32 ndarray (n_clips, n_features), the rows in the order
        the paths were given (what ``transform`` returns); ``paths``,
        ``file_keys`` and ``errors`` (None, or why the file failed) per row;
        ``feature_names`` (ndarray of str); ``failed_files``; ``manifest``
        (dict); and ``frame`` when ``as_frame``.

    Raises
    ------
    FeatureStoreError
        Not a store, or an unfinished one (the message lists the missing
        shards: rerun the command that wrote it).
    """
    _, pq = _pyarrow()
    store = Path(store).expanduser()
    try:
        manifest = json.loads((store / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FeatureStoreError(f"{store} is not a readable feature store: no valid "
                                f"{MANIFEST} ({exc}).") from None
    if manifest.get("format") != STORE_FORMAT:
        raise FeatureStoreError(f"{store}: format {manifest.get('format')!r}, this version "
                                f"reads {STORE_FORMAT!r}.")
    names = manifest["feature_names"]
    missing = [k for k in range(manifest["n_shards"]) if not _shard_file(store, k).exists()]
    if missing:
        shown = ", ".join(_shard_file(store, k).name for k in missing[:5])
        raise FeatureStoreError(
            f"{store} is unfinished: {len(missing)} of {manifest['n_shards']} shards are "
            f"missing ({shown}{', ...' if len(missing) > 5 else ''}); run the command that "
            "wrote it again to finish it.")
    X = np.empty((manifest["n_clips"], len(names)), dtype=np.float32)
    paths, keys, errors, tables = [], [], [], []
    for k, (a, b) in enumerate(shard_bounds(manifest["n_clips"], manifest["shard_size"])):
        table = pq.read_table(_shard_file(store, k))
        if table.num_rows != b - a or table.column_names[3:] != names:
            raise FeatureStoreError(f"{_shard_file(store, k)}: {table.num_rows} rows and "
                                    f"{table.num_columns} columns, expected {b - a} rows "
                                    "of the manifest's features.")
        for j in range(len(names)):
            X[a:b, j] = table.column(3 + j).to_numpy()
        paths += table.column("path").to_pylist()
        keys += table.column("key").to_pylist()
        errors += table.column("error").to_pylist()
        if as_frame:
            tables.append(table)
    out = Bunch(data=X, paths=paths, file_keys=keys, errors=errors,
                feature_names=np.array(names, dtype=object),
                failed_files=[p for p, e in zip(paths, errors) if e is not None],
                manifest=manifest)
    if as_frame:
        import pyarrow as pa

        out.frame = pa.concat_tables(tables).to_pandas()
    return out
