"""The mel front end: Slaney mel scale, mel filterbank and a log-compressed mel spectrogram.

torch and numpy only. Used by the paper's frame-level mel baseline
(:class:`~sklearn_samplecnn.nn.MelFrameLevelCNN`) and by the classic
clip-statistics features.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._checks import check_int

__all__ = ["MelSpectrogram", "hz_to_mel", "mel_filterbank", "mel_to_hz"]




def _n_frames(input_length: int, window: int, hop: int) -> int:
    """Frames of ``window`` samples every ``hop`` samples, no padding."""
    return (input_length - window) // hop + 1



_F_SP = 200.0 / 3  # Slaney: 66.67 Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mel at 1 kHz
_LOGSTEP = math.log(6.4) / 27.0  # 27 mel per factor 6.4 above 1 kHz


def hz_to_mel(freq) -> np.ndarray:
    """Slaney's mel scale (librosa's ``htk=False``): linear below 1 kHz, log above.

    Parameters
    ----------
    freq : float or array_like
        Frequencies in Hz.

    Returns
    -------
    ndarray of float64
        Mels; 1 kHz is 15 mel and each factor of 6.4 above it adds 27.

    Examples
    --------
    >>> [round(float(hz_to_mel(f)), 6) for f in (440.0, 1000.0, 6400.0)]
    [6.6, 15.0, 42.0]
    """
    f = np.asarray(freq, dtype=np.float64)
    linear = f / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mels) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`.

    Parameters
    ----------
    mels : float or array_like
        Mels on Slaney's scale.

    Returns
    -------
    ndarray of float64
        Frequencies in Hz.
    """
    m = np.asarray(mels, dtype=np.float64)
    linear = _F_SP * m
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(
    *,
    sr: float = 22050,
    n_fft: int = 729,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """Triangular mel filters with Slaney's scale and area normalisation (numpy).

    The same matrix as ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels,
    fmin=fmin, fmax=fmax)`` with its defaults ``htk=False, norm="slaney"``:
    ``n_mels + 2`` edge frequencies equally spaced on :func:`hz_to_mel`'s scale
    between ``fmin`` and ``fmax``; filter ``i`` rises linearly from edge ``i``
    to 1 at edge ``i + 1`` and falls back to 0 at edge ``i + 2`` (evaluated at
    the ``np.fft.rfftfreq(n_fft, 1 / sr)`` bin frequencies), then is scaled by
    ``2 / (edge[i + 2] - edge[i])`` so each triangle has unit area in Hz.

    Parameters
    ----------
    sr : float, default=22050
        Sample rate in Hz.
    n_fft : int, default=729
        FFT size; the filters cover its ``n_fft // 2 + 1`` bins.
    n_mels : int, default=128
        Mel bands.
    fmin : float, default=0.0
        Lowest edge in Hz.
    fmax : float or None, default=None
        Highest edge in Hz; ``None`` is ``sr / 2``.

    Returns
    -------
    ndarray of shape (n_mels, n_fft // 2 + 1), float32

    Notes
    -----
    With FFT size 729 at 22,050 Hz the bins are 30.2 Hz apart while 128 low
    mel bands are about 26 Hz apart, so a few of the lowest filters fall
    between bins and are all zero (librosa warns about them); their features
    are constant and standardisation maps them to 0.

    Examples
    --------
    >>> mel_filterbank(n_fft=729, n_mels=128).shape
    (128, 365)
    """
    sr = float(sr)
    if not sr > 0:
        raise ValueError(f"sr must be positive, got {sr!r}.")
    n_fft = check_int("n_fft", n_fft)
    n_mels = check_int("n_mels", n_mels)
    fmax = sr / 2 if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= sr / 2:
        raise ValueError(
            f"fmin and fmax must satisfy 0 <= fmin < fmax <= sr/2 ({sr / 2}), "
            f"got fmin={fmin!r}, fmax={fmax!r}."
        )
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


class MelSpectrogram(nn.Module):
    """Log-compressed magnitude mel spectrogram, ``log10(1 + 10 * mel(|STFT|))``.

    Section 5.3 of the paper: FFT size 729, a Hann window of ``win_length``
    zero-padded (centred) to the FFT size, 128 mel bands, compression
    ``log10(1 + C * A)`` with ``C = 10`` where ``A`` is the magnitude.

    Parameters
    ----------
    n_fft : int, default=729
        FFT size.
    win_length : int, default=729
        Hann window length (at most ``n_fft``).
    hop_length : int, default=729
        Samples between frames.
    n_mels : int, default=128
        Mel bands.
    sr : float, default=22050
        Sample rate in Hz.
    fmin : float, default=0.0
        Lowest mel edge in Hz.
    fmax : float or None, default=None
        Highest mel edge in Hz; ``None`` is ``sr / 2``.

    Notes
    -----
    * Frames are not centred (``center=False``): frame ``t`` covers samples
      ``[t * hop_length, t * hop_length + n_fft)``, giving
      ``(L - n_fft) // hop_length + 1`` frames and no padding at the edges.
    * The window is the periodic Hann window (``torch.hann_window``, as
      librosa's ``"hann"``), placed in the middle of the ``n_fft`` frame with
      ``(n_fft - win_length) // 2`` zeros on the left.
    * ``A`` is the magnitude ``|STFT|`` (not the power) mapped through
      :func:`mel_filterbank`, since the paper compresses "the magnitude".
    * Window and filterbank are buffers, so the module follows ``.to(device)``.

    Examples
    --------
    >>> MelSpectrogram(hop_length=243, n_mels=16)(torch.zeros(2, 59049)).shape
    torch.Size([2, 16, 241])
    """

    def __init__(
        self,
        n_fft: int = 729,
        win_length: int = 729,
        hop_length: int = 729,
        n_mels: int = 128,
        sr: float = 22050,
        fmin: float = 0.0,
        fmax: float | None = None,
    ) -> None:
        super().__init__()
        self.n_fft = check_int("n_fft", n_fft)
        self.win_length = check_int("win_length", win_length)
        self.hop_length = check_int("hop_length", hop_length)
        if self.win_length > self.n_fft:
            raise ValueError(
                f"win_length must not exceed n_fft ({self.n_fft}), got {win_length!r}."
            )
        self.n_mels = check_int("n_mels", n_mels)
        self.sr = float(sr)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        left = (self.n_fft - self.win_length) // 2
        window = torch.zeros(self.n_fft)
        window[left : left + self.win_length] = torch.hann_window(
            self.win_length, periodic=True, dtype=torch.float64
        ).float()
        self.register_buffer("window", window)
        fb = mel_filterbank(
            sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax
        )
        self.register_buffer("mel_basis", torch.from_numpy(fb))

    def n_frames(self, n_samples: int) -> int:
        """Frames out for ``n_samples`` samples in."""
        return _n_frames(n_samples, self.n_fft, self.hop_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-mel features of waveforms.

        Parameters
        ----------
        x : Tensor of shape (batch, samples) or (batch, 1, samples)
            At least ``n_fft`` samples.

        Returns
        -------
        Tensor of shape (batch, n_mels, frames)
        """
        if x.dim() == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.dim() != 2 or x.shape[-1] < self.n_fft:
            raise ValueError(
                f"MelSpectrogram expects input of shape (batch, samples) or (batch, 1, samples) "
                f"with samples >= n_fft ({self.n_fft}), got {tuple(x.shape)}."
            )
        spec = torch.stft(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window.to(x.dtype),
            center=False,
            return_complex=True,
        )
        mel = torch.matmul(self.mel_basis.to(x.dtype), spec.abs())
        return torch.log10(1.0 + 10.0 * mel)


