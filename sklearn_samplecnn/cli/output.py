"""What the commands write: CSV tables, ``.npy`` arrays and parquet files, atomically.

Every file goes through :func:`sklearn_samplecnn._fileio.atomic_write`: it is
written to a temporary file beside its target and renamed over it once
complete, so a Ctrl-C, a kill or a full disk never leaves half a file, and an
existing output is only replaced by a complete new one.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .._fileio import atomic_write
from .io import _say

__all__ = ["per_file_targets", "write_csv", "write_npy", "write_parquet", "wrote"]


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
