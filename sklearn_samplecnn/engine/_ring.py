"""The input pipeline's ring of batch buffers shared with its worker processes.

Workers write batches of segments into slots of one shared buffer and send
only the slot number; :func:`sklearn_samplecnn.engine.run_segments` takes a
ring for a run and hands it back, and the last one (up to
:data:`_SPARE_RING_BYTES`) is kept for the next run of the same shape.
"""

from __future__ import annotations

import threading

import torch

__all__ = ["Ring", "give_back_ring", "release_buffers", "take_ring"]


class Ring:
    """Batch buffers shared with the worker processes, page-locked for CUDA.

    Workers take a free slot, write a batch of segments into it and send only
    its number; the main process copies the slot to the device (an
    asynchronous DMA from page-locked memory, no CPU copy) or runs the CPU
    model on it in place, and frees the slot when done. No shared-memory file
    is created, mapped and faulted in per batch, and no pinning thread copies
    every byte once more.

    Allocating the buffers costs tens of milliseconds per call (more to
    page-lock them; docs/performance.md), so the last ring of up to
    :data:`_SPARE_RING_BYTES` is kept for the next call with the same shape
    (:func:`take_ring` / :func:`give_back_ring`).
    """

    def __init__(self, slots: int, batch_size: int, length: int, dtype: torch.dtype,
                 pin: bool) -> None:
        self.key = (slots, batch_size, length, dtype, pin)
        self.buf = torch.empty((slots, batch_size, length), dtype=dtype).share_memory_()
        self.free = None
        self.registered = False
        if pin:
            err = torch.cuda.cudart().cudaHostRegister(self.buf.data_ptr(), self.nbytes, 0)
            self.registered = int(getattr(err, "value", err)) == 0

    @property
    def nbytes(self) -> int:
        return self.buf.numel() * self.buf.element_size()

    def reset(self, context) -> None:
        """Every slot free (a run that stopped early may have left slots with workers)."""
        self.free = context.SimpleQueue()
        for k in range(self.buf.shape[0]):
            self.free.put(k)

    def close(self) -> None:
        if self.registered:
            torch.cuda.cudart().cudaHostUnregister(self.buf.data_ptr())
            self.registered = False


_SPARE_RING_BYTES = 512 * 2**20  # the largest ring kept between calls
_spare_ring: list[Ring] = []  # at most one, not in use
_spare_lock = threading.Lock()


def take_ring(slots: int, batch_size: int, length: int, dtype: torch.dtype, pin: bool,
               context) -> Ring:
    """The spare ring when it has this shape, else a new one; its slots all free."""
    key = (slots, batch_size, length, dtype, pin)
    with _spare_lock:
        ring = _spare_ring.pop() if _spare_ring and _spare_ring[0].key == key else None
    if ring is None:
        ring = Ring(slots, batch_size, length, dtype, pin)
    ring.reset(context)
    return ring


def give_back_ring(ring: Ring) -> None:
    """Keep ``ring`` for the next call when small enough (replacing the spare), else free it."""
    ring.free = None
    if ring.nbytes <= _SPARE_RING_BYTES:
        with _spare_lock:
            old = _spare_ring[:]
            _spare_ring[:] = [ring]
        for r in old:
            r.close()
    else:
        ring.close()


def release_buffers() -> None:
    """Free the shared batch buffers kept for the next pipeline run (up to 512 MB)."""
    with _spare_lock:
        old = _spare_ring[:]
        _spare_ring.clear()
    for r in old:
        r.close()
