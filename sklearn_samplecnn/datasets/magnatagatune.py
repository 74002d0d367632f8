"""MagnaTagATune: list a local copy with its top-N tags, never download.

Law et al. (2009): 25,863 mp3 clips of about 29 s in 16 folders ``0``..``f``,
with 188 binary tags in ``annotations_final.csv``. The usual protocol (Dieleman
& Schrauwen 2014, Lee et al. 2017) keeps the 50 most frequent tags and the clips
that have at least one of them, and splits by folder: train ``0``-``b``, valid
``c``, test ``d``-``f``.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import DatasetNotFoundError
from ._base import resolve_data_home

__all__ = ["MTAT_FOLDER_SPLIT", "fetch_magnatagatune"]

#: The split each mp3 folder belongs to.
MTAT_FOLDER_SPLIT = {
    **{f: "train" for f in "0123456789ab"},
    "c": "valid",
    **{f: "test" for f in "def"},
}

_CSV = "annotations_final.csv"

_DESCR = """MagnaTagATune (Law et al., 2009)
--------------------------------
25,863 mp3 clips of about 29 s (16 kHz mono) in folders 0..f, annotated with
188 binary tags from the TagATune game. Protocol: the {n_tags} most frequent
tags (ties broken by CSV column order), clips with at least one of them, split
by folder: train 0-b, valid c, test d-f.

This copy: {root}
{n} clips, split={split!r}{counts}.
"""


def _find_csv(home: Path) -> Path:
    places = [home, home / "magnatagatune"]
    for p in places:
        if (p / _CSV).is_file():
            return p / _CSV
    raise DatasetNotFoundError(
        f"MagnaTagATune not found: expected {_CSV} in "
        f"{' or '.join(repr(str(p)) for p in places)}, with the mp3 folders 0..f beside it "
        "(or in an 'mp3' folder beside it)."
    )


def _read_csv(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """``(tag names, clip ids, (n_clips, n_tags) 0/1 matrix, mp3 paths)``."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows:
        raise DatasetNotFoundError(f"{path} is empty; expected a tab-separated header line.")
    header = [h.strip() for h in rows[0]]
    for column in ("clip_id", "mp3_path"):
        if column not in header:
            raise DatasetNotFoundError(
                f"{path} is malformed: no {column!r} column in its header (found "
                f"{len(header)} column(s): {', '.join(header[:5])}...); expected tab-separated "
                "clip_id, the tag columns, mp3_path."
            )
    id_col, path_col = header.index("clip_id"), header.index("mp3_path")
    tag_cols = [i for i in range(len(header)) if i not in (id_col, path_col)]
    if not tag_cols:
        raise DatasetNotFoundError(f"{path} is malformed: no tag columns in its header.")
    ids, values, paths, linenos = [], [], [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise DatasetNotFoundError(
                f"{path} line {lineno} is malformed: {len(row)} fields, the header has "
                f"{len(header)}."
            )
        if not row[id_col].strip().isdigit():
            raise DatasetNotFoundError(
                f"{path} line {lineno} is malformed: clip_id is {row[id_col]!r}, expected an "
                "integer."
            )
        vals = [row[i].strip() for i in tag_cols]
        tags = "".join(vals)
        if len(tags) != len(vals) or "" in vals:  # not one character each: reported below
            tags = "".join(v if len(v) == 1 else "?" for v in vals)
        ids.append(int(row[id_col]))
        values.append(tags)
        paths.append(row[path_col].strip())
        linenos.append(lineno)
    chars = np.frombuffer("".join(values).encode("utf-8", "replace"), dtype=np.uint8)
    if len(chars) != len(values) * len(tag_cols) or not np.isin(chars, (48, 49)).all():
        for lineno, tags in zip(linenos, values):
            bad = next((j for j, v in enumerate(tags) if v not in "01"), None)
            if bad is not None:
                value = rows[lineno - 1][tag_cols[bad]]
                raise DatasetNotFoundError(
                    f"{path} line {lineno} is malformed: tag {header[tag_cols[bad]]!r} is "
                    f"{value!r}, expected 0 or 1."
                )
    matrix = (chars.reshape(len(values), len(tag_cols)) - ord("0")).astype(np.int64)
    return [header[i] for i in tag_cols], np.array(ids, dtype=np.int64), matrix, paths


def fetch_magnatagatune(
    *,
    data_home: str | os.PathLike | None = None,
    n_tags: int = 50,
    split: str | None = "folder",
    check_files: bool = True,
) -> Bunch:
    """List the clips of a local MagnaTagATune copy with their top-``n_tags`` tags.

    MagnaTagATune is not downloaded: bring your own copy. ``annotations_final.csv``
    (tab-separated: ``clip_id``, 188 tag columns, ``mp3_path``; values may be
    quoted) is looked for in ``data_home`` and then in ``data_home/magnatagatune``.
    The mp3 files are ``<audio root>/<folder>/<name>.mp3`` as named by ``mp3_path``,
    where the audio root is the ``mp3`` folder beside the CSV when there is one,
    else the CSV's own folder. Nothing is decoded.

    Parameters
    ----------
    data_home : str, os.PathLike or None, default=None
        Where MagnaTagATune lives; ``None`` uses :func:`sklearn.datasets.get_data_home`.
    n_tags : int, default=50
        Keep the ``n_tags`` most frequent tags (counted over the whole CSV; ties
        are broken by column order in the CSV, the earlier column first) and the
        clips that have at least one of them.
    split : {"folder", None}, default="folder"
        ``"folder"`` labels each clip by its mp3 folder: ``"train"`` for
        ``0``-``b``, ``"valid"`` for ``c``, ``"test"`` for ``d``-``f``. ``None``
        labels every clip ``"all"``. Both return the same clips.
    check_files : bool, default=True
        Check that every kept mp3 exists: a missing file raises, an empty
        (0-byte) file is left out with a warning and listed in ``skipped``
        (published copies hold a few such files).

    Returns
    -------
    Bunch
        ``filenames`` (list of str, absolute mp3 paths in CSV order),
        ``target`` (int ndarray of shape (n_clips, n_tags), 0/1),
        ``target_names`` (list of str, most frequent tag first),
        ``split`` (ndarray of str), ``clip_id`` (int ndarray), ``tag_counts``
        (int ndarray, each kept tag's count in the whole CSV), ``skipped``
        (list of str, empty files left out), ``root`` (str, the audio root) and
        ``DESCR``.

    Raises
    ------
    DatasetNotFoundError
        An ``OSError`` naming what was expected where: no CSV, a malformed CSV
        (no ``mp3_path`` or ``clip_id`` column, a short line, a tag that is not
        0/1, a folder outside ``0``..``f``), or mp3 files missing (how many, and the
        first few paths).
    ValueError
        When ``n_tags`` is not an integer in [1, number of tag columns] or
        ``split`` is not ``"folder"`` or ``None``.

    Examples
    --------
    >>> data = fetch_magnatagatune(data_home="~/data/mtat")  # doctest: +SKIP
    >>> data.target.shape, data.target_names[:3]  # doctest: +SKIP
    ((21105, 50), ['guitar', 'classical', 'slow'])
    """
    if split not in ("folder", None):
        raise ValueError(f"split must be 'folder' or None, got {split!r}.")
    if isinstance(n_tags, bool) or not isinstance(n_tags, (int, np.integer)) or n_tags < 1:
        raise ValueError(f"n_tags must be a positive integer, got {n_tags!r}.")
    home = resolve_data_home(data_home)
    csv_path = _find_csv(home)
    tag_names, ids, values, paths = _read_csv(csv_path)
    if n_tags > len(tag_names):
        raise ValueError(
            f"n_tags must be at most the number of tag columns in {csv_path} "
            f"({len(tag_names)}), got {n_tags}."
        )
    counts = values.sum(axis=0)
    top = np.argsort(-counts, kind="stable")[:n_tags]
    target = values[:, top]
    keep = np.flatnonzero(target.any(axis=1))

    parts = []
    for i in keep:
        folder = paths[i].replace("\\", "/").split("/", 1)[0]
        if folder.lower() not in MTAT_FOLDER_SPLIT or "/" not in paths[i]:
            raise DatasetNotFoundError(
                f"{csv_path}: clip_id {ids[i]} has mp3_path {paths[i]!r}; expected "
                "<folder>/<name>.mp3 with folder one of 0..f."
            )
        parts.append(MTAT_FOLDER_SPLIT[folder.lower()] if split == "folder" else "all")

    audio_root = csv_path.parent / "mp3" if (csv_path.parent / "mp3").is_dir() else csv_path.parent
    audio_root = audio_root.absolute()
    filenames = [str(audio_root / paths[i]) for i in keep]
    skipped: list[str] = []
    if check_files:
        missing = [f for f in filenames if not os.path.isfile(f)]
        if missing:
            raise DatasetNotFoundError(
                f"MagnaTagATune: {len(missing)} of {len(filenames)} mp3 files listed in "
                f"{csv_path} are missing under {str(audio_root)!r}, e.g. "
                f"{', '.join(missing[:3])}. Expected <audio root>/<folder 0..f>/<name>.mp3; "
                "pass check_files=False to list them anyway."
            )
        empty = {f for f in filenames if os.path.getsize(f) == 0}
        if empty:
            skipped = [f for f in filenames if f in empty]
            warnings.warn(
                f"MagnaTagATune: left out {len(skipped)} empty (0-byte) mp3 file(s): "
                f"{', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''}",
                UserWarning,
                stacklevel=2,
            )
            mask = np.array([f not in empty for f in filenames])
            keep, filenames = keep[mask], [f for f in filenames if f not in empty]
            parts = [p for p, m in zip(parts, mask) if m]

    split_arr = np.array(parts, dtype="<U5")
    summary = "" if split is None else " ({})".format(
        ", ".join(f"{p}: {int((split_arr == p).sum())}" for p in ("train", "valid", "test"))
    )
    return Bunch(
        filenames=filenames,
        target=target[keep],
        target_names=[tag_names[j] for j in top],
        split=split_arr,
        clip_id=ids[keep],
        tag_counts=counts[top],
        skipped=skipped,
        root=str(audio_root),
        DESCR=_DESCR.format(
            n_tags=n_tags, root=audio_root, n=len(filenames), split=split, counts=summary
        ),
    )
