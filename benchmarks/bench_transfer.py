"""Transfer: SampleCNN features against the classic MFCC baseline, on generated music.

On the demo's data (``examples/demo.py``, the same seeds: a source tagging set of
160 generated clips and the target, 100 genre clips of 10 styles, 12 s at
8 kHz), with ONE ``StratifiedKFold(5, shuffle=True, random_state=0)`` for every
row, the accuracy on the target of:

- MFCC statistics (``MFCCStatsTransformer``, 80 columns) with an RBF SVM (C=10)
  and with a logistic regression: the classic baseline;
- SampleCNN features (``MultiScaleFeatureTransformer`` with its defaults,
  ``StandardScaler``, ``LogisticRegression``) from extractors of one
  architecture (the demo's 3^7 model): random weights (several seeds),
  supervised pretraining on the source tags with the paper's recipe (SGD,
  6 epochs, as the demo did before) and with the small-data recipe (AdamW,
  weight decay, random crops, 30 epochs), and self-supervised pretraining on
  the source clips without their labels (``ContrastiveSampleCNN``);
- the supervised and self-supervised extractors together, and the union of
  the MFCC statistics with the best SampleCNN features in three designs: a
  global ``StandardScaler`` over the concatenation, a ``BlockScaler`` per
  block (equal total variance) and PCA of the SampleCNN block.

A second table says which layers and pooling transfer: every hidden layer
alone, the top three and all of them, pooled the paper's way (max over time,
mean over segments), ``"mean+std"`` (mean over time, mean and standard
deviation over segments) and ``"max+std"`` (max over time, mean and standard
deviation over segments), per kind of extractor. Rows with several seeds
average the fold accuracies over the seeds (mean +- std over the folds; the
per-seed means are listed). The "best SampleCNN" row is picked on these same
folds, so it is slightly optimistic. ::

    python benchmarks/bench_transfer.py --quick   # the demo's sizes: 5 min on 2 idle cores
    python benchmarks/bench_transfer.py           # more seeds (5 random, 3 of each pretraining)

Pretrained models. ``--student`` (a ``.samplecnn`` file or a shipped name; by default
the shipped distilled SampleCNN when there is one) and ``--teacher`` (a shipped musicnn
name) add rows to the demo's table: the teacher's features (``MusicnnTransformer``),
the student's (``MultiScaleFeatureTransformer``, its defaults), and the union of the
MFCC statistics with each. ``--clips-csv FILE`` measures on real recordings instead:
a CSV of ``path,label,group`` (``scripts/music_pool.py clips`` writes one: 10 s
excerpts of soundtracks, labelled by game, grouped by track), cross-validated with
``StratifiedGroupKFold(5)`` (no track on both sides) for each ``--cv-seeds`` shuffle,
the same folds for every row: MFCC statistics, the teacher, the student, the student's
architecture with random weights, the small-data recipe (the demo's 3^7 extractor
pretrained on the generated source tags) and the unions. ::

    python benchmarks/bench_transfer.py --clips-csv /data/eval/clips.csv --cv-seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import add_common_arguments, machine_info, print_table, write_json

from sklearn_samplecnn.tunables import reexec_with_tunables

#: The demo's data (examples/demo.py): sizes and seeds.
DATA = {"n_source": 160, "n_target": 100, "duration": 12.0, "sr": 8000,
        "source_seed": 0, "target_seed": 1}
#: The demo's 3^7 extractor: 6,561 samples (0.8 s at 8 kHz), few filters.
ARCH = {"sizes": "3^7", "channels": [16, 16, 16, 32, 32, 32, 32, 64, 64]}
#: The pooling choices compared in the layer table.
POOLINGS = ("paper", "mean+std", "max+std")
#: The library's defaults, used for every row of the main table.
DEFAULT_LAYERS, DEFAULT_POOLING = "all", "max+std"


def _settings(args) -> dict:
    if args.smoke:
        return {"n_source": 12, "n_target": 20, "duration": 2.0, "sr": 8000, "source_seed": 0,
                "target_seed": 1, "folds": 2, "sizes": "3^5", "channels": [4] * 7,
                "random_seeds": [0], "supervised_seeds": [0], "ssl_seeds": [0],
                "paper_epochs": 1, "epochs": 1, "ssl_epochs": 1, "batch_size": 8}
    seeds = {"random_seeds": [0, 1, 2], "supervised_seeds": [0, 1], "ssl_seeds": [0, 1]}
    if not args.quick:
        seeds = {"random_seeds": [0, 1, 2, 3, 4], "supervised_seeds": [0, 1, 2],
                 "ssl_seeds": [0, 1, 2]}
    return {**DATA, "folds": 5, **ARCH, **seeds, "paper_epochs": 6, "epochs": 30,
            "ssl_epochs": 100, "batch_size": 32}


# -- data and extractors -----------------------------------------------------------
def make_data(root: Path, s: dict):
    from sklearn_samplecnn.audio import load_audio
    from sklearn_samplecnn.datasets import make_music

    source = make_music(root / "source", n_clips=s["n_source"], task="tags",
                        duration=s["duration"], sr=s["sr"], random_state=s["source_seed"])
    target = make_music(root / "target", n_clips=s["n_target"], task="genre",
                        duration=s["duration"], sr=s["sr"], random_state=s["target_seed"])
    Xs = np.stack([load_audio(f, sr=s["sr"]) for f in source.filenames])
    Xt = np.stack([load_audio(f, sr=s["sr"]) for f in target.filenames])
    y = np.asarray(target.target_names)[target.target]
    return Xs, source.target, Xt, y


def random_extractor(s: dict, seed: int):
    import torch

    from sklearn_samplecnn.nn import SampleCNN

    torch.manual_seed(seed)
    return SampleCNN(s["sizes"], s["channels"], n_outputs=13).eval(), s["sr"]


def supervised(s: dict, seed: int, Xs, Ys, *, recipe: str):
    """A SampleCNNTagger on the source tags: the small-data recipe or the paper's."""
    import torch

    from sklearn_samplecnn import SampleCNNTagger

    arch = {"module__sizes": s["sizes"], "module__channels": s["channels"]}
    if recipe == "small-data":
        params = dict(optimizer=torch.optim.AdamW, lr=1e-3, optimizer__weight_decay=1e-2,
                      segment_mode="random", schedule=None, train_split=None,
                      max_epochs=s["epochs"])
    else:  # the paper's SGD and schedule, as the demo trained before
        params = dict(lr=0.02, train_split=0.15, max_epochs=s["paper_epochs"])
    return SampleCNNTagger(sr=s["sr"], batch_size=s["batch_size"], random_state=seed,
                           verbose=0, **arch, **params).fit(Xs, Ys)


def self_supervised(s: dict, seed: int, Xs):
    from sklearn_samplecnn import ContrastiveSampleCNN

    return ContrastiveSampleCNN(sr=s["sr"], module__sizes=s["sizes"],
                                module__channels=s["channels"], max_epochs=s["ssl_epochs"],
                                batch_size=s["batch_size"], train_split=None,
                                random_state=seed, verbose=0).fit(Xs)


# -- pretrained models ----------------------------------------------------------------
def default_student() -> str | None:
    """The shipped distilled SampleCNN's name, if the package has one."""
    from sklearn_samplecnn import shipped_models

    names = [n for n in shipped_models() if n.startswith("samplecnn")]
    return names[0] if names else None


def pretrained_features(X, *, student: str | None, teacher: str | None,
                        seconds: dict) -> dict:
    """``{name: matrix}`` of the teacher's and the student's features on ``X``."""
    from sklearn_samplecnn import MultiScaleFeatureTransformer, MusicnnTransformer

    out = {}
    if teacher:
        t0 = time.perf_counter()
        out["teacher"] = MusicnnTransformer(teacher).fit_transform(X)
        seconds[f"features: {teacher}"] = time.perf_counter() - t0
    if student:
        t0 = time.perf_counter()
        out["student"] = MultiScaleFeatureTransformer(extractors=[student]).fit_transform(X)
        seconds[f"features: {student}"] = time.perf_counter() - t0
    return out


def union_blockscaler(n_mfcc: int, n_other: int):
    """MFCC statistics and another block, a ``BlockScaler`` each, logistic regression C=100
    (the union recipe of docs/transfer.md)."""
    return union_pipelines(n_mfcc, n_other, 10)["BlockScaler per block, LR C=100"]


def run_csv_target(args, s: dict) -> dict:
    """Transfer on a labelled CSV of clips (real recordings), grouped folds, several
    shuffles."""
    import csv

    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from sklearn_samplecnn import MFCCStatsTransformer, MultiScaleFeatureTransformer
    from sklearn_samplecnn.nn import SampleCNN

    with open(args.clips_csv, newline="") as f:
        table = list(csv.DictReader(f))
    root = Path(args.clips_csv).parent
    X = [str(root / r["path"]) if not Path(r["path"]).is_absolute() else r["path"]
         for r in table]
    y = np.array([r["label"] for r in table])
    groups = np.array([r["group"] for r in table])
    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    blocks = {"mfcc": MFCCStatsTransformer(sr=16000).fit_transform(X)}
    seconds["features: MFCC statistics"] = time.perf_counter() - t0
    blocks.update(pretrained_features(X, student=args.student, teacher=args.teacher,
                                      seconds=seconds))
    if args.student:
        from sklearn_samplecnn import load_pretrained

        ref = load_pretrained(args.student)
        for seed in s["random_seeds"]:
            import torch

            torch.manual_seed(seed)
            cfg = ref.config["module_config"]
            rand = SampleCNN(cfg["sizes"], cfg["channels"], n_outputs=cfg["n_outputs"]).eval()
            blocks[f"random{seed}"] = MultiScaleFeatureTransformer(
                extractors=[(rand, ref.sample_rate)]).fit_transform(X)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        Xs, Ys, _, _ = make_data(Path(tmp), s)  # the demo's generated source tags
    small = [supervised(s, seed, Xs, Ys, recipe="small-data") for seed in s["supervised_seeds"]]
    seconds["small-data recipe: pretraining"] = time.perf_counter() - t0
    for k, est in enumerate(small):
        blocks[f"small{k}"] = features([est], X, DEFAULT_POOLING)[0]

    def scores(pipe, Z) -> np.ndarray:
        """(seeds, folds) accuracies: one StratifiedGroupKFold shuffle per seed."""
        return np.array([cross_val_score(pipe, Z, y, groups=groups, cv=StratifiedGroupKFold(
            s["folds"], shuffle=True, random_state=seed)) for seed in args.cv_seeds])

    def grid_row(name, per_extractor: list[np.ndarray]) -> dict:
        acc = np.mean(per_extractor, axis=0)  # (cv seeds, folds)
        return {"pipeline": name, "mean": float(acc.mean()),
                "fold_std": float(acc.std(axis=1).mean()),
                "cv_seed_means": [float(v) for v in acc.mean(axis=1)],
                "extractor_means": [float(a.mean()) for a in per_extractor]}

    mfcc = blocks["mfcc"]
    svm = make_pipeline(StandardScaler(), SVC(C=10))
    rows = [grid_row("MFCC statistics, SVM (RBF, C=10)", [scores(svm, mfcc)]),
            grid_row("MFCC statistics, logistic regression", [scores(logreg(), mfcc)])]
    if "teacher" in blocks:
        rows.append(grid_row(f"musicnn teacher ({args.teacher}), logistic regression",
                             [scores(logreg(), blocks["teacher"])]))
    if "student" in blocks:
        rows.append(grid_row(f"distilled student ({args.student}), logistic regression",
                             [scores(logreg(), blocks["student"])]))
        rows.append(grid_row(
            f"student's architecture, random weights ({len(s['random_seeds'])} seeds)",
            [scores(logreg(), blocks[f"random{seed}"]) for seed in s["random_seeds"]]))
    rows.append(grid_row(f"small-data recipe (3^7 on generated tags, "
                         f"{len(small)} seeds)",
                         [scores(logreg(), blocks[f"small{k}"]) for k in range(len(small))]))
    for name in ("student", "teacher"):
        if name in blocks:
            Z = np.hstack([mfcc, blocks[name]])
            rows.append(grid_row(f"union MFCC + {name}: BlockScaler per block, LR C=100",
                                 [scores(union_blockscaler(mfcc.shape[1],
                                                           blocks[name].shape[1]), Z)]))
    seconds["total"] = time.perf_counter() - t_start
    info = machine_info(packages=("torch", "scikit-learn", "numpy"),
                        threads=__import__("torch").get_num_threads())
    print(f"\n{info['cpu_model']}, {info['usable_cores']} cores, "
          f"torch {info['versions']['torch']}, {info['date']}")
    print_table(rows, [("pipeline", "pipeline"), ("mean", "accuracy", ".3f"),
                       ("fold_std", "+- std (folds)", ".3f"),
                       ("cv_seed_means", "per shuffle"), ("extractor_means", "per extractor")],
                title=f"\nTarget: {len(y)} clips of {len(set(groups))} tracks, "
                      f"{len(set(y))} classes ({args.clips_csv}); StratifiedGroupKFold("
                      f"{s['folds']}) by track, shuffles {args.cv_seeds}")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    result = {"machine": info, "settings": {**s, "clips_csv": str(args.clips_csv),
                                             "cv_seeds": args.cv_seeds,
                                             "student": args.student, "teacher": args.teacher},
              "rows": rows, "seconds": seconds,
              "n_clips": len(y), "n_tracks": len(set(groups)), "classes": sorted(set(y))}
    path = write_json(args.out, result)
    print(f"wrote {path}")
    return result


# -- features and scores -----------------------------------------------------------
def features(extractors: list, X, pooling, layers=DEFAULT_LAYERS):
    """(matrix, feature names) of ``MultiScaleFeatureTransformer`` on ``X``."""
    from sklearn_samplecnn import MultiScaleFeatureTransformer

    ft = MultiScaleFeatureTransformer(extractors=extractors, layers=layers, pooling=pooling)
    return ft.fit_transform(X), ft.get_feature_names_out()


def layer_columns(names) -> dict[str, np.ndarray]:
    """Column indexes per hidden layer, bottom to top (names ``model__layer__...``)."""
    layers: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        layers.setdefault(n.split("__")[1], []).append(i)
    return {k: np.asarray(v) for k, v in layers.items()}


def fold_scores(pipe, Z, y, cv) -> np.ndarray:
    from sklearn.model_selection import cross_val_score

    return cross_val_score(pipe, Z, y, cv=cv)


def logreg(C: float = 1.0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))


def union_pipelines(n_mfcc: int, n_cnn: int, n_train: int) -> dict:
    """The union designs compared, on ``[MFCC | SampleCNN]`` column blocks."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_samplecnn import BlockScaler

    mfcc, cnn = slice(0, n_mfcc), slice(n_mfcc, n_mfcc + n_cnn)

    def blocks(first, second, C):
        return make_pipeline(ColumnTransformer([("mfcc", first, mfcc), ("cnn", second, cnn)]),
                             LogisticRegression(C=C, max_iter=5000))

    n_pca = max(1, min(40, n_train - 1, n_cnn))
    return {
        "concatenation, one StandardScaler, LR C=1": logreg(1.0),
        "BlockScaler per block, LR C=100": blocks(BlockScaler(), BlockScaler(), 100.0),
        f"PCA({n_pca}) of the SampleCNN block, LR C=1": blocks(
            StandardScaler(), make_pipeline(StandardScaler(), PCA(n_pca, random_state=0),
                                            StandardScaler()), 1.0),
    }


def row(name: str, per_seed: list[np.ndarray], **extra) -> dict:
    folds = np.mean(per_seed, axis=0)
    return {"pipeline": name, "mean": float(folds.mean()), "std": float(folds.std()),
            "seeds": " ".join(f"{f.mean():.2f}" for f in per_seed) if len(per_seed) > 1 else "",
            "folds": [float(v) for v in folds], **extra}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_transfer.json")
    parser.add_argument("--student", default="auto",
                        help="the distilled student: a .samplecnn file or a shipped name "
                             "('auto': the shipped one if any; 'none': no student rows)")
    parser.add_argument("--teacher", default="MSD_musicnn",
                        help="a shipped musicnn name ('none': no teacher rows)")
    parser.add_argument("--clips-csv", type=Path,
                        help="real recordings: a CSV of path,label,group (see above)")
    parser.add_argument("--cv-seeds", default="0,1,2",
                        help="--clips-csv: the shuffles of the grouped folds (default 0,1,2)")
    args = parser.parse_args(argv)
    args.student = default_student() if args.student == "auto" else \
        None if args.student == "none" else args.student
    args.teacher = None if args.teacher == "none" else args.teacher
    args.cv_seeds = [int(v) for v in args.cv_seeds.split(",")]
    s = _settings(args)
    if args.clips_csv is not None:
        return run_csv_target(args, s)
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from sklearn_samplecnn import MFCCStatsTransformer

    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    cv = StratifiedKFold(s["folds"], shuffle=True, random_state=0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        Xs, Ys, Xt, y = make_data(Path(tmp), s)
        seconds["data"] = time.perf_counter() - t0
    n_train = len(y) - len(y) // s["folds"]

    # the classic baseline
    mfcc = MFCCStatsTransformer(sr=s["sr"]).fit_transform(Xt)
    rows = [row("MFCC statistics, SVM (RBF, C=10)",
                [fold_scores(make_pipeline(StandardScaler(), SVC(C=10)), mfcc, y, cv)]),
            row("MFCC statistics, logistic regression", [fold_scores(logreg(), mfcc, y, cv)])]

    # the extractors
    extractors: dict[str, list] = {"random": [], "paper": [], "supervised": [], "ssl": []}
    t0 = time.perf_counter()
    extractors["random"] = [random_extractor(s, seed) for seed in s["random_seeds"]]
    for seed in s["supervised_seeds"]:
        print(f"training: supervised (small-data recipe), seed {seed}", flush=True)
        extractors["supervised"].append(supervised(s, seed, Xs, Ys, recipe="small-data"))
    seconds["supervised, small-data recipe (per seed)"] = \
        (time.perf_counter() - t0) / len(s["supervised_seeds"])
    t0 = time.perf_counter()
    print("training: supervised (paper's recipe), seed 0", flush=True)
    extractors["paper"].append(supervised(s, 0, Xs, Ys, recipe="paper"))
    seconds["supervised, paper's recipe"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for seed in s["ssl_seeds"]:
        print(f"training: self-supervised, seed {seed}", flush=True)
        extractors["ssl"].append(self_supervised(s, seed, Xs))
    seconds["self-supervised (per seed)"] = (time.perf_counter() - t0) / len(s["ssl_seeds"])

    # which layers and pooling transfer
    t0 = time.perf_counter()
    feats: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    default = DEFAULT_POOLING
    for kind, items in extractors.items():
        for pooling in POOLINGS:
            if kind != "paper" or pooling == default:
                feats[kind, pooling] = [features([e], Xt, pooling) for e in items]
    layer_rows = []
    for kind in ("random", "supervised", "ssl"):
        for pname in POOLINGS:
            cols = [layer_columns(names) for _, names in feats[kind, pname]]
            layer_names = list(cols[0])
            choices = {f"{i + 1}: {n}": [n] for i, n in enumerate(layer_names)}
            choices["top 3"] = layer_names[-3:]
            choices["all"] = layer_names
            for label, chosen in choices.items():
                per_seed = [fold_scores(logreg(), Z[:, np.concatenate([c[n] for n in chosen])],
                                        y, cv) for (Z, _), c in zip(feats[kind, pname], cols)]
                layer_rows.append({"extractor": kind, "pooling": pname, "layers": label,
                                   "mean": float(np.mean(per_seed))})
    seconds["features and layer table"] = time.perf_counter() - t0

    # the main table: the library's defaults (all layers, "max+std")
    labels = {"random": f"SampleCNN, random weights ({len(s['random_seeds'])} seeds)",
              "paper": "SampleCNN, supervised, paper's recipe (SGD, "
                       f"{s['paper_epochs']} epochs)",
              "supervised": "SampleCNN, supervised, small-data recipe (AdamW, "
                            f"{s['epochs']} epochs)",
              "ssl": f"SampleCNN, self-supervised ({s['ssl_epochs']} epochs, no labels)"}
    cnn_rows = {}
    for kind in ("random", "paper", "supervised", "ssl"):
        cnn_rows[kind] = row(labels[kind], [fold_scores(logreg(), Z, y, cv)
                                            for Z, _ in feats[kind, default]])
    both = [np.hstack([a[0], b[0]]) for a, b in zip(feats["supervised", default],
                                                     feats["ssl", default])]
    cnn_rows["both"] = row("SampleCNN, supervised + self-supervised extractors",
                           [fold_scores(logreg(), Z, y, cv) for Z in both])
    rows += list(cnn_rows.values())
    best_kind = max(cnn_rows, key=lambda k: cnn_rows[k]["mean"])
    best_blocks = both if best_kind == "both" else [Z for Z, _ in feats[best_kind, default]]
    best = dict(cnn_rows[best_kind], pipeline=f"best SampleCNN: {cnn_rows[best_kind]['pipeline']}")
    rows.append(best)
    union_rows = []
    for design in union_pipelines(mfcc.shape[1], best_blocks[0].shape[1], n_train):
        per_seed = [fold_scores(union_pipelines(mfcc.shape[1], Z.shape[1], n_train)[design],
                                np.hstack([mfcc, Z]), y, cv) for Z in best_blocks]
        union_rows.append(row(f"union MFCC + best SampleCNN: {design}", per_seed))
    rows += union_rows
    # the shipped models run at 16 kHz: the target's waveforms go with their rate, as
    # (y, sr) pairs, and are resampled as files would be
    pre = pretrained_features([(x, s["sr"]) for x in Xt], student=args.student,
                              teacher=args.teacher, seconds=seconds)
    for name, Z in pre.items():
        label = {"teacher": f"musicnn teacher ({args.teacher})",
                 "student": f"distilled student ({args.student})"}[name]
        rows.append(row(f"{label}, logistic regression", [fold_scores(logreg(), Z, y, cv)]))
        rows.append(row(f"union MFCC + {name}: BlockScaler per block, LR C=100",
                        [fold_scores(union_blockscaler(mfcc.shape[1], Z.shape[1]),
                                     np.hstack([mfcc, Z]), y, cv)]))
    seconds["total"] = time.perf_counter() - t_start

    info = machine_info(packages=("torch", "scikit-learn", "numpy"),
                        threads=__import__("torch").get_num_threads())
    print(f"\n{info['cpu_model']}, {info['usable_cores']} cores, "
          f"torch {info['versions']['torch']}, {info['date']}")
    print_table(layer_rows, [("extractor", "extractor"), ("pooling", "pooling"),
                             ("layers", "layers"), ("mean", "accuracy", ".3f")],
                title="\nWhich layers and pooling transfer (logistic regression, mean over "
                      "seeds and folds)")
    print_table(rows, [("pipeline", "pipeline"), ("mean", "accuracy", ".3f"),
                       ("std", "+- std", ".3f"), ("seeds", "per seed")],
                title=f"\nTarget: {len(y)} generated genre clips, {len(set(y))} styles; "
                      f"{s['folds']}-fold stratified CV (the same folds for every row)")
    mfcc_best = max(rows[0]["mean"], rows[1]["mean"])
    union_main = union_rows[1]  # the BlockScaler design
    gains = {"ssl_minus_random": cnn_rows["ssl"]["mean"] - cnn_rows["random"]["mean"],
             "supervised_minus_random": cnn_rows["supervised"]["mean"]
             - cnn_rows["random"]["mean"],
             "small_data_minus_paper_recipe": cnn_rows["supervised"]["mean"]
             - cnn_rows["paper"]["mean"],
             "best_cnn_minus_mfcc": best["mean"] - mfcc_best,
             "union_minus_best_single": union_main["mean"] - max(best["mean"], mfcc_best)}
    print("accuracy gains: " + ", ".join(f"{k} {v:+.3f}" for k, v in gains.items()))
    winner = max(rows, key=lambda r: r["mean"])
    print(f"best row: {winner['pipeline']} ({winner['mean']:.3f})")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    result = {"machine": info, "settings": s, "rows": rows, "layer_rows": layer_rows,
              "gains": gains, "seconds": seconds, "best_kind": best_kind}
    path = write_json(args.out, result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)
    main()
