"""Save and load trained models as one safe file: safetensors weights + a JSON config.

A ``.samplecnn`` file is a safetensors file. Its tensors are the module's
``state_dict``; its header metadata holds, under the key ``"sklearn_samplecnn"``,
a JSON config: the module class and constructor arguments (sizes, channels,
...), sample rate, input length, label names or tags, the estimator's segment
settings, training metadata, the library version, a SHA-256 of the weights
(``weights_sha256``) and a SHA-256 of the whole config (``config_sha256``,
over its canonical JSON without that field, so it covers the weights hash too).

Loading reads the header first and checks, before building anything: the
config hash, the config's consistency (known module class and task, one label
per output, a positive integer sample rate, the input length the module
implies, ...) and the tensor shapes the config implies against those in the
file (the module is first built on torch's ``meta`` device, which allocates
nothing). Only then are the tensors read, the module built and the weights
hash checked. Nothing is ever unpickled, no code from the file runs, and the
module class must be one of this library's (see :data:`MODULE_CLASSES`).
Every problem raises :class:`~sklearn_samplecnn.exceptions.PretrainedFileError`
naming the file and what is wrong. The hashes make changes evident, they do
not sign: whoever edits a file on purpose can recompute them.

Format versions: files are written as ``"sklearn-samplecnn/2"``. Files of the
pre-release format ``"sklearn-samplecnn/1"`` (no config hash) still load, with
a warning and every other check; ``save_pretrained(load_pretrained(path), path)``
rewrites one in the current format.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import __version__
from .._fileio import atomic_write
from .._hub import hub_model_file, looks_like_hub_id
from ..exceptions import PretrainedFileError
from ..models import shipped_model_file, shipped_models
from ..nn import SampleCNN, parse_sizes
from ._config import (
    CLASSIFIER,
    CONTRASTIVE,
    CURRENT_ONLY_FIELDS,
    FORMAT,
    META_KEY,
    MODULE_CLASSES,
    OLD_FORMATS,
    TAGGER,
    TASKS,
    check_config,
    check_file,
    check_tensors,
    compare_shapes,
    config_sha256,
    fail,
    meta_module,
    short,
)
from ._layouts import infer_samplecnn, read_state_dict, to_samplecnn_names

__all__ = ["CLASSIFIER", "CONTRASTIVE", "ESTIMATOR_SETTINGS", "MODULE_CLASSES", "TAGGER", "TASKS",
           "PretrainedModel", "save_pretrained", "load_pretrained", "shipped_models",
           "weights_fingerprint"]

#: The estimator settings a file records: what a rebuilt estimator needs to predict as the
#: original did (its rate is the file's ``sample_rate``).
ESTIMATOR_SETTINGS = ("hop_length", "tail", "short", "aggregate", "res_type", "threshold")


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def weights_fingerprint(module: nn.Module) -> str:
    """SHA-256 over a module's state_dict (names, dtypes, shapes and bytes)."""
    return tensors_fingerprint(_tensors(module))


def tensors_fingerprint(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over named tensors as stored (names, dtypes, shapes and bytes): a file's
    weights hash, whatever dtype the module they are loaded into computes in."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tensors.items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
                      if tensor.numel() else b"")
    return digest.hexdigest()


def _jsonable(values) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _make_config(module: nn.Module, *, sample_rate: int, task: str | None, labels: list,
                 multilabel: bool | None, estimator: dict, training: dict,
                 name: str | None = None) -> dict:
    cls_name = type(module).__name__
    if cls_name not in MODULE_CLASSES:
        raise PretrainedFileError(
            f"module class {cls_name} cannot be saved; supported: {sorted(MODULE_CLASSES)}."
        )
    return {
        "format": FORMAT,
        "library_version": __version__,
        "module_class": cls_name,
        "module_config": module.get_config(),
        "name": name or getattr(module, "name", cls_name),
        "sample_rate": sample_rate,
        "input_length": int(module.input_length),
        "task": task,
        "labels": labels,
        "multilabel": multilabel,
        "estimator": estimator,
        "training": training,
        "weights_sha256": weights_fingerprint(module),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class PretrainedModel:
    """A loaded file: the module (eval mode, on ``device``) and its config.

    Made by :func:`load_pretrained` (a ``.samplecnn`` file) or
    :meth:`from_state_dict` (weights from elsewhere); :func:`save_pretrained`
    writes one back as a ``.samplecnn`` file.

    Attributes
    ----------
    module : torch.nn.Module
    config : dict
        The file's JSON config.
    path : str or None
    """

    module: nn.Module
    config: dict
    path: str | None = None
    fingerprint: str = field(default="", repr=False)

    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    @property
    def input_length(self) -> int:
        return int(self.config["input_length"])

    @property
    def name(self) -> str:
        return self.config.get("name") or getattr(self.module, "name", "model")

    @property
    def labels(self) -> list:
        return list(self.config.get("labels") or [])

    @classmethod
    def from_module(cls, module: nn.Module, *, sample_rate: int, task: str | None = None,
                    labels: Sequence = (), multilabel: bool | None = None,
                    estimator: Mapping | None = None, training: Mapping | None = None,
                    name: str | None = None) -> PretrainedModel:
        """A module of :data:`MODULE_CLASSES` with the config a file would carry.

        What a fitted estimator's ``to_pretrained()`` builds (and
        :func:`save_pretrained` writes); the config is checked as
        :func:`load_pretrained` checks it.

        Parameters
        ----------
        module : torch.nn.Module
            One of :data:`MODULE_CLASSES`; kept as it is (not copied).
        sample_rate : int
            The rate the model works at, in Hz.
        task : {"classifier", "tagger", "contrastive"} or None, default=None
            :data:`TASKS`: what the outputs are; ``None``: a bare module.
        labels : sequence, default=()
            One class name or tag per output (classifier and tagger).
        multilabel : bool or None, default=None
            Taggers only: independent sigmoids (True) or one-vs-rest classes.
        estimator : mapping or None, default=None
            :data:`ESTIMATOR_SETTINGS` of the estimator that trained it.
        training : mapping or None, default=None
            JSON-serialisable notes (epochs, losses, ...).
        name : str or None, default=None
            A display name; ``None``: the module's.

        Returns
        -------
        PretrainedModel
        """
        config = _make_config(module, sample_rate=int(sample_rate), task=task,
                              labels=_jsonable(labels), multilabel=multilabel,
                              estimator=dict(estimator or {}), training=dict(training or {}),
                              name=name)
        check_config(config, name or getattr(module, "name", type(module).__name__))
        return cls(module=module, config=config, fingerprint=config["weights_sha256"])

    @classmethod
    def from_state_dict(
        cls,
        weights: Mapping[str, torch.Tensor] | str | os.PathLike,
        *,
        sample_rate: int,
        sizes: str | Sequence[int] | None = None,
        channels: Sequence[int] | None = None,
        labels: Sequence | None = None,
        task: str | None = None,
        multilabel: bool | None = None,
        layout: str = "samplecnn",
        dropout: float = 0.5,
        name: str | None = None,
        metadata: dict | None = None,
        device: str = "cpu",
    ) -> PretrainedModel:
        """Wrap the weights of a SampleCNN trained elsewhere with the config they lack.

        Parameters
        ----------
        weights : mapping of str to Tensor, str or os.PathLike
            A ``state_dict``, or a file holding one: a safetensors file, or a
            ``torch.save`` file (``.pt``, ``.pth``; a checkpoint dict with a
            ``"state_dict"`` or ``"model"`` entry also works), read with
            ``torch.load(..., weights_only=True)`` only: files that need full
            unpickling are refused, nothing in them runs.
        sample_rate : int
            The rate in Hz the model was trained at (16000 for the public
            16 kHz models); audio is resampled to it.
        sizes : str, sequence of int or None, default=None
            :class:`~sklearn_samplecnn.nn.SampleCNN` sizes (``"3^9"``,
            ``"3-3-2"``...). ``None`` reads them off the conv kernels (each
            module's pool equals its kernel, as in the paper and in the
            public 16 kHz SampleCNN); given, they are checked against them.
        channels : sequence of int or None, default=None
            ``None`` reads them off the weights; given, they are checked.
        labels : sequence or None, default=None
            One class name (``task="classifier"``) or tag (``task="tagger"``)
            per output, in output order. ``None``: a bare module, for features.
        task : {"classifier", "tagger"} or None, default=None
            Required with ``labels``: what ``estimators.from_pretrained`` rebuilds.
        multilabel : bool or None, default=None
            For a tagger: one sigmoid per tag (``True``, the default for
            taggers) or one-vs-rest over classes.
        layout : {"samplecnn", "sota-music-tagging", "clmr"}, default="samplecnn"
            The parameter names: this library's, those of the SampleCNN of
            Won et al.'s *sota-music-tagging-models* (``layer1.conv.weight``
            ... ``layer11.bn.*``, ``dense.*``), mapped one to one, or those of
            CLMR's SampleCNN encoder (``sequential.0.0.weight`` ...,
            ``fc.*``; a released contrastive checkpoint's ``encoder.`` /
            ``model.encoder.`` part; 22,050 Hz), see Notes.
        dropout : float, default=0.5
            Dropout before the output layer (not in the weights; used only if
            the model is trained further).
        name : str or None, default=None
            A display name; ``None`` uses the model's (``"3^9"``).
        metadata : dict or None, default=None
            Extra JSON-serialisable notes stored under ``config["training"]``.
        device : str, default="cpu"

        Returns
        -------
        PretrainedModel
            In eval mode; ``save_pretrained(model, path)`` makes it a
            ``.samplecnn`` file that the CLI and the feature transformer read.

        Raises
        ------
        PretrainedFileError
            Unreadable or pickled file (or a folder, device or pipe), names of
            another layout or architecture, shapes that do not fit the given
            sizes or channels, integer weights or NaN/infinite values (the
            message names the tensor), or labels that do not match the outputs.

        Notes
        -----
        The ``"sota-music-tagging"`` SampleCNN's first conv pads one zero on
        each side where this library's pads none; the weights map exactly, and
        the imported model's output for a segment equals theirs for the same
        segment delayed by one sample (a zero in front, the last sample
        dropped). Their output layer applies a sigmoid in ``forward``; here it
        gives logits and the tagger applies the sigmoid. Their SampleCNNSE
        (residual and squeeze-and-excitation blocks) cannot be mapped and is
        refused. CLMR's last conv (kernel 3, one zero of padding each side)
        sees a single time step, so its centre tap is this library's 1x1 conv
        and the outputs are CLMR's own; a contrastive checkpoint has no
        output layer (``fc``): it imports as a bare module for features (a
        zero output layer of one unit; ``labels`` are refused), and its
        projection head is left out. Other modules (frame-level models) are
        imported by building them and calling ``load_state_dict`` and
        :func:`save_pretrained`.

        Examples
        --------
        >>> import torch
        >>> from sklearn_samplecnn.nn import SampleCNN
        >>> source = SampleCNN("3-3-3", channels=(4, 4, 4, 4), n_outputs=2)
        >>> model = PretrainedModel.from_state_dict(
        ...     source.state_dict(), sample_rate=8000, labels=["calm", "loud"],
        ...     task="classifier")
        >>> model.name, model.input_length, model.labels
        ('3^2', 27, ['calm', 'loud'])
        """
        if labels is not None and task is None:
            raise ValueError("task must be 'classifier' or 'tagger' when labels are given, "
                             "got None.")
        where = os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else "state_dict"
        raw = read_state_dict(weights, where)
        state = to_samplecnn_names(raw, layout, where)
        if layout == "clmr" and labels is not None and not any(k.endswith("fc.weight")
                                                               for k in raw):
            fail(where, "the CLMR weights have no output layer (fc: a contrastive encoder); "
                        "import them without labels, as a bare module for features.")
        found_sizes, found_channels, n_outputs = infer_samplecnn(state, where)
        module_config = {
            "sizes": list(found_sizes if sizes is None else parse_sizes(sizes)),
            "channels": list(found_channels if channels is None else channels),
            "n_outputs": n_outputs,
            "dropout": float(dropout),
        }
        shapes = {k: tuple(v.shape) for k, v in state.items()}
        meta = meta_module(SampleCNN, module_config, shapes, where)
        compare_shapes(meta, shapes, where, "the weights")
        check_tensors(state, meta, where)
        module = SampleCNN(**module_config)
        module.load_state_dict(state, strict=True)
        if task == TAGGER and multilabel is None:
            multilabel = True
        training = {"imported": _now(), "layout": layout,
                    **({"source": where} if where != "state_dict" else {}), **(metadata or {})}
        config = _make_config(
            module, sample_rate=sample_rate, task=task,
            labels=_jsonable(labels) if labels is not None else [], multilabel=multilabel,
            estimator={}, training=training, name=name)
        check_config(config, where)
        module.to(device).eval()
        return cls(module=module, config=config,
                   path=where if where != "state_dict" else None,
                   fingerprint=config["weights_sha256"])

    @property
    def task(self) -> str | None:
        """What the file holds: one of :data:`TASKS`, or ``None`` for a bare module."""
        return self.config.get("task")

    def to_estimator(self, **params):
        """Deprecated: use ``sklearn_samplecnn.estimators.from_pretrained(model, **params)``.

        A fitted :class:`SampleCNNClassifier` or :class:`SampleCNNTagger` for
        prediction; ``params`` override its parameters (e.g. ``device="cuda"``).
        """
        import importlib

        from .._deprecate import warn_deprecated

        warn_deprecated("PretrainedModel.to_estimator()",
                        "sklearn_samplecnn.estimators.from_pretrained(model)")
        # resolved by name at call time: rebuilding an estimator belongs to the estimators,
        # a floor above this one (this alias goes with the deprecation)
        estimators = importlib.import_module("sklearn_samplecnn.estimators")
        return estimators.from_pretrained(self, **params)


def save_pretrained(obj, path: str | os.PathLike, *, metadata: dict | None = None) -> Path:
    """Write a fitted estimator, a module or a :class:`PretrainedModel` to ``path``.

    The file (conventionally ``*.samplecnn``) is written atomically: to a
    temporary file next to ``path``, renamed over it once complete, removed
    if anything fails. It gets the usual permissions of a new file (those the
    umask leaves, e.g. 0644). The config is checked as :func:`load_pretrained`
    checks it, so no file is written that loading would refuse.

    Parameters
    ----------
    obj : fitted estimator, torch.nn.Module or PretrainedModel
        A fitted estimator of this library (anything with ``to_pretrained()``:
        it describes its module, task, labels and settings), one of
        :data:`MODULE_CLASSES`, or a loaded or imported model (its config,
        labels and training metadata are kept). A ContrastiveSampleCNN writes
        its encoder (``module_``, task ``"contrastive"``, no labels): load it
        like any pretrained extractor.
    path : str or os.PathLike
        The file to write; its folder is created if needed.
    metadata : dict or None
        Extra JSON-serialisable training metadata stored with the config
        (for a bare module, give ``{"sample_rate": ...}`` here; 22050 otherwise).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    PretrainedFileError
        An unfitted estimator, an unsupported module class, or a config that
        does not hold together (e.g. labels that do not match the outputs).
    """
    from safetensors.torch import save

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; save_pretrained needs a file name "
                                f"such as {path / 'model.samplecnn'}.")
    metadata = dict(metadata or {})
    if isinstance(obj, PretrainedModel):
        module, old = obj.module, obj.config
        config = _make_config(
            module, sample_rate=old.get("sample_rate"), task=old.get("task"),
            labels=list(old.get("labels") or []), multilabel=old.get("multilabel"),
            estimator=dict(old.get("estimator") or {}),
            training={**(old.get("training") or {}), "saved": _now(), **metadata},
            name=old.get("name"))
    elif isinstance(obj, nn.Module):
        sample_rate = int(metadata.pop("sample_rate", 22050))
        config = _make_config(obj, sample_rate=sample_rate, task=None, labels=[],
                              multilabel=None, estimator={},
                              training={"saved": _now(), **metadata})
        module = obj
    else:
        to_pretrained = getattr(obj, "to_pretrained", None)
        if to_pretrained is None:
            raise PretrainedFileError(
                f"{type(obj).__name__} cannot be saved: give a fitted estimator of this "
                "library, a module of MODULE_CLASSES or a PretrainedModel.")
        model = to_pretrained()  # the estimator describes itself: task, labels, settings
        module, old = model.module, model.config
        config = _make_config(
            module, sample_rate=old["sample_rate"], task=old["task"], labels=old["labels"],
            multilabel=old["multilabel"], estimator=old["estimator"],
            training={**old["training"], "saved": _now(), **metadata}, name=old.get("name"))
    config["config_sha256"] = config_sha256(config)
    check_config(config, os.fspath(path))
    tensors = _tensors(module)
    check_tensors(tensors, module, os.fspath(path))
    data = save(tensors, metadata={META_KEY: json.dumps(config)})
    atomic_write(path, lambda f: f.write(data), fsync=True)
    return path


def _read_header(name: str) -> tuple[dict, dict[str, tuple]]:
    """The header metadata and ``{tensor name: shape}`` of a safetensors file; no tensor data."""
    from safetensors import safe_open

    try:
        with safe_open(name, framework="pt") as f:
            meta = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors raises several types for foreign bytes
        fail(name, f"not a safetensors weights file ({type(exc).__name__}: {exc}); "
                   "pickled checkpoints are refused.")
    return meta, shapes


def _checked_config(name: str, meta: dict, shapes: dict[str, tuple]
                    ) -> tuple[dict, type[nn.Module]]:
    """The file's config and module class, after every check that needs no tensor data."""
    try:
        config = json.loads(meta[META_KEY])
    except (KeyError, ValueError):
        fail(name, "has no sklearn-samplecnn config in its header (for weights saved "
                   "elsewhere, see PretrainedModel.from_state_dict).")
    if not isinstance(config, dict):
        fail(name, f"the sklearn-samplecnn config must be a JSON object, got {short(config)}.")
    fmt = config.get("format")
    if fmt == FORMAT:
        digest = config_sha256(config)
        if config.get("config_sha256") != digest:
            fail(name, f"the config changed since saving (SHA-256 {digest[:12]}... != "
                       f"recorded {str(config.get('config_sha256'))[:12]}...); the file was "
                       "modified.")
    elif fmt in OLD_FORMATS:
        newer = [k for k in CURRENT_ONLY_FIELDS if k in config]
        if newer:
            fail(name, f"claims the old format {fmt!r} but carries {', '.join(newer)}, which "
                       f"only {FORMAT!r} writes: a file set back to the old format (whose "
                       "changes cannot be detected) is refused.")
        warnings.warn(f"{name}: format {fmt!r} has no config hash, so changes to its config "
                      "cannot be detected; save_pretrained(load_pretrained(path), path) "
                      f"rewrites it as {FORMAT!r}.", UserWarning, stacklevel=3)
    else:
        fail(name, f"unknown format {short(fmt)}; this version reads {FORMAT!r}.")
    cls = check_config(config, name)
    module = meta_module(cls, config["module_config"], shapes, name)
    if config["input_length"] != module.input_length:
        fail(name, f"input_length {config['input_length']} in the config does not match the "
                   f"model's {module.input_length}.")
    compare_shapes(module, shapes, name, "the file")
    return config, cls


def load_pretrained(path: str | os.PathLike, *, device: str = "cpu", revision: str | None = None,
                    cache_dir: str | os.PathLike | None = None,
                    download: bool = False) -> PretrainedModel:
    """Load a file written by :func:`save_pretrained`, a shipped model by name, or a model
    from the Hugging Face Hub cache.

    Never unpickles anything. ``path`` is a ``.samplecnn`` file or, when no
    such file exists, the name of a model shipped in the package
    (:func:`shipped_models`: e.g. ``"MSD_musicnn"``) or a Hub id (``"org/name"``).

    The header is checked before any weights are read or any module built:
    the config's SHA-256, its consistency, and the tensor shapes it implies
    against those in the file (see the module docstring). Files of the
    pre-release format ``"sklearn-samplecnn/1"`` load with a warning.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.samplecnn`` file; where no such file exists, the name of a
        shipped model, or a Hugging Face Hub id: ``"org/name"`` (the
        repository's ``.samplecnn`` file, or its ``model.safetensors``) or
        ``"org/name/file.samplecnn"``, read from the Hub's local cache (needs
        the ``hub`` extra; docs/pretrained.md).
    device : str, default="cpu"
    revision : str or None, default=None
        Hub ids only: a branch, tag or commit (``None``: ``"main"``).
    cache_dir : path or None, default=None
        Hub ids only: the Hub cache folder (``None``: ``HF_HUB_CACHE``).
    download : bool, default=False
        Hub ids only: let huggingface_hub download what the cache lacks;
        by default nothing is downloaded.

    Raises
    ------
    FileNotFoundError
        No such file (nor shipped model, nor Hub model in the cache).
    PretrainedFileError
        A folder, a device or a pipe (never read); not a safetensors file
        (e.g. a pickle); no, malformed or modified config (also a file set
        back to the old format); an unknown module class or format; labels,
        sample rate, input length, estimator settings or tensor shapes that
        do not fit the config; integer or non-finite weights; weights that do
        not match their recorded SHA-256. The message names the file and the
        problem.
    """
    from safetensors.torch import load_file

    name = shipped_model_file(path)
    if not os.path.exists(name) and looks_like_hub_id(name):
        name = hub_model_file(name, revision=revision, cache_dir=cache_dir, download=download)
    if not os.path.lexists(name):
        raise FileNotFoundError(f"{name}: no such pretrained file (nor the name of a shipped "
                                f"model: {', '.join(shipped_models()) or 'none'})")
    check_file(name, "pretrained file")
    config, cls = _checked_config(name, *_read_header(name))
    try:
        tensors = load_file(name)
    except Exception as exc:
        fail(name, f"unreadable tensor data ({type(exc).__name__}: {exc}).")
    try:
        module = cls(**config["module_config"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        fail(name, f"weights do not match the config ({exc}).")
    check_tensors(tensors, module, name)
    try:
        module.load_state_dict(tensors, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        fail(name, f"weights do not match the config ({exc}).")
    # over the tensors as the file stores them: float16 weights load into a float32 module
    fingerprint = tensors_fingerprint(tensors)
    if fingerprint != config["weights_sha256"]:
        fail(name, f"weights changed since saving (SHA-256 {fingerprint[:12]}... != recorded "
                   f"{config['weights_sha256'][:12]}...); the file was modified.")
    module.to(device).eval()
    return PretrainedModel(module=module, config=config, path=name, fingerprint=fingerprint)
