"""torch modules: SampleCNN and the paper's frame-level baselines (no sklearn here)."""

from .frame_level import (
    TABLE2_CONFIGS,
    FrameLevelCNN,
    MelFrameLevelCNN,
    MelSpectrogram,
    frame_modules,
    mel_filterbank,
)
from .samplecnn import (
    MULTISCALE_PRESETS,
    PUBLIC_CODE_CHANNELS,
    SAMPLE_RATE_PRESETS,
    TABLE1_CHANNELS,
    SampleCNN,
    default_channels,
    parse_sizes,
)

__all__ = [
    "FrameLevelCNN",
    "MULTISCALE_PRESETS",
    "MelFrameLevelCNN",
    "MelSpectrogram",
    "PUBLIC_CODE_CHANNELS",
    "SAMPLE_RATE_PRESETS",
    "TABLE1_CHANNELS",
    "TABLE2_CONFIGS",
    "SampleCNN",
    "default_channels",
    "frame_modules",
    "mel_filterbank",
    "parse_sizes",
]
