"""The main demo: pretrain SampleCNN extractors, then transfer them to a genre task.

1. Generate a source auto-tagging set and a target genre set (no downloads).
2. Pretrain two small SampleCNN taggers of different input lengths on the source.
3. Save them as ``.samplecnn`` files and load them in a MultiScaleFeatureTransformer.
4. GridSearchCV + StratifiedKFold over a Pipeline(features, scaler, logistic
   regression) on the target: accuracy per grid point and per layer choice.
5. Write a confusion-matrix PNG.

Runs in a few minutes on 2 CPU cores::

    make demo                     # or: python examples/demo.py
    python examples/demo.py --gtzan ~/data/gtzan --pretrained msd_3-9.samplecnn
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_samplecnn import (
    MultiScaleFeatureTransformer,
    SampleCNNTagger,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn._runtime import reexec_with_tunables
from sklearn_samplecnn.datasets import fetch_gtzan, make_music

# Two small extractors at 8 kHz with different input lengths (multi-scale, section 4):
# Table 3's 8 kHz model (20,736 samples, 2.6 s) and a 3^7 model (6,561 samples, 0.8 s),
# both with fewer filters than the paper so that pretraining takes a minute on a CPU.
EXTRACTORS = {
    "8k-table3": {"module__sizes": "3-3-3-3-2-2-4-4-2-2",
                  "module__channels": [16, 16, 16, 32, 32, 32, 32, 32, 64, 64, 64]},
    "3^7": {"module__sizes": "3^7", "module__channels": [16, 16, 16, 32, 32, 32, 32, 64, 64]},
}
LAYER_CHOICES = [(-3,), (-2,), (-1,), (-3, -2, -1)]


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


def pretrain(source, out_dir: Path, args) -> list[Path]:
    files = []
    for name, arch in EXTRACTORS.items():
        tagger = SampleCNNTagger(sr=args.sr, max_epochs=args.epochs, batch_size=32, lr=0.02,
                                 train_split=0.15, random_state=0, verbose=1, **arch)
        print(f"-- pretraining {name} on {len(source.filenames)} clips, "
              f"{len(source.target_names)} tags")
        tagger.fit(source.filenames, source.target)
        path = save_pretrained(tagger, out_dir / f"source_{name.replace('^', '-')}.samplecnn",
                               metadata={"source": "generated tags"})
        files.append(path)
    return files


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


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_output"),
                        help="folder for generated audio, models, cache and the PNG")
    parser.add_argument("--gtzan", type=Path, help="a local GTZAN copy to use as the target")
    parser.add_argument("--pretrained", type=Path, nargs="+",
                        help="use these .samplecnn files instead of pretraining")
    parser.add_argument("--sr", type=int, default=8000, help="rate of generated audio (Hz)")
    parser.add_argument("--n-source", type=int, default=160, help="generated source clips")
    parser.add_argument("--n-target", type=int, default=100, help="generated target clips")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per clip")
    parser.add_argument("--epochs", type=int, default=6, help="pretraining epochs per model")
    parser.add_argument("--folds", type=int, default=5, help="stratified CV folds")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--quick", action="store_true",
                        help="a 30-second check: 40 source and 40 target clips of 6 s, "
                             "1 epoch, 2 folds")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_source, args.n_target, args.duration, args.epochs, args.folds = 40, 40, 6.0, 1, 2
    args.out.mkdir(parents=True, exist_ok=True)
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
    if args.pretrained:
        files = args.pretrained
    else:
        with timer.stage("pretraining extractors on the source tagging set"):
            source = make_music(args.out / "source", n_clips=args.n_source, task="tags",
                                duration=args.duration, sr=args.sr, random_state=0)
            files = pretrain(source, args.out, args)
    for f in files:
        cfg = load_pretrained(f).config
        print(f"extractor {f}: {cfg['name']}, {cfg['input_length']} samples at "
              f"{cfg['sample_rate']} Hz")

    y = np.asarray(target.target_names)[target.target]
    X = list(target.filenames)
    feats = MultiScaleFeatureTransformer(extractors=[str(f) for f in files],
                                         device=args.device, cache_dir=args.out / "cache")
    pipe = Pipeline([("features", feats), ("scale", StandardScaler()),
                     ("clf", LogisticRegression(max_iter=2000))])
    grid = {"features__layers": LAYER_CHOICES, "clf__C": [0.1, 1.0, 10.0]}
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    with timer.stage(f"GridSearchCV, {args.folds}-fold stratified CV on {len(X)} clips"):
        search = GridSearchCV(pipe, grid, cv=cv, n_jobs=1).fit(X, y)
    res = search.cv_results_
    print(f"\n{'layers':<14}{'C':>6}{'accuracy':>12}{'std':>8}")
    for params, mean, std in zip(res["params"], res["mean_test_score"], res["std_test_score"]):
        print(f"{str(params['features__layers']):<14}{params['clf__C']:>6}{mean:>12.3f}"
              f"{std:>8.3f}")
    print("\nbest per layer choice (Table 6 style):")
    per_layer = {}
    for layers in LAYER_CHOICES:
        rows = [i for i, p in enumerate(res["params"]) if p["features__layers"] == layers]
        best = max(rows, key=lambda i: res["mean_test_score"][i])
        per_layer[str(layers)] = (res["mean_test_score"][best], res["std_test_score"][best])
        print(f"  layers {str(layers):<14} {per_layer[str(layers)][0]:.3f} "
              f"+/- {per_layer[str(layers)][1]:.3f}")
    chance = 1 / len(np.unique(y))
    print(f"best: {search.best_params_} accuracy {search.best_score_:.3f} "
          f"(chance {chance:.3f})")
    with timer.stage("confusion matrix (cross-validated predictions of the best pipeline)"):
        pred = cross_val_predict(search.best_estimator_, X, y, cv=cv)
        labels = sorted(np.unique(y))
        png = save_confusion(confusion_matrix(y, pred, labels=labels), labels,
                             args.out / "confusion_matrix.png")
    if png:
        print(f"confusion matrix written to {png}")
    print("\ntime per stage:")
    for name, seconds in timer.stages:
        print(f"  {seconds:7.1f} s  {name}")
    return {"best_score": float(search.best_score_), "chance": chance,
            "per_layer": per_layer, "png": str(png) if png else None}


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)  # glibc malloc settings for fast CPU training
    main()
