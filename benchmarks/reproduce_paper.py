"""Reproduce Tables 2, 5 and 6 of the SampleCNN paper (Lee et al. 2018).

Sub-commands:

``table2``  the three model families at Table 2's window/hop settings, trained
            through the estimators: frame-level mel
            (``module=MelFrameLevelCNN``), frame-level raw
            (``module=FrameLevelCNN``) and sample-level (``SampleCNN`` with a
            strided first conv of 27, 9 or 3 samples), each next to the
            paper's MTAT AUC.
``table5``  the downsampling experiment: one Table 3 SampleCNN per sample
            rate (:func:`examples/downsampling.run_downsampling`).
``table6``  transfer: clip features from a pretrained SampleCNN
            (``MultiScaleFeatureTransformer``, layers -3, -2, -1 and all three,
            max-pool within segments, mean over the clip) and a two-hidden-layer
            MLP on a target dataset.

Real runs use your local copies and the paper's settings::

    python benchmarks/reproduce_paper.py table2 --mtat ~/data/mtat --device cuda
    python benchmarks/reproduce_paper.py table5 --mtat ~/data/mtat --device cuda
    python benchmarks/reproduce_paper.py table6 --gtzan ~/data/gtzan \\
        --extractor mtat_3-9.samplecnn --device cuda

The paper's Table 6 extractor was trained on the Million Song Dataset; no
pretrained weights ship with the library, so ``--extractor`` is a model you make
or import (docs/models.md: e.g. ``examples/mtat_tagging.py --save`` on
MagnaTagATune, or ``PretrainedModel.from_state_dict`` for public weights).

``--quick`` runs each table in well under 90 s on two CPU cores, on clips
from :func:`sklearn_samplecnn.datasets.make_music` with tiny models (8-16
filters per layer) trained for a few epochs; it checks that the pipeline
works end to end, and its scores say nothing about the paper's. Table 2's
quick mode shortens the input from 59,049 to 6,561 samples (every model
loses two modules; the window/hop pairs stay) -- the frame-level models take
``input_length`` and the sample-level ones the shorter size list.

Every sub-command prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO_ROOT, machine_info, print_table, write_json

sys.path.insert(0, str(REPO_ROOT / "examples"))
from downsampling import (  # noqa: E402  (the example lives outside the package)
    QUICK_RATES,
    QUICK_STYLES,
    format_table,
    run_downsampling,
)

SR = 22050
FULL_INPUT = 59049  # Table 2's input length (3^10)
QUICK_INPUT = 6561  # 3^8: two modules fewer for every model

#: Table 2 (MTAT AUC): (family, window, hop, modules n, AUC).
PAPER_TABLE2 = (
    ("mel", 729, 729, 4, 0.9000),
    ("mel", 729, 243, 5, 0.9005),
    ("mel", 243, 243, 5, 0.9047),
    ("mel", 243, 81, 6, 0.9059),
    ("mel", 81, 81, 6, 0.9025),
    ("raw", 729, 729, 4, 0.8655),
    ("raw", 729, 243, 5, 0.8742),
    ("raw", 243, 243, 5, 0.8823),
    ("raw", 243, 81, 6, 0.8906),
    ("raw", 81, 81, 6, 0.8936),
    ("sample", 27, 27, 7, 0.9002),
    ("sample", 9, 9, 8, 0.9030),
    ("sample", 3, 3, 9, 0.9055),
)
#: Table 6, features pretrained on MSD: layers -> (GTZAN accuracy, MTAT AUC).
PAPER_TABLE6 = {
    "-3": (0.778, 0.8988),
    "-2": (0.811, 0.8998),
    "-1": (0.821, 0.8976),
    "last 3": (0.805, 0.9018),
}
TABLE6_LAYERS = {"-3": (-3,), "-2": (-2,), "-1": (-1,), "last 3": (-3, -2, -1)}
FAMILY_NAMES = {"mel": "frame-level (mel)", "raw": "frame-level (raw)",
                "sample": "sample-level (raw)"}


# -- data ----------------------------------------------------------------------
def _split_bunch(data) -> tuple[list, Any, list, Any]:
    """(train, y_train, test, y_test) from a loader's Bunch; valid clips join train."""
    split = np.asarray(data.split)
    files = np.asarray(data.filenames, dtype=object)
    y = np.asarray(data.target)
    if "test" not in split:
        from sklearn.model_selection import train_test_split

        Xtr, Xte, ytr, yte = train_test_split(files, y, test_size=0.25, random_state=0,
                                              stratify=y if y.ndim == 1 else None)
        return list(Xtr), ytr, list(Xte), yte
    train = np.isin(split, ("train", "valid"))
    return list(files[train]), y[train], list(files[split == "test"]), y[split == "test"]


def _real_data(args, prefer: str = "mtat") -> tuple[tuple, str, str] | None:
    """The user's MTAT or GTZAN copy as ((train, y, test, y), task, description)."""
    from sklearn_samplecnn.datasets import fetch_gtzan, fetch_magnatagatune

    order = ("mtat", "gtzan") if prefer == "mtat" else ("gtzan", "mtat")
    for name in order:
        if name == "mtat" and args.mtat:
            data = fetch_magnatagatune(data_home=args.mtat, split="folder")
            return _split_bunch(data), "tags", f"MagnaTagATune at {args.mtat} (folder split)"
        if name == "gtzan" and args.gtzan:
            try:
                data = fetch_gtzan(data_home=args.gtzan, split="filtered")
                how = "fault-filtered split"
            except OSError:
                data = fetch_gtzan(data_home=args.gtzan)
                how = "stratified 75/25 split"
            return _split_bunch(data), "genre", f"GTZAN at {data.root} ({how})"
    return None


def _generated(folder: str, *, task: str, n_clips: int, duration: float, seed: int,
               styles: Sequence[str] | None = None) -> tuple[tuple, str, str]:
    """Generated clips split 75/25 (stratified for genres)."""
    from sklearn.model_selection import train_test_split

    from sklearn_samplecnn.datasets import make_music

    data = make_music(folder, n_clips=n_clips, task=task, duration=duration, styles=styles,
                      random_state=seed)
    y = np.asarray(data.target)
    Xtr, Xte, ytr, yte = train_test_split(np.asarray(data.filenames, dtype=object), y,
                                          test_size=0.25, random_state=seed,
                                          stratify=y if task == "genre" else None)
    what = f"make_music: {n_clips} generated {task} clips of {duration} s" + (
        f" ({', '.join(styles)})" if styles else "")
    return (list(Xtr), ytr, list(Xte), yte), task, what


def _estimator_class(task: str):
    from sklearn_samplecnn import SampleCNNClassifier, SampleCNNTagger

    return SampleCNNClassifier if task == "genre" else SampleCNNTagger


def _train_settings(args, quick_epochs: int) -> dict[str, Any]:
    """Estimator settings shared by every model: the paper's, or quick ones."""
    if args.quick:
        return dict(max_epochs=args.max_epochs or quick_epochs, lr=0.05, schedule=None,
                    train_split=None, batch_size=23)
    return dict(max_epochs=args.max_epochs or 100, lr=0.01, schedule="paper",
                train_split=0.1, batch_size=args.batch_size)


def _loader_params(args) -> dict[str, Any]:
    """Estimator parameters for reading files: decoding workers and a resampled-audio cache."""
    params: dict[str, Any] = {}
    if args.num_workers:
        params["iterator_train__num_workers"] = args.num_workers
    if args.audio_cache:
        params["audio_cache"] = args.audio_cache
    return params


# -- Table 2 -------------------------------------------------------------------
def table2_params(family: str, window: int, hop: int, *, input_length: int,
                  width: int | None, sr: int = SR) -> dict[str, Any]:
    """Estimator parameters (``module=...`` and ``module__*``) of one Table 2 model.

    Parameters
    ----------
    family : {"mel", "raw", "sample"}
    window, hop : int
        First-layer filter and stride (the STFT window and hop for "mel");
        for "sample" window == hop is the strided conv's size.
    input_length : int
        Samples per segment; 59,049 in the paper. For "sample" it must be
        ``window`` times a power of 3.
    width : int or None
        Filters in every layer; ``None`` keeps the modules' defaults (Table 1).
    sr : int, default=22050
        Sample rate (the mel filterbank's).

    Returns
    -------
    dict
    """
    from sklearn_samplecnn.nn import FrameLevelCNN, MelFrameLevelCNN, SampleCNN

    if family == "sample":
        n = round(math.log(input_length / window, 3))
        sizes = (window,) + (3,) * n
        if math.prod(sizes) != input_length:
            raise ValueError(f"input_length {input_length} is not {window} x 3^n.")
        params = {"module": SampleCNN, "module__sizes": sizes}
        n_channels = len(sizes) + 1
    elif family == "raw":
        params = {"module": FrameLevelCNN, "module__window": window, "module__hop": hop,
                  "module__input_length": input_length}
        n_channels = FrameLevelCNN(window, hop, input_length=input_length).n_modules + 2
    elif family == "mel":
        params = {"module": MelFrameLevelCNN, "module__window": window, "module__hop": hop,
                  "module__input_length": input_length, "module__sr": sr}
        n_channels = MelFrameLevelCNN(window, hop, input_length=input_length).n_modules + 1
    else:
        raise ValueError(f"family must be 'mel', 'raw' or 'sample', got {family!r}.")
    if width is not None:
        params["module__channels"] = [width] * n_channels
    return params


def _decode_all(paths: Sequence[str], sr: int) -> list[np.ndarray]:
    from sklearn_samplecnn.audio import load_audio

    return [load_audio(p, sr=sr) for p in paths]


def run_table2(args, tmp: str) -> dict[str, Any]:
    real = _real_data(args)
    if real is None:
        real = _generated(tmp, task="tags", n_clips=args.n_clips or 40, duration=3.0,
                          seed=args.random_state)
    (X_train, y_train, X_test, y_test), task, source = real
    input_length = QUICK_INPUT if args.quick else FULL_INPUT
    width = args.channels if args.channels is not None else (8 if args.quick else None)
    settings = _train_settings(args, quick_epochs=4)
    if args.quick:  # small data: decode once, every model trains on the same arrays
        X_train, X_test = _decode_all(X_train, SR), _decode_all(X_test, SR)
    Estimator = _estimator_class(task)
    print(f"Table 2 on {source}: {len(X_train)} training / {len(X_test)} test clips, "
          f"input {input_length} samples, channels {width or 'default'}")
    rows = []
    for family, window, hop, n_paper, auc in PAPER_TABLE2:
        params = table2_params(family, window, hop, input_length=input_length, width=width)
        est = Estimator(sr=SR, device=args.device, random_state=args.random_state,
                        verbose=args.verbose, **settings, **params, **_loader_params(args))
        t0 = time.perf_counter()
        est.fit(X_train, y_train)
        seconds = time.perf_counter() - t0
        score = float(est.score(X_test, y_test))
        module = est.module_
        n = getattr(module, "n_modules", len(getattr(module, "sizes", ())) - 1)
        rows.append({"model": FAMILY_NAMES[family], "family": family, "window": window,
                     "hop": hop, "n": int(n), "paper_n": n_paper, "score": score,
                     "paper_auc": auc, "train_seconds": seconds, "epochs": len(est.history_)})
        print(f"  {FAMILY_NAMES[family]:<20} {window:>3}/{hop:<3} n={n}  score {score:.4f}  "
              f"({seconds:.1f} s)", flush=True)
    metric = "accuracy" if task == "genre" else "macro ROC-AUC"
    print()
    print_table(rows, [("model", "model"), ("n", "n"), ("window", "window"), ("hop", "hop"),
                       ("score", metric, ".4f"), ("paper_n", "paper n"),
                       ("paper_auc", "paper AUC (MTAT)", ".4f"),
                       ("train_seconds", "train s", ".1f")])
    return {"table": 2, "data": source, "task": task, "metric": metric,
            "input_length": input_length, "channels": width, "settings": settings,
            "rows": rows}


# -- Table 5 -------------------------------------------------------------------
def run_table5(args, tmp: str) -> dict[str, Any]:
    real = _real_data(args)
    if real is None:
        real = _generated(tmp, task="tags", n_clips=args.n_clips or 40, duration=6.0,
                          seed=args.random_state)
    (X_train, y_train, X_test, y_test), task, source = real
    width = args.channels if args.channels is not None else (8 if args.quick else None)
    settings = _train_settings(args, quick_epochs=4)
    rates = args.rates or (list(QUICK_RATES) if args.quick else None)
    print(f"Table 5 on {source}: {len(X_train)} training / {len(X_test)} test clips, "
          f"channels {width or 'Table 1'}")
    kwargs = {} if rates is None else {"rates": rates}
    rows = run_downsampling(
        X_train, y_train, X_test, y_test, task=task, channels=width, device=args.device,
        random_state=args.random_state, verbose=args.verbose,
        preload=args.quick, estimator_params=_loader_params(args), **settings, **kwargs,
    )
    print()
    print(format_table(rows))
    return {"table": 5, "data": source, "task": task, "channels": width,
            "settings": settings, "rows": rows}


# -- Table 6 -------------------------------------------------------------------
def _load_transformer():
    try:
        from sklearn_samplecnn.features import MultiScaleFeatureTransformer
    except ImportError as exc:
        raise SystemExit(
            "table6 needs sklearn_samplecnn.features (MultiScaleFeatureTransformer), which "
            f"could not be imported: {exc}"
        ) from None
    return MultiScaleFeatureTransformer


def _score_features(F_train, y_train, F_test, y_test, task: str, hidden: int,
                    seed: int) -> float:
    """A two-hidden-layer MLP on standardised features: accuracy or macro ROC-AUC."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import roc_auc_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(),
                        MLPClassifier(hidden_layer_sizes=(hidden, hidden), alpha=1e-3,
                                      max_iter=300, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # small quick-mode data
        clf.fit(F_train, y_train)
    if task == "genre":
        return float(clf.score(F_test, y_test))
    Y = np.asarray(y_test)
    ok = Y.min(axis=0) != Y.max(axis=0)
    return float(roc_auc_score(Y[:, ok], clf.predict_proba(F_test)[:, ok], average="macro"))


def run_table6(args, tmp: str) -> dict[str, Any]:
    Transformer = _load_transformer()
    width = args.channels if args.channels is not None else (16 if args.quick else None)
    if args.extractor:
        extractors = list(args.extractor)
        source_desc = "pretrained " + ", ".join(extractors)
    else:
        # no pretrained file: train the extractor on a source task first
        source = _real_data(args, prefer="mtat") if args.mtat else None
        if source is None:
            if not args.quick:
                raise SystemExit("table6 needs --extractor PATH (a .samplecnn file you "
                                 "made or imported: docs/models.md), --mtat PATH to "
                                 "pretrain on MagnaTagATune, or --quick.")
            source = _generated(str(Path(tmp) / "source"), task="tags",
                                n_clips=args.n_clips or 40, duration=6.0,
                                seed=args.random_state + 1)
        (S_train, s_train, _, _), s_task, s_desc = source
        settings = _train_settings(args, quick_epochs=4)
        params = {} if width is None else {"module__channels": [width] * 11}
        t0 = time.perf_counter()
        extractor = _estimator_class(s_task)(
            sr=SR, device=args.device, random_state=args.random_state, verbose=args.verbose,
            **settings, **params, **_loader_params(args)).fit(S_train, s_train)
        extractors = [extractor]
        source_desc = (f"a 3^9 SampleCNN trained on {s_desc} "
                       f"({time.perf_counter() - t0:.1f} s)")
    target = _real_data(args, prefer="gtzan") if (args.gtzan or args.mtat) else None
    if target is None:
        target = _generated(str(Path(tmp) / "target"), task="genre",
                            n_clips=args.n_clips or 40, duration=6.0, seed=args.random_state,
                            styles=QUICK_STYLES)
    (X_train, y_train, X_test, y_test), task, target_desc = target
    hidden = args.hidden or (64 if args.quick else 4096)
    print(f"Table 6: features from {source_desc}; target {target_desc}: {len(X_train)} "
          f"training / {len(X_test)} test clips; MLP {hidden}-{hidden}")
    paper_col = 0 if task == "genre" else 1
    rows = []
    for label, layers in TABLE6_LAYERS.items():
        feats = Transformer(extractors=extractors, layers=layers, pooling=("max", "mean"),
                            device=args.device)
        t0 = time.perf_counter()
        F_train = feats.fit(X_train, y_train).transform(X_train)
        F_test = feats.transform(X_test)
        seconds = time.perf_counter() - t0
        score = _score_features(F_train, y_train, F_test, y_test, task, hidden,
                                args.random_state)
        rows.append({"layers": label, "n_features": int(F_train.shape[1]), "score": score,
                     "paper": PAPER_TABLE6[label][paper_col], "feature_seconds": seconds})
        print(f"  layers {label:<7} {F_train.shape[1]:>5} features  score {score:.4f}",
              flush=True)
    metric = "accuracy" if task == "genre" else "macro ROC-AUC"
    paper_name = "paper GTZAN acc." if task == "genre" else "paper MTAT AUC"
    print()
    print_table(rows, [("layers", "layers"), ("n_features", "features"),
                       ("score", metric, ".4f"), ("paper", f"{paper_name} (MSD-pretrained)",
                                                  ".4f"),
                       ("feature_seconds", "features s", ".1f")])
    return {"table": 6, "source": source_desc, "data": target_desc, "task": task,
            "metric": metric, "mlp_hidden": hidden, "rows": rows}


# -- command line --------------------------------------------------------------
def _rates(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="table", required=True, metavar="{table2,table5,table6}")
    helps = {"table2": "frame-level mel, frame-level raw and sample-level models (Table 2)",
             "table5": "SampleCNN at seven sample rates (Table 5)",
             "table6": "transfer with pretrained multi-level features (Table 6)"}
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--quick", action="store_true",
                       help="generated data, tiny models, a few epochs (under 90 s on 2 cores)")
        p.add_argument("--mtat", metavar="PATH", default=None,
                       help="local MagnaTagATune copy (annotations_final.csv + mp3 folders)")
        p.add_argument("--gtzan", metavar="PATH", default=None,
                       help="local GTZAN copy (genres/<genre>/<genre>.000NN.au|wav)")
        p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
        p.add_argument("--channels", type=int, default=None,
                       help="filters in every layer (default: the paper's; quick: 8 or 16)")
        p.add_argument("--max-epochs", type=int, default=None,
                       help="epochs at most (default: 100 with the paper schedule; quick: 4)")
        p.add_argument("--batch-size", type=int, default=23,
                       help="segments per batch outside quick mode (the paper's 23)")
        p.add_argument("--n-clips", type=int, default=None,
                       help="generated clips when no data path is given (default 40)")
        p.add_argument("--num-workers", type=int, default=0,
                       help="processes decoding audio files during training")
        p.add_argument("--audio-cache", metavar="DIR", default=None,
                       help="keep decoded, resampled clips as .npy files in DIR (or 'memory')")
        p.add_argument("--random-state", type=int, default=0, help="seed of data and models")
        p.add_argument("--verbose", type=int, default=0, help="skorch's verbosity")
        p.add_argument("--out", default=f"bench_results/paper_{name}.json",
                       help=f"JSON file to write (default: bench_results/paper_{name}.json)")
        if name == "table5":
            p.add_argument("--rates", type=_rates, default=None,
                           help="comma-separated Table 3 rates (default: all seven; "
                                "quick: 2000,8000,22050)")
        if name == "table6":
            p.add_argument("--extractor", action="append", default=None, metavar="PATH",
                           help="a pretrained .samplecnn file (repeat for several models); "
                                "without it a 3^9 model is trained on --mtat or, with "
                                "--quick, on generated tag clips")
            p.add_argument("--hidden", type=int, default=None,
                           help="units in each of the MLP's two hidden layers "
                                "(default 4096 as the paper; quick 64)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = {"table2": run_table2, "table5": run_table5, "table6": run_table6}[args.table]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, tmp)
    result["quick"] = args.quick
    result["total_seconds"] = time.perf_counter() - t0
    result["machine"] = machine_info(packages=("numpy", "torch", "scikit-learn", "skorch"),
                                     device=args.device)
    if args.quick:
        print("(quick mode: tiny models, few epochs, generated clips: the scores check the "
              "pipeline, not the paper's numbers)")
    print(f"wrote {write_json(args.out, result)} ({result['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
