"""skorch estimators that train SampleCNNs on audio files or waveforms."""

from .._clips import AudioCache, Clips
from .callbacks import PaperSchedule
from .data import ClipSplit, SegmentDataset
from .net import SampleCNNClassifier, SampleCNNTagger

__all__ = ["AudioCache", "Clips", "ClipSplit", "PaperSchedule", "SampleCNNClassifier",
           "SampleCNNTagger", "SegmentDataset"]
