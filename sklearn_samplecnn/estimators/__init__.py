"""skorch estimators that train SampleCNNs on audio files or waveforms, with or without labels."""

from .._clips import AudioCache, Clips
from .callbacks import PaperSchedule
from .checkpoint import ResumableCheckpoint
from .classifier import SampleCNNClassifier
from .contrastive import ContrastiveSampleCNN
from .data import ClipSplit, CropPairDataset, SegmentDataset
from .scoring import clip_scoring
from .tagger import SampleCNNTagger

__all__ = ["AudioCache", "Clips", "ClipSplit", "ContrastiveSampleCNN", "CropPairDataset",
           "PaperSchedule", "ResumableCheckpoint", "SampleCNNClassifier", "SampleCNNTagger",
           "SegmentDataset", "clip_scoring"]
