"""Clip-level features for sklearn pipelines: pooled SampleCNN activations, classic statistics.

:class:`MultiScaleFeatureTransformer` (section 4 of the paper) runs pretrained
models over whole clips; :class:`MusicnnTransformer` does it with musicnn's
MSD- or MTT-trained taggers (shipped in the package); :class:`MFCCStatsTransformer`
gives the classic baseline (MFCC or log-mel statistics, deltas, spectral contrast);
:class:`BlockScaler` balances the two in a ``FeatureUnion``;
:class:`FeatureCache` keeps their results on disk, and :func:`write_feature_store` writes
them into a resumable folder of Parquet shards (:func:`read_feature_store` reads it
back); both run on a Dask cluster through :mod:`sklearn_samplecnn.distributed`.
"""

from .cache import FeatureCache
from .classic import MFCCStatsTransformer
from .multiscale import POOLINGS, MultiScaleFeatureTransformer
from .musicnn import MUSICNN_MODELS, MusicnnTransformer
from .store import STORE_FORMAT, read_feature_store, write_feature_store
from .union import BlockScaler

__all__ = ["MUSICNN_MODELS", "POOLINGS", "STORE_FORMAT", "BlockScaler", "FeatureCache",
           "MFCCStatsTransformer", "MultiScaleFeatureTransformer", "MusicnnTransformer",
           "read_feature_store", "write_feature_store"]
