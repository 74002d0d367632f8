"""What the commands read and check: devices, files, folders, CSVs, training data."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .._hub import looks_like_hub_id
from .errors import EXIT_FAILURE, PROG, CLIError
from .errors import say as _say
from .output import WRITERS


def count(n: int, noun: str) -> str:
    """``"1 file"``, ``"2 files"``: a count with its noun in the right number."""
    return f"{n} {noun if n == 1 else noun + 's'}"


@contextmanager
def _cli_warnings() -> Iterator[None]:
    """Show warnings as ``samplecnn: warning: <message>`` lines on stderr (files skipped,
    a cache that cannot be written...), without Python's source-line decoration."""

    def show(message, category, filename, lineno, file=None, line=None):
        _say(f"{PROG}: warning: {message}")

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise CLIError(f"--device {device!r} is not a torch device (cpu, cuda, cuda:0...)") \
            from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"--device {device}: CUDA is not available on this machine")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise CLIError(f"--device {device}: this machine has {torch.cuda.device_count()} "
                       "CUDA device(s)")


def _existing_file(path: str, what: str, *, regular: bool = True) -> str:
    """``path`` if it exists and is a file; a regular one unless ``regular=False`` (a
    ``--csv`` may be a pipe, ``<(...)``, or ``/dev/stdin``)."""
    from .._fileio import not_regular

    if not os.path.exists(path):
        raise CLIError(f"{what} {path!r}: no such file")
    kind = not_regular(os.stat(path).st_mode)
    if kind == "a folder":
        raise CLIError(f"{what} {path!r} is a folder, expected a file")
    if kind is not None and regular:
        raise CLIError(f"{what} {path!r} is {kind}, expected a regular file")
    return path


def _model_source(path: str, what: str) -> str:
    """A model file that exists, the name of a model shipped with the library (its file),
    or a Hugging Face Hub id (``org/name``, read from the Hub cache when the model is
    loaded, see :mod:`sklearn_samplecnn._hub`). Standard library only."""
    from ..models import shipped_model_file, shipped_models

    found = shipped_model_file(path)
    if not os.path.exists(found) and looks_like_hub_id(found):
        return found
    if not os.path.exists(found):
        raise CLIError(f"{what} {path!r}: no such file (nor a shipped model: "
                       f"{', '.join(shipped_models()) or 'none'}, nor a Hugging Face Hub id "
                       "such as org/name)")
    return _existing_file(found, what)


def _check_output(path: str | os.PathLike | None, option: str, *, folder: bool = False) -> None:
    """Refuse, before any work, an output path that cannot be written (see
    :func:`sklearn_samplecnn._fileio.output_problem`), naming the option and the path."""
    from .._fileio import output_problem

    if path is None or (not folder and os.fspath(path) == "-"):
        return
    problem = output_problem(path, folder=folder)
    if problem is not None:
        raise CLIError(f"{option} {os.fspath(path)!r}: {problem}; nothing was done")


def _read_csv(path: str, target=None):
    """:func:`sklearn_samplecnn.datasets.load_audio_csv` of ``--csv``; a malformed or
    unreadable CSV is a failure (exit status 1) naming the file and line."""
    from ..datasets import load_audio_csv

    try:
        return load_audio_csv(path, target=target)
    except (OSError, ValueError) as exc:
        raise CLIError(str(exc), EXIT_FAILURE) from None


def _check_inputs(inputs: Sequence[str], csv_path: str | None) -> None:
    """The named audio files and folders, and ``--csv``, exist; something is named."""
    for item in inputs:
        if not os.path.exists(item):
            raise CLIError(f"{item!r}: no such file or folder")
    if csv_path is not None:
        _existing_file(csv_path, "--csv", regular=False)  # a pipe or /dev/stdin is fine
    if not inputs and csv_path is None:
        raise CLIError("no audio given: name audio files or folders, or pass --csv FILE")


def _audio_inputs(inputs: Sequence[str], csv_path: str | None) -> list[str]:
    """Files named on the command line, found in folders, or listed in ``--csv``
    (:func:`check_usage` has checked that they exist)."""
    from ..datasets import AUDIO_EXTENSIONS, find_audio_files

    files: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found = find_audio_files(item)
            if not found:
                raise CLIError(f"folder {item!r} holds no audio files "
                               f"({', '.join(AUDIO_EXTENSIONS)})")
            files += [str(f) for f in found]
        else:
            files.append(item)
    if csv_path is not None:
        files += _read_csv(csv_path).filenames
    return files


def _training_data(args) -> tuple[list[str], object, list[str], str]:
    """(paths, targets, class or tag names, description) for ``train`` (its FOLDER or
    ``--csv``, checked by :func:`check_usage`)."""
    import numpy as np

    if args.folder is not None:
        from ..datasets import load_audio_folder

        data = load_audio_folder(args.folder)  # DatasetNotFoundError: exit 1
        y = np.asarray(data.target_names, dtype=object)[data.target]
        descr = f"folder {args.folder}: {count(len(y), 'clip')}"
        return list(data.filenames), y, list(data.target_names), descr
    header = _read_csv(args.csv).columns
    if args.task == "genre":
        if "label" not in header:
            raise CLIError(f"{args.csv}: --task genre needs a 'label' column; the header is "
                           f"{header}", EXIT_FAILURE)
        data = _read_csv(args.csv, target="label")
        y = np.asarray(data.target_names, dtype=object)[data.target]
    else:
        tags = [h for h in header if h != "path"]
        if not tags:
            raise CLIError(f"{args.csv}: --task tags needs one 0/1 column per tag besides "
                           "'path'", EXIT_FAILURE)
        data = _read_csv(args.csv, target=tags)
        y = data.target
    paths = data.filenames
    return paths, y, list(data.target_names), f"CSV {args.csv}: {count(len(paths), 'clip')}"


def _architecture(args) -> tuple[str | tuple, int]:
    """(module sizes, sample rate) from --preset / --sizes / --sr."""
    from .._sizes import parse_sizes, preset_sizes
    from ..audio import DEFAULT_SR

    sr = args.sr
    try:
        if args.sizes is not None:
            sizes = parse_sizes(args.sizes)
        else:
            sizes, preset_sr = preset_sizes("3^9" if args.preset is None else args.preset)
            sr = sr or preset_sr
    except ValueError as exc:
        raise CLIError(f"--{'sizes' if args.sizes is not None else 'preset'}: {exc}") from None
    if args.channels is not None and len(args.channels) != len(sizes) + 1:
        raise CLIError(f"--channels needs {len(sizes) + 1} numbers for sizes "
                       f"{'-'.join(map(str, sizes))} (one per layer and the 1x1 conv), got "
                       f"{len(args.channels)}")
    return sizes, sr or DEFAULT_SR


def _check_train(args) -> None:
    _architecture(args)
    _check_output(args.output, "--output")  # before any epoch: a run never ends unsaveable
    _check_output(args.checkpoint_dir, "--checkpoint-dir", folder=True)
    if (args.folder is None) == (args.csv is None):
        raise CLIError("give either a FOLDER (one sub-folder per class) or --csv FILE")
    if args.folder is not None:
        if args.task == "tags":
            raise CLIError("--task tags needs --csv with one 0/1 column per tag; a folder "
                           "gives one label per clip (use --task genre)")
        if not os.path.isdir(args.folder):
            raise CLIError(f"FOLDER {args.folder!r}: no such folder")
    else:
        _existing_file(args.csv, "--csv", regular=False)


def is_store(output: str) -> bool:
    """``-o`` names a feature store (a folder) when it ends with a separator or is a folder."""
    return output.endswith(("/", os.sep)) or os.path.isdir(output)


def _check_extract(args) -> None:
    per_segment = args.per_segment or args.per_file is not None
    store = args.output is not None and is_store(args.output)
    if args.output is not None and not store \
            and os.path.splitext(args.output)[1].lower() not in WRITERS:
        raise CLIError(f"--output {args.output!r}: the extension must be one of "
                       f"{', '.join(WRITERS)}, or end the name with / for a "
                       "feature store folder")
    if per_segment and len(args.model) > 1:
        raise CLIError("--per-segment/--per-file take one --model: models of different input "
                       "lengths cut different segments; run extract once per model")
    if store and per_segment:
        raise CLIError("--per-segment writes one row per segment; a feature store holds one "
                       "row per clip: write .npy, .csv or .parquet")
    if args.dask_workers is not None and args.dask != "local":
        raise CLIError("--dask-workers needs --dask local" if args.dask is None else
                       "--dask-workers applies to --dask local; a cluster's workers are "
                       "started with the cluster")
    args.model = [_model_source(m, "--model") for m in args.model]
    _check_output(args.output, "--output", folder=store)
    _check_output(args.per_file, "--per-file", folder=True)


def check_usage(args) -> None:
    """Every usage error (exit status 2) that needs neither numpy nor torch: files and
    folders that must exist, output names, options that do not go together.

    ``main`` runs it right after parsing, before the commands (and the libraries they
    import) are loaded, so a mistyped path is answered at once.
    """
    if getattr(args, "workers", None) is not None:  # the deprecated spelling of --jobs
        print(f"{PROG}: warning: --workers is deprecated; use --jobs", file=sys.stderr)
        args.jobs = args.workers
    if args.command in ("predict", "info"):
        args.model = _model_source(args.model, "MODEL")
    if args.command == "predict":
        _check_output(args.output, "--output")
        _check_output(args.per_file, "--per-file", folder=True)
    if args.command == "train":
        _check_train(args)
    if args.command == "extract":
        _check_extract(args)
    if args.command in ("predict", "extract"):
        _check_inputs(args.inputs, args.csv)
