"""Extractors: what ``MultiScaleFeatureTransformer(extractors=[...])`` accepts, resolved to modules.

An item is a ``.samplecnn`` file or the name of a model shipped with the
library (:func:`~sklearn_samplecnn.pretrained.shipped_models`), a
:class:`~sklearn_samplecnn.PretrainedModel`,
a fitted (or ``FrozenEstimator``-wrapped) SampleCNN estimator, or a
``(torch module, sample rate)`` pair. Each resolves to the transformer's own
copy of a module in eval mode with its sample rate and weights fingerprint.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass

from sklearn.base import clone
from torch import nn

from .._deprecate import warn_deprecated
from ..nn.runtime import InferenceRunner
from ..pretrained import PretrainedModel, load_pretrained, weights_fingerprint

__all__ = ["Extractor", "resolve_extractor"]


@dataclass
class Extractor:
    """One resolved extractor: the model to run and what it produces.

    ``runner`` is the :class:`~sklearn_samplecnn.nn.InferenceRunner` that runs
    the model (eval mode, on the device, at the resolved precision; its
    ``module`` is the optimised copy); ``module`` is the deprecated name of
    ``runner``.
    """

    name: str
    runner: InferenceRunner
    sr: int
    input_length: int
    fingerprint: str
    layers: tuple[str, ...]
    layer_tokens: tuple[str, ...]
    channels: tuple[int, ...]
    hop: int  # samples between segment starts by default: the module's ``segment_hop``
    edge_pad: int  # zeros the module wants before and after each clip (``edge_pad``)

    @property
    def module(self) -> InferenceRunner:
        """Deprecated: the runner is :attr:`runner` (its model: ``runner.module``)."""
        warn_deprecated("Extractor.module", "Extractor.runner (the model: runner.module)")
        return self.runner


def resolve_extractor(item, index: int, X, y, *, fit_extractors: bool = False
                      ) -> tuple[nn.Module, int, str]:
    """(eval module, sample rate, weights fingerprint) of ``extractors[index]``.

    The module is always the caller's own copy: moving it to a device or
    optimising it never touches the user's object or another transformer's.
    """
    from sklearn.frozen import FrozenEstimator

    if isinstance(item, FrozenEstimator):
        item = item.estimator
    if isinstance(item, (str, os.PathLike)):
        # loaded for this fit: never shared through a process-wide cache
        item = load_pretrained(os.fspath(item))
        return item.module, item.sample_rate, item.fingerprint
    if isinstance(item, PretrainedModel):
        module = copy.deepcopy(item.module)  # the user's object stays where it is
        return module, item.sample_rate, item.fingerprint or weights_fingerprint(module)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], nn.Module):
        module = copy.deepcopy(item[0])  # eval()/to(device) must not touch the caller's
        return module, int(item[1]), weights_fingerprint(module)
    if isinstance(item, nn.Module):
        raise TypeError(f"extractors[{index}] is a bare torch module; pass (module, "
                        "sample_rate) so the audio can be resampled for it.")
    if hasattr(item, "fit") and hasattr(item, "sr"):
        if getattr(item, "module_", None) is None:
            if not fit_extractors:
                raise ValueError(
                    f"extractors[{index}] is an unfitted {type(item).__name__}. Fit it "
                    "first, or pass fit_extractors=True to train it here. (GridSearchCV "
                    "and cross_val_score clone their estimators, which unfits estimators "
                    "given as parameters: wrap a fitted one in "
                    "sklearn.frozen.FrozenEstimator or save it with save_pretrained.)"
                )
            if y is None:
                raise ValueError("fit_extractors=True needs y in fit().")
            item = clone(item).fit(X, y)
        module = copy.deepcopy(item.module_).cpu().eval()
        return module, int(item.sr), weights_fingerprint(module)
    raise TypeError(f"extractors[{index}] must be a file path, PretrainedModel, fitted "
                    f"SampleCNN estimator or (module, sr) pair, got {type(item).__name__}.")
