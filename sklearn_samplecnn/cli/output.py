"""What the commands write: CSV tables, ``.npy`` arrays and parquet files, atomically.

Every file goes through :func:`sklearn_samplecnn._fileio.atomic_write`: it is
written to a temporary file beside its target and renamed over it once
complete, so a Ctrl-C, a kill or a full disk never leaves half a file, and an
existing output is only replaced by a complete new one.

``samplecnn extract`` writes its matrix with the :class:`Writer` registered
for the output's extension (:data:`WRITERS`): adding a format is one
:func:`register_writer` call here (and its test); the usage check, the
dependency check before any work and ``--help`` read the registry. Nothing
here imports numpy or torch until a file is written.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._fileio import atomic_write
from ..exceptions import SampleCNNError
from .errors import EXIT_FAILURE, CLIError
from .errors import say as _say

__all__ = ["WRITERS", "Writer", "per_file_targets", "register_writer", "save_model",
           "write_csv", "write_npy", "write_parquet", "writing", "wrote"]


@contextmanager
def writing(option: str, path: str | os.PathLike) -> Iterator[None]:
    """Report an ``OSError`` while writing an output (a full disk, a folder removed or
    made read-only since the start) as ``<option> '<path>': cannot be written (<cause>:
    <file>)``, exit 1: the option, the path and the file that failed, never a bare
    ``[Errno 28]``. Errors of the library's own (a file that fails to decode) pass."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, SampleCNNError):
            raise
        where = f": {exc.filename}" if exc.filename is not None else ""
        raise CLIError(f"{option} {os.fspath(path)!r}: cannot be written "
                       f"({exc.strerror or exc}{where})", EXIT_FAILURE) from None


def write_csv(path: str | os.PathLike, header: Sequence[str],
              rows: Iterable[Sequence[object]]) -> bool:
    """Write a UTF-8 CSV (fields quoted where needed: commas, quotes, newlines).

    Returns whether an existing file was replaced.
    """
    existed = os.path.exists(path)

    def write(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text.flush()
        text.detach()  # atomic_write closes the file itself

    atomic_write(path, write)
    return existed


def write_npy(path: str | os.PathLike, array) -> bool:
    """Write a ``.npy`` file (no pickles); returns whether a file was replaced."""
    import numpy as np

    existed = os.path.exists(path)
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))
    return existed


def write_parquet(path: str | os.PathLike, table) -> bool:
    """Write a pandas DataFrame as parquet (pyarrow); returns whether a file was replaced."""
    existed = os.path.exists(path)
    atomic_write(path, lambda f: table.to_parquet(f, index=False))
    return existed


def wrote(what: str, path: str | os.PathLike, replaced: bool, extra: str = "") -> None:
    """The closing line on stderr: what was written where, and whether a file was replaced."""
    _say(f"wrote {what} to {path}{extra}" + (" (replaced the existing file)" if replaced else ""))


def per_file_targets(files: Sequence[str], folder: str | os.PathLike) -> list[Path]:
    """One output path per input for ``--per-file``: ``folder / <path below the inputs'
    common folder> + ".csv"`` (``a/x.wav`` -> ``DIR/a/x.wav.csv``), so inputs of the same
    name in different folders, or with different extensions, never share an output."""
    absolute = [os.path.abspath(f) for f in files]
    parents = [os.path.dirname(a) for a in absolute]
    base = os.path.commonpath(parents) if parents else ""
    return [Path(folder) / f"{os.path.relpath(a, base)}.csv" for a in absolute]


def save_model(est, out: Path, metadata: dict, checkpoint_dir) -> None:
    """``save_pretrained(est, out)``; when that fails (a full disk, a folder removed since
    the start), the trained model is saved beside ``out`` or in the temporary folder and
    the error says where: a finished run is never lost to its last write."""
    import tempfile
    import time

    from ..pretrained import save_pretrained

    try:
        save_pretrained(est, out, metadata=metadata)
        return
    except OSError as exc:
        cause = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    places = [Path(tempfile.gettempdir()) / f"samplecnn-{out.stem}.{stamp}.samplecnn"]
    if out.parent.is_dir():
        places.insert(0, out.parent / f"{out.stem}.unsaved-{stamp}.samplecnn")
    for place in places:
        try:
            save_pretrained(est, place, metadata=metadata)
        except OSError:
            continue
        raise CLIError(f"--output {os.fspath(out)!r}: the model cannot be written ({cause}); "
                       f"the trained model was saved to {place} instead", EXIT_FAILURE)
    kept = (f"; its weights are in the checkpoint in {checkpoint_dir}: rerun the same command "
            "once the model can be written (it is restored, not trained again)"
            if checkpoint_dir is not None else "")
    raise CLIError(f"--output {os.fspath(out)!r}: the model cannot be written ({cause}), nor "
                   f"in {' or '.join(str(p.parent) for p in places)}{kept}", EXIT_FAILURE)


# -- extract's matrix, by extension ------------------------------------------------------
def seconds(t: float) -> str:
    """A time in seconds for a CSV: microseconds at most, no trailing zeros."""
    return f"{t:.6f}".rstrip("0").rstrip(".")


def csv_rows(paths, times: dict, X) -> list:
    """``[path, *times, *features]`` rows (a feature as ``repr(float)``: exact)."""
    return [[p, *(seconds(t[k]) for t in times.values()), *(repr(float(v)) for v in row)]
            for k, (p, row) in enumerate(zip(paths, X))]


@dataclass(frozen=True)
class Writer:
    """How ``samplecnn extract`` writes its matrix for one file extension.

    Attributes
    ----------
    suffix : str
        The extension, lower case, with its dot (``".npy"``).
    description : str
        What the file holds, for ``--help``.
    write : callable
        ``write(out, X, names, paths, times) -> extra``: the float32 matrix
        ``X`` (one row per clip or segment) with its feature ``names``, each
        row's ``paths`` and ``times`` (``{"start": ..., "end": ...}`` per
        segment, or empty) to the :class:`~pathlib.Path` ``out``, atomically;
        ``extra`` names any sidecar files for the closing line.
    check : callable or None
        ``check()``: why this format cannot be written here (a missing
        dependency), or ``None``; run before any work.
    """

    suffix: str
    description: str
    write: Callable[..., str]
    check: Callable[[], str | None] | None = None


#: extract's writers by extension.
WRITERS: dict[str, Writer] = {}


def register_writer(writer: Writer) -> Writer:
    """Add ``writer`` to :data:`WRITERS` (its ``suffix`` becomes an ``--output`` format)."""
    suffix = writer.suffix.lower()
    if not suffix.startswith(".") or suffix in WRITERS:
        raise ValueError(f"a writer needs a new extension starting with '.', got {suffix!r}.")
    WRITERS[suffix] = writer
    return writer


def _write_csv_matrix(out: Path, X, names: list[str], paths, times: dict) -> str:
    write_csv(out, ["path", *times, *names], csv_rows(paths, times, X))
    return ""


def sidecars(out: Path) -> tuple[Path, Path]:
    """``features.npy`` -> (``features.names.txt``, ``features.rows.csv``)."""
    return out.with_suffix(".names.txt"), out.with_suffix(".rows.csv")


def _write_npy_matrix(out: Path, X, names: list[str], paths, times: dict) -> str:
    names_file, rows_file = sidecars(out)
    write_csv(rows_file, ["path", *times], ([p, *(seconds(t[k]) for t in times.values())]
                                            for k, p in enumerate(paths)))
    atomic_write(names_file, lambda f: f.write("".join(f"{n}\n" for n in names).encode()))
    write_npy(out, X)  # last: a complete .npy has its sidecars
    return f" (+ {names_file.name}, {rows_file.name})"


def _write_parquet_matrix(out: Path, X, names: list[str], paths, times: dict) -> str:
    import pandas as pd

    table = pd.DataFrame(X, columns=names)
    for k, (col, values) in enumerate([("path", list(paths)), *times.items()]):
        table.insert(k, col, values)
    write_parquet(out, table)
    return ""


def _write_npz_matrix(out: Path, X, names: list[str], paths, times: dict) -> str:
    import numpy as np

    arrays = {"features": X, "feature_names": np.array(names, dtype=str),
              "paths": np.array([str(p) for p in paths], dtype=str),
              **{k: np.asarray(v, dtype=np.float64) for k, v in times.items()}}
    atomic_write(out, lambda f: np.savez(f, **arrays))  # no object arrays: no pickles
    return ""


def _parquet_missing() -> str | None:
    try:
        import pandas  # noqa: F401
        from pandas.io.parquet import get_engine

        get_engine("auto")
    except ImportError as exc:
        return (f"writing .parquet needs pandas and pyarrow ({exc}); install "
                "'sklearn-samplecnn[pandas]' or write .npy or .csv instead")
    return None


register_writer(Writer(".npy", "float32 matrix, with <name>.names.txt holding one feature "
                               "name per line and <name>.rows.csv the audio path of each row",
                       _write_npy_matrix))
register_writer(Writer(".csv", "path column, then one column per feature", _write_csv_matrix))
register_writer(Writer(".parquet", "the same table; needs pandas and pyarrow",
                       _write_parquet_matrix, _parquet_missing))
register_writer(Writer(".npz", "one file: features, feature_names, paths (and start, end "
                               "per segment), numpy.load without pickles", _write_npz_matrix))
