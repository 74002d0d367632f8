"""Faults of the audio layer: every bad file named by load_audio, with the real cause."""

from __future__ import annotations

import pytest

from sklearn_samplecnn import (
    AudioLoadError,
)
from sklearn_samplecnn.audio import audio_info, load_audio

from .conftest import BAD, SR


# -- load_audio: every fault names the file and the real cause --------------------------
@pytest.mark.parametrize("kind", list(BAD))
def test_load_audio_names_the_file_and_the_cause(bad, kind):
    if kind not in bad:
        pytest.skip("root reads any file: no permission error to provoke")
    path, (_, cause, where) = bad[kind], BAD[kind]
    with pytest.raises(AudioLoadError, match=cause) as err:
        load_audio(path, sr=SR)
    assert isinstance(err.value, OSError) and err.value.path == path
    assert str(err.value).startswith(f"{path}: ")
    if where == "body":  # the header reads: only decoding finds the fault
        audio_info(path)
