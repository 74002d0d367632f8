"""The ``samplecnn`` command: train, predict, extract features, inspect model files.

Sub-commands (``samplecnn <command> --help`` lists every option):

``train``
    Train a :class:`SampleCNNClassifier` (``--task genre``) or
    :class:`SampleCNNTagger` (``--task tags``) on a folder with one sub-folder
    per class or on a CSV, and save it with :func:`save_pretrained`.
``predict``
    Label audio files with a saved model; writes a CSV (path, label or
    ``|``-joined tags, one probability column per class or tag).
``extract``
    Clip-level features from one or more saved models
    (:class:`MultiScaleFeatureTransformer`) to ``.npy``, ``.csv`` or ``.parquet``.
``info``
    A saved model's config, as a summary or as JSON.

Exit status: 0 on success, 2 for usage errors (bad options, paths that do not
exist, nothing to do), 1 for failures while running (unreadable audio or CSV,
invalid model files, missing datasets). Errors are printed as
``samplecnn: error: ...`` on stderr, without a traceback (``--traceback``
shows it).

Started as a program (``samplecnn`` or ``python -m sklearn_samplecnn.cli``) on
Linux with glibc, the command restarts itself once with the malloc settings of
:data:`sklearn_samplecnn._runtime.GLIBC_TUNABLES` unless ``GLIBC_TUNABLES`` is
already set or ``SAMPLECNN_NO_REEXEC=1``; ``main([...])`` called from Python
never restarts the process.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from ._runtime import NO_REEXEC_ENV, reexec_with_tunables
from .exceptions import SampleCNNError

__all__ = ["main", "build_parser"]

PROG = "samplecnn"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: ``--pooling`` choices: the keys of :data:`sklearn_samplecnn.features.POOLINGS`
#: (a test keeps them equal; listed here so ``--help`` does not import torch).
POOLING_CHOICES = ("paper", "mean", "max", "mean+std")
OUTPUT_FORMATS = (".npy", ".csv", ".parquet")


class CLIError(Exception):
    """An error reported as ``samplecnn: error: <message>`` with exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but errors go through :class:`CLIError` (one format, one exit path)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        raise CLIError(message, EXIT_USAGE)


# -- argument types ------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 16,16,32, got {text!r}")
    return values


def _layers(text: str) -> tuple:
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected layers such as -3,-2,-1, got {text!r}")
    out: list = []
    for item in items:
        try:
            out.append(int(item))
        except ValueError:
            out.append(item)  # a layer name such as "module8"
    return tuple(out)


def _batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


# -- the parser ------------------------------------------------------------------------
_EPILOG = (
    "Exit status: 0 success, 1 failure while running (unreadable audio or CSV, invalid "
    "model file, missing dataset), 2 usage error. On Linux with glibc the command restarts "
    f"itself once with GLIBC_TUNABLES set for faster CPU runs; {NO_REEXEC_ENV}=1 turns "
    "that off. See docs/cli.md."
)


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="AUDIO",
                   help="audio files, or folders searched recursively for audio files "
                        "(.wav, .flac, .ogg, .mp3, .au, .aiff)")
    p.add_argument("--csv", metavar="FILE",
                   help="a CSV with a 'path' column listing more audio files (relative "
                        "paths are resolved against the CSV's folder; other columns are "
                        "ignored)")


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu",
                   help="torch device: cpu, cuda or cuda:N (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The ``samplecnn`` argument parser (all sub-commands)."""
    parser = _Parser(
        prog=PROG,
        description="SampleCNN raw-waveform music models: train, predict, extract "
                    "features and inspect .samplecnn files.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full Python traceback on errors (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    # train ---------------------------------------------------------------------------
    p = sub.add_parser(
        "train", help="train a genre classifier or a tagger and save it",
        description="Train a SampleCNNClassifier (--task genre) or SampleCNNTagger "
                    "(--task tags) with the paper's schedule and save it with "
                    "save_pretrained. Input: a folder with one sub-folder per class, or "
                    "--csv.", epilog=_EPILOG)
    p.add_argument("folder", nargs="?", metavar="FOLDER",
                   help="a folder with one sub-folder of audio files per class "
                        "(--task genre only)")
    p.add_argument("--csv", metavar="FILE",
                   help="a CSV with a 'path' column and a 'label' column (--task genre) or "
                        "one 0/1 column per tag (--task tags: every column but 'path'); "
                        "relative paths are resolved against the CSV's folder")
    p.add_argument("--task", choices=("genre", "tags"), default="genre",
                   help="genre: one label per clip, softmax (SampleCNNClassifier); tags: "
                        "several 0/1 tags per clip, sigmoids (SampleCNNTagger) "
                        "(default: %(default)s)")
    arch = p.add_mutually_exclusive_group()
    arch.add_argument("--preset", metavar="NAME",
                      help="a Table 4 model (2^13, 2^14, 3^8, 3^9, 4^6, 4^7, 5^5, 5^6) or a "
                           "Table 3 sample rate (2000, 4000, 8000, 12000, 16000, 20000, "
                           "22050), which also sets --sr (default: 3^9, the paper's model)")
    arch.add_argument("--sizes", metavar="SIZES",
                      help="module sizes such as 3-3-3-2 or 3^7 (first: the strided conv)")
    p.add_argument("--channels", type=_int_list, metavar="C,C,...",
                   help="filters per layer, one more than the sizes (the last one is the "
                        "1x1 conv), e.g. 16,16,16,32,32 (default: Table 1's pattern)")
    p.add_argument("--sr", type=_positive_int, metavar="HZ",
                   help="sample rate the model works at; audio is resampled to it "
                        "(default: the --preset rate, else 22050)")
    p.add_argument("--epochs", type=_positive_int, default=100,
                   help="maximum epochs; the paper schedule may stop earlier "
                        "(default: %(default)s)")
    p.add_argument("--batch-size", type=_positive_int, default=23,
                   help="segments per batch (default: %(default)s, the paper's)")
    p.add_argument("--lr", type=_positive_float, default=0.01,
                   help="initial learning rate of SGD with Nesterov momentum "
                        "(default: %(default)s)")
    p.add_argument("--schedule", choices=("paper", "none"), default="paper",
                   help="paper: reload the best weights and divide lr by 5 after a 3-epoch "
                        "validation-loss plateau, stop after 4 decreases; none: plain SGD "
                        "for --epochs (default: %(default)s)")
    _add_device(p)
    p.add_argument("--workers", type=_non_negative_int, default=0,
                   help="worker processes decoding audio for training "
                        "(iterator_train__num_workers; default: %(default)s)")
    p.add_argument("--valid-fraction", type=_fraction, default=0.1, metavar="F",
                   help="fraction of clips held out for the validation loss; 0 trains on "
                        "all clips (default: %(default)s)")
    p.add_argument("--audio-cache", metavar="memory|DIR",
                   help="keep decoded, resampled clips in memory or as .npy files in DIR, "
                        "so later epochs skip decoding")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="unreadable training files: stop with a list of them, or skip "
                        "them with a warning (default: %(default)s)")
    p.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seeds weights, shuffling, dropout and the validation split "
                        "(default: %(default)s)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.samplecnn",
                   help="where to save the trained model")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress table")
    p.set_defaults(func=_cmd_train)

    # predict -------------------------------------------------------------------------
    p = sub.add_parser(
        "predict", help="label audio files with a saved model (CSV out)",
        description="Predict with a model saved by 'samplecnn train' (or save_pretrained "
                    "of a fitted estimator). Writes a CSV: path, label (classifier) or "
                    "tags joined by '|' (tagger), then prob_<class> per class or tag.",
        epilog=_EPILOG)
    p.add_argument("model", metavar="MODEL", help="a .samplecnn file")
    _add_inputs(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="CSV file to write (default: standard output)")
    p.add_argument("--threshold", type=_probability,
                   help="taggers: a tag is predicted when its probability is at least this "
                        "(default: the model's, 0.5)")
    p.add_argument("--batch-size", type=_positive_int, default=23,
                   help="segments per forward pass (default: %(default)s)")
    _add_device(p)
    p.add_argument("--workers", type=_non_negative_int, default=0,
                   help="worker processes decoding audio (default: %(default)s)")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="files whose header cannot be read: stop with a list of them, or "
                        "leave them out of the CSV with a warning (default: %(default)s)")
    p.set_defaults(func=_cmd_predict)

    # extract -------------------------------------------------------------------------
    p = sub.add_parser(
        "extract", help="clip-level features from saved models",
        description="Run one or more saved models over whole clips and pool hidden-layer "
                    "activations into one feature row per clip (MultiScaleFeatureTransformer)."
                    " The output format follows the extension: .npy (float32 matrix, with "
                    "<name>.names.txt holding one feature name per line and <name>.files.txt "
                    "one audio path per row), .csv (path column, then one column per "
                    "feature) or .parquet (the same table; needs pandas and pyarrow).",
        epilog=_EPILOG)
    p.add_argument("-m", "--model", action="append", required=True, metavar="MODEL",
                   help="a .samplecnn file; repeat for several models (their features are "
                        "concatenated, each at its own sample rate)")
    _add_inputs(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="features file: .npy, .csv or .parquet")
    p.add_argument("--layers", type=_layers, default=(-3, -2, -1), metavar="L,L,...",
                   help="hidden layers: negative indexes from the top (-1 is the 1x1 conv) "
                        "or names such as module8 (default: -3,-2,-1)")
    p.add_argument("--pooling", choices=POOLING_CHOICES, default="paper",
                   help="paper: max over time, mean over segments; mean; max; mean+std: "
                        "mean over time, mean and std over segments (default: %(default)s)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="store features per clip content and model; later runs reuse them")
    p.add_argument("--batch-size", type=_batch_size, default="auto", metavar="N|auto",
                   help="segments per forward pass (default: %(default)s)")
    _add_device(p)
    p.add_argument("--jobs", type=_positive_int, metavar="N",
                   help="threads decoding audio ahead of the model (default: 2)")
    p.add_argument("--on-error", choices=("raise", "nan", "zeros"), default="raise",
                   help="files that fail to decode: stop, or fill their row with NaN or "
                        "zeros and list them on stderr (default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_extract)

    # info ----------------------------------------------------------------------------
    p = sub.add_parser(
        "info", help="show a saved model's config",
        description="Load a .samplecnn file (checking its weights) and print its config.",
        epilog=_EPILOG)
    p.add_argument("model", metavar="MODEL", help="a .samplecnn file")
    p.add_argument("--json", action="store_true",
                   help="print the whole config as indented JSON instead of a summary")
    p.set_defaults(func=_cmd_info)
    return parser


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--layers -3,-2,-1`` -> ``--layers=-3,-2,-1`` (argparse takes ``-3,...`` for an option)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--layers" and i + 1 < len(argv) and argv[i + 1][:2].lstrip("-").isdigit() \
                and argv[i + 1].startswith("-"):
            out.append(f"--layers={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


# -- inputs -----------------------------------------------------------------------------
def _info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


def _existing_file(path: str, what: str) -> str:
    if not os.path.exists(path):
        raise CLIError(f"{what} {path!r}: no such file")
    if os.path.isdir(path):
        raise CLIError(f"{what} {path!r} is a folder, expected a file")
    return path


def _read_csv(path: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a comma-, semicolon- or tab-separated file."""
    _existing_file(path, "--csv")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot be read as a UTF-8 CSV ({exc})", EXIT_FAILURE) from None
    first = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first.count)
    rows = [r for r in csv.reader(text.splitlines(), delimiter=delimiter) if any(
        c.strip() for c in r)]
    if not rows:
        raise CLIError(f"{path}: the CSV is empty", EXIT_FAILURE)
    header = [h.strip() for h in rows[0]]
    if "path" not in header:
        raise CLIError(f"{path}: no 'path' column in the header {header}", EXIT_FAILURE)
    body = rows[1:]
    if not body:
        raise CLIError(f"{path}: the CSV has a header but no rows", EXIT_FAILURE)
    for lineno, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise CLIError(f"{path} line {lineno}: {len(row)} fields, the header has "
                           f"{len(header)}", EXIT_FAILURE)
    return header, body


def _csv_paths(path: str, header: list[str], rows: list[list[str]]) -> list[str]:
    col = header.index("path")
    base = os.path.dirname(path)
    out = []
    for lineno, row in enumerate(rows, start=2):
        p = os.path.expanduser(row[col].strip())
        if not p:
            raise CLIError(f"{path} line {lineno}: empty path", EXIT_FAILURE)
        out.append(p if os.path.isabs(p) else os.path.join(base, p))
    return out


def _audio_inputs(inputs: Sequence[str], csv_path: str | None) -> list[str]:
    """Files named on the command line, found in folders, or listed in ``--csv``."""
    from .datasets._base import AUDIO_EXTENSIONS, _audio_files

    files: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found = _audio_files(Path(item), AUDIO_EXTENSIONS)
            if not found:
                raise CLIError(f"folder {item!r} holds no audio files "
                               f"({', '.join(AUDIO_EXTENSIONS)})")
            files += [str(f) for f in found]
        elif os.path.exists(item):
            files.append(item)
        else:
            raise CLIError(f"{item!r}: no such file or folder")
    if csv_path is not None:
        header, rows = _read_csv(csv_path)
        files += _csv_paths(csv_path, header, rows)
    if not files:
        raise CLIError("no audio given: name audio files or folders, or pass --csv FILE")
    return files


def _training_data(args) -> tuple[list[str], object, list[str], str]:
    """(paths, targets, class or tag names, description) for ``train``."""
    import numpy as np

    if (args.folder is None) == (args.csv is None):
        raise CLIError("give either a FOLDER (one sub-folder per class) or --csv FILE")
    if args.folder is not None:
        if args.task == "tags":
            raise CLIError("--task tags needs --csv with one 0/1 column per tag; a folder "
                           "gives one label per clip (use --task genre)")
        if not os.path.isdir(args.folder):
            raise CLIError(f"FOLDER {args.folder!r}: no such folder")
        from .datasets import load_audio_folder

        data = load_audio_folder(args.folder)  # DatasetNotFoundError: exit 1
        y = np.asarray(data.target_names, dtype=object)[data.target]
        descr = f"folder {args.folder}: {len(y)} clips"
        return list(data.filenames), y, list(data.target_names), descr
    header, rows = _read_csv(args.csv)
    paths = _csv_paths(args.csv, header, rows)
    if args.task == "genre":
        if "label" not in header:
            raise CLIError(f"{args.csv}: --task genre needs a 'label' column; the header is "
                           f"{header}", EXIT_FAILURE)
        col = header.index("label")
        labels = []
        for lineno, row in enumerate(rows, start=2):
            if not row[col].strip():
                raise CLIError(f"{args.csv} line {lineno}: empty label", EXIT_FAILURE)
            labels.append(row[col].strip())
        y = np.asarray(labels, dtype=object)
        names = sorted(set(labels))
    else:
        cols = [i for i, h in enumerate(header) if h != "path"]
        if not cols:
            raise CLIError(f"{args.csv}: --task tags needs one 0/1 column per tag besides "
                           "'path'", EXIT_FAILURE)
        y = np.zeros((len(rows), len(cols)), dtype=np.int64)
        for i, row in enumerate(rows):
            for j, c in enumerate(cols):
                value = row[c].strip()
                if value not in ("0", "1"):
                    raise CLIError(f"{args.csv} line {i + 2}: tag {header[c]!r} is {value!r}, "
                                   "expected 0 or 1", EXIT_FAILURE)
                y[i, j] = int(value)
        names = [header[c] for c in cols]
    return paths, y, names, f"CSV {args.csv}: {len(paths)} clips"


def _architecture(args) -> tuple[str | tuple, int]:
    """(module sizes, sample rate) from --preset / --sizes / --sr."""
    from .audio import DEFAULT_SR
    from .nn import MULTISCALE_PRESETS, SAMPLE_RATE_PRESETS, parse_sizes

    sr = args.sr
    if args.preset is not None:
        name = args.preset.strip()
        if name in MULTISCALE_PRESETS:
            m, n = MULTISCALE_PRESETS[name]
            sizes = (m,) * (n + 1)
        elif name.isdigit() and int(name) in SAMPLE_RATE_PRESETS:
            sizes = SAMPLE_RATE_PRESETS[int(name)]
            sr = sr or int(name)
        else:
            raise CLIError(f"--preset {args.preset!r} is neither a Table 4 model "
                           f"({', '.join(MULTISCALE_PRESETS)}) nor a Table 3 rate "
                           f"({', '.join(map(str, SAMPLE_RATE_PRESETS))})")
    elif args.sizes is not None:
        try:
            sizes = parse_sizes(args.sizes)
        except ValueError as exc:
            raise CLIError(f"--sizes: {exc}") from None
    else:
        m, n = MULTISCALE_PRESETS["3^9"]
        sizes = (m,) * (n + 1)
    if args.channels is not None and len(args.channels) != len(sizes) + 1:
        raise CLIError(f"--channels needs {len(sizes) + 1} numbers for sizes "
                       f"{'-'.join(map(str, sizes))} (one per layer and the 1x1 conv), got "
                       f"{len(args.channels)}")
    return sizes, sr or DEFAULT_SR


# -- commands ----------------------------------------------------------------------------
def _cmd_train(args, argv: Sequence[str]) -> int:
    import numpy as np

    sizes, sr = _architecture(args)
    out = Path(args.output)
    if out.is_dir():
        raise CLIError(f"--output {args.output!r} is a folder, expected a file name")
    _check_device(args.device)
    paths, y, names, descr = _training_data(args)

    from .estimators import SampleCNNClassifier, SampleCNNTagger
    from .pretrained import save_pretrained

    cls = SampleCNNClassifier if args.task == "genre" else SampleCNNTagger
    params = {
        "sr": sr, "max_epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "device": args.device, "random_state": args.seed, "verbose": 0 if args.quiet else 1,
        "train_split": args.valid_fraction or None,
        "schedule": None if args.schedule == "none" else "paper",
        "on_error": args.on_error, "audio_cache": args.audio_cache,
        "module__sizes": "-".join(map(str, sizes)),
    }
    if args.channels is not None:
        params["module__channels"] = args.channels
    if args.workers:
        params["iterator_train__num_workers"] = args.workers
        params["iterator_valid__num_workers"] = args.workers
    est = cls(**params)
    what = "classes" if args.task == "genre" else "tags"
    print(f"{descr}; {len(names)} {what}: {', '.join(names[:12])}"
          f"{', ...' if len(names) > 12 else ''}", flush=True)
    est.fit(paths, y)
    if args.task == "tags":
        est.tags_ = np.array(names, dtype=object)  # the CSV's column names, not "0", "1", ...
    module = est.module_
    n_weights = sum(p.numel() for p in module.parameters())
    last = est.history_[-1]
    losses = ", ".join(f"{k} {last[k]:.4f}" for k in ("train_loss", "valid_loss") if k in last)
    command = " ".join([PROG, *argv])
    save_pretrained(est, out, metadata={"command": command,
                                        "source": args.folder or args.csv,
                                        "n_clips": len(paths) - len(est.skipped_files_)})
    print(f"trained {module.name} ({n_weights:,} weights, {module.input_length} samples at "
          f"{sr} Hz) for {len(est.history_)} epochs; {losses}")
    if est.skipped_files_:
        print(f"skipped {len(est.skipped_files_)} unreadable files")
    print(f"saved {out}")
    return EXIT_OK


def _check_headers(files: list[str], on_error: str) -> list[str]:
    """The files whose header reads; the others raise or are reported (``on_error``)."""
    from .audio import audio_info
    from .exceptions import AudioLoadError

    good, bad = [], []
    for f in files:
        try:
            audio_info(f)
            good.append(f)
        except AudioLoadError as exc:
            bad.append(exc)
    if bad:
        listing = "\n  ".join(str(e) for e in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        if on_error == "raise" or not good:
            raise CLIError(f"{len(bad)} of {len(files)} audio files cannot be read:\n  "
                           f"{listing}{more}", EXIT_FAILURE)
        _info(f"{PROG}: warning: left out {len(bad)} of {len(files)} files that cannot be "
              f"read:\n  {listing}{more}")
    return good


def _cmd_predict(args, argv: Sequence[str]) -> int:
    import numpy as np

    _existing_file(args.model, "MODEL")
    files = _audio_inputs(args.inputs, args.csv)
    _check_device(args.device)
    from .pretrained import load_pretrained

    model = load_pretrained(args.model)
    params = {"device": args.device, "batch_size": args.batch_size}
    if args.workers:
        params["iterator_valid__num_workers"] = args.workers
    if args.threshold is not None:
        if model.config.get("task") != "tagger":
            raise CLIError("--threshold applies to taggers; this model is a "
                           f"{model.config.get('task')}")
        params["threshold"] = args.threshold
    est = model.to_estimator(**params)
    files = _check_headers(files, args.on_error)
    _info(f"predicting {len(files)} files with {model.name} ({args.model})")
    proba = est.predict_proba(files)
    tagger = model.config.get("task") == "tagger" and getattr(est, "multilabel_", False)
    names = [str(t) for t in (est.tags_ if tagger else est.classes_)]
    if tagger:
        column = "tags"
        predicted = ["|".join(n for n, on in zip(names, row) if on)
                     for row in proba >= est.threshold]
    else:
        column = "label"
        predicted = [names[i] for i in np.argmax(proba, axis=1)]
    header = ["path", column, *(f"prob_{n}" for n in names)]
    rows = ([f, p, *(f"{v:.6g}" for v in row)] for f, p, row in zip(files, predicted, proba))
    if args.output in (None, "-"):
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        sys.stdout.flush()
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        _info(f"wrote {len(files)} predictions to {args.output}")
    return EXIT_OK


def _sidecars(out: Path) -> tuple[Path, Path]:
    """``features.npy`` -> (``features.names.txt``, ``features.files.txt``)."""
    return out.with_suffix(".names.txt"), out.with_suffix(".files.txt")


def _cmd_extract(args, argv: Sequence[str]) -> int:
    out = Path(args.output)
    fmt = out.suffix.lower()
    if fmt not in OUTPUT_FORMATS:
        raise CLIError(f"--output {args.output!r}: the extension must be one of "
                       f"{', '.join(OUTPUT_FORMATS)}")
    if fmt == ".parquet":
        try:
            import pandas  # noqa: F401
            from pandas.io.parquet import get_engine

            get_engine("auto")
        except ImportError as exc:
            raise CLIError(f"--output {args.output!r}: writing .parquet needs pandas and "
                           f"pyarrow ({exc}); write .npy or .csv instead") from None
    for m in args.model:
        _existing_file(m, "--model")
    files = _audio_inputs(args.inputs, args.csv)
    _check_device(args.device)
    import numpy as np

    from .features import MultiScaleFeatureTransformer

    feats = MultiScaleFeatureTransformer(
        extractors=list(args.model), layers=args.layers, pooling=args.pooling,
        cache_dir=args.cache_dir, batch_size=args.batch_size, device=args.device,
        n_jobs=args.jobs, on_error=args.on_error, verbose=0 if args.quiet else 1)
    try:
        feats.fit(files)
    except ValueError as exc:
        if isinstance(exc, SampleCNNError):  # PretrainedFileError: an invalid model file
            raise
        # a layer the model does not have, or the same layer twice
        raise CLIError(f"--layers {','.join(map(str, args.layers))}: {exc}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # failed files are listed below instead
        X = feats.transform(files)
    names = [str(n) for n in feats.get_feature_names_out()]
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".npy":
        np.save(out, X)
        names_file, files_file = _sidecars(out)
        names_file.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        files_file.write_text("".join(f"{f}\n" for f in files), encoding="utf-8")
        extra = f" (+ {names_file.name}, {files_file.name})"
    elif fmt == ".csv":
        with open(out, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["path", *names])
            writer.writerows([p, *(repr(float(v)) for v in row)] for p, row in zip(files, X))
        extra = ""
    else:
        import pandas as pd

        table = pd.DataFrame(X, columns=names)
        table.insert(0, "path", files)
        table.to_parquet(out, index=False)
        extra = ""
    if feats.failed_files_:
        _info(f"{PROG}: warning: {len(feats.failed_files_)} files could not be decoded; "
              f"their rows are {args.on_error}:\n  " + "\n  ".join(feats.failed_files_))
    _info(f"wrote {X.shape[0]} x {X.shape[1]} features to {out}{extra}")
    return EXIT_OK


def _summary(model, path: str) -> str:
    cfg = model.config
    module_cfg = cfg.get("module_config", {})
    n_weights = sum(p.numel() for p in model.module.parameters())
    lines = [("file", path),
             ("model", f"{cfg.get('module_class')} {model.name}, {n_weights:,} weights")]
    for key in ("sizes", "channels"):
        if key in module_cfg:
            lines.append((key, "-".join(map(str, module_cfg[key])) if key == "sizes"
                          else ",".join(map(str, module_cfg[key]))))
    sr, length = model.sample_rate, model.input_length
    lines.append(("input", f"{length} samples at {sr} Hz ({length / sr:.3f} s per segment)"))
    labels = [str(v) for v in model.labels]
    task = cfg.get("task") or "bare module (features only)"
    if labels:
        what = "tags" if task == "tagger" and cfg.get("multilabel", True) else "labels"
        task = f"{task}, {len(labels)} {what}: {', '.join(labels)}"
    lines.append(("task", task))
    if cfg.get("estimator"):
        lines.append(("estimator", ", ".join(f"{k}={v}" for k, v in cfg["estimator"].items())))
    for key, value in (cfg.get("training") or {}).items():
        lines.append((f"training.{key}", f"{value:.4g}" if isinstance(value, float)
                      else str(value)))
    lines.append(("library", f"sklearn-samplecnn {cfg.get('library_version')} "
                             f"({cfg.get('format')})"))
    lines.append(("weights", f"sha256 {cfg.get('weights_sha256')}"))
    width = max(len(k) for k, _ in lines) + 2
    return "\n".join(f"{k + ':':<{width}}{v}" for k, v in lines)


def _cmd_info(args, argv: Sequence[str]) -> int:
    _existing_file(args.model, "MODEL")
    from .pretrained import load_pretrained

    model = load_pretrained(args.model)
    if args.json:
        print(json.dumps(model.config, indent=2, sort_keys=False))
    else:
        print(_summary(model, args.model))
    return EXIT_OK


# -- entry point -------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``samplecnn`` command line.

    Parameters
    ----------
    argv : sequence of str or None, default=None
        The arguments after the program name; ``None`` reads ``sys.argv[1:]``
        and, on Linux with glibc, first restarts the process once with
        ``GLIBC_TUNABLES`` set (see :mod:`sklearn_samplecnn._runtime`).

    Returns
    -------
    int
        The exit status: 0 success, 1 failure while running, 2 usage error.
    """
    if argv is None:
        argv = sys.argv[1:]
        reexec_with_tunables(["-m", "sklearn_samplecnn.cli", *argv])
    argv = _join_negative_values(list(argv))
    parser = build_parser()
    show_traceback = "--traceback" in argv
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        return args.func(args, argv)
    except CLIError as exc:
        if show_traceback:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `samplecnn predict ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except (SampleCNNError, OSError, ValueError, ArithmeticError) as exc:
        # AudioLoadError, PretrainedFileError, DatasetNotFoundError, a diverging run
        if show_traceback:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
