"""Table 5 of the paper: how far can the input be downsampled before the score drops?

For each sample rate of Table 3 a SampleCNN with that rate's module sizes
(``SAMPLE_RATE_PRESETS[sr]``, about 2.6 s of audio per segment) is trained on
the same clips, resampled to the rate by the library, and scored on held-out
clips (accuracy for genres, macro ROC-AUC for tags). Training wall time is
reported relative to the 22,050 Hz model trained in the same run, next to the
paper's MTAT AUC and training-time ratio.

Run it::

    python examples/downsampling.py --quick            # 3 rates, tiny models, < 60 s on CPU
    python examples/downsampling.py --gtzan ~/data/gtzan --device cuda --out table5.json

Without ``--gtzan`` the clips come from
:func:`sklearn_samplecnn.datasets.make_music` (generated songs, genre task).
Decoding and resampling happen once per rate before training
(:func:`sklearn_samplecnn.audio.load_audio`) and are timed separately, so the
time ratio compares the models, as in the paper, not the resampler. With
``--no-preload`` the estimators read the files themselves every epoch
(for copies too large for memory; the time then includes decoding).

``benchmarks/reproduce_paper.py table5`` reuses :func:`run_downsampling` and
:func:`format_table` with MagnaTagATune.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Table 5 of the paper (MTAT): sample rate -> (AUC, training time / 22,050 Hz time).
PAPER_TABLE5 = {
    2000: (0.8700, 0.23),
    4000: (0.8838, 0.41),
    8000: (0.9031, 0.55),
    12000: (0.9033, 0.69),
    16000: (0.9033, 0.79),
    20000: (0.9055, 0.86),
    22050: (0.9055, 1.00),
}
#: The rate every training time is divided by.
REFERENCE_SR = 22050
#: Rates of ``--quick``.
QUICK_RATES = (2000, 8000, 22050)
#: Styles of the generated genre clips in ``--quick`` (4 classes: chance is 0.25).
QUICK_STYLES = ("classical", "hiphop", "metal", "reggae")


def _channels_for(sizes: Sequence[int], width: int | None) -> list[int] | None:
    """``width`` filters in every layer of a model with ``sizes``, or ``None`` (Table 1)."""
    return None if width is None else [int(width)] * (len(sizes) + 1)


def _decode(paths: Sequence[str], sr: int) -> list[np.ndarray]:
    from sklearn_samplecnn.audio import load_audio

    return [load_audio(p, sr=sr) for p in paths]


def run_downsampling(
    X_train: Sequence[str],
    y_train,
    X_test: Sequence[str],
    y_test,
    *,
    task: str = "genre",
    rates: Sequence[int] = tuple(PAPER_TABLE5),
    channels: int | None = None,
    max_epochs: int = 100,
    batch_size: int = 23,
    lr: float = 0.01,
    schedule: str | None = "paper",
    train_split: float | None = 0.1,
    preload: bool = True,
    device: str = "cpu",
    random_state: int = 0,
    verbose: int = 0,
    estimator_params: dict[str, Any] | None = None,
    warmup: bool = True,
    log: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Train and score one Table 3 SampleCNN per sample rate on the same clips.

    Parameters
    ----------
    X_train, X_test : sequence of str
        Audio file paths (any rate; the library resamples them).
    y_train, y_test : array-like
        Labels (``task="genre"``) or 0/1 tag matrices (``task="tags"``).
    task : {"genre", "tags"}, default="genre"
        :class:`~sklearn_samplecnn.SampleCNNClassifier` scored by accuracy, or
        :class:`~sklearn_samplecnn.SampleCNNTagger` scored by macro ROC-AUC.
    rates : sequence of int, default=all seven of Table 3
        Sample rates in Hz, each a key of ``SAMPLE_RATE_PRESETS``.
    channels : int or None, default=None
        Filters in every layer (a small number for quick runs); ``None`` uses
        Table 1's widths.
    max_epochs, batch_size, lr, schedule, train_split, device, verbose
        Passed to the estimator (the defaults are the paper's settings).
    preload : bool, default=True
        Decode and resample every clip once per rate before training (timed
        apart from training); ``False`` passes the paths to the estimator.
    random_state : int, default=0
        Seed of every estimator (same initialisation scheme and data order).
    estimator_params : dict or None, default=None
        More estimator parameters, e.g. ``{"iterator_train__num_workers": 4}``.
    warmup : bool, default=True
        Train a throw-away model for one epoch on two clips first, so that
        one-time start-up costs are not counted in the first rate's time.
    log : callable or None, default=print
        Called with a progress line per rate.

    Returns
    -------
    list of dict
        One row per rate: ``sr``, ``sizes``, ``input_samples``, ``input_ms``,
        ``score``, ``metric``, ``train_seconds``, ``epochs``,
        ``seconds_per_epoch``, ``decode_seconds``, ``time_ratio`` (training
        time over the 22,050 Hz model's, ``None`` when that rate is not run),
        ``paper_auc`` and ``paper_time_ratio``.
    """
    from sklearn_samplecnn import SampleCNNClassifier, SampleCNNTagger
    from sklearn_samplecnn.nn import SAMPLE_RATE_PRESETS

    if task not in ("genre", "tags"):
        raise ValueError(f"task must be 'genre' or 'tags', got {task!r}.")
    unknown = [sr for sr in rates if sr not in SAMPLE_RATE_PRESETS]
    if unknown:
        raise ValueError(f"rates must be Table 3 rates {sorted(SAMPLE_RATE_PRESETS)}, "
                         f"got {unknown}.")
    Estimator = SampleCNNClassifier if task == "genre" else SampleCNNTagger
    if warmup:
        # one-time costs (torch's lazy initialisation, thread pools, the
        # resampler's JIT) would otherwise land on the first rate's time
        sr = rates[0]
        sizes = SAMPLE_RATE_PRESETS[sr]
        Estimator(module__sizes=sizes, module__channels=_channels_for(sizes, channels), sr=sr,
                  max_epochs=1, schedule=None, train_split=None, device=device, verbose=0,
                  ).fit(_decode(X_train[:2], sr), y_train[:2] if task == "tags" else [0, 1])
    rows = []
    for sr in rates:
        sizes = SAMPLE_RATE_PRESETS[sr]
        t0 = time.perf_counter()
        train, test = (_decode(X_train, sr), _decode(X_test, sr)) if preload else (
            list(X_train), list(X_test))
        decode_seconds = time.perf_counter() - t0
        est = Estimator(
            module__sizes=sizes,
            module__channels=_channels_for(sizes, channels),
            sr=sr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            schedule=schedule,
            train_split=train_split,
            device=device,
            random_state=random_state,
            verbose=verbose,
            **(estimator_params or {}),
        )
        t0 = time.perf_counter()
        est.fit(train, y_train)
        train_seconds = time.perf_counter() - t0
        score = float(est.score(test, y_test))
        n = int(np.prod(sizes))
        paper_auc, paper_ratio = PAPER_TABLE5[sr]
        rows.append({
            "sr": int(sr),
            "sizes": "-".join(map(str, sizes)),
            "input_samples": n,
            "input_ms": round(1000 * n / sr),
            "score": score,
            "metric": "accuracy" if task == "genre" else "roc_auc_macro",
            "train_seconds": train_seconds,
            "epochs": len(est.history_),
            "seconds_per_epoch": train_seconds / max(len(est.history_), 1),
            "decode_seconds": decode_seconds if preload else None,
            "time_ratio": None,
            "paper_auc": paper_auc,
            "paper_time_ratio": paper_ratio,
        })
        if log is not None:
            log(f"{sr:>6} Hz  score {score:.4f}  trained {train_seconds:.1f} s "
                f"({len(est.history_)} epochs)")
    reference = [r["train_seconds"] for r in rows if r["sr"] == REFERENCE_SR]
    if reference:
        for r in rows:
            r["time_ratio"] = r["train_seconds"] / reference[0]
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Table 5 as text: ours beside the paper's MTAT numbers."""
    metric = rows[0]["metric"] if rows else "score"
    head = ("rate (Hz)", "sizes", "input samples (ms)", metric, "time ratio",
            "paper AUC", "paper time ratio")
    body = [
        (f"{r['sr']:,}", r["sizes"], f"{r['input_samples']:,} ({r['input_ms']:,})",
         f"{r['score']:.4f}", "-" if r["time_ratio"] is None else f"{r['time_ratio']:.2f}",
         f"{r['paper_auc']:.4f}", f"{r['paper_time_ratio']:.2f}")
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _train_test(data, test_size: float, random_state: int):
    """Train/test clip lists from a dataset Bunch: its split when it has one."""
    from sklearn.model_selection import train_test_split

    split = np.asarray(getattr(data, "split", ["all"] * len(data.filenames)))
    files = np.asarray(data.filenames, dtype=object)
    y = np.asarray(data.target)
    if "test" in split:
        train = np.isin(split, ("train", "valid"))
        test = split == "test"
        return list(files[train]), y[train], list(files[test]), y[test]
    stratify = y if y.ndim == 1 else None
    Xtr, Xte, ytr, yte = train_test_split(files, y, test_size=test_size, stratify=stratify,
                                          random_state=random_state)
    return list(Xtr), ytr, list(Xte), yte


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"rates {', '.join(map(str, QUICK_RATES))}, 16 filters per layer, "
                             "40 generated 6 s clips, 6 epochs: under a minute on a CPU")
    parser.add_argument("--rates", type=lambda s: [int(v) for v in s.split(",")], default=None,
                        help="comma-separated sample rates from Table 3 (default: all seven, "
                             "or the quick ones with --quick)")
    parser.add_argument("--gtzan", metavar="PATH", default=None,
                        help="a local GTZAN copy (fault-filtered split when its lists are "
                             "there, else a stratified split) instead of generated music")
    parser.add_argument("--task", choices=("genre", "tags"), default="genre",
                        help="generated data: genre classification (accuracy) or tagging "
                             "(macro ROC-AUC); default genre")
    parser.add_argument("--n-clips", type=int, default=None,
                        help="generated clips (default 200, quick 40)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per generated clip (default 29.1, quick 6)")
    parser.add_argument("--channels", type=int, default=None,
                        help="filters in every layer (default: Table 1's widths; quick 16)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs at most (default 100 with the paper schedule; quick 6)")
    parser.add_argument("--batch-size", type=int, default=23, help="segments per batch")
    parser.add_argument("--lr", type=float, default=None,
                        help="SGD learning rate (default 0.01, quick 0.05)")
    parser.add_argument("--test-size", type=float, default=0.25,
                        help="share of clips held out when the data has no split")
    parser.add_argument("--no-preload", action="store_true",
                        help="let the estimators decode the files each epoch instead of "
                             "decoding once per rate before training")
    parser.add_argument("--num-workers", type=int, default=0,
                        help="data-loading worker processes (with --no-preload)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--random-state", type=int, default=0, help="seed of data and models")
    parser.add_argument("--data-dir", default=None,
                        help="where to write generated clips (default: a temporary folder)")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file")
    parser.add_argument("--verbose", type=int, default=0, help="skorch's verbosity")
    args = parser.parse_args(argv)

    quick = args.quick
    rates = args.rates or list(QUICK_RATES if quick else PAPER_TABLE5)
    channels = args.channels if args.channels is not None else (16 if quick else None)
    max_epochs = args.max_epochs or (6 if quick else 100)
    lr = args.lr or (0.05 if quick else 0.01)

    with tempfile.TemporaryDirectory() as tmp:
        if args.gtzan:
            from sklearn_samplecnn.datasets import fetch_gtzan

            try:
                data = fetch_gtzan(data_home=args.gtzan, split="filtered")
            except OSError:
                data = fetch_gtzan(data_home=args.gtzan)
            task, source = "genre", f"GTZAN at {data.root}"
        else:
            from sklearn_samplecnn.datasets import make_music

            task = args.task
            n_clips = args.n_clips or (40 if quick else 200)
            duration = args.duration or (6.0 if quick else 29.1)
            styles = QUICK_STYLES if quick and task == "genre" else None
            data = make_music(args.data_dir or tmp, n_clips=n_clips, task=task,
                              duration=duration, styles=styles, random_state=args.random_state)
            source = (f"make_music: {n_clips} generated {task} clips of {duration} s"
                      + (f", styles {', '.join(styles)}" if styles else ""))
        X_train, y_train, X_test, y_test = _train_test(data, args.test_size, args.random_state)
        print(f"Table 5 on {source}: {len(X_train)} training / {len(X_test)} test clips; "
              f"channels {channels or 'Table 1'}, {max_epochs} epochs at most")
        rows = run_downsampling(
            X_train, y_train, X_test, y_test,
            task=task,
            rates=rates,
            channels=channels,
            max_epochs=max_epochs,
            batch_size=args.batch_size,
            lr=lr,
            schedule=None if quick else "paper",
            train_split=None if quick else 0.1,
            preload=not args.no_preload,
            device=args.device,
            random_state=args.random_state,
            verbose=args.verbose,
            estimator_params=(
                {"iterator_train__num_workers": args.num_workers} if args.num_workers else None),
        )
    print()
    print(format_table(rows))
    if REFERENCE_SR not in rates:
        print(f"(time ratio needs {REFERENCE_SR} Hz among the rates)")
    if quick:
        print(f"(quick mode: tiny models trained for {max_epochs} epochs on {len(X_train)} "
              "generated clips; the scores show the script works, not the paper's trend)")
    if args.out:
        payload = {
            "table": 5,
            "data": source,
            "task": task,
            "settings": {"rates": rates, "channels": channels, "max_epochs": max_epochs,
                         "batch_size": args.batch_size, "lr": lr, "quick": quick,
                         "device": args.device, "random_state": args.random_state,
                         "n_train": len(X_train), "n_test": len(X_test)},
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "rows": rows,
        }
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
