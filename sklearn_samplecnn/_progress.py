"""Progress over clips: a tqdm bar on a terminal, plain lines in a log.

A bar redraws itself with carriage returns (and, nested, with cursor-up
escapes), which is what a terminal wants and what a log file, a CI page or a
pipe cannot show. :func:`progress` gives a tqdm bar when standard error is a
terminal or a Jupyter kernel shows it, and otherwise a :class:`LineProgress`:
one complete line every tenth of the work and at the end,
``features 3-9: 120/1200 clips (10%), 8.1 clips/s, 14.8 s``.
Standard library only (tqdm is imported for a bar).
"""

from __future__ import annotations

import sys
import time

__all__ = ["LineProgress", "progress"]


class LineProgress:
    """tqdm's ``update``/``close`` interface, writing one line per step of ``total / 10``
    items (at least one item) and one at the end; nothing but whole lines."""

    def __init__(self, total: int, desc: str, unit: str = "clip", file=None,
                 steps: int = 10) -> None:
        self.total, self.desc, self.unit = int(total), desc, unit
        self.file = sys.stderr if file is None else file
        self.every = max(1, self.total // steps)
        self.n = 0
        self._next = self.every
        self._start = time.perf_counter()
        self._closed = False

    def _line(self) -> None:
        seconds = time.perf_counter() - self._start
        rate = f", {self.n / seconds:.3g} {self.unit}s/s" if seconds > 0 and self.n else ""
        share = f" ({100 * self.n // self.total}%)" if self.total else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}s{share}{rate}, {seconds:.1f} s",
              file=self.file, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n >= self._next and self.n < self.total:
            self._line()
            self._next = (self.n // self.every + 1) * self.every

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._line()


def _shows_bars(stream) -> bool:
    """Whether ``stream`` draws a redrawn bar: a terminal, or a Jupyter kernel's output."""
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress(total: int, desc: str, unit: str = "clip"):
    """A progress display over ``total`` items on standard error: a tqdm bar where one
    can be drawn, else :class:`LineProgress` (no ``\\r``, no escape sequences)."""
    if _shows_bars(sys.stderr):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit)
    return LineProgress(total, desc, unit)
