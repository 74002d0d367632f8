"""skorch estimators that train SampleCNNs on audio files or waveforms."""

from .callbacks import PaperSchedule
from .data import AudioCache, Clips, ClipSplit, SegmentDataset
from .net import SampleCNNClassifier, SampleCNNTagger

__all__ = ["AudioCache", "Clips", "ClipSplit", "PaperSchedule", "SampleCNNClassifier",
           "SampleCNNTagger", "SegmentDataset"]
