"""Datasets: local GTZAN and MagnaTagATune copies, audio folders, generated music.

numpy, soundfile and scikit-learn only; importing this package never imports
torch. The loaders (also ``load_audio_csv``: a CSV of paths and labels or tags)
list files (nothing is decoded or downloaded) and return a
:class:`sklearn.utils.Bunch` with ``filenames``, ``target``, ``target_names``
and ``DESCR``.
"""

from ._base import AUDIO_EXTENSIONS, find_audio_files, load_audio_folder
from ._csv import load_audio_csv
from .gtzan import GTZAN_SPLIT_FILES, fetch_gtzan
from .magnatagatune import MTAT_FOLDER_SPLIT, fetch_magnatagatune
from .music import GENRES, TAGS, make_music

__all__ = [
    "AUDIO_EXTENSIONS",
    "GENRES",
    "GTZAN_SPLIT_FILES",
    "MTAT_FOLDER_SPLIT",
    "TAGS",
    "fetch_gtzan",
    "fetch_magnatagatune",
    "find_audio_files",
    "load_audio_csv",
    "load_audio_folder",
    "make_music",
]
