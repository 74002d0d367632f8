"""skorch estimators that train SampleCNNs on audio files or waveforms, with or without labels."""

from .._clips import AudioCache, Clips
from .callbacks import PaperSchedule
from .contrastive import ContrastiveSampleCNN
from .data import ClipSplit, CropPairDataset, SegmentDataset
from .net import SampleCNNClassifier, SampleCNNTagger

__all__ = ["AudioCache", "Clips", "ClipSplit", "ContrastiveSampleCNN", "CropPairDataset",
           "PaperSchedule", "SampleCNNClassifier", "SampleCNNTagger", "SegmentDataset"]
