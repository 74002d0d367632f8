"""The models that ship inside the package, by name (package data; torch-free).

``load_pretrained(name)``, ``MultiScaleFeatureTransformer(extractors=[name])``,
``MusicnnTransformer(name)`` and ``samplecnn extract --model name`` take these
names wherever they take a ``.samplecnn`` file. Nothing is ever downloaded; the
files, their licences and how each was made are listed in this folder's README
and in docs/models.md.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHIPPED_DIR", "shipped_model_file", "shipped_models"]

#: The folder holding the shipped ``.samplecnn`` files.
SHIPPED_DIR = Path(__file__).resolve().parent


def shipped_models() -> dict[str, Path]:
    """The models that ship inside the package: ``{name: file}``.

    Examples
    --------
    >>> sorted(shipped_models())[:2]
    ['MSD_musicnn', 'MSD_vgg']
    """
    return {p.name[:-len(".samplecnn")]: p for p in sorted(SHIPPED_DIR.glob("*.samplecnn"))}


def shipped_model_file(path: str | os.PathLike) -> str:
    """``path`` itself when it exists, else the file of the shipped model of that name
    (else ``path`` again, for the caller's own "no such file" error)."""
    name = os.fspath(path)
    if not os.path.exists(name):
        shipped = shipped_models()
        if name in shipped:
            return os.fspath(shipped[name])
    return name
