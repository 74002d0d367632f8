"""Type stub of the package's public names: what type checkers and IDEs read.

``sklearn_samplecnn/__init__.py`` reads this file at import to resolve the same names
lazily (lazy_loader's ``attach_stub`` pattern): one list, no torch at import.
"""

from .audio import (
    audio_info as audio_info,
)
from .audio import (
    load_audio as load_audio,
)
from .audio import (
    resample as resample,
)
from .audio import (
    write_audio as write_audio,
)
from .augment import AudioAugment as AudioAugment
from .datasets import (
    fetch_gtzan as fetch_gtzan,
)
from .datasets import (
    fetch_magnatagatune as fetch_magnatagatune,
)
from .datasets import (
    load_audio_csv as load_audio_csv,
)
from .datasets import (
    load_audio_folder as load_audio_folder,
)
from .datasets import (
    make_music as make_music,
)
from .estimators import (
    ClipSplit as ClipSplit,
)
from .estimators import (
    ContrastiveSampleCNN as ContrastiveSampleCNN,
)
from .estimators import (
    DistilledSampleCNN as DistilledSampleCNN,
)
from .estimators import (
    PaperSchedule as PaperSchedule,
)
from .estimators import (
    SampleCNNClassifier as SampleCNNClassifier,
)
from .estimators import (
    SampleCNNTagger as SampleCNNTagger,
)
from .exceptions import (
    AudioLoadError as AudioLoadError,
)
from .exceptions import (
    ClipTooShortError as ClipTooShortError,
)
from .exceptions import (
    DatasetNotFoundError as DatasetNotFoundError,
)
from .exceptions import (
    FeatureStoreError as FeatureStoreError,
)
from .exceptions import (
    PretrainedFileError as PretrainedFileError,
)
from .exceptions import (
    SampleCNNError as SampleCNNError,
)
from .features import (
    BlockScaler as BlockScaler,
)
from .features import (
    FeatureCache as FeatureCache,
)
from .features import (
    MFCCStatsTransformer as MFCCStatsTransformer,
)
from .features import (
    MultiScaleFeatureTransformer as MultiScaleFeatureTransformer,
)
from .features import (
    MusicnnTransformer as MusicnnTransformer,
)
from .features import (
    read_feature_store as read_feature_store,
)
from .features import (
    write_feature_store as write_feature_store,
)
from .models import shipped_models as shipped_models
from .nn import (
    FrameLevelCNN as FrameLevelCNN,
)
from .nn import (
    MelFrameLevelCNN as MelFrameLevelCNN,
)
from .nn import (
    SampleCNN as SampleCNN,
)
from .pretrained import (
    PretrainedModel as PretrainedModel,
)
from .pretrained import (
    load_pretrained as load_pretrained,
)
from .pretrained import (
    save_pretrained as save_pretrained,
)
from .segments import (
    aggregate_segments as aggregate_segments,
)
from .segments import (
    segment_signal as segment_signal,
)
from .visualize import (
    estimate_filters as estimate_filters,
)
from .visualize import (
    filter_spectra as filter_spectra,
)
from .visualize import (
    plot_embedding as plot_embedding,
)
from .visualize import (
    plot_filter_spectra as plot_filter_spectra,
)

__version__: str
__all__: list[str]
