"""The ``samplecnn`` argument parser: sub-commands, options and argument types.

Importing this module imports neither numpy nor torch, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from .._sizes import MULTISCALE_PRESETS, SAMPLE_RATE_PRESETS
from ..pooling import POOLINGS, describe_pooling
from ..tunables import NO_REEXEC_ENV
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG, CLIError
from .output import WRITERS

__all__ = ["CLIError", "build_parser", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE",
           "EXIT_INTERRUPTED", "PROG", "POOLING_CHOICES", "OUTPUT_FORMATS"]

#: ``--pooling`` choices: the registry's names (:data:`sklearn_samplecnn.pooling.POOLINGS`,
#: read without numpy or torch).
POOLING_CHOICES = tuple(POOLINGS)
#: ``extract``'s matrix formats: the writers' extensions (:data:`.output.WRITERS`).
OUTPUT_FORMATS = tuple(WRITERS)


class _Parser(argparse.ArgumentParser):
    """argparse, but errors go through :class:`CLIError` (one format, one exit path)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        raise CLIError(message, EXIT_USAGE)


# -- argument types ------------------------------------------------------------------
def _number(kind: type, test, expected: str):
    """An argparse type: ``kind(text)`` when ``test`` holds for it, else an error saying
    what was ``expected`` (the one converter every numeric option uses)."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not test(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return convert


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive number")
_fraction = _number(float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")
_probability = _number(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


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


def _folder(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty string (use . "
                                         "for the current folder)")
    return text


def _batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


# -- the parser ------------------------------------------------------------------------
_EPILOG = (
    "Exit status: 0 success (also when --on-error skip left files out: they are "
    "listed on stderr), 1 failure while running (unreadable audio or CSV, invalid model "
    "file, missing dataset, no file could be decoded), 2 usage error, 130 interrupted "
    "(Ctrl-C). Outputs are written atomically: an existing file is replaced only once the "
    "new one is complete, and an interrupted or failed run leaves no partial file. On Linux "
    "with glibc the command restarts itself once with GLIBC_TUNABLES set for faster CPU "
    f"runs; {NO_REEXEC_ENV}=1 turns that off. See docs/cli.md."
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
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="torch threads for the model on CPU (default: torch's own setting, "
                        "usually the number of cores; 1 or 2 is often faster on a shared "
                        "machine)")


def _add_jobs(p: argparse.ArgumentParser, default: int) -> None:
    """``--jobs`` (the library's ``n_jobs``), one text for every command; the former
    ``--workers`` still parses (hidden; a warning says to use ``--jobs``)."""
    p.add_argument("--jobs", type=_non_negative_int, default=default, metavar="N",
                   help="worker processes decoding audio while the model runs (n_jobs); 0 "
                        "decodes in the main process; fewer than 4 files are always decoded "
                        "there (default: %(default)s)")
    p.add_argument("--workers", type=_non_negative_int, help=argparse.SUPPRESS)


def _add_batch_size(p: argparse.ArgumentParser, default: int | str) -> None:
    """``--batch-size`` of the commands that run a saved model, one text for both."""
    p.add_argument("--batch-size", type=_batch_size, default=default, metavar="N|auto",
                   help="segments per forward pass: a number, or auto for the device's best "
                        "(docs/performance.md) (default: %(default)s)")


#: ``--on-error`` values (the library's ``on_error``, engine.failures.ON_ERROR; a test keeps
#: them equal; listed here so ``--help`` does not import torch).
ON_ERROR_CHOICES = ("raise", "skip")


def _add_on_error(p: argparse.ArgumentParser, deprecated: tuple[str, ...] = ()) -> None:
    """``--on-error``, one text for every command; ``deprecated`` values still parse."""
    p.add_argument("--on-error", choices=(*ON_ERROR_CHOICES, *deprecated), default="raise",
                   metavar="{" + ",".join(ON_ERROR_CHOICES) + "}",
                   help="files that cannot be decoded (header, body or resampling): raise "
                        "stops with the list of them (exit 1, nothing written); skip goes "
                        "on without them and lists them on stderr (exit 0 when any file was "
                        "done): they get no training segments, no predict rows and no "
                        "per-segment rows, and NaN rows in extract's matrix "
                        "(default: %(default)s)")


def _add_per_segment(p: argparse.ArgumentParser, output) -> None:
    """``--per-segment`` on ``p``; ``--per-file`` on ``output``, the group of ``-o``."""
    p.add_argument("--per-segment", action="store_true",
                   help="one row per segment instead of per clip: path, start and end "
                        "(seconds into the clip), then the command's columns (predict: "
                        "label or tags and probabilities; extract: features)")
    output.add_argument("--per-file", type=_folder, metavar="DIR",
                        help="instead of --output: one CSV per input file in DIR (named "
                             "after its path below the inputs' common folder, plus .csv), "
                             "one row per segment: path, start, end, then the command's "
                             "columns (implies --per-segment)")


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
                      help=f"a Table 4 model ({', '.join(MULTISCALE_PRESETS)}) or a Table 3 "
                           f"sample rate ({', '.join(map(str, SAMPLE_RATE_PRESETS))}), which "
                           "also sets --sr (default: 3^9, the paper's model)")
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
    _add_jobs(p, default=0)
    p.add_argument("--valid-fraction", type=_fraction, default=0.1, metavar="F",
                   help="fraction of clips held out for the validation loss; 0 trains on "
                        "all clips (default: %(default)s)")
    p.add_argument("--audio-cache", type=_folder, metavar="memory|DIR",
                   help="keep decoded, resampled clips in memory or as .npy files in DIR, "
                        "so later epochs skip decoding")
    _add_on_error(p)
    p.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seeds weights, shuffling, dropout and the validation split "
                        "(default: %(default)s)")
    p.add_argument("--checkpoint-dir", type=_folder, metavar="DIR",
                   help="save a checkpoint in DIR after every epoch (weights, optimiser, "
                        "schedule, history, random state); after a crash, a kill or Ctrl-C "
                        "run the same command again to resume from the last finished epoch "
                        "(on CPU with --jobs 0 it ends with the weights of an "
                        "uninterrupted run). A checkpoint of other data or settings is "
                        "refused")
    p.add_argument("--save-interrupted", action="store_true",
                   help="on Ctrl-C, still save the model trained so far (its config records "
                        "interrupted: true); without it nothing is written and an existing "
                        "--output is left as it was. Either way the exit status is 130")
    p.add_argument("-o", "--output", required=True, metavar="FILE.samplecnn",
                   help="where to save the trained model (an existing file is replaced once "
                        "training has finished)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress table")
    p.set_defaults(command="train")

    # predict -------------------------------------------------------------------------
    p = sub.add_parser(
        "predict", help="label audio files with a saved model (CSV out)",
        description="Predict with a model saved by 'samplecnn train' (or save_pretrained "
                    "of a fitted estimator). Writes a CSV: path, label (classifier) or "
                    "tags joined by '|' (tagger), then prob_<class> per class or tag; "
                    "with --per-segment or --per-file, one row per segment with its start "
                    "and end in seconds (a taggram).",
        epilog=_EPILOG)
    p.add_argument("model", metavar="MODEL",
                   help="a .samplecnn file or the name of a shipped model")
    _add_inputs(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="FILE",
                     help="CSV file to write (default: standard output); an existing file is "
                          "replaced once the new one is complete")
    _add_per_segment(p, out)
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--threshold", type=_probability,
                      help="taggers: a tag is predicted when its probability is at least this "
                           "(default: the model's, 0.5)")
    pick.add_argument("--top", type=_positive_int, metavar="K",
                      help="the K most probable tags (or labels) of each clip, most probable "
                           "first, in a top_tags (top_labels) column joined by '|', instead of "
                           "those over the threshold")
    _add_batch_size(p, default=23)
    _add_device(p)
    _add_jobs(p, default=1)
    _add_on_error(p)
    p.set_defaults(command="predict")

    # extract -------------------------------------------------------------------------
    p = sub.add_parser(
        "extract", help="clip-level features from saved models",
        description="Run one or more saved models over whole clips and pool hidden-layer "
                    "activations into one feature row per clip (MultiScaleFeatureTransformer)."
                    " The output format follows the extension: "
                    + "; ".join(f"{w.suffix} ({w.description})" for w in WRITERS.values())
                    + ". With --per-segment, one row per segment (features pooled within the "
                    "segment only), with start and end columns in seconds. An output ending "
                    "with / (or an existing folder) is a feature store: one Parquet file per "
                    "shard of files, written as shards finish; the same command run again "
                    "after a crash or kill skips the finished shards. --dask runs the shards "
                    "on a Dask cluster.",
        epilog=_EPILOG)
    p.add_argument("-m", "--model", action="append", required=True, metavar="MODEL",
                   help="a .samplecnn file or the name of a shipped model (e.g. "
                        "MSD_musicnn); repeat for several models (their features are "
                        "concatenated, each at its own sample rate)")
    _add_inputs(p)
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", metavar="FILE|DIR/",
                     help=f"features file ({', '.join(WRITERS)}; an existing file is "
                          "replaced once the new one is complete), or a folder (a name "
                          "ending with /, or an existing folder) for a resumable feature "
                          "store (needs pyarrow)")
    _add_per_segment(p, out)
    p.add_argument("--layers", type=_layers, default="all", metavar="all|L,L,...",
                   help="hidden layers: all of them, or negative indexes from the top (-1 is "
                        "the 1x1 conv) or names such as module8; the paper used -3,-2,-1 "
                        "(default: all)")
    p.add_argument("--pooling", choices=tuple(POOLINGS), default="max+std",
                   help="; ".join(f"{name}: {describe_pooling(name)}" for name in POOLINGS)
                   + " (default: %(default)s)")
    p.add_argument("--cache-dir", type=_folder, metavar="DIR",
                   help="store features per clip content and model; later runs reuse them")
    _add_batch_size(p, default="auto")
    _add_device(p)
    _add_jobs(p, default=1)
    _add_on_error(p, deprecated=("nan", "zeros"))
    p.add_argument("--dask", metavar="ADDRESS|local",
                   help="run on a Dask cluster: a scheduler address such as "
                        "tcp://scheduler:8786, or 'local' for a LocalCluster on this machine "
                        "(needs dask.distributed; see docs/cluster.md)")
    p.add_argument("--dask-workers", type=_positive_int, metavar="N",
                   help="--dask local: worker processes, one thread each (default: the "
                        "usable CPU cores)")
    p.add_argument("--shard-size", type=_positive_int, default=256, metavar="N",
                   help="files per Dask task and per feature-store file "
                        "(default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(command="extract")

    # info ----------------------------------------------------------------------------
    p = sub.add_parser(
        "info", help="show a saved model's config",
        description="Load a .samplecnn file (checking its weights) and print its config.",
        epilog=_EPILOG)
    p.add_argument("model", metavar="MODEL",
                   help="a .samplecnn file or the name of a shipped model")
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
