"""The main demo: the shipped pretrained models against the classic MFCC baseline, and their union.

1. Generate a target genre set (no downloads), or use a local GTZAN copy as the
   target (``--gtzan``).
2. Get the extractor (:func:`get_extractor`): the SampleCNN that ships with the
   library (distilled from musicnn on openly licensed recordings, docs/models.md),
   or your own files (``--pretrained``), or, with ``--from-scratch``, a small
   SampleCNN tagger pretrained here on a generated source set with the small-data
   recipe (what the demo did before a model shipped).
3. Cross-validate on the target, with the same stratified folds for every row:
   the MFCC baseline (``MFCCStatsTransformer`` with an SVM and with a logistic
   regression), the SampleCNN features (``MultiScaleFeatureTransformer`` with
   its defaults, a logistic regression), the shipped musicnn teacher's features
   (``MusicnnTransformer``) and the union of the MFCC statistics and the SampleCNN
   features (a ``FeatureUnion`` with a ``BlockScaler`` per block).
4. Repeat 3 for ``--seeds`` seeds (seed ``s`` shuffles the folds with
   ``random_state=s``; with ``--from-scratch`` it also pretrains with
   ``random_state=s``), print every pipeline's mean accuracy with its spread over
   the seeds (standard deviation, lowest and highest, each seed's value) and say
   which wins and whether by more than that spread: the protocol and table
   docs/transfer.md reports.
5. Write the confusion matrix of the winner (first seed) as a PNG.

Runs in about a minute on 2 CPU cores::

    make demo                     # or: python examples/demo.py
    python examples/demo.py --gtzan ~/data/gtzan --pretrained msd_3-9.samplecnn
    python examples/demo.py --gtzan ~/data/gtzan --on-error skip   # a copy with broken files
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sklearn_samplecnn import (
    AudioLoadError,
    BlockScaler,
    MFCCStatsTransformer,
    MultiScaleFeatureTransformer,
    MusicnnTransformer,
    SampleCNNTagger,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn.datasets import fetch_gtzan, make_music
from sklearn_samplecnn.tunables import reexec_with_tunables

#: The SampleCNN that ships with the library (docs/models.md).
SHIPPED = "samplecnn_musicnn_16k"
#: The shipped musicnn teacher, for its own row.
TEACHER = "MSD_musicnn"
#: --from-scratch: a 3^7 SampleCNN at 8 kHz (6,561 samples, 0.8 s) with few filters.
EXTRACTOR = {"module__sizes": "3^7", "module__channels": [16, 16, 16, 32, 32, 32, 32, 64, 64]}
#: The small-data recipe (docs/transfer.md): AdamW with weight decay, new random crops
#: every epoch, no plateau schedule and no validation split; epochs from --epochs.
RECIPE = {"optimizer": torch.optim.AdamW, "lr": 1e-3, "optimizer__weight_decay": 1e-2,
          "segment_mode": "random", "schedule": None, "train_split": None, "batch_size": 32}


class Timer:
    def __init__(self):
        self.stages: list[tuple[str, float]] = []

    def stage(self, name):
        timer = self

        class _Stage:
            def __enter__(self):
                print(f"\n== {name}", flush=True)
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.stages.append((name, time.perf_counter() - self.t0))

        return _Stage()


def get_extractor(args, seed: int) -> list:
    """The extractors for ``seed``: the ``--pretrained`` files, the SampleCNN shipped with
    the library (by name; nothing to train), or with ``--from-scratch`` a 3^7 tagger
    pretrained here with the small-data recipe on the generated source set (seeded by
    ``seed``). The one place the demo's SampleCNN features come from.
    """
    if args.pretrained:
        return list(args.pretrained)
    if not args.from_scratch:
        return [SHIPPED]
    source = make_music(args.out / "source", n_clips=args.n_source, task="tags",
                        duration=args.duration, sr=args.sr, random_state=0)
    tagger = SampleCNNTagger(sr=args.sr, max_epochs=args.epochs, random_state=seed, verbose=1,
                             **RECIPE, **EXTRACTOR)
    print(f"-- pretraining 3^7 on {len(source.filenames)} clips, "
          f"{len(source.target_names)} tags, {args.epochs} epochs, seed {seed}")
    tagger.fit(source.filenames, source.target)
    return [save_pretrained(tagger, args.out / f"source_3-7_seed{seed}.samplecnn",
                            metadata={"source": "generated tags", "seed": seed})]


def pipelines(files, args) -> dict:
    """The pipelines compared, each from clips to a label."""
    cache = args.out / "cache"
    mfcc = MFCCStatsTransformer(sr=args.sr, cache_dir=cache, on_error=args.on_error)
    cnn = MultiScaleFeatureTransformer(extractors=[str(f) for f in files], device=args.device,
                                       cache_dir=cache, on_error=args.on_error)
    union = FeatureUnion([("mfcc", make_pipeline(clone(mfcc), BlockScaler())),
                          ("samplecnn", make_pipeline(clone(cnn), BlockScaler()))])
    pipes = {
        "MFCC statistics, SVM (C=10)": make_pipeline(mfcc, StandardScaler(), SVC(C=10)),
        "MFCC statistics, logistic regression": make_pipeline(
            clone(mfcc), StandardScaler(), LogisticRegression(max_iter=5000)),
        "SampleCNN features, logistic regression": make_pipeline(
            cnn, StandardScaler(), LogisticRegression(max_iter=5000)),
        "union, BlockScaler per block, logistic regression (C=100)": make_pipeline(
            union, LogisticRegression(C=100, max_iter=5000)),
    }
    if not args.no_teacher:
        pipes["musicnn (MSD) features, logistic regression"] = make_pipeline(
            MusicnnTransformer(TEACHER, device=args.device, cache_dir=cache,
                               on_error=args.on_error),
            StandardScaler(), LogisticRegression(max_iter=5000))
    return pipes


def check_target(X, y, args):
    """Decode every target clip once (MFCC pass, cached); list and handle failures."""
    check = MFCCStatsTransformer(sr=args.sr, cache_dir=args.out / "cache",
                                 on_error=args.on_error)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the failed files are listed below
        check.fit_transform(X)
    failed = set(check.failed_files_)
    if failed:
        print(f"{len(failed)} of {len(X)} clips could not be decoded (left out of the "
              "evaluation):")
        for f in sorted(failed):
            print(f"  {f}")
    if failed:
        keep = [i for i, f in enumerate(X) if str(f) not in failed]
        X, y = [X[i] for i in keep], y[keep]
    return X, y, sorted(failed)


def save_confusion(cm: np.ndarray, labels, path: Path) -> Path | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no confusion-matrix PNG "
              "(pip install 'sklearn-samplecnn[plots]').")
        return None
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def verdict(scores: dict, spread: str) -> str:
    """Which pipeline wins, by how much, and whether that is more than the spread
    (``scores``: name -> (mean, standard deviation over ``spread``))."""
    (first, (m1, s1)), (second, (m2, _)) = sorted(scores.items(), key=lambda kv: -kv[1][0])[:2]
    if m1 == m2:
        return f"no winner: {first} and {second} tie at {m1:.3f}"
    clear = "more" if m1 - m2 > s1 else "less"
    return (f"winner: {first}, {m1:.3f}, {m1 - m2:+.3f} over {second} ({clear} than one "
            f"standard deviation over the {spread}, {s1:.3f})")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_output"),
                        help="folder for generated audio, models, cache and the PNG")
    parser.add_argument("--gtzan", type=Path, help="a local GTZAN copy to use as the target")
    parser.add_argument("--pretrained", type=Path, nargs="+",
                        help="use these .samplecnn files instead of the shipped SampleCNN")
    parser.add_argument("--from-scratch", action="store_true",
                        help="pretrain a small SampleCNN on generated clips here instead of "
                             "using the shipped one (what the demo did before one shipped)")
    parser.add_argument("--no-teacher", action="store_true",
                        help="leave out the musicnn teacher's row")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                        help="target clips that fail to decode: stop with a message, or list "
                             "them and go on without them")
    parser.add_argument("--sr", type=int, default=8000,
                        help="rate of generated audio and of the MFCC statistics (Hz)")
    parser.add_argument("--n-source", type=int, default=160,
                        help="--from-scratch: generated source clips")
    parser.add_argument("--n-target", type=int, default=100, help="generated target clips")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per clip")
    parser.add_argument("--epochs", type=int, default=30,
                        help="--from-scratch: pretraining epochs")
    parser.add_argument("--folds", type=int, default=5, help="stratified CV folds")
    parser.add_argument("--seeds", type=int, default=3,
                        help="repeat the CV (and --from-scratch pretraining) with seeds 0 ... "
                             "N-1 and report the spread over them (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--quick", action="store_true",
                        help="a one-minute check: 40 target clips of 6 s, 2 folds, 2 seeds "
                             "(--from-scratch: 40 source clips, 1 epoch)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_source, args.n_target, args.duration, args.epochs, args.folds = 40, 40, 6.0, 1, 2
        args.seeds = 2
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        return run(args)
    except AudioLoadError as exc:
        sys.exit(f"error: {exc}\n(--on-error skip lists the files that "
                 "fail to decode and goes on without them)")


def run(args) -> dict:
    timer = Timer()
    with timer.stage("data"):
        if args.gtzan:
            target = fetch_gtzan(data_home=args.gtzan)
            print(f"GTZAN: {len(target.filenames)} clips, {len(target.target_names)} genres")
        else:
            target = make_music(args.out / "target", n_clips=args.n_target, task="genre",
                                duration=args.duration, sr=args.sr, random_state=1)
            print(f"target: {len(target.filenames)} generated genre clips "
                  f"({', '.join(target.target_names)})")
        y = np.asarray(target.target_names)[target.target]
        X, y, failed = check_target(list(target.filenames), y, args)
    seeds = list(range(args.seeds))
    per_seed: dict[str, list[float]] = {}
    fold_std: dict[str, list[float]] = {}
    for seed in seeds:
        print(f"\n##### seed {seed}", flush=True)
        with timer.stage(f"the extractor (seed {seed})"):
            files = get_extractor(args, seed)
        if seed == seeds[0] or args.from_scratch:
            for f in files:
                cfg = load_pretrained(f).config
                print(f"extractor {f}: {cfg['name']}, {cfg['input_length']} samples at "
                      f"{cfg['sample_rate']} Hz")
        cv = StratifiedKFold(args.folds, shuffle=True, random_state=seed)
        pipes = pipelines(files, args)
        with timer.stage(f"{args.folds}-fold stratified CV on {len(X)} clips, the same folds "
                         f"for every pipeline (seed {seed})"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # failed files were listed above
                for name, pipe in pipes.items():
                    s = cross_val_score(pipe, X, y, cv=cv)
                    per_seed.setdefault(name, []).append(float(s.mean()))
                    fold_std.setdefault(name, []).append(float(s.std()))
        if seed == seeds[0]:
            first = (files, cv, pipes)
    many = len(seeds) > 1
    spread = f"{len(seeds)} seeds" if many else f"{args.folds} folds"
    scores = {n: (float(np.mean(v)), float(np.std(v) if many else fold_std[n][0]))
              for n, v in per_seed.items()}
    width = max(map(len, scores))
    print(f"\naccuracy: mean over {len(seeds)} seed{'s' if many else ''} x {args.folds} "
          f"folds; +- std over the {spread}; each seed's mean over its folds")
    print(f"{'pipeline':<{width}}  accuracy  +- std   lowest  highest  per seed")
    for name, (mean, std) in scores.items():
        values = per_seed[name]
        print(f"{name:<{width}}  {mean:8.3f}  {std:6.3f}  {min(values):7.3f}  "
              f"{max(values):7.3f}  {' '.join(f'{v:.3f}' for v in values)}")
    mfcc = max(scores[n][0] for n in scores if n.startswith("MFCC"))
    cnn = scores["SampleCNN features, logistic regression"][0]
    union = scores["union, BlockScaler per block, logistic regression (C=100)"][0]
    chance = 1 / len(np.unique(y))
    print(f"\nSampleCNN features vs the better MFCC pipeline: {cnn - mfcc:+.3f}")
    print(f"union vs the better of the two: {union - max(cnn, mfcc):+.3f}")
    print(verdict(scores, spread))
    best = max(scores, key=lambda n: scores[n][0])
    print(f"best: {best} accuracy {scores[best][0]:.3f} (chance {chance:.3f})")
    files, cv, pipes = first
    with timer.stage(f"confusion matrix (cross-validated predictions of the winner, seed "
                     f"{seeds[0]})"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = cross_val_predict(pipes[best], X, y, cv=cv)
        labels = sorted(np.unique(y))
        png = save_confusion(confusion_matrix(y, pred, labels=labels), labels,
                             args.out / "confusion_matrix.png")
    if png:
        print(f"confusion matrix written to {png}")
    print("\ntime per stage:")
    for name, seconds in timer.stages:
        print(f"  {seconds:7.1f} s  {name}")
    return {"scores": scores, "per_seed": per_seed, "best": best,
            "best_score": scores[best][0], "chance": chance, "failed_files": failed,
            "png": str(png) if png else None}


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)  # glibc malloc settings for fast CPU training
    main()
