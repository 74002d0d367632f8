"""Transfer learning (section 4, Table 6): pretrain a tagger, reuse its layers on a genre task.

1. Pretrain a SampleCNNTagger on a generated *source* auto-tagging set and save
   it as a ``.samplecnn`` file.
2. Load the file in a :class:`~sklearn_samplecnn.MultiScaleFeatureTransformer`
   (max-pool over time within a segment, mean over the clip's segments).
3. Cross-validate ``Pipeline([features, StandardScaler, head])`` on a *different*
   generated target genre set, once per layer choice: the last three hidden
   layers one at a time (-3, -2, -1) and all three concatenated, like Table 6.

The head is a logistic regression (``--head logreg``) or the paper's two fully
connected layers of 4,096 units, ``MLPClassifier(hidden_layer_sizes=(4096, 4096))``
(``--head mlp``; ``--mlp-hidden`` changes the sizes, and ``--quick`` uses
256,256 unless told otherwise). Features are cached in ``<out>/cache``: every
fold reuses them.

Run it::

    python examples/transfer_learning.py --quick             # well under a minute on a CPU
    python examples/transfer_learning.py --head mlp --quick  # the paper's head, smaller
    python examples/transfer_learning.py --n-source 400 --n-target 200 --duration 20 \\
        --epochs 20 --head mlp                               # closer to the paper; slower
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_samplecnn import MultiScaleFeatureTransformer, SampleCNNTagger, save_pretrained
from sklearn_samplecnn.datasets import make_music
from sklearn_samplecnn.tunables import reexec_with_tunables

#: The layer choices compared, as in Table 6 (one layer at a time, then all three).
LAYER_CHOICES = [(-3,), (-2,), (-1,), (-3, -2, -1)]
#: The paper's downstream head: two fully connected layers of 4,096 units.
PAPER_MLP = (4096, 4096)
#: Hidden sizes of ``--head mlp --quick`` when ``--mlp-hidden`` is not given.
QUICK_MLP = (256, 256)
#: The pretrained model: a 3^7 SampleCNN (6,561 samples, 0.8 s at 8 kHz), few filters.
SOURCE_MODEL = {"module__sizes": "3^7", "module__channels": [16, 16, 16, 32, 32, 32, 32, 64, 64]}


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 4096,4096, got {text!r}") \
            from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return sizes


def make_head(args):
    if args.head == "logreg":
        return LogisticRegression(max_iter=2000)
    return MLPClassifier(hidden_layer_sizes=args.mlp_hidden, alpha=1e-3, max_iter=500,
                         early_stopping=False, random_state=0)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Everything is generated: nothing is downloaded.")
    parser.add_argument("--out", type=Path, default=Path("transfer_output"),
                        help="folder for generated audio, the model and the feature cache "
                             "(default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="small sets (48 source, 40 target clips of 3 s, 4 folds, 6 "
                             "epochs): well under a minute on a CPU")
    parser.add_argument("--n-source", type=int, default=120,
                        help="generated source (tagging) clips (default: %(default)s)")
    parser.add_argument("--n-target", type=int, default=100,
                        help="generated target (genre) clips (default: %(default)s)")
    parser.add_argument("--styles", default="blues,classical,disco,hiphop,metal",
                        help="target genres, comma-separated (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=8.0,
                        help="seconds per clip (default: %(default)s)")
    parser.add_argument("--sr", type=int, default=8000, help="sample rate, Hz "
                        "(default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="pretraining epochs (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=5,
                        help="stratified cross-validation folds (default: %(default)s)")
    parser.add_argument("--head", choices=("logreg", "mlp"), default="logreg",
                        help="downstream classifier: logistic regression, or the paper's "
                             "MLP (default: %(default)s)")
    parser.add_argument("--mlp-hidden", type=_sizes, metavar="N,N",
                        help="hidden layer sizes of --head mlp (default: 4096,4096, the "
                             "paper's; 256,256 with --quick)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_source, args.n_target, args.duration = 48, 40, 3.0
        args.epochs, args.folds = 6, 4
    if args.head == "mlp" and args.mlp_hidden is None:
        args.mlp_hidden = QUICK_MLP if args.quick else PAPER_MLP
        if args.quick:
            print(f"quick mode: MLP head with hidden sizes {QUICK_MLP} instead of the paper's "
                  f"{PAPER_MLP} (--mlp-hidden 4096,4096 for those)")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    source = make_music(args.out / "source", n_clips=args.n_source, task="tags",
                        duration=args.duration, sr=args.sr, random_state=0)
    styles = [s.strip() for s in args.styles.split(",")]
    target = make_music(args.out / "target", n_clips=args.n_target, task="genre",
                        duration=args.duration, sr=args.sr, styles=styles, random_state=1)
    print(f"source: {len(source.filenames)} tag clips ({len(source.target_names)} tags); "
          f"target: {len(target.filenames)} genre clips ({', '.join(target.target_names)})")

    tagger = SampleCNNTagger(sr=args.sr, max_epochs=args.epochs, batch_size=16, lr=0.02,
                             train_split=0.2, random_state=0, verbose=0, device=args.device,
                             **SOURCE_MODEL)
    tagger.fit(source.filenames, source.target)
    tagger.tags_ = np.array(source.target_names, dtype=object)
    path = save_pretrained(tagger, args.out / "source_tagger.samplecnn",
                           metadata={"source": "generated tags"})
    last = tagger.history_[-1]
    print(f"pretrained {tagger.module_.name} for {len(tagger.history_)} epochs "
          f"(train loss {last['train_loss']:.3f}, valid loss {last['valid_loss']:.3f}); "
          f"saved {path}")

    head_name = ("LogisticRegression" if args.head == "logreg"
                 else f"MLPClassifier(hidden_layer_sizes={args.mlp_hidden})")
    X = list(target.filenames)
    y = np.asarray(target.target_names)[target.target]
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    print(f"\n{args.folds}-fold accuracy on the target, head {head_name} "
          f"(chance {1 / len(styles):.3f}):")
    print(f"  {'layers':<14}{'features':>9}{'accuracy':>10}{'std':>8}")
    rows = {}
    for layers in LAYER_CHOICES:
        features = MultiScaleFeatureTransformer(extractors=[str(path)], layers=layers,
                                                pooling="paper", device=args.device,
                                                cache_dir=args.out / "cache")
        pipe = Pipeline([("features", features), ("scale", StandardScaler()),
                         ("clf", make_head(args))])
        scores = cross_val_score(pipe, X, y, cv=cv)
        n_features = features.fit(X[:1]).n_features_out_
        rows[",".join(map(str, layers))] = (float(scores.mean()), float(scores.std()))
        print(f"  {','.join(map(str, layers)):<14}{n_features:>9}{scores.mean():>10.3f}"
              f"{scores.std():>8.3f}")
    best = max(rows, key=lambda k: rows[k][0])
    print(f"best: layers {best}, accuracy {rows[best][0]:.3f} +/- {rows[best][1]:.3f}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return {"per_layer": rows, "best": best, "head": head_name}


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)
    main()
