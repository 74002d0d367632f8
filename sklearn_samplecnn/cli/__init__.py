"""The ``samplecnn`` command: train, predict, extract features, inspect model files.

Sub-commands (``samplecnn <command> --help`` lists every option):

``train``
    Train a :class:`SampleCNNClassifier` (``--task genre``) or
    :class:`SampleCNNTagger` (``--task tags``) on a folder with one sub-folder
    per class or on a CSV, and save it with :func:`save_pretrained`.
``predict``
    Label audio files with a saved model; writes a CSV (path, label or
    ``|``-joined tags, one probability column per class or tag), per clip or
    per segment (``--per-segment``, ``--per-file DIR``: a taggram).
``extract``
    Clip-level (or per-segment) features from one or more saved models
    (:class:`MultiScaleFeatureTransformer`) to ``.npy``, ``.csv`` or ``.parquet``,
    or into a resumable feature store folder; ``--dask`` runs it on a Dask cluster.
``info``
    A saved model's config, as a summary or as JSON.

Exit status: 0 on success (also when ``--on-error`` left some files out; they
are listed on stderr), 2 for usage errors (bad options, paths that do not
exist, nothing to do), 1 for failures while running (unreadable audio or CSV,
invalid model files, missing datasets, no file decoded), 130 when interrupted
by Ctrl-C (no partial output; ``train`` writes no model unless
``--save-interrupted``). Errors are printed as ``samplecnn: error: ...`` on
stderr, without a traceback (``--traceback`` shows it). Every output file is
written atomically (:func:`sklearn_samplecnn._fileio.atomic_write`).

Started as a program (``samplecnn`` or ``python -m sklearn_samplecnn.cli``) on
Linux with glibc, the command restarts itself once with the malloc settings of
:data:`sklearn_samplecnn.tunables.GLIBC_TUNABLES` unless ``GLIBC_TUNABLES`` is
already set or ``SAMPLECNN_NO_REEXEC=1``; ``main([...])`` called from Python
never restarts the process. The arguments are parsed and checked first (options,
files and folders that must exist, output names), without importing numpy or
torch and without the restart: ``--help`` and usage errors answer at once.
"""


from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..exceptions import SampleCNNError
from ..tunables import reexec_with_tunables
from .inputs import check_usage
from .parser import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    POOLING_CHOICES,
    PROG,
    CLIError,
    _join_negative_values,
    build_parser,
)

__all__ = ["main", "build_parser", "POOLING_CHOICES"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``samplecnn`` command line.

    Parameters
    ----------
    argv : sequence of str or None, default=None
        The arguments after the program name; ``None`` reads ``sys.argv[1:]``
        and, on Linux with glibc, first restarts the process once with
        ``GLIBC_TUNABLES`` set (see :mod:`sklearn_samplecnn.tunables`).

    Returns
    -------
    int
        The exit status: 0 success, 1 failure while running, 2 usage error,
        130 interrupted (Ctrl-C).
    """
    restart = argv is None
    if argv is None:
        argv = sys.argv[1:]
    raw = list(argv)
    argv = _join_negative_values(raw)
    parser = build_parser()
    show_traceback = "--traceback" in argv
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        # usage errors (missing files, bad names) before numpy, torch or a restart
        check_usage(args)
        if restart:  # only for real work: --help and usage errors answer at once
            reexec_with_tunables(["-m", "sklearn_samplecnn.cli", *raw])
        from .commands import COMMANDS

        return COMMANDS[args.command](args, argv)
    except CLIError as exc:
        if show_traceback:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `samplecnn predict ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except (SampleCNNError, OSError, ValueError, ArithmeticError) as exc:
        # AudioLoadError, PretrainedFileError, DatasetNotFoundError, a diverging run
        if show_traceback:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE

