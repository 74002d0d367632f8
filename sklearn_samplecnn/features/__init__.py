"""Clip-level features for sklearn pipelines: pretrained SampleCNN activations, pooled.

:class:`MultiScaleFeatureTransformer` (section 4 of the paper) runs pretrained
models over whole clips; :class:`FeatureCache` keeps its results on disk.
"""

from .cache import FeatureCache
from .multiscale import POOLINGS, MultiScaleFeatureTransformer

__all__ = ["POOLINGS", "FeatureCache", "MultiScaleFeatureTransformer"]
