"""Save and load trained models as one safe file: safetensors weights + a JSON config.

A ``.samplecnn`` file is a safetensors file. Its tensors are the module's
``state_dict``; its header metadata holds, under the key ``"sklearn_samplecnn"``,
a JSON config: the module class and constructor arguments (sizes, channels,
...), sample rate, input length, label names or tags, the estimator's segment
settings, training metadata, the library version, and a SHA-256 of the
weights. Loading parses the header and the raw tensors only: no pickle, no
code from the file is ever run, and the module class must be one of this
library's (see :data:`MODULE_CLASSES`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import __version__
from .exceptions import PretrainedFileError
from .nn import FrameLevelCNN, MelFrameLevelCNN, SampleCNN

__all__ = ["MODULE_CLASSES", "PretrainedModel", "save_pretrained", "load_pretrained",
           "weights_fingerprint"]

FORMAT = "sklearn-samplecnn/1"
_META_KEY = "sklearn_samplecnn"

#: The only classes a file may name: loading never imports anything else.
MODULE_CLASSES: dict[str, type[nn.Module]] = {
    "SampleCNN": SampleCNN,
    "FrameLevelCNN": FrameLevelCNN,
    "MelFrameLevelCNN": MelFrameLevelCNN,
}

# Estimator settings a rebuilt estimator needs to predict as the original did.
_ESTIMATOR_SETTINGS = ("sr", "hop_length", "tail", "short", "aggregate", "res_type", "threshold")


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def weights_fingerprint(module: nn.Module) -> str:
    """SHA-256 over a module's state_dict (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(_tensors(module).items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
                      if tensor.numel() else b"")
    return digest.hexdigest()


def _jsonable(values) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in values]


@dataclass
class PretrainedModel:
    """A loaded file: the module (eval mode, on ``device``) and its config.

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

    def to_estimator(self, **params):
        """A fitted :class:`SampleCNNClassifier` or :class:`SampleCNNTagger` for prediction.

        ``params`` override estimator parameters (e.g. ``device="cuda"``).
        """
        from .estimators import SampleCNNClassifier, SampleCNNTagger

        task = self.config.get("task")
        if task not in ("classifier", "tagger"):
            raise PretrainedFileError(
                f"{self.path}: holds a bare module (task={task!r}); only files saved from a "
                "fitted SampleCNNClassifier/SampleCNNTagger rebuild an estimator."
            )
        cls = SampleCNNClassifier if task == "classifier" else SampleCNNTagger
        settings = {k: v for k, v in self.config.get("estimator", {}).items()
                    if k in _ESTIMATOR_SETTINGS and (k != "threshold" or task == "tagger")}
        module_kwargs = {f"module__{k}": v for k, v in self.config["module_config"].items()
                         if k != "n_outputs"}
        est = cls(module=type(self.module), verbose=0, **{**settings, **module_kwargs, **params})
        labels = np.asarray(self.labels, dtype=object if any(
            isinstance(v, str) for v in self.labels) else None)
        est.n_outputs_ = int(self.config["module_config"]["n_outputs"])
        if task == "classifier":
            est.classes_ = labels
        else:
            est.multilabel_ = bool(self.config.get("multilabel", True))
            est.tags_ = np.array([str(t) for t in labels], dtype=object)
            est.classes_ = [np.array([0, 1])] * est.n_outputs_ if est.multilabel_ else labels
        est.initialize()
        est.module_.load_state_dict(self.module.state_dict())
        est.module_.eval()
        return est


def save_pretrained(obj, path: str | os.PathLike, *, metadata: dict | None = None) -> Path:
    """Write a fitted estimator or a module to ``path`` (conventionally ``*.samplecnn``).

    Parameters
    ----------
    obj : SampleCNNClassifier, SampleCNNTagger, ContrastiveSampleCNN or torch.nn.Module
        A fitted estimator, or one of :data:`MODULE_CLASSES`. A
        ContrastiveSampleCNN writes its encoder (``module_``, task
        ``"contrastive"``, no labels): load it like any pretrained extractor.
    path : str or os.PathLike
    metadata : dict or None
        Extra JSON-serialisable training metadata stored with the config
        (for a bare module, give ``{"sample_rate": ...}`` here; 22050 otherwise).

    Returns
    -------
    pathlib.Path
    """
    from safetensors.torch import save_file

    metadata = dict(metadata or {})
    if isinstance(obj, nn.Module):
        module, task, labels, estimator = obj, None, [], {}
        sample_rate = int(metadata.pop("sample_rate", 22050))
        multilabel = None
    else:
        module = getattr(obj, "module_", None)
        if module is None:
            raise PretrainedFileError(f"{type(obj).__name__} is not fitted; call fit() first.")
        from .estimators import ContrastiveSampleCNN, SampleCNNTagger

        task = ("contrastive" if isinstance(obj, ContrastiveSampleCNN) else
                "tagger" if isinstance(obj, SampleCNNTagger) else "classifier")
        multilabel = getattr(obj, "multilabel_", None)
        labels = [] if task == "contrastive" else _jsonable(
            obj.tags_ if task == "tagger" and multilabel else obj.classes_)
        estimator = {k: getattr(obj, k) for k in _ESTIMATOR_SETTINGS if hasattr(obj, k)}
        sample_rate = int(obj.sr)
        history = getattr(obj, "history_", None)
        if history:
            last = history[-1]
            metadata.setdefault("epochs", len(history))
            for key in ("train_loss", "valid_loss"):
                if key in last:
                    metadata.setdefault(key, float(last[key]))
    cls_name = type(module).__name__
    if cls_name not in MODULE_CLASSES:
        raise PretrainedFileError(
            f"module class {cls_name} cannot be saved; supported: {sorted(MODULE_CLASSES)}."
        )
    tensors = _tensors(module)
    config = {
        "format": FORMAT,
        "library_version": __version__,
        "module_class": cls_name,
        "module_config": module.get_config(),
        "name": getattr(module, "name", cls_name),
        "sample_rate": sample_rate,
        "input_length": int(module.input_length),
        "task": task,
        "labels": labels,
        "multilabel": multilabel,
        "estimator": estimator,
        "training": {"saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                     **metadata},
        "weights_sha256": weights_fingerprint(module),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, os.fspath(tmp), metadata={_META_KEY: json.dumps(config)})
    os.replace(tmp, path)
    return path


def load_pretrained(path: str | os.PathLike, *, device: str = "cpu") -> PretrainedModel:
    """Load a file written by :func:`save_pretrained`; never unpickles anything.

    Raises
    ------
    FileNotFoundError
        No such file.
    PretrainedFileError
        Not a safetensors file (e.g. a pickle), no or unreadable config, an
        unknown module class, weights that do not match the config or their
        recorded SHA-256.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"{name}: no such pretrained file")
    try:
        with safe_open(name, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(name)
    except Exception as exc:  # safetensors raises several types for foreign bytes
        raise PretrainedFileError(
            f"{name}: not a safetensors weights file ({type(exc).__name__}: {exc}); "
            "pickled checkpoints are refused."
        ) from None
    try:
        config = json.loads(meta[_META_KEY])
    except (KeyError, ValueError):
        raise PretrainedFileError(f"{name}: has no sklearn-samplecnn config in its header.") \
            from None
    if config.get("format") != FORMAT:
        raise PretrainedFileError(f"{name}: unknown format {config.get('format')!r}.")
    cls = MODULE_CLASSES.get(config.get("module_class"))
    if cls is None:
        raise PretrainedFileError(
            f"{name}: module class {config.get('module_class')!r} is not one of "
            f"{sorted(MODULE_CLASSES)}."
        )
    try:
        module = cls(**config["module_config"])
        module.load_state_dict(tensors, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise PretrainedFileError(f"{name}: weights do not match the config ({exc}).") from None
    fingerprint = weights_fingerprint(module)
    if fingerprint != config.get("weights_sha256"):
        raise PretrainedFileError(
            f"{name}: weights changed since saving (SHA-256 {fingerprint[:12]}... != recorded "
            f"{str(config.get('weights_sha256'))[:12]}...); the file was modified."
        )
    if int(config.get("input_length", -1)) != module.input_length:
        raise PretrainedFileError(f"{name}: input_length in the config does not match the model.")
    module.to(device).eval()
    return PretrainedModel(module=module, config=config, path=name, fingerprint=fingerprint)
