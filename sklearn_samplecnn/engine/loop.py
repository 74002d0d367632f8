"""The segment loop: clips decoded, segmented and batched in worker processes, one device loop.

Every inference path of the library runs here: the feature transformers'
``transform``, the estimators' ``predict`` / ``predict_proba`` and the command line.

* :class:`SegmentBatches` is a torch ``IterableDataset``. Each DataLoader worker
  process takes every ``n_workers``-th clip, decodes and resamples it, cuts it
  into segments and writes them straight into a slot of a ring of shared
  batch buffers (:mod:`sklearn_samplecnn.engine._ring`; page-locked on CUDA) and sends
  only the slot number, so batch assembly never runs in the main process. A
  clip that fails to decode becomes an error record; the other clips go on.
* :func:`run_segments` is the device loop: it copies each slot to the device
  with ``non_blocking=True`` (or runs the CPU model on it in place), runs a
  function on the device (hidden-layer pooling, softmax, ...), copies the
  small per-segment results back asynchronously and hands each clip's rows to
  the caller as soon as its last segment is done, while the next batch is
  already on its way.

Memory is bounded by the number of batches in flight (``prefetch_factor`` per
worker), never by the number of files.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .._deprecate import warn_deprecated
from ..exceptions import AudioLoadError, ClipTooShortError
from ..segments import segment_starts, take_segment
from ._ring import Ring, give_back_ring, release_buffers, take_ring
from .clips import Clips

__all__ = ["ClipResult", "SegmentBatch", "SegmentBatches", "release_buffers", "resolve_n_jobs",
           "run_segments"]


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
    x : Tensor of shape (n, segment_length) or None
        The segments; ``None`` when they were written into slot ``slot`` of
        the pipeline's shared ring (only this small record crosses processes).
    clip : ndarray of shape (n,), int64
        The clip (index into the pipeline's clips) each row belongs to.
    start : ndarray of shape (n,), int64
        Each row's first sample in its clip.
    counts : list of (int, int)
        ``(clip, n_segments)`` of each clip whose first segment is in this batch.
    errors : list of (int, AudioLoadError)
        Clips that failed to decode since the worker's previous batch.
    notes : list of (str, type)
        Warnings a worker process met while decoding (message, category), such
        as a file far louder than [-1, 1]: shown again in the calling process,
        where ``warnings`` filters and ``pytest.warns`` see them.
    slot : int or None
        The ring slot holding the segments.
    """

    x: torch.Tensor | None
    clip: np.ndarray
    start: np.ndarray
    counts: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    slot: int | None = None
    notes: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.clip)


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
    input_dtype : torch.dtype, default=torch.float32
        Of the batches: a model that runs in float16 takes float16 segments,
        half the bytes to move between processes and to the device (the
        runner's ``input_dtype``). ``dtype`` is its deprecated name.
    edge_pad : int, default=0
        Zeros added before each clip's first sample and after its last before
        cutting (a spectrogram model's centred frames, e.g. musicnn's); segment
        starts are then counted in the padded clip.
    """

    def __init__(self, clips: Clips, order: Sequence[int], *, segment_length: int,
                 batch_size: int, hop_length: int | None = None, tail: str = "overlap",
                 short: str = "pad", input_dtype: torch.dtype = torch.float32,
                 edge_pad: int = 0, dtype: torch.dtype | None = None) -> None:
        self.clips = clips
        self.order = np.asarray(order, dtype=np.int64)
        self.segment_length = int(segment_length)
        self.batch_size = int(batch_size)
        self.hop_length = hop_length
        self.tail = tail
        self.short = short
        self.input_dtype = _input_dtype(input_dtype, dtype)
        self.edge_pad = int(edge_pad)
        self.ring: Ring | None = None  # set by run_segments when workers decode

    def decode(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Clip ``i`` at the clips' rate and its segment starts; errors name the clip."""
        try:
            y = self.clips.load(i)
            if self.edge_pad:
                y = np.pad(y, self.edge_pad)
            starts = segment_starts(len(y), self.segment_length, hop_length=self.hop_length,
                                    tail=self.tail, short=self.short)
        except ClipTooShortError as exc:
            raise AudioLoadError(self.clips.name(i), str(exc)) from None
        return y, starts

    def _decode_noting(self, i: int, notes: list | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`decode`; its warnings collected in ``notes`` when given (in a worker
        process, whose warnings the caller would never see)."""
        if notes is None:
            return self.decode(i)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return self.decode(i)
            finally:
                notes += [(str(w.message), w.category) for w in caught]

    def _new_batch(self) -> tuple[torch.Tensor, int | None]:
        if self.ring is not None and torch.utils.data.get_worker_info() is not None:
            slot = self.ring.free.get()  # blocks while the main process holds every slot
            return self.ring.buf[slot], slot
        return torch.empty((self.batch_size, self.segment_length), dtype=self.input_dtype), None

    def __iter__(self) -> Iterator[SegmentBatch]:
        info = torch.utils.data.get_worker_info()
        mine = self.order if info is None else self.order[info.id::info.num_workers]
        length, size = self.segment_length, self.batch_size
        x, slot = None, None
        clip, start = np.empty(size, np.int64), np.empty(size, np.int64)
        n, counts, errors = 0, [], []
        notes = [] if info is not None else None  # a worker's warnings travel with batches

        def batch():
            rows = None if slot is not None else x[:n]
            return SegmentBatch(rows, clip[:n].copy(), start[:n].copy(), counts, errors, slot,
                                notes[:] if notes else [])

        # float32 rows are filled through numpy (torch's multi-threaded copy of one row
        # can cost milliseconds on a busy machine), float16 through torch (numpy's
        # conversion to float16 is 4x slower than torch's)
        rows = None
        for i in mine:
            i = int(i)
            try:
                y, starts = self._decode_noting(i, notes)
            except AudioLoadError as exc:
                errors.append((i, exc))
                continue
            counts.append((i, len(starts)))
            fill = self.short if len(y) < length else self.tail
            for s in starts:
                if x is None:
                    x, slot = self._new_batch()
                    rows = x.numpy() if x.dtype == torch.float32 else x
                s = int(s)
                piece = y[s:s + length]
                if len(piece) < length:
                    piece = take_segment(y, s, length, fill)
                rows[n] = piece if rows is not x else torch.from_numpy(piece)
                clip[n], start[n] = i, s
                n += 1
                if n == size:
                    yield batch()
                    x, slot = None, None
                    n, counts, errors = 0, [], []
                    if notes:
                        notes.clear()
        if n or counts or errors or notes:
            if x is None:
                x = torch.empty((0, length), dtype=self.input_dtype)
            yield batch()


def _input_dtype(input_dtype: torch.dtype, dtype: torch.dtype | None) -> torch.dtype:
    """``input_dtype``, or the deprecated ``dtype`` when one is given."""
    if dtype is None:
        return input_dtype
    warn_deprecated("run_segments(dtype=...) and SegmentBatches(dtype=...)", "input_dtype=",
                    stacklevel=4)
    return dtype


def _guarded(loader, n_workers: int):
    """Iterate ``loader``; a decoding process that died (killed, out of memory, a crash
    in a native library) becomes one clear error instead of a pipe error or a hang."""
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (RuntimeError, ConnectionError, EOFError) as exc:
            if not n_workers:
                raise
            raise RuntimeError(
                f"a decoding worker process died ({type(exc).__name__}: {exc}); the other "
                "clips were not lost to a bad file (those are reported per clip): look for "
                "an out-of-memory kill or a crash in a native library, or pass n_jobs=0 to "
                "decode in this process."
            ) from exc
        yield batch


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


def _loader(dataset: SegmentBatches, n_workers: int, pin: bool, timeout: float,
            context=None):
    kwargs = {}
    if n_workers:
        kwargs = {"num_workers": n_workers, "prefetch_factor": _PREFETCH, "timeout": timeout,
                  "multiprocessing_context": context}
    return torch.utils.data.DataLoader(dataset, batch_size=None, pin_memory=pin, **kwargs)


_PREFETCH = 2  # batches each worker prepares ahead


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
    tail: str = "overlap",
    short: str = "pad",
    static_batch: bool = False,
    timeout: float = 0,
    input_dtype: torch.dtype = torch.float32,
    ring: bool | None = None,
    edge_pad: int = 0,
    dtype: torch.dtype | None = None,
) -> Iterator[ClipResult]:
    """Run ``fn`` over every segment of ``clips`` and yield each clip's rows when complete.

    Parameters
    ----------
    clips : Clips
        At the rate ``fn``'s model expects.
    fn : callable
        ``fn(x)`` with ``x`` a ``(batch, segment_length)`` tensor of ``input_dtype``
        on ``device`` returns a ``(batch, n_features)`` tensor (float32 or
        lower); it runs under ``torch.inference_mode``.
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
    input_dtype : torch.dtype, default=torch.float32
        Of the segments handed to ``fn``: the runner's ``input_dtype``
        (:class:`~sklearn_samplecnn.nn.InferenceRunner`); float16 halves the
        bytes moved.
    ring : bool or None, default=None
        Workers write batches into a ring of shared buffers, page-locked for
        CUDA, and send only the slot number (the copy to the device is then an
        asynchronous DMA, with no per-batch shared-memory file and no pinning
        copy); otherwise each batch is a new shared tensor, pinned by the
        DataLoader's thread for CUDA. ``None``: the ring (faster on CUDA, and on
        CPU with a cheap model; docs/performance.md).
    edge_pad : int, default=0
        Zeros before and after each clip (:class:`SegmentBatches`); the
        yielded ``starts`` count in the padded clip.
    dtype : torch.dtype or None, default=None
        Deprecated name of ``input_dtype``.

    Yields
    ------
    ClipResult
        In completion order (not the order of ``order``); failed clips come
        with ``error`` set.
    """
    device = torch.device(device)
    input_dtype = _input_dtype(input_dtype, dtype)
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
                             hop_length=hop_length, tail=tail, short=short,
                             input_dtype=input_dtype,
                             edge_pad=edge_pad)
    context = torch.multiprocessing.get_context()
    use_ring = True if ring is None else bool(ring)
    slots_ring = None
    if n_workers and use_ring:
        # every slot a worker may hold, the loader may queue or this loop may use
        slots = (_PREFETCH + 1) * n_workers + 3
        slots_ring = dataset.ring = take_ring(slots, batch_size, segment_length, input_dtype, cuda,
                                               context)
    loader = _loader(dataset, n_workers, cuda and slots_ring is None, timeout, context)
    expected: dict[int, int] = {}
    parts: dict[int, list] = {}
    got: dict[int, int] = {}
    ready: list[int] = []
    in_flight: deque = deque()  # (ready event or None, rows on host, clip ids, starts)
    held: deque = deque()  # (copy-done event or None, ring slot)
    finished = False

    def arrived(c: int) -> None:
        if got.get(c, 0) == expected.get(c, -1):
            ready.append(c)

    def harvest(item):
        event, rows, clip_ids, starts = item
        if event is not None:
            event.synchronize()
        rows = np.array(rows.float().numpy())  # a copy: fn's output may view a ring slot
        for k, (c, start) in enumerate(zip(clip_ids.tolist(), starts.tolist())):
            parts.setdefault(c, []).append((start, rows[k]))
            got[c] = got.get(c, 0) + 1
            arrived(c)

    def complete():
        while ready:
            c = ready.pop()
            del expected[c], got[c]
            pieces = sorted(parts.pop(c), key=lambda p: p[0])
            yield ClipResult(c, np.stack([p[1] for p in pieces]),
                             np.array([p[0] for p in pieces], dtype=np.int64))

    def release(keep: int) -> None:
        while len(held) > keep:
            event, slot = held.popleft()
            if event is not None:
                event.synchronize()  # the copy out of the slot is done
            slots_ring.free.put(slot)

    try:
        with torch.inference_mode():
            for batch in _guarded(loader, n_workers):
                for message, category in batch.notes:
                    warnings.warn(message, category, stacklevel=2)
                for c, exc in batch.errors:
                    yield ClipResult(c, None, None, exc)
                for c, n in batch.counts:
                    expected[c] = n
                    arrived(c)
                n = len(batch)
                if n:
                    if batch.slot is not None:  # the rows are in the shared ring
                        x = slots_ring.buf[batch.slot] if static_batch \
                            else slots_ring.buf[batch.slot, :n]
                    else:
                        x = batch.x
                        if static_batch and n < batch_size:  # one shape for cuDNN's plans
                            x = torch.cat([x, x.new_zeros((batch_size - n, x.shape[1]))])
                    x = x.to(device, non_blocking=cuda)
                    if batch.slot is not None:
                        done = None
                        if cuda:
                            done = torch.cuda.Event()
                            done.record()
                        held.append((done, batch.slot))
                    out = fn(x)[:n]
                    if batch.slot is not None and not cuda:
                        release(0)  # the CPU model has read the slot
                    if cuda:
                        host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
                        host.copy_(out, non_blocking=True)
                        event = torch.cuda.Event()
                        event.record()
                        in_flight.append((event, host, torch.as_tensor(batch.clip),
                                          torch.as_tensor(batch.start)))
                    else:
                        in_flight.append((None, out, torch.as_tensor(batch.clip),
                                          torch.as_tensor(batch.start)))
                if slots_ring is not None:
                    release(1)  # the slot of the batch before this one goes back
                # results of the previous batch while the device works on this one
                while len(in_flight) > (1 if cuda else 0):
                    harvest(in_flight.popleft())
                yield from complete()
            while in_flight:
                harvest(in_flight.popleft())
            finished = True
            yield from complete()
    finally:
        del loader  # stop the workers before the ring they write into goes away
        if slots_ring is not None:
            release(0)
            if finished:  # the workers are gone: the buffers may serve the next call
                give_back_ring(slots_ring)
            else:  # a worker may still be writing: never hand these to another run
                slots_ring.close()
    if expected:  # a bug, never a data problem: say so rather than lose rows silently
        raise RuntimeError(f"the input pipeline lost the segments of clips {sorted(expected)}")
