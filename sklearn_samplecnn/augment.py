"""Waveform augmentation for training: a batch-wise chain applied on the device.

torch only. :class:`AudioAugment` takes a batch of waveforms ``(batch, samples)``
(on any device) and returns a batch of the same shape and dtype, each example
put through its own random draw of the chain, in this order:

1. **pitch** shift by resampling (varispeed: pitch and tempo move together),
2. **filter**: a zero-phase low-pass or high-pass (FFT domain),
3. **delay**: the example mixed with a delayed, attenuated copy of itself,
4. **gain** in dB,
5. **polarity** inversion,
6. additive white **noise** at a random signal-to-noise ratio.

Every random number comes from torch's global generator on the batch's device,
so ``torch.manual_seed`` (or an estimator's ``random_state``) repeats a run.
The default probabilities are those of CLMR's released configuration
(Spijkervet and Burgoyne 2021, ``config/config.yaml``: polarity 0.8, noise 0.01,
gain 0.3, filters 0.8, delay 0.3, pitch 0.6; their reverb is left out, as it
needs impulse responses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["AudioAugment", "resolve_augment"]


def _next_pow2(n: int) -> int:
    return 1 << (int(n) - 1).bit_length()


def _fft_filter(x: torch.Tensor, gain_fn, sr: int) -> torch.Tensor:
    """Zero-phase filtering of the rows of ``x`` by the magnitude ``gain_fn(freqs)``.

    The FFT is twice as long as the signal (rounded up to a power of two), so
    the circular convolution equals the linear one over the signal's span:
    the signal is taken as silent outside it, no wrap-around at the edges.
    """
    n = x.shape[-1]
    n_fft = _next_pow2(2 * n)
    spec = torch.fft.rfft(x.float(), n=n_fft)
    freqs = torch.fft.rfftfreq(n_fft, d=1.0 / sr, device=x.device)
    return torch.fft.irfft(spec * gain_fn(freqs), n=n_fft)[..., :n]


def _butterworth(freqs: torch.Tensor, cutoff: torch.Tensor, order: int, high: torch.Tensor):
    """|H(f)| of a Butterworth low-pass (``high`` False) or high-pass, per row."""
    ratio = freqs[None, :] / cutoff[:, None]
    ratio = torch.where(high[:, None], 1.0 / ratio.clamp_min(1e-12), ratio)
    return torch.rsqrt(1.0 + ratio ** (2 * order))


def _uniform(lo: float, hi: float, n: int, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, device=device)


@dataclass(frozen=True)
class AudioAugment:
    """A random augmentation chain for batches of waveforms, applied per example.

    Each transform is applied to each example independently with its own
    probability (``p_* = 0`` switches it off). Call it as
    ``augment(x, sr)`` on a ``(batch, samples)`` tensor; the output has the
    same shape, dtype and device. ``augment(x, sr, length=n)`` returns ``n``
    samples from the middle of longer inputs (see :meth:`input_length`).

    Parameters
    ----------
    p_pitch : float, default=0.6
        Probability of a pitch shift by resampling (varispeed, like playing a
        record faster or slower: tempo changes by the same ratio).
    max_semitones : float, default=3.0
        Shifts are drawn uniformly in [-max_semitones, +max_semitones]
        (ratio 2**(s/12); 3 semitones is about +-19 % speed). Upward shifts
        read more samples than they output: inputs cropped with
        :meth:`input_length` provide them; otherwise the missing samples at
        both ends are mirrored from the example itself.
    p_filter : float, default=0.8
        Probability of filtering; low-pass or high-pass with equal chance.
    lowpass_hz : (float, float), default=(2200.0, 4000.0)
        Cutoff range of the low-pass (log-uniform; capped below Nyquist).
    highpass_hz : (float, float), default=(200.0, 1200.0)
        Cutoff range of the high-pass (log-uniform; as CLMR's filters).
    filter_order : int, default=4
        Butterworth order of the magnitude response (6 dB/octave per order),
        applied with zero phase.
    p_delay : float, default=0.3
        Probability of mixing in a delayed copy: ``y[t] = x[t] + delay_gain * x[t - d]``.
    delay_ms : (float, float), default=(200.0, 500.0)
        Range of the delay ``d`` (uniform), in milliseconds.
    delay_gain : float, default=0.5
        Level of the delayed copy.
    p_gain : float, default=0.3
        Probability of a gain change.
    gain_db : (float, float), default=(-12.0, 12.0)
        Gain range in dB (uniform). Outputs are not clipped.
    p_polarity : float, default=0.8
        Probability of inverting the sign of the waveform.
    p_noise : float, default=0.01
        Probability of adding white noise.
    snr_db : (float, float), default=(20.0, 40.0)
        Signal-to-noise ratio range in dB (uniform), relative to the example's
        mean power after the other transforms; a silent example gets none.

    Examples
    --------
    >>> import torch
    >>> augment = AudioAugment(p_polarity=1.0, p_filter=0.0, p_delay=0.0, p_gain=0.0,
    ...                        p_pitch=0.0, p_noise=0.0)
    >>> x = torch.ones(2, 100)
    >>> augment(x, sr=8000).sum().item()
    -200.0
    """

    p_pitch: float = 0.6
    max_semitones: float = 3.0
    p_filter: float = 0.8
    lowpass_hz: tuple[float, float] = (2200.0, 4000.0)
    highpass_hz: tuple[float, float] = (200.0, 1200.0)
    filter_order: int = 4
    p_delay: float = 0.3
    delay_ms: tuple[float, float] = (200.0, 500.0)
    delay_gain: float = 0.5
    p_gain: float = 0.3
    gain_db: tuple[float, float] = (-12.0, 12.0)
    p_polarity: float = 0.8
    p_noise: float = 0.01
    snr_db: tuple[float, float] = (20.0, 40.0)

    def __post_init__(self) -> None:
        for name in ("p_pitch", "p_filter", "p_delay", "p_gain", "p_polarity", "p_noise"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
        for name, floor in (("lowpass_hz", 0.0), ("highpass_hz", 0.0), ("delay_ms", 0.0),
                            ("gain_db", -math.inf), ("snr_db", -math.inf)):
            pair = getattr(self, name)
            try:
                lo, hi = (float(v) for v in pair)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a (low, high) pair, got {pair!r}.") from None
            if not (floor <= lo <= hi < math.inf) or (name.endswith("hz") and lo == 0.0):
                bound = "0 < low" if name.endswith("hz") else "0 <= low" if floor == 0 else "low"
                raise ValueError(f"{name} must be a finite (low, high) pair with {bound} <= "
                                 f"high, got {pair!r}.")
            object.__setattr__(self, name, (lo, hi))
        if not 0.0 <= float(self.max_semitones) <= 12.0:
            raise ValueError(f"max_semitones must be in [0, 12], got {self.max_semitones!r}.")
        if not isinstance(self.filter_order, int) or self.filter_order < 1:
            raise ValueError(f"filter_order must be a positive integer, got "
                             f"{self.filter_order!r}.")
        if not 0.0 <= float(self.delay_gain) <= 1.0:
            raise ValueError(f"delay_gain must be in [0, 1], got {self.delay_gain!r}.")

    # -- sizes -----------------------------------------------------------------
    def max_ratio(self) -> float:
        """The largest resampling ratio a pitch shift can draw."""
        return 2.0 ** (float(self.max_semitones) / 12.0) if self.p_pitch > 0 else 1.0

    def input_length(self, length: int) -> int:
        """Samples to feed so that every pitch shift of a ``length``-sample
        output reads real audio (``length`` plus an even margin)."""
        extra = math.ceil(length * (self.max_ratio() - 1.0)) + 1 if self.p_pitch > 0 else 0
        return int(length + extra + extra % 2)

    # -- the chain -------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sr: int, length: int | None = None) -> torch.Tensor:
        """Augment a batch.

        Parameters
        ----------
        x : Tensor of shape (batch, samples)
        sr : int
            The waveforms' sample rate (for cutoffs and delays).
        length : int or None, default=None
            Output samples, at most ``samples``; the middle of the input is
            kept. ``None`` keeps the length.

        Returns
        -------
        Tensor of shape (batch, length)
        """
        if x.dim() != 2:
            raise ValueError(f"AudioAugment expects a (batch, samples) tensor, got shape "
                             f"{tuple(x.shape)}.")
        length = x.shape[-1] if length is None else int(length)
        if not 1 <= length <= x.shape[-1]:
            raise ValueError(f"length must be in [1, {x.shape[-1]}], got {length}.")
        dtype, dev, b = x.dtype, x.device, x.shape[0]
        # every draw is made for the whole batch, in a fixed order: a seed
        # gives the same chain whatever the probabilities select
        draws = {name: torch.rand(b, device=dev) for name in
                 ("pitch", "filter", "delay", "gain", "polarity", "noise")}
        y = self._pitch(x.float(), sr, length, draws["pitch"] < self.p_pitch)
        y = self._filter(y, sr, draws["filter"] < self.p_filter)
        y = self._delay(y, sr, draws["delay"] < self.p_delay)
        gain_db = _uniform(*self.gain_db, b, dev)
        gain = torch.where(draws["gain"] < self.p_gain, 10.0 ** (gain_db / 20.0), 1.0)
        sign = torch.where(draws["polarity"] < self.p_polarity, -1.0, 1.0)
        y = y * (gain * sign)[:, None]
        y = self._noise(y, draws["noise"] < self.p_noise)
        return y.to(dtype)

    def _pitch(self, x, sr, length, on):
        b, n = x.shape
        semitones = _uniform(-float(self.max_semitones), float(self.max_semitones), b, x.device)
        offset = (n - length) // 2
        out = x[:, offset:offset + length]
        if not bool(on.any()):
            return out
        ratio = 2.0 ** (semitones[on] / 12.0)
        src = x[on]
        up = ratio > 1.0
        if bool(up.any()):  # anti-aliasing: nothing above the new Nyquist frequency
            cut = 0.45 * sr / ratio[up]
            src[up] = _fft_filter(src[up], lambda f: _butterworth(
                f, cut, 8, torch.zeros_like(cut, dtype=torch.bool)), sr)
        # output sample t reads input position centre + (t - centre_out) * ratio
        t = torch.arange(length, device=x.device, dtype=torch.float64) - (length - 1) / 2
        pos = (n - 1) / 2 + t[None, :] * ratio[:, None].double()
        pos = pos.abs()  # mirror the ends when more is read than the input holds
        pos = torch.where(pos > n - 1, 2 * (n - 1) - pos, pos).clamp(0, n - 1)
        i0 = pos.floor().long().clamp(0, max(n - 2, 0))
        frac = (pos - i0).to(x.dtype)
        i1 = (i0 + 1).clamp(max=n - 1)
        out = out.clone()
        out[on] = src.gather(1, i0) * (1 - frac) + src.gather(1, i1) * frac
        return out

    def _filter(self, x, sr, on):
        b = x.shape[0]
        high = torch.rand(b, device=x.device) < 0.5
        nyquist = 0.45 * sr
        lo_cut = self._log_uniform(self.lowpass_hz, b, x.device).clamp(max=nyquist)
        hi_cut = self._log_uniform(self.highpass_hz, b, x.device).clamp(max=nyquist)
        if not bool(on.any()):
            return x
        cutoff = torch.where(high, hi_cut, lo_cut)[on]
        filtered = _fft_filter(x[on], lambda f: _butterworth(
            f, cutoff, self.filter_order, high[on]), sr)
        out = x.clone()
        out[on] = filtered
        return out

    def _delay(self, x, sr, on):
        b, n = x.shape
        delay = (_uniform(*self.delay_ms, b, x.device) * sr / 1000.0).round().long()
        if not bool(on.any()):
            return x
        t = torch.arange(n, device=x.device)[None, :] - delay[:, None]
        delayed = torch.where(t >= 0, x.gather(1, t.clamp_min(0)), 0.0)
        return torch.where(on[:, None], x + float(self.delay_gain) * delayed, x)

    def _noise(self, x, on):
        b = x.shape[0]
        snr = _uniform(*self.snr_db, b, x.device)
        noise = torch.randn_like(x)
        if not bool(on.any()):
            return x
        power = x.pow(2).mean(dim=1)
        std = torch.sqrt(power / 10.0 ** (snr / 10.0))
        return x + torch.where(on, std, 0.0)[:, None] * noise

    @staticmethod
    def _log_uniform(pair, n, device):
        lo, hi = math.log(pair[0]), math.log(pair[1])
        return torch.exp(_uniform(lo, hi, n, device))


def resolve_augment(augment):
    """The callable an estimator's ``augment`` parameter names (``None`` stays ``None``).

    ``"default"`` is :class:`AudioAugment` with its default settings; any
    other callable ``f(batch, sr) -> batch`` is used as given.
    """
    if augment is None:
        return None
    if isinstance(augment, str):
        if augment != "default":
            raise ValueError(f"augment must be None, 'default' or a callable, got {augment!r}.")
        return _DEFAULT
    if not callable(augment):
        raise ValueError(f"augment must be None, 'default' or a callable, got {augment!r}.")
    return augment


_DEFAULT = AudioAugment()
