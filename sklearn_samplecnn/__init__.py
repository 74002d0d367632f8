"""sklearn-samplecnn: SampleCNN raw-waveform music models as scikit-learn estimators.

Public names are imported lazily, so ``import sklearn_samplecnn`` and the
numpy-only stages (:mod:`~sklearn_samplecnn.audio`,
:mod:`~sklearn_samplecnn.segments`) never import torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY = {
    "AudioLoadError": "exceptions",
    "ClipTooShortError": "exceptions",
    "DatasetNotFoundError": "exceptions",
    "PretrainedFileError": "exceptions",
    "SampleCNNError": "exceptions",
    "FeatureStoreError": "exceptions",
    "audio_info": "audio",
    "load_audio": "audio",
    "resample": "audio",
    "AudioAugment": "augment",
    "write_audio": "audio",
    "aggregate_segments": "segments",
    "segment_signal": "segments",
    "fetch_gtzan": "datasets",
    "fetch_magnatagatune": "datasets",
    "load_audio_csv": "datasets",
    "load_audio_folder": "datasets",
    "make_music": "datasets",
    "SampleCNN": "nn",
    "FrameLevelCNN": "nn",
    "MelFrameLevelCNN": "nn",
    "SampleCNNClassifier": "estimators",
    "SampleCNNTagger": "estimators",
    "ContrastiveSampleCNN": "estimators",
    "DistilledSampleCNN": "estimators",
    "PaperSchedule": "estimators",
    "ClipSplit": "estimators",
    "MultiScaleFeatureTransformer": "features",
    "MFCCStatsTransformer": "features",
    "MusicnnTransformer": "features",
    "FeatureCache": "features",
    "BlockScaler": "features",
    "PretrainedModel": "pretrained",
    "load_pretrained": "pretrained",
    "save_pretrained": "pretrained",
    "shipped_models": "models",
    "read_feature_store": "features",
    "write_feature_store": "features",
    "estimate_filters": "visualize",
    "filter_spectra": "visualize",
    "plot_embedding": "visualize",
    "plot_filter_spectra": "visualize",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
