"""Model files kept where the Hugging Face ecosystem keeps them: ``"org/name"`` on the Hub.

:func:`~sklearn_samplecnn.load_pretrained` (and so every estimator's
``from_pretrained`` and the feature transformer's ``extractors``) takes a Hub
repository id where it takes a file: ``"org/name"`` is the repository's one
``.samplecnn`` file (or its ``model.safetensors``), ``"org/name/sub/f.samplecnn"``
names the file. The file comes from the Hub's local cache (``HF_HUB_CACHE``,
``~/.cache/huggingface/hub`` by default, the layout ``huggingface-cli download``
and ``hf_hub_download`` fill), through ``huggingface_hub`` itself (the optional
``hub`` extra). Nothing is downloaded unless the caller passes ``download=True``;
``HF_HUB_OFFLINE=1`` is honoured either way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["HUB_FILENAMES", "hub_model_file", "looks_like_hub_id"]

#: The file of a repository read when none is named, in this order of preference
#: (after a repository's only ``*.samplecnn`` file).
HUB_FILENAMES = ("model.samplecnn", "model.safetensors")

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*(/[\w./-]+)?")


def looks_like_hub_id(name: str) -> bool:
    """Whether ``name`` can be a Hub id (``org/name`` or ``org/name/path/in/repo``):
    relative, forward slashes, no ``..``."""
    return bool(_HUB_ID.fullmatch(name)) and ".." not in name.split("/")


def _not_cached(repo_id: str, cache: str, exc: Exception) -> FileNotFoundError:
    return FileNotFoundError(
        f"{repo_id}: no such pretrained file, and not a model in the Hugging Face Hub cache "
        f"({cache}): {type(exc).__name__}: {str(exc).splitlines()[0][:300]}. Fetch it once "
        f"with `huggingface-cli download {repo_id}` (or load_pretrained(..., "
        "download=True)), or set HF_HUB_CACHE / pass cache_dir= to where it is kept."
    )


def hub_model_file(name: str, *, revision: str | None = None,
                   cache_dir: str | os.PathLike | None = None, download: bool = False) -> str:
    """The local path of the model file a Hub id names.

    Parameters
    ----------
    name : str
        ``"org/name"`` (the repository's only ``*.samplecnn`` file, else one
        of :data:`HUB_FILENAMES`) or ``"org/name/path/in/repo.samplecnn"``.
    revision : str or None, default=None
        A branch, tag or commit; ``None`` is ``"main"``.
    cache_dir : path or None, default=None
        The Hub cache folder; ``None`` is huggingface_hub's (``HF_HUB_CACHE``).
    download : bool, default=False
        Let huggingface_hub fetch what the cache lacks; otherwise only the
        cache is read (``local_files_only=True``).

    Raises
    ------
    FileNotFoundError
        Not in the cache (the message says how to fetch it), the repository
        holds no model file (the message lists what it holds), or
        huggingface_hub is not installed (the message says
        ``pip install 'sklearn-samplecnn[hub]'``).
    """
    try:
        from huggingface_hub import constants, hf_hub_download, snapshot_download
    except ImportError:
        raise FileNotFoundError(
            f"{name}: no such pretrained file; as a Hugging Face Hub id it would be read from "
            "the Hub cache with huggingface_hub: pip install 'sklearn-samplecnn[hub]'"
        ) from None
    parts = name.split("/")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:]) or None
    cache = os.fspath(cache_dir) if cache_dir is not None else constants.HF_HUB_CACHE
    kw = {"revision": revision, "cache_dir": cache, "local_files_only": not download}
    try:
        if filename is not None:
            return hf_hub_download(repo_id, filename, **kw)
        folder = Path(snapshot_download(repo_id, **kw))
    except (OSError, ValueError) as exc:  # LocalEntryNotFoundError, a bad id or revision
        raise _not_cached(name, cache, exc) from None
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    models = [f for f in files if f.endswith(".samplecnn")]
    if len(models) == 1:
        return str(folder / models[0])
    for wanted in HUB_FILENAMES:
        if wanted in files:
            return str(folder / wanted)
    raise FileNotFoundError(
        f"{name}: the Hub repository (revision {revision or 'main'}, in {folder}) holds "
        f"{'several .samplecnn files' if models else 'no model file'}: {files[:20]}; name "
        f"one, e.g. '{repo_id}/{models[0] if models else HUB_FILENAMES[0]}'."
    )
