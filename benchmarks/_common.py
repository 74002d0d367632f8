"""Shared pieces of the benchmark scripts: machine description, timing, tables, JSON.

Every script in ``benchmarks/`` runs from a checkout (``python benchmarks/x.py``):
importing this module puts the repository root on ``sys.path`` so that
``sklearn_samplecnn`` imports without installing it. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

__all__ = [
    "REPO_ROOT",
    "add_common_arguments",
    "cpu_model",
    "machine_info",
    "parse_int_list",
    "print_table",
    "time_call",
    "write_json",
]


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_pressure() -> float | None:
    """Share of the last 10 s some task waited for a CPU (Linux PSI), in percent."""
    try:
        with open("/proc/pressure/cpu") as f:
            first = f.readline().split()
        return float(dict(p.split("=") for p in first[1:])["avg10"])
    except (OSError, KeyError, ValueError, IndexError):
        return None


def machine_info(packages: Iterable[str] = ("numpy",), **extra: Any) -> dict[str, Any]:
    """What a benchmark result depends on: CPU, cores, versions, allocator, load, date.

    Parameters
    ----------
    packages : iterable of str, default=("numpy",)
        Distributions whose installed versions to record (read from metadata,
        without importing them).
    **extra
        More entries (e.g. ``threads=2``, ``gpu="..."``).

    Returns
    -------
    dict
        JSON-ready description of the machine and the run.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    info = {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "loadavg_1min_at_start": load,
        "cpu_pressure_avg10_at_start": _cpu_pressure(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
    }
    info.update(extra)
    return info


def time_call(
    fn: Callable[[], object],
    *,
    min_time: float = 1.0,
    min_repeats: int = 2,
    max_repeats: int | None = None,
    warmup: int = 1,
) -> dict[str, Any]:
    """Time ``fn()`` after ``warmup`` calls, repeating until ``min_time`` seconds have passed.

    Parameters
    ----------
    fn : callable
        Called without arguments; must finish its work before returning
        (synchronise GPU streams inside it).
    min_time : float, default=1.0
        Keep calling until this much time has been spent timing.
    min_repeats, max_repeats : int, default=2, None
        Bounds on the timed calls.
    warmup : int, default=1
        Untimed calls first (allocations, JIT, caches).

    Returns
    -------
    dict
        ``best``, ``median`` and ``mean`` seconds per call and ``repeats``. On a
        shared machine ``best`` is the least disturbed estimate.
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or (
        time.perf_counter() - start < min_time
        and (max_repeats is None or len(times) < max_repeats)
    ):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {
        "best": min(times),
        "median": statistics.median(times),
        "mean": statistics.fmean(times),
        "repeats": len(times),
    }


def parse_int_list(text: str) -> list[int]:
    """``"1,2,4"`` or ``"1-4"`` (inclusive range) -> list of ints, for argparse."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(p) for p in part.split("-"))
            out.extend(range(lo, hi + 1))
        elif part:
            out.append(int(part))
    if not out or any(v < 1 for v in out):
        raise argparse.ArgumentTypeError(f"expected positive integers like '1,2,4', got {text!r}")
    return out


def add_common_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """The options every benchmark takes: ``--quick``, ``--smoke`` and ``--out``."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="a short run (well under 90 s) on the main case"
    )
    mode.add_argument(
        "--smoke", action="store_true", help="a few seconds on tiny sizes: checks the script runs"
    )
    parser.add_argument(
        "--out", default=default_out, help=f"JSON file to write (default: {default_out})"
    )


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy and torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_json(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as indented JSON, creating parent folders; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=_default)
        f.write("\n")
    return path


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, fmt)
    return str(value)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str | tuple[str, str] | tuple[str, str, str]],
    *,
    title: str | None = None,
    file=None,
) -> None:
    """Print ``rows`` as an aligned text table.

    Parameters
    ----------
    rows : sequence of mapping
        One mapping per row; missing keys print as ``-``.
    columns : sequence of str or tuple
        ``key``, ``(key, header)`` or ``(key, header, format_spec)``; numbers
        are formatted with the spec (e.g. ``".1f"``), text is right-aligned.
    title : str, optional
        A line printed above the table.
    """
    file = sys.stdout if file is None else file
    specs = [(c, c, "") if isinstance(c, str) else (*c, "")[:3] for c in columns]
    table = [[header for _, header, _ in specs]]
    table += [[_cell(row.get(key), fmt) for key, _, fmt in specs] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(specs))]
    if title:
        print(title, file=file)
    for i, r in enumerate(table):
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths)), file=file)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=file)
    file.flush()
