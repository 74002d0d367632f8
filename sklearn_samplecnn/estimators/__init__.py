"""skorch estimators that train SampleCNNs on audio files or waveforms."""

from .._clips import AudioCache, Clips
from .callbacks import PaperSchedule
from .checkpoint import ResumableCheckpoint
from .classifier import SampleCNNClassifier
from .data import ClipSplit, SegmentDataset
from .scoring import clip_scoring
from .tagger import SampleCNNTagger

__all__ = ["AudioCache", "Clips", "ClipSplit", "PaperSchedule", "ResumableCheckpoint",
           "SampleCNNClassifier", "SampleCNNTagger", "SegmentDataset", "clip_scoring"]
