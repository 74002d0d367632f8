"""A CSV of audio files and their labels or tags: the spreadsheet users keep.

Standard library, numpy and scikit-learn only; nothing is decoded. The same
reader serves the ``samplecnn`` command's ``--csv``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import DatasetNotFoundError

__all__ = ["load_audio_csv"]


def _read_table(name: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a comma-, semicolon- or tab-separated UTF-8 file (a BOM is
    skipped); blank lines are left out, a row of another width is an error."""
    try:
        with open(name, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: cannot be read as a UTF-8 CSV ({exc})") from None
    first = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first.count)
    rows = [r for r in csv.reader(text.splitlines(), delimiter=delimiter)
            if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{name}: the CSV is empty")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise ValueError(f"{name}: the CSV has a header but no rows")
    for lineno, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{name} line {lineno}: {len(row)} fields, the header has "
                             f"{len(header)}")
    return header, body


def load_audio_csv(
    csv_file: str | os.PathLike,
    *,
    target: str | Sequence[str] | None = "label",
    path_column: str = "path",
) -> Bunch:
    """List the audio files of a CSV with their labels or tags.

    One row per clip: a column of audio paths (relative paths are resolved
    against the CSV's folder) and either one label column (``target="rock"``
    style genres) or one 0/1 column per tag. Comma-, semicolon- and
    tab-separated files are read (the header line tells which); nothing is
    decoded.

    Parameters
    ----------
    csv_file : str or os.PathLike
    target : str, sequence of str or None, default="label"
        A column name: one label per clip, returned as ``target`` indexes into
        the sorted ``target_names`` (as :func:`load_audio_folder` does). A list
        of column names: a 0/1 tag matrix of those columns, ``target_names``
        in that order. ``None``: the files only (``target`` is None).
    path_column : str, default="path"
        The column of audio file paths.

    Returns
    -------
    Bunch
        ``filenames`` (list of str, in the CSV's order), ``target``,
        ``target_names``, ``columns`` (the header) and ``DESCR``.

    Raises
    ------
    DatasetNotFoundError
        No such CSV file.
    ValueError
        A malformed CSV, naming the file and line: no such column, an empty
        path or label, a tag value other than 0 or 1, rows of another width.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "labels.csv").write_text("path,label\\na.mp3,rock\\nb.mp3,jazz\\n")
    >>> data = load_audio_csv(folder / "labels.csv")
    >>> data.target_names, data.target.tolist(), Path(data.filenames[0]).name
    (['jazz', 'rock'], [1, 0], 'a.mp3')
    """
    name = os.fspath(csv_file)
    if not os.path.isfile(name):
        raise DatasetNotFoundError(f"{name}: no such CSV file")
    header, rows = _read_table(name)
    if path_column not in header:
        raise ValueError(f"{name}: no {path_column!r} column in the header {header}")
    base = os.path.dirname(name)
    col = header.index(path_column)
    filenames = []
    for lineno, row in enumerate(rows, start=2):
        p = os.path.expanduser(row[col].strip())
        if not p:
            raise ValueError(f"{name} line {lineno}: empty path")
        filenames.append(p if os.path.isabs(p) else os.path.join(base, p))
    y, names = None, []
    if isinstance(target, str):
        if target not in header:
            raise ValueError(f"{name}: no {target!r} label column in the header {header}")
        k = header.index(target)
        labels = []
        for lineno, row in enumerate(rows, start=2):
            if not row[k].strip():
                raise ValueError(f"{name} line {lineno}: empty label")
            labels.append(row[k].strip())
        names = sorted(set(labels))
        y = np.searchsorted(names, labels).astype(np.int64)
    elif target is not None:
        names = list(target)
        missing = [t for t in names if t not in header]
        if missing or not names:
            raise ValueError(f"{name}: tag columns {missing or names} not in the header "
                             f"{header}")
        cols = [header.index(t) for t in names]
        y = np.zeros((len(rows), len(cols)), dtype=np.int64)
        for i, row in enumerate(rows):
            for j, c in enumerate(cols):
                value = row[c].strip()
                if value not in ("0", "1"):
                    raise ValueError(f"{name} line {i + 2}: tag {header[c]!r} is {value!r}, "
                                     "expected 0 or 1")
                y[i, j] = int(value)
    what = "files" if y is None else f"{len(names)} {'classes' if y.ndim == 1 else 'tags'}"
    descr = (f"CSV {Path(name).name}: {len(filenames)} audio files, {what} "
             f"({', '.join(names[:12])}{', ...' if len(names) > 12 else ''}).")
    return Bunch(filenames=filenames, target=y, target_names=names, columns=header,
                 DESCR=descr)
