"""The ``samplecnn`` argument parser: sub-commands, options and argument types.

Importing this module imports neither numpy nor torch, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from .._runtime import NO_REEXEC_ENV

__all__ = ["CLIError", "build_parser", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "PROG",
           "POOLING_CHOICES", "OUTPUT_FORMATS"]

PROG = "samplecnn"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: ``--pooling`` choices: the keys of :data:`sklearn_samplecnn.features.POOLINGS`
#: (a test keeps them equal; listed here so ``--help`` does not import torch).
POOLING_CHOICES = ("paper", "mean", "max", "mean+std", "max+std")
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


def _layers(text: str) -> tuple | str:
    if text.strip() == "all":
        return "all"
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected 'all' or layers such as -3,-2,-1, "
                                         f"got {text!r}")
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
    p.set_defaults(command="train")

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
    p.set_defaults(command="predict")

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
    p.add_argument("--layers", type=_layers, default="all", metavar="all|L,L,...",
                   help="hidden layers: all of them, or negative indexes from the top (-1 is "
                        "the 1x1 conv) or names such as module8; the paper used -3,-2,-1 "
                        "(default: all)")
    p.add_argument("--pooling", choices=POOLING_CHOICES, default="max+std",
                   help="max+std: max over time, mean and std over segments; paper: max over "
                        "time, mean over segments; mean; max; mean+std: mean over time, mean "
                        "and std over segments (default: %(default)s)")
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
    p.set_defaults(command="extract")

    # info ----------------------------------------------------------------------------
    p = sub.add_parser(
        "info", help="show a saved model's config",
        description="Load a .samplecnn file (checking its weights) and print its config.",
        epilog=_EPILOG)
    p.add_argument("model", metavar="MODEL", help="a .samplecnn file")
    p.add_argument("--json", action="store_true",
                   help="print the whole config as indented JSON instead of a summary")
    p.set_defaults(command="info")
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
