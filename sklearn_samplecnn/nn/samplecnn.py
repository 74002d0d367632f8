"""The SampleCNN of Lee et al. (2018), built from a list of per-module sizes.

torch only. ``SampleCNN(sizes, channels)`` stacks a strided convolution (the
first size is its filter and stride) and one module per further size (conv of
that size with 'same' padding, batch norm, ReLU, max-pool of that size), then a
1x1 conv, dropout and a linear layer that outputs logits. The input length is
the product of the sizes and the time axis ends at exactly 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._sizes import MULTISCALE_PRESETS, SAMPLE_RATE_PRESETS, parse_sizes, preset_sizes
from ._layers import NamedLayers, check_head

__all__ = [
    "SampleCNN",
    "TABLE1_CHANNELS",
    "PUBLIC_CODE_CHANNELS",
    "SAMPLE_RATE_PRESETS",
    "MULTISCALE_PRESETS",
    "default_channels",
    "parse_sizes",
    "preset_sizes",
]

#: Table 1 of the paper: strided conv, 9 modules, 1x1 conv (2,454,066 weights+biases).
TABLE1_CHANNELS = (128, 128, 128, 256, 256, 256, 256, 256, 512, 512, 512)
#: The authors' public code: the eighth module has 256 filters (1,863,986).
PUBLIC_CODE_CHANNELS = (128, 128, 128, 256, 256, 256, 256, 256, 256, 512, 512)

def default_channels(n_modules: int) -> tuple[int, ...]:
    """Channels following Table 1's pattern for any depth.

    Strided conv 128; the first two modules 128, the last two 512, the rest
    256; the 1x1 conv as wide as the last module. For 9 modules this is
    exactly :data:`TABLE1_CHANNELS`.
    """
    mods = [128 if i < 2 else 512 if i >= n_modules - 2 else 256 for i in range(n_modules)]
    return (128, *mods, mods[-1])


def _block(c_in: int, c_out: int, kernel: int, stride: int, same: bool, pool: int) -> nn.Sequential:
    """Conv + BatchNorm + ReLU (+ MaxPool). ``same`` pads to keep the length
    (for even kernels one more zero on the right, as torch's padding='same')."""
    layers: list[nn.Module] = []
    padding = kernel // 2 if same and kernel % 2 else 0
    if same and kernel % 2 == 0:
        layers.append(nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0))
    layers += [
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=padding),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    ]
    if pool > 1:
        layers.append(nn.MaxPool1d(pool))
    return nn.Sequential(*layers)


class SampleCNN(NamedLayers, nn.Module):
    """A sample-level raw-waveform CNN (the paper's m^n-SampleCNN and its generalisations).

    Parameters
    ----------
    sizes : str or sequence of int, default=(3,) * 10
        Filter size of the strided first conv (which is also its stride)
        followed by each module's filter and pooling size, bottom to top:
        ``"3-3-3-3-2-2-2-2-2-2"``, ``"3^9"`` or ``(3, 3, ...)``.
        The input length is their product (59,049 for the default).
    channels : sequence of int or None, default=None
        Filters of the strided conv, of each module and of the 1x1 conv
        (``len(sizes) + 1`` numbers). ``None`` uses :func:`default_channels`,
        which for 9 modules is Table 1 (:data:`TABLE1_CHANNELS`);
        :data:`PUBLIC_CODE_CHANNELS` gives the authors' code.
    n_outputs : int, default=50
        Logits out (tags or classes).
    dropout : float, default=0.5
        Dropout before the output layer.

    Attributes
    ----------
    input_length : int
        Samples per input segment.
    hidden_layers : tuple of str
        Names of the hidden layers bottom to top: ``"strided"``,
        ``"module1"`` ... ``"moduleN"``, ``"conv1x1"``.
    name : str
        ``"3^9"`` for m^n models, else the sizes joined by dashes.

    Examples
    --------
    >>> model = SampleCNN.from_mn(3, 9)
    >>> model.input_length, model.hidden_layers[-3:]
    (59049, ('module8', 'module9', 'conv1x1'))
    >>> SampleCNN("3-3-2", channels=(4, 4, 8, 8), n_outputs=2).input_length
    18
    """

    def __init__(
        self,
        sizes: str | Sequence[int] = (3,) * 10,
        channels: Sequence[int] | None = None,
        n_outputs: int = 50,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.sizes = parse_sizes(sizes)
        n_mod = len(self.sizes) - 1
        channels = default_channels(n_mod) if channels is None else tuple(int(c) for c in channels)
        if len(channels) != n_mod + 2 or any(c < 1 for c in channels):
            raise ValueError(
                f"channels needs {n_mod + 2} positive numbers (strided conv, {n_mod} modules, "
                f"1x1 conv) for sizes {'-'.join(map(str, self.sizes))}, got {channels!r}."
            )
        n_outputs, dropout = check_head(n_outputs, dropout)
        self.channels = channels
        self.n_outputs = n_outputs
        self.dropout_rate = float(dropout)
        self.input_length = math.prod(self.sizes)

        first = self.sizes[0]
        blocks = [("strided", _block(1, channels[0], first, first, False, 1))]
        for i, size in enumerate(self.sizes[1:], start=1):
            blocks.append((f"module{i}", _block(channels[i - 1], channels[i], size, 1, True, size)))
        blocks.append(("conv1x1", _block(channels[n_mod], channels[n_mod + 1], 1, 1, False, 1)))
        self.features = nn.Sequential()
        for name, block in blocks:
            self.features.add_module(name, block)
        self.hidden_layers = tuple(name for name, _ in blocks)
        self.dropout = nn.Dropout(self.dropout_rate)
        self.classifier = nn.Linear(channels[-1], n_outputs)

    # -- constructors for the paper's configurations -------------------------
    @classmethod
    def from_mn(cls, m: int, n: int, **kwargs) -> SampleCNN:
        """The m^n-SampleCNN: a strided conv and ``n`` modules, all of size ``m``."""
        return cls((int(m),) * (int(n) + 1), **kwargs)

    @classmethod
    def from_sample_rate(cls, sr: int, **kwargs) -> SampleCNN:
        """Table 3's model for ``sr`` (2000, 4000, 8000, 12000, 16000, 20000 or 22050 Hz)."""
        if sr not in SAMPLE_RATE_PRESETS:
            raise ValueError(
                f"sr must be one of Table 3's rates {sorted(SAMPLE_RATE_PRESETS)}, got {sr!r}."
            )
        return cls(preset_sizes(sr)[0], **kwargs)

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> SampleCNN:
        """One of Table 4's models by name: ``"2^13"``, ``"3^9"``, ``"5^6"``..."""
        if name not in MULTISCALE_PRESETS:
            raise ValueError(f"name must be one of {sorted(MULTISCALE_PRESETS)}, got {name!r}.")
        return cls(preset_sizes(name)[0], **kwargs)

    # -- description ---------------------------------------------------------
    @property
    def name(self) -> str:
        if len(set(self.sizes)) == 1:
            return f"{self.sizes[0]}^{len(self.sizes) - 1}"
        return "-".join(map(str, self.sizes))

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this architecture."""
        return {
            "sizes": list(self.sizes),
            "channels": list(self.channels),
            "n_outputs": self.n_outputs,
            "dropout": self.dropout_rate,
        }

    def layer_time_lengths(self) -> dict[str, int]:
        """Time steps at each hidden layer's output for one segment."""
        out, t = {}, self.input_length // self.sizes[0]
        out["strided"] = t
        for i, size in enumerate(self.sizes[1:], start=1):
            t //= size
            out[f"module{i}"] = t
        out["conv1x1"] = t
        return out

    # -- forward -------------------------------------------------------------
    def forward(self, x: torch.Tensor, return_hidden: bool | Sequence[str] = False):
        """Logits for a batch of segments.

        Parameters
        ----------
        x : Tensor of shape (batch, input_length) or (batch, 1, input_length)
        return_hidden : bool or sequence of str, default=False
            ``True`` also returns every hidden layer's activation, a sequence of
            names returns those only; activations are ``(batch, channels, time)``.

        Returns
        -------
        Tensor of shape (batch, n_outputs), or ``(logits, {name: activation})``.
        """
        x = self._as_input(x)
        if not return_hidden:
            h = self.features(x)
            return self.classifier(self.dropout(h.flatten(1)))
        h, hidden = self._run_features(x, return_hidden)
        return self.classifier(self.dropout(h.flatten(1))), hidden
