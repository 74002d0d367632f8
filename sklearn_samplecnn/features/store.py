"""The resumable feature store: a folder of Parquet shards and a manifest.

:func:`write_feature_store` writes one Parquet file per shard of clips,
atomically, as shards finish, with a ``_manifest.json`` describing the run; a
killed run restarted with the same inputs and settings keeps the finished
shards; :func:`read_feature_store` gives back the matrix ``transform`` would
have returned, after checking the manifest against the shards (row counts,
paths and their order, no shard more or less) and, by default, each shard's
SHA-256 (stored in its Parquet metadata) against its values.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .._fileio import atomic_write, digest
from ..audio import FILE_KEYS
from ..distributed import INSTALL, resolve_client, shard_bounds
from ..engine import FailureReport
from ..exceptions import FeatureStoreError

__all__ = ["STORE_FORMAT", "read_feature_store", "write_feature_store"]

STORE_FORMAT = "sklearn-samplecnn-store/1"
MANIFEST = "_manifest.json"  # a leading "_": Parquet readers skip it in a folder scan
SHARD_SHA256 = b"sklearn_samplecnn_sha256"  # a shard's checksum, in its Parquet metadata

# -- the feature store ---------------------------------------------------------------
def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(f"the feature store is written in Parquet and needs pyarrow ({exc}); "
                          f"{INSTALL}") from None
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
    from .. import __version__

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


def _shard_sha256(paths: list, keys: list, errors: list, rows: np.ndarray) -> str:
    """SHA-256 of a shard's content: its paths, keys and errors, and its values' bytes."""
    return digest(json.dumps([paths, keys, errors]),
                  np.ascontiguousarray(rows, dtype="<f4").tobytes())


def _shard_problem(table, n_rows: int, names: list[str], *, paths: list[str] | None = None,
                   verify: bool = True, required: bool = True
                   ) -> tuple[str | None, np.ndarray | None]:
    """(what is wrong with a shard's table, or None; its feature values). ``paths``: the
    rows it must hold, in order; ``verify``: its values must match its SHA-256, which
    it must have unless ``required=False``."""
    if table.num_rows != n_rows or table.column_names != ["path", "key", "error", *names]:
        return (f"{table.num_rows} rows and {table.num_columns} columns, expected {n_rows} "
                "rows of the manifest's features"), None
    if paths is not None and table.column("path").to_pylist() != paths:
        return "other files (or another order) than its rows should hold", None
    values = np.empty((n_rows, len(names)), dtype=np.float32)
    for j in range(len(names)):
        values[:, j] = table.column(3 + j).to_numpy()
    if verify:
        recorded = (table.schema.metadata or {}).get(SHARD_SHA256)
        if recorded is None and not required:
            return None, values
        if recorded is None:
            return ("no SHA-256 in its metadata (rewritten by another tool, or written "
                    "before shards carried one); read_feature_store(..., verify=False) "
                    "reads it unchecked"), values
        found = _shard_sha256(*(table.column(c).to_pylist() for c in ("path", "key", "error")),
                              values)
        if recorded.decode() != found:
            return (f"its values changed since it was written (SHA-256 {found[:12]}... != "
                    f"recorded {recorded.decode()[:12]}...)"), values
    return None, values


def _finished(store: Path, k: int, paths: list[str], columns: list[str]) -> bool:
    """Whether shard ``k``'s file is there, complete, for these paths and unmodified (a
    shard written before shards carried a SHA-256 is kept: finished work is not redone)."""
    file = _shard_file(store, k)
    if not file.exists():
        return False
    _, pq = _pyarrow()
    try:
        why, _ = _shard_problem(pq.read_table(file), len(paths), columns[3:], paths=paths,
                                required=False)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        why = str(exc)
    if why is not None:
        warnings.warn(f"{file} is unreadable, incomplete or modified ({why}); computing it "
                      "again", RuntimeWarning, stacklevel=3)
    return why is None


def _write_shard(store: Path, k: int, paths: list[str], keys: list, errors: dict,
                 rows: np.ndarray, names: list[str]) -> None:
    """Shard ``k`` as one Parquet file, written to a temporary name and renamed; its
    SHA-256 in the file's metadata."""
    pa, pq = _pyarrow()
    messages = [str(errors[i]) if i in errors else None for i in range(len(paths))]
    columns = [pa.array(paths, pa.string()), pa.array(keys, pa.string()),
               pa.array(messages, pa.string())]
    columns += [pa.array(rows[:, j], pa.float32()) for j in range(rows.shape[1])]
    checksum = _shard_sha256(list(paths), list(keys), messages, rows)
    table = pa.Table.from_arrays(columns, names=["path", "key", "error", *names],
                                 metadata={SHARD_SHA256: checksum.encode()})
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
    key : {"stat", "content"}, default="content"
        The ``key`` column, one of :data:`sklearn_samplecnn.audio.FILE_KEYS`
        (the kinds ``cache_key`` takes too): a SHA-256 of each file's bytes
        or its stat identity (path, size, times, inode: no read). The default
        differs from ``cache_key``'s on purpose: a store's keys are recorded
        to identify its rows wherever the files are copied (one more read of
        each file, usually from the page cache), while the cache looks every
        file up on each transform, where one ``stat`` is what keeps a rerun
        cheap. Recorded, not checked on resume.

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
    if key not in FILE_KEYS:
        raise ValueError(f"key must be one of {FILE_KEYS}, got {key!r}.")
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
    progress = transformer._progress(sum(b - a for _, a, b in todo), "feature store")
    shards = [(k, (paths[a:b], "paths", key)) for k, a, b in todo]
    try:
        for k, (rows, errors, keys) in transformer._map_shards(shards, client):
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
    report = FailureReport(paths, transformer.on_error)
    report.update(failed)
    transformer._report_failed(report)
    return Bunch(store=store, n_shards=len(bounds), computed=len(todo),
                 reused=len(bounds) - len(todo), failed_files=[paths[i] for i in sorted(failed)])


def read_feature_store(store: str | os.PathLike, *, as_frame: bool = False,
                       verify: bool = True) -> Bunch:
    """Read a feature store written by :func:`write_feature_store` (or ``samplecnn extract``).

    The manifest is checked against the shards before anything is returned:
    its clip count, shard size and shard count must agree, every shard must
    be there with its rows and the manifest's columns and no other shard file
    may be, and the paths of all rows, in order, must be those the manifest's
    hash was made of. An edited manifest (a lowered ``n_clips``) is refused,
    never read as a shorter matrix.

    Parameters
    ----------
    store : str or path-like
        The store's folder.
    as_frame : bool, default=False
        Also give the whole table as a pandas DataFrame (``frame``).
    verify : bool, default=True
        Check each shard's values against the SHA-256 written in its Parquet
        metadata (one hash over the values read: edited or damaged values are
        refused). ``False`` reads stores whose shards carry none (written by
        an earlier version, or rewritten by another tool) and skips the hash.

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
        Not a store, an unfinished one (the message lists the missing
        shards: rerun the command that wrote it), or a manifest and shards
        that do not agree, or a shard whose values changed (``verify``).
    """
    _, pq = _pyarrow()
    store = Path(store).expanduser()
    try:
        manifest = json.loads((store / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FeatureStoreError(f"{store} is not a readable feature store: no valid "
                                f"{MANIFEST} ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise FeatureStoreError(f"{store}: format {found!r}, this version reads "
                                f"{STORE_FORMAT!r}.")
    bounds = _manifest_bounds(store, manifest)
    names = manifest["feature_names"]
    missing = [k for k in range(len(bounds)) if not _shard_file(store, k).exists()]
    if missing:
        shown = ", ".join(_shard_file(store, k).name for k in missing[:5])
        raise FeatureStoreError(
            f"{store} is unfinished: {len(missing)} of {manifest['n_shards']} shards are "
            f"missing ({shown}{', ...' if len(missing) > 5 else ''}); run the command that "
            "wrote it again to finish it.")
    X = np.empty((manifest["n_clips"], len(names)), dtype=np.float32)
    paths, keys, errors, tables = [], [], [], []
    for k, (a, b) in enumerate(bounds):
        file = _shard_file(store, k)
        table = pq.read_table(file)
        why, values = _shard_problem(table, b - a, names, verify=verify)
        if why is not None:
            raise FeatureStoreError(f"{file}: {why}.")
        X[a:b] = values
        paths += table.column("path").to_pylist()
        keys += table.column("key").to_pylist()
        errors += table.column("error").to_pylist()
        if as_frame:
            tables.append(table)
    if digest(*paths) != manifest["paths_sha256"]:
        raise FeatureStoreError(f"{store}: the shards' paths (or their order) are not those "
                                f"the {MANIFEST} was written for; the store was modified.")
    out = Bunch(data=X, paths=paths, file_keys=keys, errors=errors,
                feature_names=np.array(names, dtype=object),
                failed_files=[p for p, e in zip(paths, errors) if e is not None],
                manifest=manifest)
    if as_frame:
        import pyarrow as pa

        out.frame = pa.concat_tables(tables).to_pandas()
    return out


def _manifest_bounds(store: Path, manifest: dict) -> list[tuple[int, int]]:
    """The shards' row ranges the manifest implies, after checking that its counts agree
    with each other and with the shard files in the folder."""
    n, size, count = (manifest.get(k) for k in ("n_clips", "shard_size", "n_shards"))
    for key, value in (("n_clips", n), ("shard_size", size), ("n_shards", count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FeatureStoreError(f"{store}: {MANIFEST} has {key} {value!r}, expected a "
                                    "positive integer; the manifest was modified.")
    if not isinstance(manifest.get("feature_names"), list) or \
            not isinstance(manifest.get("paths_sha256"), str):
        raise FeatureStoreError(f"{store}: {MANIFEST} lacks its feature_names or "
                                "paths_sha256; the manifest was modified.")
    bounds = shard_bounds(n, size)
    if len(bounds) != count:
        raise FeatureStoreError(
            f"{store}: {MANIFEST} counts {n} clips in shards of {size}, which makes "
            f"{len(bounds)} shards, but records {count}; the manifest was modified.")
    extra = sorted(f.name for f in store.glob("shard-*.parquet")
                   if f.name not in {_shard_file(store, k).name for k in range(count)})
    if extra:
        raise FeatureStoreError(
            f"{store}: shard files the {MANIFEST} does not count ({', '.join(extra[:5])}"
            f"{', ...' if len(extra) > 5 else ''}): it records {n} clips in {count} shards; "
            "the manifest was modified, or the folder mixes two stores.")
    return bounds
