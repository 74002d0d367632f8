"""Running models on a device: precision, batch sizes, threads, the inference runner.

torch only. :func:`resolve_precision` turns a ``precision`` setting into an
arithmetic for a device, :func:`auto_batch_size` picks a batch from the
model's widest activation, :class:`InferenceRunner` runs a model (folded for
inference when it is a SampleCNN) at that precision with cuDNN's autotuner,
optionally as a CUDA graph or compiled, :func:`run_batched` feeds many
segments through a module in batches and :func:`torch_threads` sets torch's
thread count for a block of work.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from torch import nn

from .._checks import check_int, check_option
from .inference import InferenceSampleCNN, optimize_for_inference
from .samplecnn import SampleCNN

__all__ = [
    "InferenceRunner",
    "PRECISIONS",
    "activation_bytes",
    "auto_batch_size",
    "resolve_precision",
    "run_batched",
    "torch_threads",
]


def _glibc_keeps_buffers() -> bool:
    """Whether this process started with glibc malloc told to keep freed buffers.

    glibc reads ``GLIBC_TUNABLES`` once, at start-up, so the environment the process
    was started with (``/proc/self/environ`` on Linux) is what counts, not ``os.environ``.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            start_env = f.read().split(b"\0")
        value = next(
            (e.split(b"=", 1)[1].decode() for e in start_env if e.startswith(b"GLIBC_TUNABLES=")),
            "",
        )
    except OSError:
        value = os.environ.get("GLIBC_TUNABLES", "")
    return "mmap_max=0" in value


#: Numeric precisions of the inference and training paths.
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_precision(precision: str, device: str | torch.device, *, training: bool = False
                      ) -> str:
    """``"fp32"``, ``"fp16"`` or ``"bf16"`` for a ``precision`` setting on a device.

    ``"auto"`` is ``"fp32"`` on CPU; on CUDA it is ``"fp16"`` for inference
    (11 mantissa bits: features within about 1e-3 of fp32) and ``"bf16"`` for
    training where the card supports it (fp32's range: no loss scaling needed),
    else ``"fp16"`` with a gradient scaler. Half precision on CPU is refused:
    it is slower there.
    """
    check_option("precision", precision, PRECISIONS)
    device = torch.device(device)
    if device.type != "cuda":
        if precision not in ("auto", "fp32"):
            raise ValueError(f"precision={precision!r} needs a CUDA device; on {device.type} "
                             "use 'fp32' or 'auto'.")
        return "fp32"
    if precision != "auto":
        return precision
    if training:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp16"


def activation_bytes(module: nn.Module) -> int:
    """Bytes of the widest hidden activation of one segment in float32.

    From ``sizes`` and ``channels`` for SampleCNN-style modules, the module's own
    ``activation_bytes()`` where it has one (musicnn), and an estimate of 64
    channels at the input rate for others.
    """
    own = getattr(module, "activation_bytes", None)
    if callable(own):
        return int(own())
    sizes, channels = getattr(module, "sizes", None), getattr(module, "channels", None)
    length = int(getattr(module, "input_length", 59049))
    if sizes is None or channels is None or len(channels) != len(sizes) + 1:
        return 64 * length * 4
    t = length // sizes[0]
    widest = channels[0] * t
    for size, c in zip(sizes[1:], channels[1:]):
        widest = max(widest, c * t)  # the conv output before its pool
        t //= size
    return int(widest) * 4


def auto_batch_size(device: str | torch.device = "cpu", module: nn.Module | None = None) -> int:
    """A batch size (segments per forward pass) that runs near the device's best throughput.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        Where the forward pass runs.
    module : nn.Module or None, default=None
        The model; its widest activation (:func:`activation_bytes`) sets the
        batch. ``None`` assumes the paper's 3^9 model.

    Returns
    -------
    int
        A power of two. On CPU the batch whose widest activation fits a budget
        that stays in the caches and malloc's reused buffers: 40 MB when the
        process started with ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:...`` (4
        segments of the 3^9 model), 10 MB without (1 segment), up to 512 for
        tiny models. On CUDA a thirty-second of the card's memory, at most
        1024. docs/performance.md has the measurements behind these budgets.

    Examples
    --------
    >>> auto_batch_size("cpu") in (1, 4)
    True
    >>> auto_batch_size("cpu", SampleCNN("3^9", channels=[2] * 11)) >= 64
    True
    """
    device = torch.device(device)
    per_segment = activation_bytes(module) if module is not None else 128 * 19683 * 4
    if device.type == "cuda":
        budget, cap = torch.cuda.get_device_properties(device).total_memory // 32, 1024
    else:
        budget, cap = (40 if _glibc_keeps_buffers() else 10) * 2**20, 512
    batch = max(1, min(cap, budget // max(per_segment, 1)))
    return 1 << (int(batch).bit_length() - 1)


class InferenceRunner:
    """A module ready to run batches of segments on a device at a precision.

    SampleCNNs become :class:`InferenceSampleCNN` copies (batch norm folded,
    channels-last); other modules are used as they are, in eval mode. On CUDA
    the cuDNN autotuner is on for the calls, half precision is either the
    weights' own dtype (SampleCNN: no casts between layers) or autocast
    (other modules), and the forward pass can be captured once as a CUDA
    graph for a fixed batch shape (``cuda_graph=True``) or compiled with
    ``torch.compile`` (``compile=True``).

    Parameters
    ----------
    module : nn.Module
        Never modified: a copy is made before moving or converting it.
    device : str or torch.device, default="cpu"
    precision : {"auto", "fp32", "fp16", "bf16"}, default="auto"
        See :func:`resolve_precision`.
    cuda_graph : bool, default=False
    compile : bool, default=False

    Examples
    --------
    >>> model = SampleCNN("3-3-2", channels=(4, 4, 8, 8), n_outputs=2).eval()
    >>> run = InferenceRunner(model)
    >>> logits, hidden = run(torch.zeros(3, 18), return_hidden=["module2"])
    >>> tuple(logits.shape), tuple(hidden["module2"].shape)
    ((3, 2), (3, 8, 1))
    """

    def __init__(self, module: nn.Module, device: str | torch.device = "cpu",
                 precision: str = "auto", *, cuda_graph: bool = False,
                 compile: bool = False) -> None:
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        if isinstance(module, SampleCNN):
            module = optimize_for_inference(module.eval())
        else:
            module = copy.deepcopy(module).eval()
        dtype = _DTYPES[self.precision]
        self.half_weights = isinstance(module, InferenceSampleCNN) and dtype != torch.float32
        self.module = module.to(self.device, dtype=dtype if self.half_weights else None)
        self.autocast_dtype = dtype if (dtype != torch.float32 and not self.half_weights) \
            else None
        self.input_dtype = dtype if self.half_weights else torch.float32
        self.cuda_graph = bool(cuda_graph) and self.device.type == "cuda"
        self._forward = torch.compile(self.module) if compile else self.module
        self._graphs: dict = {}
        for name in ("input_length", "hidden_layers", "name", "n_outputs"):
            if hasattr(module, name):
                setattr(self, name, getattr(module, name))

    def resolve_layer(self, layer):
        return self.module.resolve_layer(layer)

    def __getstate__(self):
        # compiled code and captured graphs live in this process only; rebuilt on use
        state = dict(self.__dict__)
        state["_graphs"] = {}
        state["_forward"] = None
        state["_compiled"] = self._forward is not self.module
        return state

    def __setstate__(self, state):
        compiled = state.pop("_compiled", False)
        self.__dict__.update(state)
        self._forward = torch.compile(self.module) if compiled else self.module

    def _call(self, x: torch.Tensor, return_hidden):
        cuda = self.device.type == "cuda"
        amp = torch.autocast("cuda", dtype=self.autocast_dtype) \
            if cuda and self.autocast_dtype is not None else nullcontext()
        with torch.backends.cudnn.flags(enabled=True, benchmark=cuda), amp:
            if return_hidden:
                return self._forward(x.to(self.input_dtype), return_hidden=return_hidden)
            return self._forward(x.to(self.input_dtype))

    def __call__(self, x: torch.Tensor, return_hidden: bool | Sequence[str] = False):
        """``module(x, return_hidden=...)`` on the runner's device and precision."""
        if not self.cuda_graph:
            return self._call(x, return_hidden)
        key = (tuple(x.shape), tuple(return_hidden) if isinstance(return_hidden, (list, tuple))
               else return_hidden)
        if key not in self._graphs:
            self._graphs[key] = self._capture(x, return_hidden)
        static_x, graph, static_out = self._graphs[key]
        static_x.copy_(x)
        graph.replay()
        return static_out

    def _capture(self, x: torch.Tensor, return_hidden):
        static_x = x.detach().clone()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):  # cuDNN's autotuner and lazy initialisation, outside the graph
                self._call(static_x, return_hidden)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._call(static_x, return_hidden)
        return static_x, graph, static_out


@contextmanager
def torch_threads(n: int | None):
    """Run with ``torch.set_num_threads(n)`` and restore the previous count (None: as is)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def run_batched(
    module: nn.Module,
    segments: torch.Tensor | np.ndarray,
    batch_size: int | None = None,
    *,
    return_hidden: bool | Sequence[str] = False,
):
    """Forward many segments in micro-batches under ``torch.inference_mode``.

    Parameters
    ----------
    module : SampleCNN or InferenceSampleCNN
        In eval mode (a SampleCNN in train mode would normalise by each
        micro-batch's statistics, so it is refused).
    segments : Tensor or ndarray of shape (n_segments, input_length)
        Or ``(n_segments, 1, input_length)``. Each micro-batch is moved to
        the module's device; results come back where ``segments`` lives
        (CPU for arrays).
    batch_size : int or None, default=None
        Segments per forward pass; ``None`` uses :func:`auto_batch_size`.
    return_hidden : bool or sequence of str, default=False
        As in :meth:`SampleCNN.forward`.

    Returns
    -------
    Tensor of shape (n_segments, n_outputs), or ``(logits, {name: activation})``
    with activations of shape ``(n_segments, channels, time)``.

    Examples
    --------
    >>> import numpy as np
    >>> model = SampleCNN("3-3-2", channels=(4, 4, 8, 8), n_outputs=2).eval()
    >>> logits = run_batched(optimize_for_inference(model), np.zeros((7, 18), np.float32), 3)
    >>> tuple(logits.shape)
    (7, 2)
    """
    if module.training and any(
        isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)) for m in module.modules()
    ):
        raise ValueError(
            "module is in training mode (batch norm would use each micro-batch's statistics); "
            "call module.eval() first."
        )
    device = _device_of(module)
    if batch_size is None:
        batch_size = auto_batch_size(device)
    batch_size = check_int("batch_size", batch_size)
    if isinstance(segments, np.ndarray):
        segments = torch.from_numpy(np.ascontiguousarray(segments, dtype=np.float32))
    elif not isinstance(segments, torch.Tensor):
        raise TypeError(
            f"segments must be a torch.Tensor or numpy.ndarray, got {type(segments).__name__}."
        )
    out_device = segments.device
    if segments.dim() not in (2, 3):
        raise ValueError(
            "segments must have shape (n_segments, input_length) or "
            f"(n_segments, 1, input_length), got {tuple(segments.shape)}."
        )
    n = segments.shape[0]
    logits_parts, hidden_parts = [], {}
    with torch.inference_mode():
        for start in range(0, max(n, 1), int(batch_size)):
            batch = segments[start:start + int(batch_size)].to(device)
            out = module(batch, return_hidden=return_hidden) if return_hidden else module(batch)
            if return_hidden:
                out, hidden = out
                for name, h in hidden.items():
                    hidden_parts.setdefault(name, []).append(h.to(out_device))
            logits_parts.append(out.to(out_device))
        logits = torch.cat(logits_parts)
        if not return_hidden:
            return logits
        return logits, {name: torch.cat(parts) for name, parts in hidden_parts.items()}
