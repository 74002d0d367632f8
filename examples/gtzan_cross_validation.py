"""10-genre classification with pretrained SampleCNN features and logistic regression.

The transfer-learning protocol of section 4 on GTZAN: pretrained SampleCNNs
turn each clip into pooled hidden-layer activations
(:class:`~sklearn_samplecnn.MultiScaleFeatureTransformer`), and a
``Pipeline([features, StandardScaler, LogisticRegression])`` is evaluated

- on the fault-filtered split (Kereliuk et al., 2015) when
  ``fetch_gtzan(split="filtered")`` finds the ``*_filtered.txt`` lists: the
  regularisation ``C`` is chosen on the valid part, then the pipeline is refit on
  train + valid and scored on test;
- with stratified k-fold cross-validation otherwise (mean and std accuracy).

Without ``--gtzan`` the clips are generated genre songs
(:func:`~sklearn_samplecnn.datasets.make_music`, written in GTZAN's layout);
without ``--pretrained`` a tiny extractor is first pretrained on generated
auto-tagging clips. Features are cached in ``<out>/cache``, so every fold and
every ``C`` reuses them.

Run it::

    python examples/gtzan_cross_validation.py --quick        # about a minute on a CPU
    python examples/gtzan_cross_validation.py --gtzan ~/data --pretrained mtat_3-9.samplecnn
    python examples/gtzan_cross_validation.py --gtzan ~/data --device cuda \\
        --pretrained 3-9.samplecnn 5-6.samplecnn              # multi-scale, as in Table 6

The ``.samplecnn`` files named here are models you make or import: no pretrained
weights ship with the library. docs/models.md gives the recipes (train one on
MagnaTagATune, pretrain one on your own unlabelled audio, or import public weights).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    PredefinedSplit,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_samplecnn import (
    DatasetNotFoundError,
    MultiScaleFeatureTransformer,
    SampleCNNTagger,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn.datasets import fetch_gtzan, make_music
from sklearn_samplecnn.tunables import reexec_with_tunables

#: The tiny extractor pretrained when no --pretrained file is given: a 3^7 model
#: (6,561 samples, 0.8 s at 8 kHz) with few filters, trained for seconds on a CPU.
TINY_EXTRACTOR = {"module__sizes": "3^7",
                  "module__channels": [16, 16, 16, 32, 32, 32, 32, 64, 64]}
C_GRID = (0.01, 0.1, 1.0)


def load_target(args) -> tuple[object, bool]:
    """The genre clips and whether they come with the fault-filtered split."""
    home = args.gtzan
    if home is None:
        home = args.out / "gtzan"
        make_music(home / "genres", n_clips=args.n_clips, task="genre",
                   duration=args.duration, sr=args.sr, random_state=1)
    everything = fetch_gtzan(data_home=home)  # raises, naming the layout, when missing
    try:
        return fetch_gtzan(data_home=home, split="filtered"), True
    except DatasetNotFoundError:
        print("no fault-filtered split lists (train/valid/test_filtered.txt) found: "
              "stratified k-fold cross-validation")
        return everything, False


def pretrain_extractor(args) -> Path:
    source = make_music(args.out / "source", n_clips=args.n_source, task="tags",
                        duration=args.duration, sr=args.sr, random_state=0)
    tagger = SampleCNNTagger(sr=args.sr, max_epochs=args.epochs, batch_size=16, lr=0.02,
                             train_split=None, schedule=None, random_state=0,
                             verbose=0, device=args.device, **TINY_EXTRACTOR)
    tagger.fit(source.filenames, source.target)
    print(f"pretrained a tiny 3^7 tagger on {len(source.filenames)} generated clips "
          f"({len(source.target_names)} tags, {args.epochs} epochs); final train loss "
          f"{tagger.history_[-1]['train_loss']:.3f}")
    return save_pretrained(tagger, args.out / "tiny_tagger.samplecnn",
                           metadata={"source": "generated tags"})


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring (python -m pydoc) for the protocol.")
    parser.add_argument("--gtzan", type=Path, metavar="PATH",
                        help="a local GTZAN copy (the folder holding 'genres'); default: "
                             "generated genre songs")
    parser.add_argument("--pretrained", type=Path, nargs="+", metavar="FILE",
                        help=".samplecnn extractors; default: pretrain a tiny one on "
                             "generated tags")
    parser.add_argument("--out", type=Path, default=Path("gtzan_cv_output"),
                        help="folder for generated audio, the extractor and the feature cache "
                             "(default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="small generated sets (80 genre clips of 3 s, 4 folds): "
                             "about a minute on a CPU")
    parser.add_argument("--n-clips", type=int, default=100,
                        help="generated genre clips, 10 styles (default: %(default)s)")
    parser.add_argument("--n-source", type=int, default=60,
                        help="generated tag clips for pretraining (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds per generated clip (default: %(default)s)")
    parser.add_argument("--sr", type=int, default=8000,
                        help="sample rate of the generated clips and the tiny extractor, Hz "
                             "(default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=8,
                        help="pretraining epochs of the tiny extractor (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=5,
                        help="stratified folds when there is no filtered split "
                             "(default: %(default)s)")
    parser.add_argument("--layers", default="-3,-2,-1",
                        help="hidden layers to pool, comma-separated (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_clips, args.n_source, args.duration = 80, 48, 3.0
        args.epochs, args.folds = 6, 4
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    target, filtered = load_target(args)
    print(f"target: {len(target.filenames)} clips, {len(target.target_names)} genres "
          f"({', '.join(target.target_names)})")
    extractors = args.pretrained or [pretrain_extractor(args)]
    for f in extractors:
        cfg = load_pretrained(f).config
        print(f"extractor {f}: {cfg['name']}, {cfg['input_length']} samples at "
              f"{cfg['sample_rate']} Hz")

    layers = tuple(int(v) for v in args.layers.split(","))
    X = np.array(target.filenames, dtype=object)
    y = np.asarray(target.target_names)[target.target]
    features = MultiScaleFeatureTransformer(extractors=[str(f) for f in extractors],
                                            layers=layers, device=args.device,
                                            cache_dir=args.out / "cache")
    pipe = Pipeline([("features", features), ("scale", StandardScaler()),
                     ("clf", LogisticRegression(max_iter=2000))])
    chance = 1 / len(target.target_names)
    if filtered:
        fit_part = np.isin(target.split, ["train", "valid"])
        fold = np.where(target.split[fit_part] == "valid", 0, -1)
        search = GridSearchCV(pipe, {"clf__C": list(C_GRID)}, cv=PredefinedSplit(fold))
        search.fit(list(X[fit_part]), y[fit_part])
        test = target.split == "test"
        accuracy = search.score(list(X[test]), y[test])
        print(f"fault-filtered split: C={search.best_params_['clf__C']} chosen on valid "
              f"({search.best_score_:.3f}); test accuracy {accuracy:.3f} on {test.sum()} "
              f"clips (chance {chance:.3f})")
        result = {"protocol": "filtered", "accuracy": float(accuracy)}
    else:
        cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
        scores = cross_val_score(pipe.set_params(clf__C=1.0), list(X), y, cv=cv)
        print(f"{args.folds}-fold accuracy per fold: "
              f"{', '.join(f'{s:.3f}' for s in scores)}")
        print(f"accuracy {scores.mean():.3f} +/- {scores.std():.3f} "
              f"(chance {chance:.3f}, {features.fit(X[:1].tolist()).n_features_out_} "
              f"features from layers {args.layers})")
        result = {"protocol": f"{args.folds}-fold", "accuracy": float(scores.mean()),
                  "std": float(scores.std())}
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return result


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)
    main()
