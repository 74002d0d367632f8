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

import atexit
import copy
import multiprocessing
import os
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .._deprecate import warn_deprecated
from ..audio import open_segments
from ..exceptions import AudioLoadError, ClipTooShortError
from ..segments import segment_starts, take_segment
from ._ring import Ring, take_ring
from ._ring import release_buffers as release_spare_ring
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

    def _direct(self, i: int, notes: list | None):
        """``(reader, starts)`` when clip ``i`` can be read straight into the batch rows:
        a mono file at the clips' rate (:func:`~sklearn_samplecnn.audio.open_segments`)
        whose segments cover every sample and stay inside it (so each sample is checked
        as :func:`~sklearn_samplecnn.audio.load_audio` checks it); else ``(None, None)``."""
        reader = open_segments(self.clips.items[i], self.clips.sr)
        if reader is None:
            return None, None
        try:
            starts = segment_starts(reader.frames, self.segment_length,
                                    hop_length=self.hop_length, tail=self.tail,
                                    short=self.short)
        except ClipTooShortError:
            starts = None
        length = self.segment_length
        if starts is None or len(starts) == 0 or starts[0] != 0 \
                or starts[-1] + length != reader.frames or (np.diff(starts) > length).any():
            self._close_noting(reader, notes)
            return None, None
        return reader, starts

    @staticmethod
    def _close_noting(reader, notes: list | None) -> None:
        """Close ``reader``; its loudness warning collected in ``notes`` in a worker."""
        if notes is None:
            reader.close()
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reader.close()
        notes += [(str(w.message), w.category) for w in caught]

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

    cwd: str | None = None  # a kept worker's job: the caller's working folder

    def _new_batch(self) -> tuple[torch.Tensor, int | None]:
        if self.ring is not None and torch.utils.data.get_worker_info() is not None:
            slot = self.ring.free.get()  # blocks while the main process holds every slot
            return self.ring.buf[slot], slot
        return torch.empty((self.batch_size, self.segment_length), dtype=self.input_dtype), None

    def __iter__(self) -> Iterator[SegmentBatch]:
        info = torch.utils.data.get_worker_info()
        mine = self.order if info is None else self.order[info.id::info.num_workers]
        return self.batches(mine, in_worker=info is not None)

    def job(self, order: np.ndarray) -> SegmentBatches:
        """A copy of these batches for a kept worker process: the clips ``order``, no ring
        (the worker has its own), no decoded audio kept in memory (it would be copied
        to the worker for nothing), and this process's working folder."""
        clips = self.clips
        if clips.cache is not None and clips.cache.where == "memory":
            items, kind = clips.parts()
            clips = Clips(items, kind, sr=clips.sr, res_type=clips.res_type)
        job = copy.copy(self)
        job.clips, job.order, job.ring = clips, np.asarray(order, dtype=np.int64), None
        job.cwd = os.getcwd()  # relative paths are read where the caller is
        return job

    def batches(self, mine: np.ndarray, *, in_worker: bool) -> Iterator[SegmentBatch]:
        """The batches of the clips ``mine``, in this process or in a worker (whose
        warnings travel with the batches)."""
        info = torch.utils.data.get_worker_info() if in_worker else None
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
        # files read straight into the batch rows (no whole-clip array, no copy), where
        # that decodes exactly what load_audio would (see _direct)
        direct = self.clips.kind == "paths" and self.clips.cache is None \
            and not self.edge_pad and self.input_dtype == torch.float32
        for i in mine:
            i = int(i)
            try:
                reader, starts = self._direct(i, notes) if direct else (None, None)
            except AudioLoadError as exc:
                errors.append((i, exc))
                continue
            if reader is not None:
                counts.append((i, len(starts)))
                first = n  # this clip's first row in the batch being filled
                try:
                    k = 0
                    while k < len(starts):
                        if x is None:
                            x, slot = self._new_batch()
                            rows = x.numpy()
                        # a run of back-to-back segments that fits this batch: one read
                        run = 1
                        while k + run < len(starts) and n + run < size \
                                and starts[k + run] == starts[k] + run * length:
                            run += 1
                        reader.read_into(int(starts[k]), rows[n:n + run].reshape(-1))
                        clip[n:n + run] = i
                        start[n:n + run] = starts[k:k + run]
                        n += run
                        k += run
                        if n == size:
                            yield batch()
                            x, slot = None, None
                            n, counts, errors, first = 0, [], [], 0
                            if notes:
                                notes.clear()
                    self._close_noting(reader, notes)
                except AudioLoadError as exc:  # the whole clip fails, as with load_audio
                    reader.close()
                    n = first  # its rows in this batch go; the main process drops the rest
                    counts = [c for c in counts if c[0] != i]
                    errors.append((i, exc))
                continue
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


class _Feeder(torch.utils.data.IterableDataset):
    """The dataset of kept worker processes: each iteration (one run) worker ``w`` takes
    its job, a :class:`SegmentBatches` of its clips, from its own queue."""

    def __init__(self, n_workers: int, ring: Ring | None, context) -> None:
        self.jobs = [context.SimpleQueue() for _ in range(n_workers)]
        self.ring = ring

    def __iter__(self) -> Iterator[SegmentBatch]:
        info = torch.utils.data.get_worker_info()
        job = self.jobs[info.id].get()
        if job.cwd is not None and job.cwd != os.getcwd():
            os.chdir(job.cwd)
        job.ring = self.ring
        return job.batches(job.order, in_worker=True)


class _Workers:
    """Decoding worker processes kept from one run to the next (a DataLoader with
    persistent workers), with the ring they write into.

    Starting workers and faulting in the shared buffers in each new process cost more
    than decoding a few clips (docs/performance.md); a run that ends normally hands its
    workers to the next run of the same shape. A run stopped early, or a worker that
    died, shuts them down.
    """

    def __init__(self, key: tuple, n_workers: int, ring: Ring | None, loader_kwargs: dict,
                 context) -> None:
        self.key = key
        self.ring = ring
        self.feeder = _Feeder(n_workers, ring, context)
        self.loader = torch.utils.data.DataLoader(
            self.feeder, batch_size=None, num_workers=n_workers, prefetch_factor=_PREFETCH,
            persistent_workers=True, multiprocessing_context=context, **loader_kwargs)

    def alive(self) -> bool:
        """Whether every worker process still runs (none was killed while idle)."""
        iterator = getattr(self.loader, "_iterator", None)
        workers = getattr(iterator, "_workers", [])
        return all(w.is_alive() for w in workers)

    def close(self, stopped_early: bool = False) -> None:
        """Stop the workers, then free the ring they wrote into. After a run stopped
        early, the slots are all offered again first, so no worker waits for one."""
        if stopped_early and self.ring is not None and self.ring.free is not None:
            for k in range(self.ring.buf.shape[0]):
                self.ring.free.put(k)
        iterator = getattr(self.loader, "_iterator", None)
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self.loader = None
        if self.ring is not None:
            self.ring.close()


_kept: list[_Workers] = []  # at most one set of workers, idle, for the next run
_kept_lock = threading.Lock()


def _take_workers(key: tuple, n_workers: int, ring_shape: tuple | None, loader_kwargs: dict,
                  context) -> _Workers:
    """The kept workers when they have this shape and still run, else new ones."""
    with _kept_lock:
        old = _kept[:]
        _kept.clear()
    workers = None
    for w in old:
        if w.key == key and w.alive() and workers is None:
            workers = w
        else:
            w.close()
    if workers is None:
        ring = None
        if ring_shape is not None:
            ring = take_ring(*ring_shape, context)
        workers = _Workers(key, n_workers, ring, loader_kwargs, context)
    return workers


def _keep_workers(workers: _Workers) -> None:
    with _kept_lock:
        old = _kept[:]
        _kept[:] = [workers]
    for w in old:
        w.close()


def release_workers() -> None:
    """Stop the decoding processes kept for the next run and free their shared buffers."""
    with _kept_lock:
        old = _kept[:]
        _kept.clear()
    for w in old:
        w.close()


def release_buffers() -> None:
    """Free what the segment loop keeps between runs: its idle decoding processes, their
    shared batch buffers and the spare ring (up to 512 MB)."""
    release_workers()
    release_spare_ring()


atexit.register(release_workers)  # before the interpreter tears torch's workers down


def _guarded(loader, n_workers: int, started: Callable[[], None] | None = None):
    """Iterate ``loader``; a decoding process that died (killed, out of memory, a crash
    in a native library) becomes one clear error instead of a pipe error or a hang.
    ``started()`` runs once the loader's workers run (kept workers' jobs go out then)."""
    try:
        iterator = iter(loader)
    except (RuntimeError, ConnectionError, EOFError) as exc:
        raise _worker_died(exc) from exc
    if started is not None:
        started()
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (RuntimeError, ConnectionError, EOFError) as exc:
            if not n_workers:
                raise
            raise _worker_died(exc) from exc
        yield batch


def _worker_died(exc: Exception) -> RuntimeError:
    return RuntimeError(
        f"a decoding worker process died ({type(exc).__name__}: {exc}); the other clips "
        "were not lost to a bad file (those are reported per clip): look for an "
        "out-of-memory kill or a crash in a native library, or pass n_jobs=0 to decode in "
        "this process.")


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
    workers, slots_ring = None, None
    if n_workers:
        # every slot a worker may hold, the loader may queue or this loop may use
        shape = ((_PREFETCH + 1) * n_workers + 3, batch_size, segment_length, input_dtype,
                 cuda) if use_ring else None
        workers = _take_workers((n_workers, shape, cuda, timeout, context.get_start_method()),
                                n_workers, shape,
                                {"pin_memory": cuda and not use_ring, "timeout": timeout},
                                context)
        slots_ring = workers.ring
        loader = workers.loader
    else:
        loader = _loader(dataset, 0, cuda, timeout, context)

    def hand_out_jobs() -> None:
        """Each worker's clips, for this run. Called once the workers run and wait for
        their job (``iter(loader)`` starts new ones, or wakes kept ones): a job is a
        pickle written into a pipe, and one larger than the pipe's buffer (64 KiB on
        Linux: a few hundred long paths) would block forever with no reader."""
        for w in range(n_workers):
            workers.feeder.jobs[w].put(dataset.job(order[w::n_workers]))
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

    dropped: set[int] = set()  # clips that failed after part of their rows arrived

    def harvest(item):
        event, rows, clip_ids, starts = item
        if event is not None:
            event.synchronize()
        rows = np.array(rows.float().numpy())  # a copy: fn's output may view a ring slot
        for k, (c, start) in enumerate(zip(clip_ids.tolist(), starts.tolist())):
            if c in dropped:
                continue
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
            for batch in _guarded(loader, n_workers, hand_out_jobs if n_workers else None):
                for message, category in batch.notes:
                    warnings.warn(message, category, stacklevel=2)
                for c, exc in batch.errors:
                    if c in expected:  # read straight into batches, it failed part-way
                        del expected[c]
                        parts.pop(c, None)
                        got.pop(c, None)
                        dropped.add(c)
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
        del loader
        if workers is not None:
            if slots_ring is not None:
                release(0)
            if finished:  # every slot is free and every worker waits: the next run's
                _keep_workers(workers)
            else:  # a worker may still be writing: stop them, never hand these on
                workers.close(stopped_early=True)
    if expected:  # a bug, never a data problem: say so rather than lose rows silently
        raise RuntimeError(f"the input pipeline lost the segments of clips {sorted(expected)}")
