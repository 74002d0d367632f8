"""What the commands write: CSV tables, ``.npy`` arrays and parquet files, atomically.

Every file goes through :func:`sklearn_samplecnn._fileio.atomic_write`: it is
written to a temporary file beside its target and renamed over it once
complete, so a Ctrl-C, a kill or a full disk never leaves half a file, and an
existing output is only replaced by a complete new one.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .._fileio import atomic_write
from ..exceptions import SampleCNNError
from .io import _say
from .parser import EXIT_FAILURE, CLIError

__all__ = ["per_file_targets", "save_model", "write_csv", "write_npy", "write_parquet",
           "writing", "wrote"]


@contextmanager
def writing(option: str, path: str | os.PathLike) -> Iterator[None]:
    """Report an ``OSError`` while writing an output (a full disk, a folder removed or
    made read-only since the start) as ``<option> '<path>': cannot be written (<cause>:
    <file>)``, exit 1: the option, the path and the file that failed, never a bare
    ``[Errno 28]``. Errors of the library's own (a file that fails to decode) pass."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, SampleCNNError):
            raise
        where = f": {exc.filename}" if exc.filename is not None else ""
        raise CLIError(f"{option} {os.fspath(path)!r}: cannot be written "
                       f"({exc.strerror or exc}{where})", EXIT_FAILURE) from None


def write_csv(path: str | os.PathLike, header: Sequence[str],
              rows: Iterable[Sequence[object]]) -> bool:
    """Write a UTF-8 CSV (fields quoted where needed: commas, quotes, newlines).

    Returns whether an existing file was replaced.
    """
    existed = os.path.exists(path)

    def write(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text.flush()
        text.detach()  # atomic_write closes the file itself

    atomic_write(path, write)
    return existed


def write_npy(path: str | os.PathLike, array) -> bool:
    """Write a ``.npy`` file (no pickles); returns whether a file was replaced."""
    import numpy as np

    existed = os.path.exists(path)
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))
    return existed


def write_parquet(path: str | os.PathLike, table) -> bool:
    """Write a pandas DataFrame as parquet (pyarrow); returns whether a file was replaced."""
    existed = os.path.exists(path)
    atomic_write(path, lambda f: table.to_parquet(f, index=False))
    return existed


def wrote(what: str, path: str | os.PathLike, replaced: bool, extra: str = "") -> None:
    """The closing line on stderr: what was written where, and whether a file was replaced."""
    _say(f"wrote {what} to {path}{extra}" + (" (replaced the existing file)" if replaced else ""))


def per_file_targets(files: Sequence[str], folder: str | os.PathLike) -> list[Path]:
    """One output path per input for ``--per-file``: ``folder / <path below the inputs'
    common folder> + ".csv"`` (``a/x.wav`` -> ``DIR/a/x.wav.csv``), so inputs of the same
    name in different folders, or with different extensions, never share an output."""
    absolute = [os.path.abspath(f) for f in files]
    parents = [os.path.dirname(a) for a in absolute]
    base = os.path.commonpath(parents) if parents else ""
    return [Path(folder) / f"{os.path.relpath(a, base)}.csv" for a in absolute]


def save_model(est, out: Path, metadata: dict, checkpoint_dir) -> None:
    """``save_pretrained(est, out)``; when that fails (a full disk, a folder removed since
    the start), the trained model is saved beside ``out`` or in the temporary folder and
    the error says where: a finished run is never lost to its last write."""
    import tempfile
    import time

    from ..pretrained import save_pretrained

    try:
        save_pretrained(est, out, metadata=metadata)
        return
    except OSError as exc:
        cause = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    places = [Path(tempfile.gettempdir()) / f"samplecnn-{out.stem}.{stamp}.samplecnn"]
    if out.parent.is_dir():
        places.insert(0, out.parent / f"{out.stem}.unsaved-{stamp}.samplecnn")
    for place in places:
        try:
            save_pretrained(est, place, metadata=metadata)
        except OSError:
            continue
        raise CLIError(f"--output {os.fspath(out)!r}: the model cannot be written ({cause}); "
                       f"the trained model was saved to {place} instead", EXIT_FAILURE)
    kept = (f"; its weights are in the checkpoint in {checkpoint_dir}: rerun the same command "
            "once the model can be written (it is restored, not trained again)"
            if checkpoint_dir is not None else "")
    raise CLIError(f"--output {os.fspath(out)!r}: the model cannot be written ({cause}), nor "
                   f"in {' or '.join(str(p.parent) for p in places)}{kept}", EXIT_FAILURE)
