"""GTZAN genre collection: list a local copy, never download.

Tzanetakis & Cook (2002): 1,000 clips of 30 s, 100 in each of 10 genres. The
fault-filtered split of Kereliuk et al. (2015) (443 train / 197 valid / 290
test clips) removes repeated, mislabelled and distorted clips and keeps artists
from crossing splits; it is read from the user's ``*_filtered.txt`` lists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import DatasetNotFoundError
from ._base import resolve_data_home

__all__ = ["GTZAN_SPLIT_FILES", "fetch_gtzan"]

#: The fault-filtered split lists, one ``<genre>/<genre>.000NN.wav`` per line.
GTZAN_SPLIT_FILES = {
    "train": "train_filtered.txt",
    "valid": "valid_filtered.txt",
    "test": "test_filtered.txt",
}

_CLIP = re.compile(r"^(?P<genre>[^./]+)\.(?P<number>\d{5})\.(?P<ext>au|wav)$", re.IGNORECASE)
_LAYOUT = "genres/<genre>/<genre>.000NN.au (or .wav)"
# Folders, relative to data_home, that may hold the genre folders; the last
# entry, data_home itself, covers data_home pointing at the genres folder.
_GENRE_DIRS = (
    "genres",
    "gtzan/genres",
    "GTZAN/genres",
    "genres_original",
    "Data/genres_original",
    "gtzan/Data/genres_original",
    ".",
)

_DESCR = """GTZAN genre collection (Tzanetakis & Cook, 2002)
-------------------------------------------------
1,000 clips of 30 s (22,050 Hz mono in the original .au files), 100 in each of
10 genres: blues, classical, country, disco, hiphop, jazz, metal, pop, reggae,
rock. The collection has known faults (repeated clips, mislabellings,
distortions); Kereliuk et al. (2015) give a fault-filtered split of
443 train / 197 valid / 290 test clips in which no artist crosses splits.

This copy: {root}
{n} clips, split={split!r}{counts}.
"""


def _find_genres_dir(home: Path) -> tuple[Path, dict[str, list[Path]]]:
    looked, empty = [], []
    for rel in _GENRE_DIRS:
        folder = (home / rel) if rel != "." else home
        if not folder.is_dir():
            looked.append(str(folder))
            continue
        clips = _scan(folder)
        if clips:
            return folder, clips
        if rel != ".":
            empty.append(str(folder))
    if empty:
        raise DatasetNotFoundError(
            f"GTZAN: found {empty[0]!r} but no audio in it; expected "
            f"<genre>/<genre>.000NN.au or .wav files (e.g. blues/blues.00000.au) there."
        )
    raise DatasetNotFoundError(
        f"GTZAN not found under data_home={str(home)!r}: expected {_LAYOUT} there "
        f"(looked for {', '.join(looked)}). Download GTZAN yourself and point data_home "
        "at the folder that holds 'genres' (or at 'genres' itself)."
    )


def _scan(folder: Path) -> dict[str, list[Path]]:
    """``{genre: sorted clip paths}`` for files named ``<genre>/<genre>.000NN.au|wav``."""
    clips = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        by_stem: dict[str, Path] = {}
        for f in sorted(sub.iterdir()):
            m = _CLIP.match(f.name)
            if m and m["genre"] == sub.name and f.is_file():
                stem = f"{m['genre']}.{m['number']}"
                # One file per clip: a converted .wav beside the original .au wins.
                if stem not in by_stem or m["ext"].lower() == "wav":
                    by_stem[stem] = f
        if by_stem:
            clips[sub.name] = [by_stem[s] for s in sorted(by_stem)]
    return clips


def _find_split_lists(places: list[Path]) -> dict[str, Path]:
    found, missing = {}, []
    for part, name in GTZAN_SPLIT_FILES.items():
        hit = next((p / name for p in places if (p / name).is_file()), None)
        if hit is None:
            missing.append(name)
        else:
            found[part] = hit
    if missing:
        where = ", ".join(repr(str(p)) for p in places)
        raise DatasetNotFoundError(
            f"GTZAN split='filtered' needs the lists {', '.join(GTZAN_SPLIT_FILES.values())} "
            f"(one <genre>/<genre>.000NN.wav per line); missing {', '.join(missing)} in {where}. "
            "Pass split_dir= to say where they are."
        )
    return found


def _read_split(
    lists: dict[str, Path], clips: dict[str, list[Path]], genres_dir: Path
) -> dict[tuple[str, str], str]:
    """``{(genre, stem): part}`` for every line of the split lists."""
    known = {(g, f.name.rsplit(".", 1)[0]) for g, files in clips.items() for f in files}
    where: dict[tuple[str, str], str] = {}
    assigned: dict[tuple[str, str], str] = {}
    for part, path in lists.items():
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for lineno, line in enumerate(lines, start=1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            genre, _, name = entry.replace("\\", "/").rpartition("/")
            genre = genre.rsplit("/", 1)[-1]
            m = _CLIP.match(name)
            if not genre or m is None:
                raise DatasetNotFoundError(
                    f"{path} line {lineno}: {entry!r} is not <genre>/<genre>.000NN.wav."
                )
            key = (genre, f"{m['genre']}.{m['number']}")
            here = f"{path.name} line {lineno}"
            if key not in known:
                raise DatasetNotFoundError(
                    f"{path} line {lineno} lists {entry!r}, but "
                    f"{genres_dir / genre / key[1]}.au (or .wav) does not exist."
                )
            if key in assigned:
                raise DatasetNotFoundError(
                    f"GTZAN split lists list {entry!r} twice ({where[key]} and {here}); "
                    "expected each clip in at most one list."
                )
            assigned[key], where[key] = part, here
    return assigned


def fetch_gtzan(
    *,
    data_home: str | os.PathLike | None = None,
    split: str | None = None,
    split_dir: str | os.PathLike | None = None,
) -> Bunch:
    """List the clips of a local GTZAN copy, optionally with the fault-filtered split.

    GTZAN is not downloaded: bring your own copy. The clips are found at
    ``genres/<genre>/<genre>.000NN.au`` (or ``.wav``) under ``data_home``;
    also accepted are ``data_home`` pointing at the ``genres`` folder itself, and
    ``gtzan/genres``, ``GTZAN/genres``, ``genres_original`` and
    ``Data/genres_original`` (the Kaggle copy) below ``data_home``. When a
    clip exists both as ``.au`` and ``.wav`` the ``.wav`` is listed. Nothing is
    decoded.

    Parameters
    ----------
    data_home : str, os.PathLike or None, default=None
        Where GTZAN lives; ``None`` uses :func:`sklearn.datasets.get_data_home`.
    split : {None, "filtered"}, default=None
        ``None`` lists all clips (for cross-validation) and sets every entry of
        ``split`` to ``"all"``. ``"filtered"`` keeps only the clips named in the
        fault-filtered lists ``train_filtered.txt``, ``valid_filtered.txt`` and
        ``test_filtered.txt`` (Kereliuk et al. 2015; 443/197/290 lines), whose
        lines ``<genre>/<genre>.000NN.wav`` match a clip whatever its extension.
    split_dir : str, os.PathLike or None, default=None
        Where the three lists are. ``None`` looks in ``data_home``, in the folder
        above the genre folders and in the genre folder, in that order.

    Returns
    -------
    Bunch
        ``filenames`` (list of str, sorted by genre then clip number),
        ``target`` (int ndarray, index into ``target_names``),
        ``target_names`` (list of str, the sorted genre folder names),
        ``split`` (ndarray of str: ``"train"``, ``"valid"``, ``"test"``, or ``"all"``
        when ``split=None``), ``root`` (str, the genre folder) and ``DESCR``.

    Raises
    ------
    DatasetNotFoundError
        An ``OSError`` naming what was expected where: no genre folder, a genre
        folder without ``<genre>.000NN.au|wav`` files, a missing split list,
        or a list line naming a clip that is not there (with list, line and path).
    ValueError
        When ``split`` is not ``None`` or ``"filtered"``.

    Examples
    --------
    >>> data = fetch_gtzan(data_home="~/data", split="filtered")  # doctest: +SKIP
    >>> X_train = [f for f, s in zip(data.filenames, data.split) if s == "train"]  # doctest: +SKIP
    """
    if split not in (None, "filtered"):
        raise ValueError(f"split must be None or 'filtered', got {split!r}.")
    home = resolve_data_home(data_home)
    genres_dir, clips = _find_genres_dir(home)
    names = sorted(clips)
    files = [(g, f) for g in names for f in clips[g]]
    if split is None:
        parts = ["all"] * len(files)
    else:
        if split_dir is not None:
            places = [resolve_data_home(split_dir)]
        else:
            places = list(dict.fromkeys([home, genres_dir.parent, genres_dir]))
        assigned = _read_split(_find_split_lists(places), clips, genres_dir)
        kept = [(g, f) for g, f in files if (g, f.name.rsplit(".", 1)[0]) in assigned]
        parts = [assigned[(g, f.name.rsplit(".", 1)[0])] for g, f in kept]
        files = kept
    index = {g: i for i, g in enumerate(names)}
    split_arr = np.array(parts, dtype="<U5")
    counts = (
        "" if split is None
        else " (" + ", ".join(f"{p}: {int((split_arr == p).sum())}" for p in GTZAN_SPLIT_FILES)
        + ")"
    )
    return Bunch(
        filenames=[str(f.absolute()) for _, f in files],
        target=np.array([index[g] for g, _ in files], dtype=np.int64),
        target_names=names,
        split=split_arr,
        root=str(genres_dir.absolute()),
        DESCR=_DESCR.format(root=genres_dir, n=len(files), split=split, counts=counts),
    )
