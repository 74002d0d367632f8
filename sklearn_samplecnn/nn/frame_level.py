"""The frame-level baselines of Table 2: raw-waveform and mel-spectrogram 1-D CNNs.

torch only. Both models share SampleCNN's upper layers: size-3 modules (conv
with 'same' padding, batch norm, ReLU, max-pool of 3), a 1x1 conv, dropout and
a linear layer that outputs logits. Below them sits a frame-level front end:

* :class:`FrameLevelCNN` -- one strided conv whose filter is the STFT window
  and whose stride is the hop (section 3.2 of the paper);
* :class:`MelFrameLevelCNN` -- a log-compressed mel spectrogram
  (:class:`MelSpectrogram`) standardised per mel band, mel bands as channels
  (section 3.1 and 5.3).

Depth budget
------------
Table 2 gives ``3**n * hop == 59049``: 4 modules for hop 729, 5 for hop 243
and 6 for hop 81. When the window is longer than the hop there are fewer
frames than ``3**n`` (``(59049 - window) // hop + 1``, e.g. 241 for 729/243),
so the pools use ``ceil_mode=True``: a last, partial window is pooled rather
than dropped. The default ``n_modules`` is then the number of pools of 3 that
bring the frames to one time step (:func:`frame_modules`), which is exactly
Table 2's ``n`` for every configuration. A global max-pool over the time left
after the 1x1 conv keeps the output well defined when ``n_modules`` is set
lower by hand.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .._checks import check_int
from ._layers import NamedLayers, check_head
from .mel import MelSpectrogram, _n_frames
from .samplecnn import default_channels

__all__ = ["FrameLevelCNN", "MelFrameLevelCNN", "TABLE2_CONFIGS", "frame_modules"]

#: Table 2: the (window, hop) pairs of the frame-level models, in samples.
TABLE2_CONFIGS = ((729, 729), (729, 243), (243, 243), (243, 81), (81, 81))

_POOL = 3  # module filter and pooling size of the frame-level models


# -- helpers -----------------------------------------------------------------
def frame_modules(n_frames: int) -> int:
    """Modules of size 3 (ceil-mode pools) that bring ``n_frames`` time steps to one.

    Parameters
    ----------
    n_frames : int
        Time steps entering the first module.

    Returns
    -------
    int
        The number of pools; Table 2's ``n`` for each of its configurations.

    Examples
    --------
    >>> [frame_modules(t) for t in (81, 241, 243, 727, 729)]
    [4, 5, 5, 6, 6]
    """
    n_frames = check_int("n_frames", n_frames)
    n = 0
    while n_frames > 1:
        n_frames = -(-n_frames // _POOL)
        n += 1
    return n


def _module_channels(n_modules: int) -> tuple[int, ...]:
    """Channels of the top ``n_modules`` modules and the 1x1 conv of Table 1's model.

    The frame-level models replace the bottom of the 3^9 SampleCNN, so their
    upper layers keep its widths (for more than 9 modules :func:`default_channels`
    of that depth is used).
    """
    return default_channels(max(n_modules, 9))[-(n_modules + 1) :]


def _block(
    c_in: int, c_out: int, kernel: int, stride: int = 1, pool: bool = False
) -> nn.Sequential:
    """Conv + BatchNorm + ReLU (+ ceil-mode MaxPool of 3); odd kernels > 1 keep the length."""
    layers: list[nn.Module] = [
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2 if pool else 0),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    ]
    if pool:
        layers.append(nn.MaxPool1d(_POOL, ceil_mode=True))
    return nn.Sequential(*layers)


def _resolve_depth(n_modules, n_frames: int, where: str) -> int:
    n_max = frame_modules(n_frames)
    if n_modules is None:
        return n_max
    if isinstance(n_modules, bool) or not isinstance(n_modules, numbers.Integral) or not (
        0 <= n_modules <= n_max
    ):
        raise ValueError(
            f"n_modules must be an integer in [0, {n_max}] for {where} "
            f"({n_frames} frames), got {n_modules!r}."
        )
    return int(n_modules)


class _FrameCNNBase(NamedLayers, nn.Module):
    """Shared description, layer lookup and forward of the frame-level models."""

    input_length: int
    n_outputs: int
    hidden_layers: tuple[str, ...]
    features: nn.Sequential

    def _frames(self, window, hop, input_length, n_outputs, dropout, n_frames_fn) -> None:
        """Check and store what both models take: window, hop, input length, outputs,
        dropout; then the frame count (``n_frames_fn(input_length)``)."""
        self.window = check_int("window", window)
        self.hop = check_int("hop", hop)
        self.input_length = check_int("input_length", input_length)
        check_head(n_outputs, dropout)
        self.n_outputs = n_outputs
        self.dropout_rate = float(dropout)
        self.n_frames = n_frames_fn(self.input_length)

    def _stack(self, n_modules, channels, default_channels, front, c_in: int,
               what: str) -> None:
        """The upper layers both models share: ``n_modules`` size-3 modules over the
        frames, a 1x1 conv, a global max-pool, dropout and the output layer.

        ``channels`` lists the front's filters (when ``front`` is a block) then each
        module's and the 1x1 conv's; ``c_in`` is what enters the first module when
        the front has no filters of its own (the mel bands).
        """
        self.n_modules = _resolve_depth(n_modules, self.n_frames,
                                        f"window/hop {self.window}/{self.hop}")
        n = self.n_modules
        channels = default_channels(n) if channels is None else tuple(int(c) for c in channels)
        want = n + 1 + (front is not None)
        if len(channels) != want or any(c < 1 for c in channels):
            raise ValueError(f"channels needs {want} positive numbers ({what}{n} modules, "
                             f"1x1 conv) for {n} modules, got {channels!r}.")
        self.channels = channels
        self.features = nn.Sequential()
        if front is not None:
            self.features.add_module(front[0], front[1](channels[0]))
            c_in, channels = channels[0], channels[1:]
        widths = (c_in, *channels)
        for i in range(1, n + 1):
            self.features.add_module(f"module{i}", _block(widths[i - 1], widths[i], 3, pool=True))
        self.features.add_module("conv1x1", _block(widths[n], widths[n + 1], 1))
        self.hidden_layers = tuple(name for name, _ in self.features.named_children())
        self.global_pool = nn.AdaptiveMaxPool1d(1)
        self.dropout = nn.Dropout(self.dropout_rate)
        self.classifier = nn.Linear(widths[-1], self.n_outputs)

    def _front(self, x: torch.Tensor) -> torch.Tensor:
        """Input of the first hidden block, from ``(batch, 1, samples)``."""
        return x

    def forward_features(self, x: torch.Tensor, upto: int | str | None = None) -> torch.Tensor:
        """Run the hidden blocks up to and including ``upto`` on any input length.

        Parameters
        ----------
        x : Tensor of shape (batch, samples) or (batch, 1, samples)
            Waveforms; unlike :meth:`forward`, the length is not checked, so
            short inputs (e.g. 729 samples for filter visualisation) work as
            long as every block up to ``upto`` still has a time step.
        upto : int, str or None, default=None
            A hidden layer (see :meth:`resolve_layer`); ``None`` runs all.

        Returns
        -------
        Tensor of shape (batch, channels, time)
            The activation of ``upto``.
        """
        name = self.hidden_layers[-1] if upto is None else self.resolve_layer(upto)
        h = self._front(self._as_input(x, check_length=False))
        for block_name, block in self.features.named_children():
            h = block(h)
            if block_name == name:
                break
        return h

    def forward(self, x: torch.Tensor, return_hidden: bool | Sequence[str] = False):
        """Logits for a batch of segments.

        Parameters
        ----------
        x : Tensor of shape (batch, input_length) or (batch, 1, input_length)
        return_hidden : bool or sequence of str, default=False
            ``True`` also returns every hidden layer's activation, a sequence of
            names returns those only; activations are ``(batch, channels, time)``
            (the 1x1 conv's before the global max-pool).

        Returns
        -------
        Tensor of shape (batch, n_outputs), or ``(logits, {name: activation})``.
        """
        h = self._front(self._as_input(x))
        if not return_hidden:
            h = self.features(h)
            hidden = None
        else:
            h, hidden = self._run_features(h, return_hidden)
        logits = self.classifier(self.dropout(self.global_pool(h).flatten(1)))
        return logits if hidden is None else (logits, hidden)


# -- raw-waveform frame-level model ------------------------------------------
class FrameLevelCNN(_FrameCNNBase):
    """Table 2's frame-level raw-waveform model: a strided frame conv, then size-3 modules.

    Parameters
    ----------
    window : int, default=729
        Filter length of the first conv (the STFT window it stands for).
    hop : int, default=729
        Stride of the first conv (the STFT hop).
    n_modules : int or None, default=None
        Size-3 modules above the frame conv. ``None`` takes the paper's depth
        budget, :func:`frame_modules` of the number of frames: 4 for hop 729,
        5 for hop 243, 6 for hop 81 with 59,049-sample input.
    channels : sequence of int or None, default=None
        Filters of the frame conv, of each module and of the 1x1 conv
        (``n_modules + 2`` numbers). ``None``: 128 for the frame conv (as many
        as the mel bands it replaces) and the widths of the top modules and
        1x1 conv of Table 1's 3^9 SampleCNN (e.g. 256, 256, 512, 512, 512 for
        4 modules).
    n_outputs : int, default=50
        Logits out (tags or classes).
    dropout : float, default=0.5
        Dropout before the output layer.
    input_length : int, default=59049
        Samples per input segment.

    Attributes
    ----------
    hidden_layers : tuple of str
        ``"frame_conv"``, ``"module1"`` ... ``"moduleN"``, ``"conv1x1"``.
    name : str
        ``"raw-<window>/<hop>"``.

    Notes
    -----
    The pools use ``ceil_mode=True`` and a global max-pool follows the 1x1
    conv (see the module docstring), so windows longer than the hop, whose
    frame counts are not powers of 3, still end at one time step.

    Examples
    --------
    >>> model = FrameLevelCNN(729, 243, channels=(8,) * 7, n_outputs=2)
    >>> model.name, model.hidden_layers[:2], model.n_modules
    ('raw-729/243', ('frame_conv', 'module1'), 5)
    >>> model(torch.zeros(3, 59049)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        window: int = 729,
        hop: int = 729,
        n_modules: int | None = None,
        channels: Sequence[int] | None = None,
        n_outputs: int = 50,
        dropout: float = 0.5,
        input_length: int = 59049,
    ) -> None:
        super().__init__()
        if check_int("window", window) > check_int("input_length", input_length):
            raise ValueError(
                f"window must not exceed input_length ({input_length}), got {window!r}."
            )
        self._frames(window, hop, input_length, n_outputs, dropout,
                     lambda n: _n_frames(n, self.window, self.hop))
        self._stack(n_modules, channels, lambda n: (128, *_module_channels(n)),
                    ("frame_conv", lambda c: _block(1, c, self.window, self.hop)), 1,
                    "frame conv, ")

    @property
    def name(self) -> str:
        return f"raw-{self.window}/{self.hop}"

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this architecture."""
        return {
            "window": self.window,
            "hop": self.hop,
            "n_modules": self.n_modules,
            "channels": list(self.channels),
            "n_outputs": self.n_outputs,
            "dropout": self.dropout_rate,
            "input_length": self.input_length,
        }


# -- mel frame-level model ---------------------------------------------------
class MelFrameLevelCNN(_FrameCNNBase):
    """Table 2's frame-level mel-spectrogram model: a 1-D CNN over log-mel frames.

    Parameters
    ----------
    window : int, default=729
        Hann window length of the STFT (zero-padded to ``n_fft``).
    hop : int, default=729
        STFT hop in samples.
    n_mels : int, default=128
        Mel bands, the input channels of the first module.
    sr : float, default=22050
        Sample rate in Hz.
    n_modules : int or None, default=None
        Size-3 modules over the frames. ``None`` takes the paper's depth
        budget, :func:`frame_modules` of the number of frames: 4 for hop 729,
        5 for hop 243, 6 for hop 81 with 59,049-sample input.
    channels : sequence of int or None, default=None
        Filters of each module and of the 1x1 conv (``n_modules + 1``
        numbers). ``None`` takes the widths of the top modules and 1x1 conv of
        Table 1's 3^9 SampleCNN.
    n_outputs : int, default=50
        Logits out (tags or classes).
    dropout : float, default=0.5
        Dropout before the output layer.
    input_length : int, default=59049
        Samples per input segment.
    n_fft : int, default=729
        FFT size (729 in all of the paper's experiments).

    Attributes
    ----------
    melspec : MelSpectrogram
        The front end.
    input_mean, input_std : Tensor of shape (n_mels,)
        Per-band statistics used to standardise the log-mel features
        (buffers, saved in the ``state_dict``); 0 and 1 until
        :meth:`fit_standardizer` sets them.
    standardizer_fitted : Tensor (bool scalar)
        Whether :meth:`fit_standardizer` has run.
    hidden_layers : tuple of str
        ``"module1"`` ... ``"moduleN"``, ``"conv1x1"``.
    name : str
        ``"mel-<window>/<hop>"``.

    Examples
    --------
    >>> model = MelFrameLevelCNN(243, 81, n_mels=16, channels=(8,) * 7, n_outputs=2)
    >>> model.name, model.n_modules, model.hidden_layers[-1]
    ('mel-243/81', 6, 'conv1x1')
    >>> model(torch.zeros(3, 59049)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        window: int = 729,
        hop: int = 729,
        n_mels: int = 128,
        sr: float = 22050,
        n_modules: int | None = None,
        channels: Sequence[int] | None = None,
        n_outputs: int = 50,
        dropout: float = 0.5,
        input_length: int = 59049,
        n_fft: int = 729,
    ) -> None:
        super().__init__()
        self.melspec = MelSpectrogram(n_fft=n_fft, win_length=check_int("window", window),
                                      hop_length=check_int("hop", hop), n_mels=n_mels, sr=sr)
        if check_int("input_length", input_length) < self.melspec.n_fft:
            raise ValueError(
                f"input_length must be at least n_fft ({self.melspec.n_fft}), got {input_length!r}."
            )
        self._frames(window, hop, input_length, n_outputs, dropout, self.melspec.n_frames)
        self.n_mels = self.melspec.n_mels
        self.register_buffer("input_mean", torch.zeros(self.n_mels))
        self.register_buffer("input_std", torch.ones(self.n_mels))
        self.register_buffer("standardizer_fitted", torch.tensor(False))
        self._stack(n_modules, channels, _module_channels, None, self.n_mels, "")

    @property
    def name(self) -> str:
        return f"mel-{self.window}/{self.hop}"

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this architecture."""
        return {
            "window": self.window,
            "hop": self.hop,
            "n_mels": self.n_mels,
            "sr": self.melspec.sr,
            "n_modules": self.n_modules,
            "channels": list(self.channels),
            "n_outputs": self.n_outputs,
            "dropout": self.dropout_rate,
            "input_length": self.input_length,
            "n_fft": self.melspec.n_fft,
        }

    def _front(self, x: torch.Tensor) -> torch.Tensor:
        mel = self.melspec(x)
        return (mel - self.input_mean[:, None]) / self.input_std[:, None]

    @torch.no_grad()
    def fit_standardizer(self, batches: Iterable) -> MelFrameLevelCNN:
        """Set ``input_mean`` / ``input_std`` from training waveforms.

        Parameters
        ----------
        batches : iterable of Tensor or ndarray of shape (batch, input_length)
            Waveform batches (``(batch, 1, input_length)`` also works). The
            mean and standard deviation of each mel band's log-mel features
            are taken over all frames of all batches; the standard deviation
            is floored at 1e-5.

        Returns
        -------
        self : MelFrameLevelCNN
        """
        device = self.input_mean.device
        total = torch.zeros(self.n_mels, dtype=torch.float64, device=device)
        total_sq = torch.zeros_like(total)
        count = 0
        for batch in batches:
            x = self._as_input(torch.as_tensor(batch, dtype=torch.float32, device=device))
            mel = self.melspec(x).to(torch.float64)
            total += mel.sum(dim=(0, 2))
            total_sq += (mel * mel).sum(dim=(0, 2))
            count += mel.shape[0] * mel.shape[2]
        if count == 0:
            raise ValueError("batches must hold at least one waveform, got none.")
        mean = total / count
        var = (total_sq / count - mean * mean).clamp_min(0.0)
        self.input_mean.copy_(mean.float())
        self.input_std.copy_(var.sqrt().clamp_min(1e-5).float())
        self.standardizer_fitted.fill_(True)
        return self
