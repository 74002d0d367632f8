"""The model contract: what a module needs for the engine, the transformers and the estimators.

Every model of the library (SampleCNN, its inference copy, the frame-level
baselines, musicnn) fulfils :class:`SegmentModel`, and any module of yours
that does works wherever they do: as an extractor of
:class:`~sklearn_samplecnn.MultiScaleFeatureTransformer`, as the ``module``
of the estimators, as a contrastive encoder. :func:`check_segment_model`
tells what a module lacks; :func:`segment_hop` and :func:`edge_pad` read the
two optional members with their defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

__all__ = ["TRAINABLE", "SegmentModel", "check_segment_model", "edge_pad", "segment_hop"]


@runtime_checkable
class SegmentModel(Protocol):
    """A model that takes fixed-length segments and names its hidden layers.

    Attributes
    ----------
    input_length : int
        Samples per segment (59,049 for the paper's 3^9 SampleCNN).
    hidden_layers : tuple of str
        The hidden layers' names, bottom to top.

    Optional members, read through :func:`segment_hop` and :func:`edge_pad`:

    * ``segment_hop`` (int): samples between the starts of consecutive
      segments when a clip is cut (default: ``input_length``, non-overlapping
      segments; musicnn's patches overlap its frame context);
    * ``edge_pad`` (int): zeros added before a clip's first sample and after
      its last before cutting (default: 0; musicnn's centred STFT frames).

    Examples
    --------
    >>> from sklearn_samplecnn.nn import SampleCNN
    >>> isinstance(SampleCNN("3-3-3", channels=[4] * 4, n_outputs=2), SegmentModel)
    True
    """

    input_length: int
    hidden_layers: Sequence[str]

    def resolve_layer(self, layer: int | str) -> str:
        """A hidden layer's name from its name or index (negative counts from the top)."""

    def forward(self, x: torch.Tensor, return_hidden: bool | Sequence[str] = False):
        """``(batch, input_length)`` segments -> outputs, or ``(outputs, {name: activation})``
        with ``return_hidden`` (True: every hidden layer; or a sequence of names), each
        activation of shape ``(batch, channels, time)``."""


_MEMBERS = ("input_length", "hidden_layers", "resolve_layer", "forward")


#: What a model needs to be trained and to predict (the estimators' ``module``): its
#: hidden layers are only read for features.
TRAINABLE = ("input_length", "forward")


def check_segment_model(module, what: str = "module", members: tuple[str, ...] = _MEMBERS
                        ) -> None:
    """Raise a ``TypeError`` naming what ``module`` lacks of :class:`SegmentModel`.

    Parameters
    ----------
    module : object
        The model to check.
    what : str, default="module"
        How the error names it (``"extractors[0]"``, ``"module"``).
    members : tuple of str, default=all of them
        The members needed here: :data:`TRAINABLE` for a model that is only
        trained and predicts with.
    """
    missing = [m for m in members if not hasattr(module, m)]
    if missing:
        raise TypeError(f"{what} {type(module).__name__} is not a segment model: it lacks "
                        f"{', '.join(missing)} (see sklearn_samplecnn.nn.SegmentModel: "
                        "input_length, hidden_layers, resolve_layer, "
                        "forward(x, return_hidden=...)).")


def segment_hop(model: SegmentModel) -> int:
    """Samples between segment starts when a clip is cut for ``model``: its
    ``segment_hop``, else its ``input_length``."""
    return int(getattr(model, "segment_hop", model.input_length))


def edge_pad(model: SegmentModel) -> int:
    """Zeros ``model`` wants before and after each clip: its ``edge_pad``, else 0."""
    return int(getattr(model, "edge_pad", 0))
