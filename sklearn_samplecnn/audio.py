"""Decode and resample audio files: numpy in, numpy out, never torch.

Times are in seconds, rates in Hz, lengths in samples. Decoding uses
soundfile (libsndfile >= 1.1: WAV, FLAC, OGG/Vorbis, MP3, Sun .au, AIFF, ...);
resampling uses resampy or, when installed, soxr. Nothing is cached here:
every call decodes the file again.
"""

from __future__ import annotations

import errno
import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from ._checks import check_int, check_option, check_real
from ._fileio import digest, not_regular
from .exceptions import AudioLoadError

__all__ = [
    "DEFAULT_SR",
    "DEFAULT_RES_TYPE",
    "LOUD",
    "MAX_UNGUARDED",
    "MAX_UPSAMPLING",
    "RES_TYPES",
    "AudioInfo",
    "SegmentReader",
    "audio_info",
    "FILE_KEYS",
    "check_resampling",
    "file_key",
    "load_audio",
    "open_segments",
    "resample",
    "resampled_length",
    "warn_if_loud",
    "write_audio",
]

#: The sample rate of the paper's 3^9 model, used wherever none is given.
DEFAULT_SR = 22050

#: The default resampling filter (see :func:`resample` for the reasons).
DEFAULT_RES_TYPE = "soxr_hq"

#: Resampling filters: soxr's quality levels and resampy's two Kaiser windows.
RES_TYPES = ("soxr_hq", "soxr_vhq", "soxr_mq", "kaiser_fast", "kaiser_best")

#: Peak amplitude above which audio gets a warning, files (float WAV, FLAC...) and
#: waveform arrays alike: audio is expected in [-1, 1].
LOUD = 10.0

#: The resampling guard: a file whose resampled length would be more than this many times
#: its own, and more than :data:`MAX_UNGUARDED` samples, is refused. Such a ratio means a
#: header declaring an absurd rate (a 1 Hz WAV asked for at 22050 Hz: 22050 times the
#: samples, gigabytes of memory), never music.
MAX_UPSAMPLING = 64
#: Resampled lengths up to this many samples (64 MB of float32) are never refused.
MAX_UNGUARDED = 2 ** 24


def warn_if_loud(peaks: Sequence[float], names: Sequence[str], *, stacklevel: int = 2) -> None:
    """One warning when audio peaks above :data:`LOUD`: the loudest clip (a file or
    ``X[i]``) named, with its peak and the number of other loud clips; the one rule for
    decoded files and waveform arrays."""
    loud = [(p, n) for p, n in zip(peaks, names) if p > LOUD]
    if not loud:
        return
    peak, name = max(loud, key=lambda pn: pn[0])
    others = f" (and {len(loud) - 1} other clips)" if len(loud) > 1 else ""
    warnings.warn(f"{name}{others}: samples reach amplitude {peak:.0e}, far outside [-1, 1] "
                  "(a float file or array written unscaled?); the models' activations "
                  "saturate and their outputs are doubtful. Scale the audio to [-1, 1], e.g. "
                  "y / np.abs(y).max().", UserWarning, stacklevel=stacklevel + 1)


def check_resampling(name: str, frames: int, orig_sr: int, target_sr: int) -> int:
    """The length of ``frames`` samples at ``orig_sr`` resampled to ``target_sr``;
    :class:`AudioLoadError` naming the file and both rates when it is absurd for the
    file (more than :data:`MAX_UPSAMPLING` times its own length and more than
    :data:`MAX_UNGUARDED` samples): a resampling bomb is refused before any memory is
    allocated."""
    n = int(frames * target_sr / orig_sr)
    if n > MAX_UPSAMPLING * frames and n > MAX_UNGUARDED:
        raise AudioLoadError(
            name, f"declares {orig_sr} Hz: resampling its {frames} samples to {target_sr} Hz "
                  f"would make {n} samples ({n * 4 / 2 ** 30:.1f} GiB), "
                  f"{target_sr / orig_sr:.0f} times as many; refused as a corrupt or "
                  f"mislabelled header (more than {MAX_UPSAMPLING}x and {MAX_UNGUARDED} "
                  "samples)")
    return n


class AudioInfo(NamedTuple):
    """What :func:`audio_info` reads from a file's header."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str


def _check_path(path: str | os.PathLike) -> str:
    try:
        name = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    try:
        st = os.stat(name)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioLoadError(name, "symbolic link loop") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise AudioLoadError(name, "permission denied (cannot look up the file)") from None
        if os.path.lexists(name):
            raise AudioLoadError(name, "broken symbolic link (its target does not exist)") \
                from None
        raise AudioLoadError(name, "file not found") from None
    what = not_regular(st.st_mode)
    if what == "a folder":
        raise AudioLoadError(name, "is a directory, not an audio file")
    if what is not None:  # never read: /dev/zero never ends, a FIFO blocks
        raise AudioLoadError(name, f"is {what}, not an audio file; only regular files are "
                                   "read")
    if st.st_size == 0:
        raise AudioLoadError(name, "empty file (0 bytes)")
    if not os.access(name, os.R_OK):
        raise AudioLoadError(name, "permission denied (the file is not readable)")
    return name


# What libsndfile's header log says about a file cut short: WAV/AIFF/AU chunk
# sizes larger than the file, an Ogg stream without its last page.
_TRUNCATION_MARKS = ("(should be", "lacks an end-of-stream")


def _open(name: str) -> sf.SoundFile:
    try:
        f = sf.SoundFile(name)
    except (sf.LibsndfileError, RuntimeError) as exc:  # RuntimeError: soundfile < 0.11
        raise AudioLoadError(name, f"not a readable audio file ({exc})") from None
    except OSError as exc:
        raise AudioLoadError(name, f"cannot open ({exc.strerror or exc})") from None
    log = f.extra_info
    for mark in _TRUNCATION_MARKS:
        if mark in log:
            line = next(line for line in log.splitlines() if mark in line).strip()
            f.close()
            raise AudioLoadError(name, f"truncated or corrupt file (libsndfile: {line!r})")
    return f


def _no_frames_error(name: str) -> AudioLoadError:
    """The error for a file whose header gives 0 frames: audio without samples, or, past
    a kilobyte of bytes, a file cut short or corrupt (the real cause, not "0 frames")."""
    size = os.path.getsize(name)
    if size > 1024:
        return AudioLoadError(name, f"no audio could be decoded from its {size} bytes "
                                    "(truncated or corrupt file)")
    return AudioLoadError(name, "contains no audio samples (0 frames)")


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read a file's sample rate, channel count, length and format without decoding it.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file.

    Returns
    -------
    AudioInfo
        ``(path, sample_rate, channels, frames, duration, format, subtype)``;
        ``duration`` is in seconds.

    Raises
    ------
    AudioLoadError
        When the file is missing, empty, a directory, a device or a pipe (never
        read), or not audio.
    """
    name = _check_path(path)
    with _open(name) as f:
        frames, rate = int(f.frames), int(f.samplerate)
        return AudioInfo(name, rate, int(f.channels), frames, frames / rate, f.format, f.subtype)


#: How a file is recognised (:func:`file_key`): ``"stat"``, its stat identity (one
#: ``stat`` call); ``"content"``, a SHA-256 of its bytes (survives copies, reads the file).
#: The feature cache's ``cache_key`` and the feature store's ``key`` take these values.
FILE_KEYS = ("stat", "content")


def file_key(path: str | os.PathLike, *, content: bool = False) -> str:
    """A cache key for a file: its stat identity, or (``content=True``) its bytes.

    The stat key covers the absolute path, size, modification time, inode and
    status-change time: replacing a file (even by one of the same size and
    modification time) or editing it in place changes the key, at the cost of
    one ``stat`` call. The content key hashes every byte: it survives copies
    to another folder or machine and costs a full read.

    Raises
    ------
    AudioLoadError
        ``path`` is not a regular file (a folder, a device such as a link to
        ``/dev/zero``, a named pipe): it is never read (also an ``OSError``).
    OSError
        ``path`` cannot be looked up or read.
    """
    name = os.path.abspath(os.fspath(path))
    if content:
        # opened without blocking (a FIFO would wait for a writer), checked on the open file
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            what = not_regular(os.fstat(fd).st_mode)
            if what is not None:
                raise AudioLoadError(os.fspath(path), f"is {what}, not an audio file; only "
                                                      "regular files are read")
            h = hashlib.sha256()
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    st = os.stat(name)
    what = not_regular(st.st_mode)
    if what is not None:
        raise AudioLoadError(os.fspath(path), f"is {what}, not an audio file")
    return digest("stat", name, str(st.st_size), str(st.st_mtime_ns), str(st.st_ino),
                  str(st.st_ctime_ns))


def resampled_length(info: AudioInfo, sr: int) -> int:
    """A clip's length in samples at ``sr``, from its header alone (nothing decoded).

    Parameters
    ----------
    info : AudioInfo
        What :func:`audio_info` read.
    sr : int
        The rate the clip will be read at.

    Returns
    -------
    int

    Raises
    ------
    AudioLoadError
        No samples at all, or none left at ``sr``, or an absurd resampled
        length (:func:`check_resampling`); the message names the file, as
        :func:`load_audio` would.
    """
    if info.frames == 0:
        raise _no_frames_error(info.path)
    if info.sample_rate == sr:
        return info.frames
    n = check_resampling(info.path, info.frames, info.sample_rate, sr)
    if n == 0:
        raise AudioLoadError(info.path, f"{info.frames} samples at {info.sample_rate} Hz "
                                        f"resample to 0 samples at {sr} Hz")
    return n


def resample(
    y: np.ndarray, *, orig_sr: int, target_sr: int, res_type: str = DEFAULT_RES_TYPE
) -> np.ndarray:
    """Resample ``y`` along its last axis from ``orig_sr`` to ``target_sr`` Hz.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_channels, n_samples)
        The signal.
    orig_sr, target_sr : int
        Rates in Hz.
    res_type : {"soxr_hq", "soxr_vhq", "soxr_mq", "kaiser_fast", "kaiser_best"}, \
            default="soxr_hq"
        The filter. ``"soxr_hq"`` (libsoxr's high quality) is the default, as
        in librosa since 0.10: it is both the fastest and as clean as
        resampy's best (see docs/performance.md for the timings), needs no
        JIT compilation in every new process, and ``soxr`` is a dependency.
        ``"soxr_vhq"`` and ``"soxr_mq"`` are libsoxr's very-high and medium
        quality. ``"kaiser_fast"`` and ``"kaiser_best"`` are resampy's filters
        (the library's earlier default and librosa's older ones); they need the
        optional ``resampy`` package (``pip install 'sklearn-samplecnn[resampy]'``).

    Returns
    -------
    ndarray of float32
        ``ceil``-free length ``int(n_samples * target_sr / orig_sr)`` for the
        resampy filters; soxr rounds the same way to within one sample.
    """
    check_option("res_type", res_type, RES_TYPES)
    orig_sr, target_sr = check_int("orig_sr", orig_sr), check_int("target_sr", target_sr)
    y = np.asarray(y, dtype=np.float32)
    if orig_sr == target_sr:
        return y
    if res_type.startswith("soxr"):
        import soxr

        quality = res_type.split("_")[1].upper()
        out = soxr.resample(y.T, orig_sr, target_sr, quality=quality).T
    else:
        try:
            import resampy
        except ImportError:
            raise ImportError(
                f"res_type={res_type!r} needs the optional 'resampy' package: "
                "pip install 'sklearn-samplecnn[resampy]' (or use the default 'soxr_hq')"
            ) from None
        out = resampy.resample(y, orig_sr, target_sr, filter=res_type, axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32)


def load_audio(
    path: str | os.PathLike,
    *,
    sr: int | None = DEFAULT_SR,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    res_type: str = DEFAULT_RES_TYPE,
    return_sr: bool = False,
) -> np.ndarray | tuple[np.ndarray, int]:
    """Decode an audio file to float32, downmixed and resampled as asked.

    Parameters
    ----------
    path : str or os.PathLike
        WAV, FLAC, OGG/Vorbis, MP3, Sun .au or any other format libsndfile reads.
    sr : int or None, default=22050
        Target rate in Hz; ``None`` keeps the file's own rate.
    mono : bool, default=True
        Average the channels into one.
    offset : float, default=0.0
        Start reading this many seconds into the file.
    duration : float or None, default=None
        Read at most this many seconds; ``None`` reads to the end. Only the
        requested span is decoded.
    res_type : str, default="soxr_hq"
        The resampling filter, see :func:`resample`.
    return_sr : bool, default=False
        Return ``(y, sr)``, the rate of ``y`` in Hz with it (the file's own with
        ``sr=None``), as ``librosa.load`` does; such a pair is a clip the
        estimators and transformers take in ``X`` (``[(y, sr), ...]``).

    Returns
    -------
    y : ndarray of float32
        Shape ``(n_samples,)`` when ``mono``, else ``(n_channels, n_samples)``.
    sr : int
        Only with ``return_sr=True``: the rate of ``y`` in Hz.

    Raises
    ------
    AudioLoadError
        Names the file and the cause: missing, a directory, a device or a pipe
        (never read), empty, not audio, truncated or corrupt, no samples in the
        span, NaN or infinite samples, a rate that would resample to an absurd
        length (see :func:`check_resampling`).

    Warns
    -----
    UserWarning
        When a float file's samples reach more than :data:`LOUD` (10) in
        amplitude, as waveform arrays do.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_samplecnn.audio import load_audio, write_audio
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> write_audio(path, np.zeros(44100, dtype=np.float32), 44100)
    >>> load_audio(path, sr=22050).shape
    (22050,)
    >>> y, sr = load_audio(path, sr=None, return_sr=True)
    >>> y.shape, sr
    ((44100,), 44100)
    """
    sr = check_int("sr", sr, none=True)
    offset = check_real("offset", offset, low=0)
    duration = check_real("duration", duration, low=0, low_open=True, none=True)
    check_option("res_type", res_type, RES_TYPES)
    name = _check_path(path)
    with _open(name) as f:
        rate, total = int(f.samplerate), int(f.frames)
        floats = f.subtype in ("FLOAT", "DOUBLE")  # the only samples that can pass 1
        start = int(round(offset * rate))
        if start >= total > 0:
            raise AudioLoadError(
                name, f"offset {offset} s is past the end of the file ({total / rate:.3f} s)"
            )
        want = total - start
        if duration is not None:
            want = min(int(round(duration * rate)), want)
        try:
            if start:
                f.seek(start)
            data = f.read(want, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioLoadError(name, f"corrupt audio data ({exc})") from None
    if total == 0:
        raise _no_frames_error(name)
    if data.shape[0] < want:  # e.g. an MP3 cut short: its header still counts every frame
        raise AudioLoadError(
            name,
            f"truncated or corrupt: header promises {want} frames from {start}, "
            f"only {data.shape[0]} could be decoded",
        )
    if data.shape[0] == 0:
        raise AudioLoadError(name, f"the requested span (offset {offset} s, duration "
                                   f"{duration} s) holds no samples at {rate} Hz")
    if not np.isfinite(data).all():
        raise AudioLoadError(name, "contains NaN or infinite samples")
    if floats:
        warn_if_loud([float(np.max(np.abs(data)))], [name])
    y = _downmix(data) if mono else np.ascontiguousarray(data.T)
    if sr is not None and sr != rate:
        check_resampling(name, data.shape[0], rate, int(sr))
        try:
            y = resample(y, orig_sr=rate, target_sr=int(sr), res_type=res_type)
        except ImportError:
            raise
        except Exception as exc:  # a resampler's own error, without the file name
            raise AudioLoadError(name, f"cannot be resampled from {rate} to {sr} Hz "
                                       f"({type(exc).__name__}: {exc})") from None
        if y.shape[-1] == 0:
            raise AudioLoadError(name, f"{data.shape[0]} samples at {rate} Hz resample to "
                                       f"0 samples at {sr} Hz")
    y = np.ascontiguousarray(y, dtype=np.float32)
    return (y, rate if sr is None else int(sr)) if return_sr else y


#: Formats whose header counts the frames exactly (what :func:`open_segments` reads).
_EXACT_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "AIFF", "AU", "CAF", "FLAC"})


class SegmentReader:
    """Spans of one mono file at its own rate, decoded straight into the caller's arrays.

    What :func:`load_audio` gives, without the intermediate whole-clip array and
    its copies: each span is decoded into the row the caller hands over (a
    worker's shared batch buffer). The checks are :func:`load_audio`'s: a span
    the body cannot deliver, NaN or infinite samples, raise
    :class:`~sklearn_samplecnn.exceptions.AudioLoadError` naming the file; a
    float file far louder than [-1, 1] warns when the reader is closed. Made by
    :func:`open_segments`; a context manager.

    Attributes
    ----------
    path : str
    frames : int
        The clip's length in samples (at its rate, which is the caller's ``sr``).
    """

    def __init__(self, f: sf.SoundFile, name: str) -> None:
        self._f = f
        self.path = name
        self.frames = int(f.frames)
        self._floats = f.subtype in ("FLOAT", "DOUBLE")
        self._peak = 0.0

    def read_into(self, start: int, out: np.ndarray) -> None:
        """Samples ``start:start + len(out)`` into ``out`` (1-D float32, contiguous)."""
        try:
            self._f.seek(start)
            got = len(self._f.read(len(out), dtype="float32", out=out))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioLoadError(self.path, f"corrupt audio data ({exc})") from None
        if got < len(out):
            raise AudioLoadError(self.path, f"truncated or corrupt: header promises "
                                            f"{self.frames} frames from 0, only {start + got} "
                                            "could be decoded")
        if not np.isfinite(out).all():
            raise AudioLoadError(self.path, "contains NaN or infinite samples")
        if self._floats:
            self._peak = max(self._peak, float(np.max(np.abs(out))))

    def close(self) -> None:
        """Close the file; warn when a float file's samples were far louder than [-1, 1]."""
        self._f.close()
        if self._floats:
            self._floats = False
            warn_if_loud([self._peak], [self.path], stacklevel=3)

    def __enter__(self) -> SegmentReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_segments(path: str | os.PathLike, sr: int) -> SegmentReader | None:
    """A :class:`SegmentReader` of ``path`` when it is a mono file at ``sr`` in a format
    whose header counts its frames exactly (WAV, AIFF, AU, CAF, FLAC), else ``None``:
    then :func:`load_audio` decodes it (downmixing, resampling).

    Raises
    ------
    AudioLoadError
        What :func:`load_audio` raises before decoding: a missing, empty or
        unreadable file, a folder, a device or a pipe, a truncated header.
    """
    name = _check_path(path)
    f = _open(name)
    if int(f.samplerate) != int(sr) or f.channels != 1 or f.format not in _EXACT_FORMATS \
            or int(f.frames) == 0:
        f.close()
        return None
    return SegmentReader(f, name)


def _downmix(data: np.ndarray) -> np.ndarray:
    """The mean over channels of (frames, channels) float32 samples, as librosa's
    ``to_mono`` computes it (channels added in order, then divided), but without
    numpy's slow reduction over a short last axis."""
    channels = data.shape[1]
    if channels == 1:
        return data[:, 0].copy()
    total = data[:, 0] + data[:, 1]
    for c in range(2, channels):
        total += data[:, c]
    return total / np.float32(channels)


def write_audio(
    path: str | os.PathLike, y: np.ndarray, sr: int, *, subtype: str | None = None
) -> None:
    """Write ``y`` (``(n_samples,)`` or ``(n_channels, n_samples)``) to ``path``.

    The format follows the extension (``.wav``, ``.flac``, ``.ogg``, ``.mp3``, ``.au``).
    """
    y = np.asarray(y, dtype=np.float32)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(os.fspath(path), y.T if y.ndim == 2 else y, int(sr), subtype=subtype)
