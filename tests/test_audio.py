"""Audio I/O: formats, spans, resampling and every bad-input kind."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sklearn_samplecnn import AudioLoadError
from sklearn_samplecnn.audio import audio_info, load_audio, resample, write_audio

from .conftest import tone

SR = 16000


@pytest.fixture
def sine_wav(tmp_path):
    path = tmp_path / "sine.wav"
    write_audio(path, tone(440, SR, SR), SR)
    return path


def test_audio_module_does_not_import_torch():
    code = ("import sys, sklearn_samplecnn.audio, sklearn_samplecnn.segments, sklearn_samplecnn; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "au"])
def test_formats_decode_to_float32_mono(tmp_path, ext):
    stereo = np.stack([tone(440, SR, SR), tone(660, SR, SR)])
    path = tmp_path / f"a.{ext}"
    write_audio(path, stereo, SR)
    info = audio_info(path)
    assert (info.sample_rate, info.channels) == (SR, 2)
    y = load_audio(path, sr=None)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - SR) <= 1200  # mp3 adds encoder delay/padding
    both = load_audio(path, sr=None, mono=False)
    assert both.shape[0] == 2
    if ext in ("wav", "flac", "au"):  # lossless: downmix is the channel mean
        np.testing.assert_allclose(y, stereo.mean(axis=0), atol=2e-4)


def test_resample_length_and_pitch(sine_wav):
    y = load_audio(sine_wav, sr=8000)
    assert len(y) == 8000
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 8000 / len(y) - 440) < 2


@pytest.mark.parametrize("res_type", ["kaiser_fast", "kaiser_best", "soxr_hq"])
def test_resample_filters_agree(res_type):
    y = tone(440, SR, SR)
    out = resample(y, orig_sr=SR, target_sr=22050, res_type=res_type)
    ref = tone(440, 22050, 22050)
    assert abs(len(out) - 22050) <= 1
    n = min(len(out), len(ref)) - 200
    assert np.corrcoef(out[200:n], ref[200:n])[0, 1] > 0.999


def test_span_is_read(sine_wav):
    full = load_audio(sine_wav, sr=None)
    part = load_audio(sine_wav, sr=None, offset=0.25, duration=0.5)
    np.testing.assert_array_equal(part, full[4000:12000])


def test_bad_parameters():
    with pytest.raises(ValueError, match="sr must be a positive integer"):
        load_audio("x.wav", sr=-5)
    with pytest.raises(ValueError, match="offset"):
        load_audio("x.wav", offset=-1)
    with pytest.raises(ValueError, match="res_type"):
        resample(np.zeros(10), orig_sr=1, target_sr=2, res_type="linear")


def _bad_files(tmp_path, sine_wav):
    good = sine_wav.read_bytes()
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_bytes(b"this is not audio at all " * 20)
    (tmp_path / "cut.wav").write_bytes(good[: len(good) // 2])
    write_audio(tmp_path / "long.flac", tone(440, SR, SR), SR)
    flac = (tmp_path / "long.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(flac[: len(flac) // 2])
    write_audio(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), SR)
    nan = tone(440, 100, SR)
    nan[5] = np.nan
    write_audio(tmp_path / "nan.wav", nan, SR, subtype="FLOAT")
    (tmp_path / "folder.wav").mkdir()
    return {
        "missing.wav": "not found",
        "folder.wav": "directory",
        "empty.wav": "empty",
        "text.wav": "not a readable audio file",
        "cut.wav": "truncated",
        "cut.flac": "corrupt",
        "zero.wav": "no audio samples",
        "nan.wav": "NaN",
    }


def test_every_bad_input_names_the_file(tmp_path, sine_wav):
    for name, cause in _bad_files(tmp_path, sine_wav).items():
        path = tmp_path / name
        with pytest.raises(AudioLoadError, match=cause) as err:
            load_audio(path)
        assert str(path) in str(err.value)
        assert isinstance(err.value, OSError) and err.value.path == str(path)


def test_offset_past_end(sine_wav):
    with pytest.raises(AudioLoadError, match="past the end"):
        load_audio(sine_wav, offset=5.0)


def test_load_audio_returns_the_rate_when_asked(tmp_path):
    path = tmp_path / "a.wav"
    write_audio(path, tone(440, 44100, 44100), 44100)
    y, sr = load_audio(path, sr=None, return_sr=True)
    assert sr == 44100 and y.shape == (44100,) and y.dtype == np.float32
    y8, sr8 = load_audio(path, sr=8000, return_sr=True)
    assert sr8 == 8000 and y8.shape == (8000,)
    np.testing.assert_array_equal(y8, load_audio(path, sr=8000))  # the default: y alone
