"""The JSON config of a ``.samplecnn`` file: its hash, and its checks against the tensors.

Shared by :mod:`sklearn_samplecnn.pretrained` for loading, saving and importing:
every check here needs the header only (the config and the tensor shapes),
never the tensor data, and builds modules on the ``meta`` device only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping

import torch
from torch import nn

from .._fileio import not_regular
from ..audio import RES_TYPES
from ..exceptions import PretrainedFileError
from ..nn import FrameLevelCNN, MelFrameLevelCNN, Musicnn, MusicnnVGG, SampleCNN
from ..segments import AGGREGATIONS, SHORTS, TAILS

__all__ = ["CLASSIFIER", "CONTRASTIVE", "TAGGER", "TASKS", "FORMAT", "OLD_FORMATS",
           "CURRENT_ONLY_FIELDS", "META_KEY", "MODULE_CLASSES",
           "config_sha256", "check_config", "meta_module", "compare_shapes", "check_tensors",
           "check_file", "fail", "short"]

FORMAT = "sklearn-samplecnn/2"
OLD_FORMATS = ("sklearn-samplecnn/1",)  # loaded with a warning: no config hash
META_KEY = "sklearn_samplecnn"

#: The only classes a file may name: loading never imports anything else.
MODULE_CLASSES: dict[str, type[nn.Module]] = {
    "SampleCNN": SampleCNN,
    "FrameLevelCNN": FrameLevelCNN,
    "MelFrameLevelCNN": MelFrameLevelCNN,
    "Musicnn": Musicnn,
    "MusicnnVGG": MusicnnVGG,
}

#: What a file holds: the outputs of a classifier (one label per output, softmax), of a
#: tagger (one tag per output, sigmoids), or a contrastive encoder (no labels); ``None``
#: in a file is a bare module, for features.
CLASSIFIER, TAGGER, CONTRASTIVE = "classifier", "tagger", "contrastive"
TASKS = (CLASSIFIER, TAGGER, CONTRASTIVE)
_TASKS = (None, *TASKS)
CURRENT_ONLY_FIELDS = ("config_sha256",)  # never in an old-format file


def _positive_int(value) -> bool:
    return _is_int(value) and value >= 1


# The estimator settings a file may carry, and what each must be: checked on load, so an
# edited value (a threshold turned into a string) is refused there, not inside predict.
_ESTIMATOR_VALUES = {
    "sr": (_positive_int, "a positive integer"),
    "hop_length": (lambda v: v is None or _positive_int(v), "a positive integer or null"),
    "tail": (lambda v: v in TAILS, f"one of {list(TAILS)}"),
    "short": (lambda v: v in SHORTS, f"one of {list(SHORTS)}"),
    "aggregate": (lambda v: v in AGGREGATIONS, f"one of {list(AGGREGATIONS)}"),
    "res_type": (lambda v: v in RES_TYPES, f"one of {list(RES_TYPES)}"),
    "threshold": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                  and math.isfinite(v) and 0 <= v <= 1, "a number in [0, 1]"),
}
_REQUIRED = ("format", "module_class", "module_config", "sample_rate", "input_length", "task",
             "labels", "weights_sha256")


def config_sha256(config: dict) -> str:
    """SHA-256 of the config's canonical JSON (sorted keys, no spaces), less ``config_sha256``."""
    body = {k: v for k, v in config.items() if k != "config_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fail(where: str, message: str):
    raise PretrainedFileError(f"{where}: {message}")


def check_file(name: str, what: str) -> None:
    """``name`` is a regular file: ``FileNotFoundError`` when there is none, and
    :class:`PretrainedFileError` saying what it is when it is a folder, a device (a link
    to ``/dev/zero``) or a pipe, which are never read."""
    try:
        mode = os.stat(name).st_mode
    except OSError:
        raise FileNotFoundError(f"{name}: no such {what}") from None
    kind = not_regular(mode)
    if kind is not None:
        fail(name, f"is {kind}, not a {what}; only regular files are read.")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- checks shared by loading, saving and importing --------------------------
def check_config(config: dict, where: str) -> type[nn.Module]:
    """The module class of a consistent config; :class:`PretrainedFileError` otherwise."""
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        fail(where, f"the config lacks {', '.join(missing)}.")
    cls = MODULE_CLASSES.get(config["module_class"]) \
        if isinstance(config["module_class"], str) else None
    if cls is None:
        fail(where, f"module class {short(config['module_class'])} is not one of "
                    f"{sorted(MODULE_CLASSES)}.")
    module_config = config["module_config"]
    if not isinstance(module_config, dict):
        fail(where, f"module_config must be a JSON object of {cls.__name__} arguments, "
                    f"got {short(module_config)}.")
    for key, value in module_config.items():
        if not (value is None or isinstance(value, (int, float))
                or (isinstance(value, list) and all(_is_int(v) for v in value))):
            fail(where, f"module_config[{key!r}] must be a number, null or a list of "
                        f"integers, got {short(value)}.")
    n_outputs = module_config.get("n_outputs")
    if not _is_int(n_outputs) or n_outputs < 1:
        fail(where, f"module_config['n_outputs'] must be a positive integer, got "
                    f"{short(n_outputs)}.")
    for key in ("sample_rate", "input_length"):
        if not _is_int(config[key]) or config[key] < 1:
            fail(where, f"{key} must be a positive integer, got {short(config[key])}.")
    task, labels, multilabel = config["task"], config["labels"], config.get("multilabel")
    if task not in _TASKS:
        fail(where, f"task must be one of {list(_TASKS)}, got {short(task)}.")
    if not isinstance(labels, list) or not all(
            isinstance(v, (str, int, float)) for v in labels):
        fail(where, f"labels must be a list of strings or numbers, got {short(labels)}.")
    if task in (None, CONTRASTIVE) and labels:
        fail(where, f"a {task or 'bare'} module has no labels, got {short(labels)}.")
    if task in (CLASSIFIER, TAGGER) and len(labels) != n_outputs:
        fail(where, f"the {task} has {n_outputs} outputs but {len(labels)} labels "
                    f"{short(labels)}.")
    if len({json.dumps(v) for v in labels}) != len(labels):
        fail(where, f"labels must be distinct, got {short(labels)}.")
    if task == TAGGER and not isinstance(multilabel, bool):
        fail(where, f"multilabel must be true or false for a tagger, got {short(multilabel)}.")
    if task != TAGGER and multilabel is not None:
        fail(where, f"multilabel applies to taggers only, got {short(multilabel)}.")
    for key in ("estimator", "training"):
        if not isinstance(config.get(key, {}), dict):
            fail(where, f"{key} must be a JSON object, got {short(config[key])}.")
    for key, value in config.get("estimator", {}).items():
        check = _ESTIMATOR_VALUES.get(key)
        if check is not None and not check[0](value):
            fail(where, f"estimator[{key!r}] must be {check[1]}, got {short(value)}.")
    sr = config.get("estimator", {}).get("sr", config["sample_rate"])
    if sr != config["sample_rate"]:
        fail(where, f"sample_rate {config['sample_rate']} differs from the estimator's sr "
                    f"{short(sr)}.")
    if not isinstance(config.get("name", ""), str):
        fail(where, f"name must be a string, got {short(config['name'])}.")
    digest = config["weights_sha256"]
    if not (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)):
        fail(where, f"weights_sha256 must be 64 hexadecimal digits, got {short(digest)}.")
    return cls


def meta_module(cls: type[nn.Module], module_config: dict, shapes: Mapping[str, tuple],
                 where: str) -> nn.Module:
    """``cls(**module_config)`` on the meta device (no memory), after bounding its size.

    Every list in the config names one value per layer and every layer has
    weights, so no list may be longer than the file has tensors. The mel
    filterbank is computed with numpy, outside the meta device: its size is
    checked against the file first.
    """
    for key, value in module_config.items():
        if isinstance(value, list) and len(value) > len(shapes):
            fail(where, f"module_config[{key!r}] lists {len(value)} values for "
                        f"{len(shapes)} tensors.")
    if issubclass(cls, MelFrameLevelCNN):
        n_mels, n_fft = module_config.get("n_mels"), module_config.get("n_fft")
        got = shapes.get("melspec.mel_basis")
        if not (_is_int(n_mels) and _is_int(n_fft) and got == (n_mels, n_fft // 2 + 1)):
            fail(where, f"n_mels={short(n_mels)}, n_fft={short(n_fft)} in module_config do "
                        f"not match the mel filterbank's shape {got}.")
    try:
        with torch.device("meta"):
            return cls(**module_config)
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        fail(where, f"module_config does not build a {cls.__name__} ({exc}).")


def check_tensors(tensors: Mapping[str, torch.Tensor], module: nn.Module, where: str) -> None:
    """Every tensor the module keeps as floating point (weights, batch-norm statistics) is
    floating point and finite in ``tensors``: int32 weights would be truncated, NaN
    weights predict NaN. The message names the tensor."""
    expected = module.state_dict()
    for key, tensor in tensors.items():
        want = expected.get(key)
        if want is None or not want.dtype.is_floating_point:
            continue  # counters such as batch norm's num_batches_tracked
        if not tensor.dtype.is_floating_point:
            fail(where, f"tensor {key!r} is {str(tensor.dtype).replace('torch.', '')}; "
                        f"weights must be floating point ({str(want.dtype).replace('torch.', '')}"
                        " here), not integers.")
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            fail(where, f"tensor {key!r} holds {bad} NaN or infinite value"
                        f"{'s' if bad > 1 else ''} of {tensor.numel()}; the weights are unusable "
                        "(a diverged run?).")


def compare_shapes(module: nn.Module, shapes: Mapping[str, tuple], where: str,
                    what: str) -> None:
    """Every tensor the module needs is in ``shapes``, with its shape, and nothing else."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected]
    if missing or unexpected:
        fail(where, f"{what} do not fit {type(module).__name__} {module.name}: "
                    f"missing {missing[:5]}, unexpected {unexpected[:5]}.")
    for key, shape in expected.items():
        if tuple(shapes[key]) != shape:
            fail(where, f"tensor {key!r} has shape {tuple(shapes[key])} in {what} but "
                        f"{type(module).__name__} {module.name} needs {shape}.")

