"""torch modules: SampleCNN, the paper's frame-level baselines, the mel front end, clip
statistics, musicnn (a log-mel teacher), the contrastive projection head and loss (no sklearn),
and the contract every such model fulfils (:class:`SegmentModel`)."""

from .contrastive import NTXentLoss, ProjectionHead, nt_xent_loss
from .frame_level import TABLE2_CONFIGS, FrameLevelCNN, MelFrameLevelCNN, frame_modules
from .inference import InferenceSampleCNN, count_macs, optimize_for_inference
from .mel import MelSpectrogram, hz_to_mel, mel_filterbank, mel_to_hz
from .musicnn import MSD_TAGS, MTT_TAGS, Musicnn, MusicnnFrontEnd, MusicnnVGG
from .protocol import SegmentModel, check_segment_model, edge_pad, segment_hop
from .runtime import (
    PRECISIONS,
    InferenceRunner,
    activation_bytes,
    auto_batch_size,
    resolve_precision,
    run_batched,
    torch_threads,
)
from .samplecnn import (
    MULTISCALE_PRESETS,
    PUBLIC_CODE_CHANNELS,
    SAMPLE_RATE_PRESETS,
    TABLE1_CHANNELS,
    SampleCNN,
    default_channels,
    parse_sizes,
    preset_sizes,
)
from .spectral import ClipStatistics

__all__ = [
    "ClipStatistics",
    "FrameLevelCNN",
    "InferenceRunner",
    "InferenceSampleCNN",
    "MULTISCALE_PRESETS",
    "MelFrameLevelCNN",
    "MelSpectrogram",
    "MSD_TAGS",
    "MTT_TAGS",
    "Musicnn",
    "MusicnnFrontEnd",
    "MusicnnVGG",
    "NTXentLoss",
    "PRECISIONS",
    "PUBLIC_CODE_CHANNELS",
    "ProjectionHead",
    "SAMPLE_RATE_PRESETS",
    "TABLE1_CHANNELS",
    "TABLE2_CONFIGS",
    "SampleCNN",
    "SegmentModel",
    "activation_bytes",
    "check_segment_model",
    "auto_batch_size",
    "count_macs",
    "default_channels",
    "edge_pad",
    "frame_modules",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
    "nt_xent_loss",
    "optimize_for_inference",
    "parse_sizes",
    "preset_sizes",
    "resolve_precision",
    "run_batched",
    "segment_hop",
    "torch_threads",
]
