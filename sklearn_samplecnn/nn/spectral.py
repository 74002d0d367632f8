"""Classic clip descriptors in torch: MFCC or log-mel, deltas, spectral contrast, statistics.

torch and numpy only. :class:`ClipStatistics` turns a batch of waveforms into
one row of frame statistics per waveform, the hand-made baseline that music
classifiers are compared with. The frame-level quantities follow librosa's
definitions (``librosa.feature.mfcc``, ``librosa.feature.delta``,
``librosa.feature.spectral_contrast`` with their defaults), so the numbers
match what practitioners know; it runs on any device, batched.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._checks import check_int
from .mel import mel_filterbank

__all__ = ["CONTRAST_FMIN", "STATS", "ClipStatistics", "max_contrast_bands"]

#: The per-clip statistics of each frame-level coefficient, in output order.
STATS = ("mean", "std", "min", "max")

#: Upper edge of spectral contrast's lowest band, in Hz; each further band is an octave.
CONTRAST_FMIN = 200.0
_CONTRAST_QUANTILE = 0.02  # fraction of a band's bins averaged into its peak and valley
_AMIN = 1e-10  # floor before the logarithm (librosa's amin)
_DELTA_WIDTH = 9  # frames in the delta regression (librosa's width)


def max_contrast_bands(sr: float) -> int:
    """The most octave bands above :data:`CONTRAST_FMIN` whose lower edge is below ``sr / 2``.

    Examples
    --------
    >>> max_contrast_bands(22050), max_contrast_bands(8000)
    (6, 5)
    """
    n = 0
    while CONTRAST_FMIN * 2.0 ** n < sr / 2:
        n += 1
    return n


def _dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Rows of the orthonormal DCT-II (``scipy.fft.dct(x, type=2, norm="ortho")[:n_out]``)."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis.astype(np.float32)


@functools.cache
def _delta_filter(width: int, order: int) -> np.ndarray:
    """Weights giving the ``order``-th derivative of a degree-``order`` fit over ``width``.

    Correlating ``width`` frames with them gives the derivative of the
    polynomial fitted to those frames, a constant since the degree equals the
    derivative's order.
    """
    x = np.arange(width, dtype=np.float64) - width // 2
    vander = x[:, None] ** np.arange(order + 1)[None, :]
    return (math.factorial(order) * np.linalg.pinv(vander)[order]).astype(np.float32)


def _delta(frames: torch.Tensor, order: int) -> torch.Tensor:
    """Delta features along the last axis, as ``librosa.feature.delta(width=9, mode="interp")``.

    A Savitzky-Golay derivative: fit a polynomial of degree ``order`` to each
    window of 9 frames and take its ``order``-th derivative. ``"interp"``
    fits the first and last window to the edge frames; with the degree equal
    to the derivative's order that derivative is constant over the window, so
    the edge frames repeat the first and last full window's value. Fewer than
    9 frames shrink the window to the largest odd width that fits; with fewer
    than 3 frames the deltas are 0.
    """
    n_frames = frames.shape[-1]
    width = min(_DELTA_WIDTH, n_frames if n_frames % 2 else n_frames - 1)
    if width < 3:
        return torch.zeros_like(frames)
    weights = torch.from_numpy(_delta_filter(width, order)).to(frames)
    flat = frames.reshape(-1, 1, n_frames)
    inner = torch.nn.functional.conv1d(flat, weights.view(1, 1, -1))
    half = width // 2
    return torch.nn.functional.pad(inner, (half, half), mode="replicate").reshape(frames.shape)


def _power_to_db(power: torch.Tensor, top_db: float | None) -> torch.Tensor:
    """``10 * log10(max(power, 1e-10))``, clipped at ``top_db`` below each item's maximum."""
    db = 10.0 * torch.log10(power.clamp(min=_AMIN))
    if top_db is not None:
        peak = db.amax(dim=tuple(range(1, db.dim())), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


class ClipStatistics(nn.Module):
    """Per-clip statistics of MFCCs or log-mel energies, their deltas and spectral contrast.

    For each waveform: a centred STFT (periodic Hann window of ``n_fft``,
    zero padding of ``n_fft // 2`` at both ends), the power spectrum through
    :func:`mel_filterbank` (Slaney mels), decibels ``10 log10(max(S, 1e-10))``
    clipped at ``top_db`` below the clip's loudest mel bin, and for
    ``kind="mfcc"`` the first ``n_mfcc`` coefficients of the orthonormal
    DCT-II over mel bands. That is ``librosa.feature.mfcc(y=y, sr=sr)`` and
    ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr))`` with
    their defaults (librosa >= 0.10, which pads with zeros). Optional blocks:
    deltas of order 1 and 2 (:func:`librosa.feature.delta`: a 9-frame
    Savitzky-Golay derivative) and octave-band spectral contrast (Jiang et al.
    2002 as ``librosa.feature.spectral_contrast``). Each frame-level
    coefficient is summarised over the clip's frames by ``stats``.

    Parameters
    ----------
    sr : float, default=22050
        Sample rate of the waveforms, in Hz.
    kind : {"mfcc", "logmel"}, default="mfcc"
        Frame-level coefficients: MFCCs or the dB mel energies themselves.
    n_mfcc : int, default=20
        MFCCs kept (``kind="mfcc"``); at most ``n_mels``.
    n_mels : int, default=128
        Mel bands.
    n_fft : int, default=2048
        FFT size and window length, in samples.
    hop_length : int, default=512
        Samples between frames.
    fmin, fmax : float, default=0.0, None
        Mel band edges in Hz; ``fmax=None`` is ``sr / 2``.
    top_db : float or None, default=80.0
        Floor of the dB mel spectrogram below the clip's maximum; ``None``: no floor.
    deltas : {0, 1, 2}, default=1
        Delta orders added after the coefficients (2: deltas and delta-deltas).
    stats : sequence of str, default=("mean", "std")
        Statistics over frames, from :data:`STATS`; ``"std"`` is the population
        standard deviation.
    contrast_bands : int, default=0
        Octave bands of spectral contrast above :data:`CONTRAST_FMIN` (librosa:
        6); gives ``contrast_bands + 1`` values per frame. 0 leaves it out.

    Attributes
    ----------
    blocks : list of (str, int)
        Output blocks in order, with their widths: ``"mfcc"`` (or
        ``"logmel"``), ``"mfcc_delta"``, ``"mfcc_delta2"``, ``"contrast"``.
    feature_names : list of str
        ``"<block>__<stat>__<c|m|b><index>"``, e.g. ``"mfcc_delta__std__c07"``.

    Notes
    -----
    * Any length is accepted: the zero padding gives a waveform of ``L``
      samples ``1 + L // hop_length`` frames, so a clip shorter than one FFT
      frame is analysed as one padded frame. Deltas need 3 frames (see
      ``_delta``); fewer give 0.
    * Spectral contrast uses the magnitude spectrum; each band's peak and
      valley are the means of its top and bottom 2 % of bins (at least one),
      and the contrast is ``dB(peak) - dB(valley)`` with librosa's
      ``power_to_db`` (``10 log10``, each clipped 80 dB below its maximum).
      The lowest band is ``[0, 200]`` Hz, the highest ends at ``sr / 2``.

    Examples
    --------
    >>> stats = ClipStatistics(sr=8000, n_mfcc=13, n_mels=40)
    >>> stats(torch.randn(2, 8000)).shape
    torch.Size([2, 52])
    >>> stats.feature_names[13], stats.blocks
    ('mfcc__std__c00', [('mfcc', 26), ('mfcc_delta', 26)])
    """

    def __init__(
        self,
        *,
        sr: float = 22050,
        kind: str = "mfcc",
        n_mfcc: int = 20,
        n_mels: int = 128,
        n_fft: int = 2048,
        hop_length: int = 512,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float | None = 80.0,
        deltas: int = 1,
        stats: Sequence[str] = ("mean", "std"),
        contrast_bands: int = 0,
    ) -> None:
        super().__init__()
        self.sr = float(sr)
        if kind not in ("mfcc", "logmel"):
            raise ValueError(f"kind must be 'mfcc' or 'logmel', got {kind!r}.")
        self.kind = kind
        self.n_mels = check_int("n_mels", n_mels)
        self.n_mfcc = check_int("n_mfcc", n_mfcc)
        if kind == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc must be at most n_mels ({self.n_mels}), got {n_mfcc!r}.")
        self.n_fft = check_int("n_fft", n_fft)
        self.hop_length = check_int("hop_length", hop_length)
        if top_db is not None and not top_db > 0:
            raise ValueError(f"top_db must be positive or None, got {top_db!r}.")
        self.top_db = None if top_db is None else float(top_db)
        if deltas not in (0, 1, 2) or isinstance(deltas, bool):
            raise ValueError(f"deltas must be 0, 1 or 2, got {deltas!r}.")
        self.deltas = int(deltas)
        stats = (stats,) if isinstance(stats, str) else tuple(stats)
        if not stats or any(s not in STATS for s in stats) or len(set(stats)) != len(stats):
            raise ValueError(f"stats must be distinct names from {STATS}, got {stats!r}.")
        self.stats = stats
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True,
                                                         dtype=torch.float64).float())
        fb = mel_filterbank(sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels, fmin=fmin, fmax=fmax)
        self.register_buffer("mel_basis", torch.from_numpy(fb))
        n_coef = self.n_mfcc if kind == "mfcc" else self.n_mels
        if kind == "mfcc":
            self.register_buffer("dct", torch.from_numpy(_dct_matrix(self.n_mfcc, self.n_mels)))
        self.contrast_bands = int(contrast_bands)
        self._bands = self._contrast_bands() if self.contrast_bands else []
        letter = "c" if kind == "mfcc" else "m"
        self.blocks = [(kind, n_coef * len(stats))]
        self.blocks += [(f"{kind}_delta" + ("2" if k == 2 else ""), n_coef * len(stats))
                        for k in range(1, self.deltas + 1)]
        if self.contrast_bands:
            self.blocks.append(("contrast", (self.contrast_bands + 1) * len(stats)))
        self.feature_names = []
        for name, width in self.blocks:
            n, prefix = (n_coef, letter) if name != "contrast" else (width // len(stats), "b")
            digits = len(str(n - 1))
            self.feature_names += [f"{name}__{stat}__{prefix}{i:0{digits}d}"
                                   for stat in stats for i in range(n)]

    def _contrast_bands(self) -> list[tuple[int, int, int]]:
        """``(first bin, end bin, bins averaged)`` per band, librosa's band layout."""
        n_bands = self.contrast_bands
        if n_bands < 0 or n_bands > max_contrast_bands(self.sr):
            raise ValueError(
                f"contrast_bands must be between 0 and {max_contrast_bands(self.sr)} at "
                f"sr={self.sr:g} (octave bands above {CONTRAST_FMIN:g} Hz with lower edges "
                f"below sr/2), got {n_bands!r}.")
        freqs = np.fft.rfftfreq(self.n_fft, d=1.0 / self.sr)
        edges = np.concatenate([[0.0], CONTRAST_FMIN * 2.0 ** np.arange(n_bands + 1)])
        bands = []
        for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
            inside = np.flatnonzero((freqs >= low) & (freqs <= high))
            if inside.size == 0:
                raise ValueError(f"n_fft={self.n_fft} is too small for spectral contrast at "
                                 f"sr={self.sr:g}: no FFT bin lies in {low:g}-{high:g} Hz.")
            # librosa: a band also takes the bin below it, the top band every bin
            # up to sr/2; all bands but the top drop their highest bin
            start = inside[0] - 1 if k > 0 else inside[0]
            stop = len(freqs) if k == n_bands else inside[-1] + 1
            n_counted = stop - start
            if k < n_bands:
                stop -= 1
            if stop <= start:
                raise ValueError(f"n_fft={self.n_fft} is too small for spectral contrast at "
                                 f"sr={self.sr:g}: band {low:g}-{high:g} Hz holds one FFT bin.")
            bands.append((int(start), int(stop),
                          max(1, int(np.rint(_CONTRAST_QUANTILE * n_counted)))))
        return bands

    @property
    def n_features(self) -> int:
        """Output columns."""
        return len(self.feature_names)

    def _summarise(self, frames: torch.Tensor) -> torch.Tensor:
        """(batch, coefficients, frames) -> (batch, stats x coefficients)."""
        parts = []
        for stat in self.stats:
            if stat == "mean":
                parts.append(frames.mean(dim=-1))
            elif stat == "std":
                parts.append(frames.std(dim=-1, correction=0))
            elif stat == "min":
                parts.append(frames.amin(dim=-1))
            else:
                parts.append(frames.amax(dim=-1))
        return torch.cat(parts, dim=1)

    def _contrast(self, power: torch.Tensor) -> torch.Tensor:
        """(batch, bins, frames) power -> (batch, bands + 1, frames) contrast in dB."""
        magnitude = power.sqrt().transpose(1, 2).contiguous()  # selections along a row
        peaks, valleys = [], []
        for start, stop, n in self._bands:
            band = magnitude[..., start:stop]
            peaks.append(band.topk(n, dim=-1).values.mean(dim=-1))
            valleys.append(band.topk(n, dim=-1, largest=False).values.mean(dim=-1))
        db_peak = _power_to_db(torch.stack(peaks, dim=1), 80.0)
        db_valley = _power_to_db(torch.stack(valleys, dim=1), 80.0)
        return db_peak - db_valley

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Statistics of waveforms.

        Parameters
        ----------
        x : Tensor of shape (batch, samples) or (samples,)
            At least one sample.

        Returns
        -------
        Tensor of shape (batch, n_features), or (n_features,) for 1-D input
        """
        single = x.dim() == 1
        if single:
            x = x[None]
        if x.dim() != 2 or x.shape[-1] == 0:
            raise ValueError(f"ClipStatistics expects (batch, samples) or (samples,) with at "
                             f"least one sample, got {tuple(x.shape)}.")
        spec = torch.stft(x.float(), n_fft=self.n_fft, hop_length=self.hop_length,
                          window=self.window, center=True, pad_mode="constant",
                          return_complex=True)
        power = spec.real.square() + spec.imag.square()
        frames = _power_to_db(torch.matmul(self.mel_basis, power), self.top_db)
        if self.kind == "mfcc":
            frames = torch.matmul(self.dct, frames)
        parts = [self._summarise(frames)]
        parts += [self._summarise(_delta(frames, k)) for k in range(1, self.deltas + 1)]
        if self._bands:
            parts.append(self._summarise(self._contrast(power)))
        out = torch.cat(parts, dim=1)
        return out[0] if single else out
