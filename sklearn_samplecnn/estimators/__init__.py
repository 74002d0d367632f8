"""skorch estimators that train SampleCNNs on audio files or waveforms: with labels, without
(contrastive), or from a teacher (distillation)."""

from ..engine import AudioCache, Clips
from ._pretrained import from_pretrained
from .callbacks import PaperSchedule
from .checkpoint import ResumableCheckpoint
from .classifier import SampleCNNClassifier
from .contrastive import ContrastiveSampleCNN
from .data import ClipSplit, CropPairDataset, SegmentDataset
from .distill import DistilledSampleCNN, TeacherWindows
from .scoring import clip_scoring
from .tagger import SampleCNNTagger

__all__ = ["AudioCache", "Clips", "ClipSplit", "ContrastiveSampleCNN", "CropPairDataset",
           "DistilledSampleCNN", "PaperSchedule", "ResumableCheckpoint", "SampleCNNClassifier",
           "SampleCNNTagger", "SegmentDataset", "TeacherWindows", "clip_scoring", "from_pretrained"]
