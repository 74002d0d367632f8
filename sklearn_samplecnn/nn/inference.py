"""Fast inference for a trained SampleCNN: batch norm folded, channels-last convolutions.

torch only. :func:`optimize_for_inference` derives an :class:`InferenceSampleCNN`
from a trained :class:`~sklearn_samplecnn.nn.SampleCNN` without touching it:
every ``BatchNorm1d`` (running statistics) is folded into the convolution before
it, each ``Conv1d`` of size ``k`` becomes a ``Conv2d`` of kernel ``(1, k)`` over
``(batch, channels, 1, time)`` in ``torch.channels_last`` memory format, and
dropout is gone. It computes what ``model.eval()`` computes (logits and hidden
activations, same layer names) several times faster on CPU, where oneDNN's
channels-last kernels keep the working set in cache (see ``benchmarks/bench_forward.py``).

:func:`count_macs` gives a model's analytic cost. Running either module on a
device at a precision, in batches, is :mod:`sklearn_samplecnn.nn.runtime`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._layers import NamedLayers
from .samplecnn import SampleCNN

__all__ = ["InferenceSampleCNN", "count_macs", "optimize_for_inference"]


def count_macs(model: nn.Module) -> int:
    """Multiply-adds of one segment's forward pass, computed from the architecture.

    Counts the convolutions and the output layer (``c_out * c_in * k`` per
    output time step, ``in * out`` for the linear layer); batch norm, ReLU
    and pooling are not multiply-adds and are left out.

    Parameters
    ----------
    model : SampleCNN or InferenceSampleCNN
        Anything with ``sizes``, ``channels`` and ``n_outputs`` attributes.

    Returns
    -------
    int
        Multiply-adds per segment of ``model.input_length`` samples.

    Examples
    --------
    >>> round(count_macs(SampleCNN.from_mn(3, 9)) / 1e9, 3)
    1.731
    """
    sizes, channels = tuple(model.sizes), tuple(model.channels)
    t = int(np.prod(sizes)) // sizes[0]
    macs = channels[0] * 1 * sizes[0] * t
    for i, size in enumerate(sizes[1:], start=1):
        macs += channels[i] * channels[i - 1] * size * t
        t //= size
    macs += channels[-1] * channels[-2] * t
    macs += channels[-1] * t * int(model.n_outputs)
    return int(macs)


def _fold(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` in eval mode as one convolution (in float64)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            "cannot fold a BatchNorm1d without running statistics "
            "(track_running_stats=False); eval mode would use each batch's own statistics."
        )
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(
        w.shape[0], dtype=torch.float64, device=w.device
    )
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(b)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(b)
    scale = gamma / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    weight = w * scale[:, None, None]
    bias = (b - bn.running_mean.detach().double()) * scale + beta
    dtype = conv.weight.dtype
    return weight.to(dtype), bias.to(dtype)


class _FoldedBlock(nn.Module):
    """Pad, (1, k) Conv2d with batch norm folded in, ReLU and (1, m) MaxPool2d."""

    def __init__(self, block: nn.Sequential) -> None:
        super().__init__()
        pad, conv, bn, pool = None, None, None, None
        for layer in block:
            if isinstance(layer, nn.ConstantPad1d):
                pad = layer
            elif isinstance(layer, nn.Conv1d):
                conv = layer
            elif isinstance(layer, nn.BatchNorm1d):
                bn = layer
            elif isinstance(layer, nn.MaxPool1d):
                pool = layer
            elif not isinstance(layer, nn.ReLU):
                raise TypeError(f"cannot fold a {type(layer).__name__} in a SampleCNN block.")
        if conv is None or bn is None:
            raise TypeError("a SampleCNN block needs a Conv1d followed by a BatchNorm1d.")
        if conv.groups != 1 or conv.dilation[0] != 1 or conv.padding_mode != "zeros":
            raise TypeError("only plain Conv1d (groups=1, dilation=1, zero padding) can be folded.")
        if isinstance(conv.padding, str):
            raise TypeError("Conv1d padding given as a string cannot be folded; use integers.")
        if pad is not None and pad.value != 0.0:
            raise TypeError(f"only zero padding can be folded, got value {pad.value}.")
        # Zeros along time: odd 'same' kernels pad both sides equally, which the
        # convolution does itself; even kernels (ConstantPad1d) need one more on the right.
        left, right = (int(p) for p in pad.padding) if pad is not None else (0, 0)
        conv_pad = int(conv.padding[0])
        self.pad = (0, 0) if left == right else (left, right)
        if left == right:
            conv_pad += left
        weight, bias = _fold(conv, bn)
        k = conv.kernel_size[0]
        self.conv = nn.Conv2d(
            conv.in_channels, conv.out_channels, (1, k), stride=(1, conv.stride[0]),
            padding=(0, conv_pad), device=weight.device, dtype=weight.dtype,
        )
        with torch.no_grad():
            self.conv.weight.copy_(weight.unsqueeze(2))
            self.conv.bias.copy_(bias)
        self.relu = nn.ReLU(inplace=True)
        if pool is None:
            self.pool = None
        else:
            size = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
            stride = pool.stride if isinstance(pool.stride, int) else pool.stride[0]
            if pool.padding not in (0, (0,)) or pool.dilation not in (1, (1,)) or pool.ceil_mode:
                raise TypeError("only plain MaxPool1d (no padding, dilation or ceil_mode) folds.")
            self.pool = nn.MaxPool2d((1, size), stride=(1, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad != (0, 0):
            x = F.pad(x, self.pad)
        x = self.conv(x)
        if self.pool is not None:
            # max-pool before ReLU: the same values (ReLU is monotonic), 1/m of the work.
            x = self.pool(x)
        return self.relu(x)


class InferenceSampleCNN(NamedLayers, nn.Module):
    """An inference-only copy of a trained SampleCNN, several times faster on CPU.

    Built by :func:`optimize_for_inference`; computes what ``model.eval()``
    computes (within float32 rounding, about 1e-6 relative): batch norm folded into
    the convolutions, convolutions as ``(1, k)`` ``Conv2d`` in
    ``torch.channels_last`` memory format, no dropout. It has no training
    behaviour: ``train()`` changes nothing and its parameters need no gradients.

    Parameters
    ----------
    model : SampleCNN
        The trained module; it is copied, never modified.

    Attributes
    ----------
    sizes, channels, n_outputs, input_length, hidden_layers, name
        As on the source :class:`SampleCNN`.

    Examples
    --------
    >>> import torch
    >>> model = SampleCNN("3-3-2", channels=(4, 4, 8, 8), n_outputs=2).eval()
    >>> fast = optimize_for_inference(model)
    >>> x = torch.randn(5, 18)
    >>> torch.allclose(fast(x), model(x), atol=1e-6)
    True
    >>> logits, hidden = fast(x, return_hidden=["module2"])
    >>> tuple(hidden["module2"].shape)
    (5, 8, 1)
    """

    def __init__(self, model: SampleCNN) -> None:
        super().__init__()
        if not isinstance(model, SampleCNN):
            raise TypeError(f"model must be a SampleCNN, got {type(model).__name__}.")
        self.sizes = tuple(model.sizes)
        self.channels = tuple(model.channels)
        self.n_outputs = int(model.n_outputs)
        self.input_length = int(model.input_length)
        self.hidden_layers = tuple(model.hidden_layers)
        self.name = model.name
        self.features = nn.Sequential()
        for name, block in model.features.named_children():
            self.features.add_module(name, _FoldedBlock(block))
        src = model.classifier
        self.classifier = nn.Linear(
            src.in_features, src.out_features, bias=src.bias is not None,
            device=src.weight.device, dtype=src.weight.dtype,
        )
        self.classifier.load_state_dict(src.state_dict())
        self.to(memory_format=torch.channels_last)
        self.requires_grad_(False)
        self.eval()

    def _as_input(self, x: torch.Tensor, check_length: bool = True) -> torch.Tensor:
        # (B, T) -> (B, 1, 1, T); with one channel this is already channels-last.
        x = super()._as_input(x, check_length)
        return x[:, :, None, :].contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, return_hidden: bool | Sequence[str] = False):
        """Logits for a batch of segments, as :meth:`SampleCNN.forward` in eval mode.

        Parameters
        ----------
        x : Tensor of shape (batch, input_length) or (batch, 1, input_length)
        return_hidden : bool or sequence of str, default=False
            ``True`` also returns every hidden layer's activation, a sequence of
            names returns those only; activations are contiguous
            ``(batch, channels, time)`` tensors.

        Returns
        -------
        Tensor of shape (batch, n_outputs), or ``(logits, {name: activation})``.
        """
        h = self._as_input(x)
        if not return_hidden:
            return self.classifier(self.features(h).flatten(1))
        h, hidden = self._run_features(h, return_hidden)
        hidden = {name: a.squeeze(2).contiguous() for name, a in hidden.items()}
        return self.classifier(h.flatten(1)), hidden


def optimize_for_inference(model: SampleCNN) -> InferenceSampleCNN:
    """A fast, inference-only copy of a trained SampleCNN (the source is not modified).

    Parameters
    ----------
    model : SampleCNN
        Trained weights; its batch-norm running statistics are what eval mode uses.

    Returns
    -------
    InferenceSampleCNN
        Same logits and hidden activations as ``model.eval()``, on the same
        device and dtype, ready for :func:`run_batched`.

    See Also
    --------
    run_batched : feed many segments through it in micro-batches.
    """
    return InferenceSampleCNN(model)
