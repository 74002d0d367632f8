"""The input pipeline: clips decoded, segmented and batched in worker processes, one device loop.

Every inference path of the library runs here: the feature transformers'
``transform``, the estimators' ``predict`` / ``predict_proba`` and the command line.

* :class:`SegmentBatches` is a torch ``IterableDataset``. Each DataLoader worker
  process takes every ``n_workers``-th clip, decodes and resamples it, cuts it
  into segments and writes them straight into a batch tensor in shared memory
  (no extra copy), so batch assembly never runs in the main process. A clip
  that fails to decode becomes an error record; the other clips go on.
* :func:`run_segments` is the device loop: it pins batches (a DataLoader
  thread), copies them with ``non_blocking=True``, runs a function on the
  device (hidden-layer pooling, softmax, ...), copies the small per-segment
  results back asynchronously and hands each clip's rows to the caller as
  soon as its last segment is done, while the next batch is already on its way.

Memory is bounded by the number of batches in flight (``prefetch_factor`` per
worker), never by the number of files.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ._clips import Clips
from .exceptions import AudioLoadError, ClipTooShortError
from .segments import segment_starts, take_segment

__all__ = ["ClipResult", "SegmentBatch", "SegmentBatches", "run_segments", "resolve_n_jobs"]


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Worker processes for ``n_jobs``, as joblib counts them.

    ``None`` means 1 unless a ``joblib.parallel_config(n_jobs=...)`` context
    says otherwise, ``-1`` all cores, ``-2`` all but one, and so on; ``0``
    decodes in the calling process (no workers).
    """
    if n_jobs == 0:
        return 0
    from joblib import effective_n_jobs

    return max(1, int(effective_n_jobs(n_jobs)))


@dataclass
class SegmentBatch:
    """Up to ``batch_size`` segments of consecutive clips of one worker.

    Attributes
    ----------
    x : Tensor of shape (n, segment_length), float32
    clip : Tensor of shape (n,), int64
        The clip (index into the pipeline's clips) each row belongs to.
    start : Tensor of shape (n,), int64
        Each row's first sample in its clip.
    counts : list of (int, int)
        ``(clip, n_segments)`` of each clip whose first segment is in this batch.
    errors : list of (int, AudioLoadError)
        Clips that failed to decode since the worker's previous batch.
    """

    x: torch.Tensor
    clip: torch.Tensor
    start: torch.Tensor
    counts: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def pin_memory(self) -> SegmentBatch:
        """Called by the DataLoader's pinning thread when ``pin_memory=True``."""
        self.x = self.x.pin_memory()
        return self


def _batch_tensor(n: int, length: int) -> torch.Tensor:
    """An empty float32 (n, length) tensor, in shared memory inside a worker process
    (as torch's default collate does), so sending it to the main process copies nothing."""
    if torch.utils.data.get_worker_info() is not None:
        proto = torch.empty(0)
        storage = proto._typed_storage()._new_shared(n * length, device="cpu")
        return proto.new(storage).resize_(n, length)
    return torch.empty((n, length), dtype=torch.float32)


class SegmentBatches(torch.utils.data.IterableDataset):
    """Batches of segments of ``clips``, decoded in DataLoader workers.

    Parameters
    ----------
    clips : Clips
        At the model's sample rate.
    order : sequence of int
        The clips to process (indexes into ``clips``); worker ``w`` of ``W``
        takes ``order[w::W]``.
    segment_length : int
    batch_size : int
        Rows per batch; the last batch of each worker may be smaller.
    hop_length, tail, short
        As in :func:`sklearn_samplecnn.segments.segment_starts`.
    """

    def __init__(self, clips: Clips, order: Sequence[int], *, segment_length: int,
                 batch_size: int, hop_length: int | None = None, tail: str = "drop",
                 short: str = "pad") -> None:
        self.clips = clips
        self.order = np.asarray(order, dtype=np.int64)
        self.segment_length = int(segment_length)
        self.batch_size = int(batch_size)
        self.hop_length = hop_length
        self.tail = tail
        self.short = short

    def decode(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Clip ``i`` at the clips' rate and its segment starts; errors name the clip."""
        try:
            y = self.clips.load(i)
            starts = segment_starts(len(y), self.segment_length, hop_length=self.hop_length,
                                    tail=self.tail, short=self.short)
        except ClipTooShortError as exc:
            raise AudioLoadError(self.clips.name(i), str(exc)) from None
        return y, starts

    def __iter__(self) -> Iterator[SegmentBatch]:
        info = torch.utils.data.get_worker_info()
        mine = self.order if info is None else self.order[info.id::info.num_workers]
        length, size = self.segment_length, self.batch_size
        x = clip = start = None
        n, counts, errors = 0, [], []
        for i in mine:
            i = int(i)
            try:
                y, starts = self.decode(i)
            except AudioLoadError as exc:
                errors.append((i, exc))
                continue
            counts.append((i, len(starts)))
            mode = self.short if len(y) < length else self.tail
            for s in starts:
                if x is None:
                    x = _batch_tensor(size, length)
                    clip = torch.empty(size, dtype=torch.int64)
                    start = torch.empty(size, dtype=torch.int64)
                s = int(s)
                piece = y[s:s + length]
                if len(piece) < length:
                    piece = take_segment(y, s, length, "repeat" if mode == "repeat" else "pad")
                x[n] = torch.from_numpy(piece)
                clip[n], start[n] = i, s
                n += 1
                if n == size:
                    yield SegmentBatch(x, clip, start, counts, errors)
                    x = clip = start = None
                    n, counts, errors = 0, [], []
        if n or counts or errors:
            if x is None:
                x = torch.empty((0, length), dtype=torch.float32)
                clip = start = torch.empty(0, dtype=torch.int64)
            yield SegmentBatch(x[:n], clip[:n], start[:n], counts, errors)


@dataclass
class ClipResult:
    """What :func:`run_segments` yields for one clip.

    ``rows`` holds the function's output for each of the clip's segments, in
    order, and ``starts`` their first samples; both are ``None`` and ``error``
    is set when the clip could not be decoded.
    """

    index: int
    rows: np.ndarray | None
    starts: np.ndarray | None
    error: AudioLoadError | None = None


def _loader(dataset: SegmentBatches, n_workers: int, pin: bool, timeout: float):
    kwargs = {}
    if n_workers:
        kwargs = {"num_workers": n_workers, "prefetch_factor": 2, "timeout": timeout}
    return torch.utils.data.DataLoader(dataset, batch_size=None, pin_memory=pin, **kwargs)


def run_segments(
    clips: Clips,
    fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    segment_length: int,
    batch_size: int,
    device: str | torch.device = "cpu",
    order: Sequence[int] | None = None,
    n_jobs: int | None = None,
    hop_length: int | None = None,
    tail: str = "drop",
    short: str = "pad",
    static_batch: bool = False,
    timeout: float = 0,
) -> Iterator[ClipResult]:
    """Run ``fn`` over every segment of ``clips`` and yield each clip's rows when complete.

    Parameters
    ----------
    clips : Clips
        At the rate ``fn``'s model expects.
    fn : callable
        ``fn(x)`` with ``x`` a ``(batch, segment_length)`` float32 tensor on
        ``device`` returns a ``(batch, n_features)`` tensor (float32 or lower);
        it runs under ``torch.inference_mode``.
    segment_length, batch_size : int
    device : str or torch.device, default="cpu"
    order : sequence of int or None, default=None
        The clips to process; ``None`` is all of them.
    n_jobs : int or None, default=None
        Decoding worker processes (:func:`resolve_n_jobs`). Clips given as
        arrays, fewer than 4 files, and every clip when this process is
        daemonic (a Dask worker, which may not start processes), are
        segmented in this process.
    hop_length, tail, short
        Segmenting, as in :func:`sklearn_samplecnn.segments.segment_starts`.
    static_batch : bool, default=False
        Pad every batch to ``batch_size`` rows (CUDA graphs and cuDNN's
        autotuner want one shape).
    timeout : float, default=0
        Seconds to wait for a worker's batch before raising (0: forever; a
        crashed worker raises either way).

    Yields
    ------
    ClipResult
        In completion order (not the order of ``order``); failed clips come
        with ``error`` set.
    """
    device = torch.device(device)
    order = np.arange(len(clips)) if order is None else np.asarray(order, dtype=np.int64)
    if len(order) == 0:
        return
    # arrays need no decoding; a handful of files is not worth starting processes for; a
    # daemonic process (a Dask worker, a multiprocessing.Pool worker) may not start any
    n_workers = 0 if clips.kind == "arrays" or len(order) < 4 \
        or multiprocessing.current_process().daemon else resolve_n_jobs(n_jobs)
    n_workers = min(n_workers, len(order))
    cuda = device.type == "cuda"
    dataset = SegmentBatches(clips, order, segment_length=segment_length, batch_size=batch_size,
                             hop_length=hop_length, tail=tail, short=short)
    loader = _loader(dataset, n_workers, cuda, timeout)
    expected: dict[int, int] = {}
    parts: dict[int, list] = {}
    got: dict[int, int] = {}
    in_flight: deque = deque()  # (ready event or None, rows on host, clip ids, starts)

    def harvest(item):
        event, rows, clip_ids, starts = item
        if event is not None:
            event.synchronize()
        rows = rows.float().numpy()
        for k in range(len(clip_ids)):
            c = int(clip_ids[k])
            parts.setdefault(c, []).append((int(starts[k]), rows[k]))
            got[c] = got.get(c, 0) + 1
        yield from complete()

    def complete():
        for c in [c for c, n in expected.items() if got.get(c, 0) == n]:
            del expected[c]
            got.pop(c, None)
            pieces = parts.pop(c, [])
            pieces.sort(key=lambda p: p[0])
            yield ClipResult(c, np.stack([p[1] for p in pieces]),
                             np.array([p[0] for p in pieces], dtype=np.int64))

    with torch.inference_mode():
        for batch in loader:
            for c, exc in batch.errors:
                yield ClipResult(c, None, None, exc)
            for c, n in batch.counts:
                expected[c] = n
            n = batch.x.shape[0]
            if n:
                x = batch.x
                if static_batch and n < batch_size:
                    x = torch.cat([x, x.new_zeros((batch_size - n, x.shape[1]))])
                x = x.to(device, non_blocking=cuda)
                out = fn(x)[:n]
                if cuda:
                    host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
                    host.copy_(out, non_blocking=True)
                    event = torch.cuda.Event()
                    event.record()
                    in_flight.append((event, host, batch.clip, batch.start))
                else:
                    in_flight.append((None, out, batch.clip, batch.start))
            # results of the previous batch while the device works on this one
            while len(in_flight) > (1 if cuda else 0):
                yield from harvest(in_flight.popleft())
            yield from complete()  # clips with 0 segments never occur; counts may arrive late
        while in_flight:
            yield from harvest(in_flight.popleft())
        yield from complete()
    if expected:  # a bug, never a data problem: say so rather than lose rows silently
        raise RuntimeError(f"the input pipeline lost the segments of clips {sorted(expected)}")
