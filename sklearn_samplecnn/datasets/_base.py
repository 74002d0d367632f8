"""Helpers shared by the dataset loaders, and the folder-per-class loader.

numpy and the standard library only: nothing here decodes audio or imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from sklearn.datasets import get_data_home
from sklearn.utils import Bunch

from ..exceptions import DatasetNotFoundError

__all__ = ["AUDIO_EXTENSIONS", "find_audio_files", "load_audio_folder"]

#: File extensions :func:`load_audio_folder` treats as audio (compared case-insensitively).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".aif")


def resolve_data_home(data_home: str | os.PathLike | None) -> Path:
    """``data_home`` as a Path; ``None`` gives scikit-learn's ``get_data_home()``."""
    if data_home is None:
        return Path(get_data_home())
    try:
        return Path(os.fspath(data_home)).expanduser()
    except TypeError:
        raise TypeError(
            f"data_home must be a str, os.PathLike or None, got {type(data_home).__name__}."
        ) from None


def _is_visible(path: Path) -> bool:
    # ".DS_Store", "._clip.wav" (macOS AppleDouble), ".git" are never data.
    return not path.name.startswith(".")


def find_audio_files(folder: str | os.PathLike,
                     extensions: Iterable[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """The audio files below ``folder`` (recursively), sorted, hidden ones left out.

    Parameters
    ----------
    folder : str or os.PathLike
    extensions : iterable of str, default=AUDIO_EXTENSIONS
        Compared case-insensitively with the end of each file name.

    Returns
    -------
    list of pathlib.Path
    """
    extensions = tuple(e.lower() for e in extensions)
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(extensions):
                found.append(Path(dirpath) / name)
    return found


def load_audio_folder(
    root: str | os.PathLike,
    *,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
) -> Bunch:
    """List the audio files of a folder with one sub-folder per class.

    ``root/<class>/**/<file>.<ext>``: every visible sub-folder of ``root`` that
    holds at least one audio file (searched recursively) is a class, named after
    the sub-folder. Files directly in ``root``, hidden files and folders
    (names starting with ``"."``, such as macOS ``._clip.wav`` files) and
    sub-folders without audio are ignored. Nothing is decoded.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding one sub-folder per class.
    extensions : iterable of str, default=AUDIO_EXTENSIONS
        File name endings treated as audio, compared case-insensitively
        (``".wav"`` also matches ``"CLIP.WAV"``).

    Returns
    -------
    Bunch
        ``filenames`` (list of str, absolute paths, sorted by class then path),
        ``target`` (int ndarray, index into ``target_names``), ``target_names``
        (list of str, the sorted class folder names), ``DESCR`` (str).

    Raises
    ------
    DatasetNotFoundError
        When ``root`` is not a folder, has no sub-folders, or no sub-folder
        holds audio with one of ``extensions``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from sklearn_samplecnn.audio import write_audio
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ["dog/a.wav", "dog/b.wav", "cat/c.wav"]:
    ...     write_audio(root / name, np.zeros(100, dtype=np.float32), 8000)
    >>> data = load_audio_folder(root)
    >>> data.target_names, data.target.tolist()
    (['cat', 'dog'], [0, 1, 1])
    """
    try:
        root = Path(os.fspath(root)).expanduser().absolute()
    except TypeError:
        raise TypeError(f"root must be a str or os.PathLike, got {type(root).__name__}.") from None
    if isinstance(extensions, str):
        extensions = (extensions,)
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    if not exts:
        raise ValueError("extensions must name at least one file ending, got an empty list.")
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"root {str(root)!r} is not a folder; expected one sub-folder per class "
            f"(root/<class>/<file>{exts[0]})."
        )
    classes = sorted(p for p in root.iterdir() if p.is_dir() and _is_visible(p))
    per_class = [(c.name, find_audio_files(c, exts)) for c in classes]
    per_class = [(name, files) for name, files in per_class if files]
    if not per_class:
        loose = [p for p in root.iterdir() if p.is_file() and p.name.lower().endswith(exts)]
        hint = (
            f" It holds {len(loose)} audio file(s) directly; move them into one sub-folder "
            "per class." if loose else ""
        )
        raise DatasetNotFoundError(
            f"No class folders with audio ({', '.join(exts)}) in {str(root)!r}: expected "
            f"root/<class>/<file>{exts[0]}, found {len(classes)} sub-folder(s) without audio."
            + hint
        )
    filenames = [str(f) for _, files in per_class for f in files]
    target = np.concatenate(
        [np.full(len(files), i, dtype=np.int64) for i, (_, files) in enumerate(per_class)]
    )
    names = [name for name, _ in per_class]
    counts = ", ".join(f"{name}: {len(files)}" for name, files in per_class)
    descr = (
        f"Audio folder {root}: {len(filenames)} files in {len(names)} classes ({counts}).\n"
        "One sub-folder per class; target indexes target_names (sorted folder names)."
    )
    return Bunch(filenames=filenames, target=target, target_names=names, DESCR=descr)
