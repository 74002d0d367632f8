"""torch modules: SampleCNN and the paper's frame-level baselines (no sklearn here)."""

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
    "MULTISCALE_PRESETS",
    "PUBLIC_CODE_CHANNELS",
    "SAMPLE_RATE_PRESETS",
    "TABLE1_CHANNELS",
    "SampleCNN",
    "default_channels",
    "parse_sizes",
]
