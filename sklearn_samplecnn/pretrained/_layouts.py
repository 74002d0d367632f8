"""Plain weight files and foreign SampleCNN layouts, mapped onto this library's SampleCNN.

Used by :meth:`~sklearn_samplecnn.PretrainedModel.from_state_dict`. Reading a
file never unpickles: a safetensors file is read by safetensors, anything else
by ``torch.load(..., weights_only=True)``, which refuses every object that is
not a tensor or a plain container.

Layouts (the parameter names of a SampleCNN ``state_dict``):

``"samplecnn"``
    This library's :class:`~sklearn_samplecnn.nn.SampleCNN`:
    ``features.strided.0.weight``, ``features.module1.0.weight`` (``.1.`` for
    even sizes, after the padding layer), ..., ``features.conv1x1.0.weight``,
    ``classifier.weight``.
``"sota-music-tagging"``
    The ``SampleCNN`` class of Won et al.'s *sota-music-tagging-models*
    (16 kHz, 59,049 samples, trained on MagnaTagATune, MTG-Jamendo or the
    Million Song Dataset): blocks ``layer1`` ... ``layer11``, each a ``conv``
    and a ``bn`` (ReLU and max-pool have no weights), and a ``dense`` output
    layer. ``layer1`` is the strided conv, ``layer2`` ... ``layer10`` the
    modules, ``layer11`` the 1x1 conv: one to one with this library's blocks.
    One difference is not in the weights: their strided conv pads one zero on
    each side (stride 3, so the last sample of a segment is never read),
    this library's pads none. Its outputs for a segment ``x`` are therefore
    theirs for ``x`` delayed by one sample (a zero in front, the last sample
    dropped); the weights themselves map exactly. Their other raw-waveform
    models (SampleCNNSE: residual and squeeze-and-excitation blocks, a
    two-layer head) cannot be mapped and are refused.
``"clmr"``
    The ``SampleCNN`` encoder of Spijkervet and Burgoyne's CLMR (contrastive
    learning of musical representations; 22,050 Hz, 59,049 samples):
    ``sequential.0`` is the strided conv, ``sequential.1`` ...
    ``sequential.N`` the modules and the last ``sequential`` block a conv of
    kernel 3 with one zero of padding on each side; each block is a conv
    (``.0.``) and a batch norm (``.1.``); ``fc`` is the output layer. Its
    released checkpoints hold the encoder under ``encoder.`` (or
    ``model.encoder.`` in a PyTorch Lightning checkpoint, whose
    hyper-parameters may be an ``argparse.Namespace``, allowed when reading)
    next to the contrastive projection head (``projector.``), which is left
    out; a pre-trained encoder has no ``fc`` (the contrastive model replaced
    it), so it becomes a bare module for features (a zero output layer of one
    unit). The last conv sees one time step (59,049 samples are 1 step after
    the 9 modules), so only its centre tap ever multiplies audio: that tap is
    this library's 1x1 conv, and the outputs are the same.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping

import torch

from ._config import check_file, fail

__all__ = ["LAYOUTS", "read_state_dict", "to_samplecnn_names", "infer_samplecnn"]

#: The parameter layouts :meth:`PretrainedModel.from_state_dict` reads.
LAYOUTS = ("samplecnn", "sota-music-tagging", "clmr")

_OURS = re.compile(r"features\.(strided|module[1-9]\d*|conv1x1)\.(\d+)\.weight")
_SOTA = re.compile(r"layer([1-9]\d*)\.(conv|bn)\.(\w+)|dense\.(weight|bias)")
_CLMR = re.compile(r"sequential\.(\d+)\.([01])\.(\w+)|fc\.(weight|bias)")
# Where CLMR's checkpoints keep the encoder, and the contrastive head left out.
_CLMR_ENCODER = ("model.encoder.", "encoder.")
_CLMR_PROJECTOR = ("model.projector.", "projector.")
# Parameter names of Won et al.'s other raw-waveform models, which SampleCNN cannot hold.
_SOTA_VARIANTS = {
    "conv_1": "residual blocks with squeeze-and-excitation (their SampleCNNSE)",
    "dense1": "a two-layer output head (their SampleCNNSE)",
}


def read_state_dict(source, where: str) -> dict[str, torch.Tensor]:
    """A ``{name: tensor}`` dict from a mapping, a safetensors file or a ``torch.save`` file.

    A ``torch.save`` file may hold the state_dict itself or a checkpoint dict
    with it under ``"state_dict"`` or ``"model"``; a common ``"module."`` prefix
    (``nn.DataParallel``) is removed.
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        check_file(name, "weights file")
        source = _read_file(name)
        for entry in ("state_dict", "model"):  # a training checkpoint around the weights
            if isinstance(source, Mapping) and isinstance(source.get(entry), Mapping):
                source = source[entry]
                break
    if not isinstance(source, Mapping):
        fail(where, f"expected a state_dict (a mapping of names to tensors), got "
                    f"{type(source).__name__}.")
    state = {}
    for key, value in source.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            fail(where, f"entry {key!r} is a {type(value).__name__}, not a tensor; a "
                        "state_dict maps parameter names to tensors.")
        state[key] = value.detach().cpu()
    if not state:
        fail(where, "the state_dict is empty.")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _read_file(name: str):
    from safetensors.torch import load_file

    try:
        return load_file(name)
    except Exception as exc:  # not safetensors: try torch.save's format, weights only
        first = f"{type(exc).__name__}: {exc}"
    # a Namespace only holds attributes: PyTorch Lightning checkpoints (CLMR's) keep their
    # hyper-parameters in one, which weights_only would otherwise refuse
    allow = getattr(torch.serialization, "safe_globals", None)
    try:
        if allow is None:
            return torch.load(name, map_location="cpu", weights_only=True)
        with allow([argparse.Namespace]):
            return torch.load(name, map_location="cpu", weights_only=True)
    except Exception as exc:
        message = str(exc).split("\n", 1)[0][:200]
        fail(name, f"neither a safetensors file ({first[:200]}) nor a torch.save file that "
                   f"loads with weights_only=True ({type(exc).__name__}: {message}). Files "
                   "that need full unpickling are refused: they can run arbitrary code.")


def to_samplecnn_names(state: dict[str, torch.Tensor], layout: str, where: str
                       ) -> dict[str, torch.Tensor]:
    """``state`` renamed from ``layout`` to :class:`~sklearn_samplecnn.nn.SampleCNN`'s names."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}.")
    if layout == "samplecnn":
        return dict(state)
    if layout == "clmr":
        return _from_clmr(state, where)
    for marker, what in _SOTA_VARIANTS.items():
        if any(marker in key.split(".") for key in state):
            fail(where, f"the weights have {what}; this library's SampleCNN has plain "
                        "conv-bn-relu-pool blocks and one linear output layer, so they cannot "
                        "be mapped.")
    unknown = [k for k in state if not _SOTA.fullmatch(k)]
    if unknown:
        fail(where, f"parameters {unknown[:5]} are not part of the {layout!r} layout "
                    "(layerN.conv.*, layerN.bn.*, dense.*).")
    n_layers = max((int(m.group(1)) for k in state if (m := _SOTA.fullmatch(k)) and m.group(1)),
                   default=0)
    if n_layers < 3 or "dense.weight" not in state:
        fail(where, f"found {n_layers} conv layers (layerN.conv) and "
                    f"{'a' if 'dense.weight' in state else 'no'} dense.weight; a SampleCNN has "
                    "a strided conv, at least one module, a 1x1 conv and an output layer.")
    blocks = {1: "strided", n_layers: "conv1x1",
              **{k: f"module{k - 1}" for k in range(2, n_layers)}}
    out = {}
    for key, value in state.items():
        m = _SOTA.fullmatch(key)
        if m.group(4):
            out[f"classifier.{m.group(4)}"] = value
            continue
        k, part, leaf = int(m.group(1)), m.group(2), m.group(3)
        if part == "conv":
            if value.dim() == 3 and value.shape[-1] % 2 == 0:
                fail(where, f"{key} has an even kernel ({value.shape[-1]}); that layout pads "
                            "kernel // 2 zeros on both sides, which for even kernels is not "
                            "this library's 'same' padding.")
            out[f"features.{blocks[k]}.0.{leaf}"] = value
        else:
            out[f"features.{blocks[k]}.1.{leaf}"] = value
    return out


def _from_clmr(state: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """CLMR's SampleCNN encoder (see the module docstring) in this library's names."""
    for prefix in _CLMR_ENCODER:
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            break
    state = {k: v for k, v in state.items() if not k.startswith(_CLMR_PROJECTOR)}
    unknown = [k for k in state if not _CLMR.fullmatch(k)]
    if unknown:
        fail(where, f"parameters {unknown[:5]} are not part of the 'clmr' layout "
                    "(sequential.N.0.* conv, sequential.N.1.* batch norm, fc.*; an encoder "
                    "under encoder. or model.encoder., a projector. head left out).")
    blocks = sorted({int(m.group(1)) for k in state if (m := _CLMR.fullmatch(k)).group(1)})
    if len(blocks) < 3 or blocks != list(range(len(blocks))):
        fail(where, f"found conv blocks sequential.{blocks}; CLMR's SampleCNN has blocks "
                    "0 (strided conv), 1 ... N (modules) and N + 1 (the last conv).")
    last = blocks[-1]
    names = {0: "strided", last: "conv1x1", **{k: f"module{k}" for k in blocks[1:-1]}}
    out = {}
    for key, value in state.items():
        m = _CLMR.fullmatch(key)
        if m.group(4):
            out[f"classifier.{m.group(4)}"] = value
            continue
        k, part, leaf = int(m.group(1)), m.group(2), m.group(3)
        if part == "0" and leaf == "weight" and 0 < k and value.dim() == 3:
            kernel = value.shape[-1]
            if k < last and kernel != 3:
                fail(where, f"{key} has kernel {kernel}; CLMR pads its module convs with one "
                            "zero on each side, which is this library's 'same' padding only "
                            "for kernel 3.")
            if k == last:
                if kernel % 2 == 0:
                    fail(where, f"{key} has an even kernel ({kernel}); its centre tap is "
                                "not defined.")
                value = value[:, :, kernel // 2:kernel // 2 + 1]  # the tap that sees audio
        out[f"features.{names[k]}.{0 if part == '0' else 1}.{leaf}"] = value
    if "classifier.weight" not in out:  # a contrastive encoder: no output layer
        width = out["features.conv1x1.0.weight"].shape[0] if "features.conv1x1.0.weight" \
            in out else 1
        out["classifier.weight"] = torch.zeros(1, width)
        out["classifier.bias"] = torch.zeros(1)
    return out


def infer_samplecnn(state: Mapping[str, torch.Tensor], where: str
                    ) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """``(sizes, channels, n_outputs)`` read off the conv and output weights' shapes.

    A SampleCNN block's conv kernel is its size (strided conv: filter and
    stride; module: filter and pool), its out channels the block's width.
    """
    convs: dict[str, tuple[int, ...]] = {}
    for key, value in state.items():
        m = _OURS.fullmatch(key)
        if m and value.dim() == 3:
            convs[m.group(1)] = tuple(value.shape)
    n_mod = sum(1 for block in convs if block.startswith("module"))
    needed = ["strided", *(f"module{i}" for i in range(1, n_mod + 1)), "conv1x1"]
    missing = [b for b in needed if b not in convs]
    if missing or "classifier.weight" not in state or n_mod == 0:
        what = missing or (["module1"] if n_mod == 0 else ["classifier.weight"])
        fail(where, f"no conv weight for {what} found: not a SampleCNN state_dict in this "
                    f"library's layout (the layouts read are {LAYOUTS}; give layout=...).")
    sizes = tuple(convs[b][-1] for b in needed[:-1])
    channels = tuple(convs[b][0] for b in needed)
    return sizes, channels, int(state["classifier.weight"].shape[0])
