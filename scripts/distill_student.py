"""Distil musicnn (MSD) into the SampleCNN that ships with the library, in resumable chunks.

The student is the paper's 3^9 SampleCNN layout at 16 kHz (59,049 samples, 3.69 s),
trained by :class:`sklearn_samplecnn.DistilledSampleCNN` on unlabelled, openly
licensed recordings (the pool of ``scripts/music_pool.py``) plus generated clips
(``make_music``, seeds the demo does not use). The teacher is the shipped
``MSD_musicnn``: per window its 50 tag probabilities (soft targets) and its
pooled mid-level features (an embedding head), computed once and kept in a
feature store.

Every command resumes: ``train`` picks up the last finished epoch from
``WORK/checkpoint`` and stops by itself at the end of the first epoch that would
overrun ``--hours`` (a kill loses at most the epoch in progress)::

    python scripts/music_pool.py --root /data all          # the pool (see that script)
    python scripts/distill_student.py train --manifest /data/pool/manifest.csv \\
        --work /data/distill --hours 1                     # repeat until it says done
    python scripts/distill_student.py export --work /data/distill \\
        --out sklearn_samplecnn/models/samplecnn_musicnn_16k.samplecnn

``WORK/budget.json`` adds up the wall-clock and CPU seconds of every chunk (the
teacher's pass included); ``status`` prints it with the training history.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

import numpy as np

GENERATED = {"genre": 101, "tags": 102}  # make_music seeds; the demo uses 0 and 1
WIDTHS = {"table1": 1.0, "half": 0.5}


def time_budget(seconds: float):
    """A skorch callback: after an epoch (and its checkpoint), stop the run when the next
    epoch would end past the budget. Stopping is a Ctrl-C, so the run is not marked
    complete and the same command resumes it."""
    from skorch.callbacks import Callback

    class TimeBudget(Callback):
        def __init__(self, seconds: float) -> None:
            self.seconds = seconds

        def initialize(self):
            self.start_ = time.monotonic()
            self.stop_ = False
            return self

        def on_epoch_end(self, net, **kwargs):
            elapsed = time.monotonic() - self.start_
            last = net.history[-1]["dur"]
            if elapsed + last > self.seconds and len(net.history) < net.max_epochs:
                print(f"time budget: {elapsed / 60:.1f} min used, the next epoch needs about "
                      f"{last / 60:.1f}; stopping here (run the same command to resume)",
                      flush=True)
                self.stop_ = True

        def on_epoch_begin(self, net, **kwargs):
            if self.stop_:  # the last epoch is checkpointed and printed by now
                os.kill(os.getpid(), signal.SIGINT)

    return TimeBudget(seconds)


def cosine_lr(lr: float, epochs: int, floor: float = 0.01):
    """A skorch callback setting each epoch's learning rate from the epoch number alone
    (a half cosine from ``lr`` to ``floor * lr``), so a resumed run follows the same
    schedule."""
    import math

    from skorch.callbacks import Callback

    class CosineLR(Callback):
        def on_epoch_begin(self, net, **kwargs):
            k = len(net.history) - 1  # the new epoch's row is already there
            rate = lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * k / epochs)))
            for group in net.optimizer_.param_groups:
                group["lr"] = rate
            net.history.record("lr", rate)

    return CosineLR()


def read_manifests(paths: list[Path]) -> list[str]:
    files = []
    for path in paths:
        with open(path, newline="") as f:
            files += [row["audio_path"] for row in csv.DictReader(f)]
    return sorted(files)


def generated_clips(root: Path, n: int, sr: int) -> list[str]:
    from sklearn_samplecnn.datasets import make_music

    files = []
    for task, seed in GENERATED.items():
        music = make_music(root / f"make_music_{task}", n_clips=n, task=task, duration=15.0,
                           sr=sr, random_state=seed)
        files += [str(p) for p in music.filenames]
    return files


def student(args, work: Path):
    from sklearn_samplecnn import DistilledSampleCNN
    from sklearn_samplecnn.nn import TABLE1_CHANNELS

    channels = [max(1, int(round(c * WIDTHS[args.width]))) for c in TABLE1_CHANNELS]
    return DistilledSampleCNN(
        "MSD_musicnn", module__sizes="3^9", module__channels=channels, sr=16000,
        hop_length=args.hop, max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        train_split=0.05, feature_store=work / "teacher_store",
        checkpoint_dir=work / "checkpoint", threads=args.threads, random_state=0,
        callbacks=[("lr", cosine_lr(args.lr, args.epochs)),
                   ("time_budget", time_budget(args.hours * 3600))], verbose=1)


def _account(work: Path, wall: float, what: str) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    budget_file = work / "budget.json"
    budget = json.loads(budget_file.read_text()) if budget_file.exists() else {"chunks": []}
    budget["chunks"].append({"what": what, "wall_s": round(wall, 1),
                             "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                             "ended": time.strftime("%Y-%m-%d %H:%M:%S")})
    budget["wall_h"] = round(sum(c["wall_s"] for c in budget["chunks"]) / 3600, 3)
    budget["cpu_h"] = round(sum(c["cpu_s"] for c in budget["chunks"]) / 3600, 3)
    budget_file.write_text(json.dumps(budget, indent=1))
    return budget


def train(args) -> int:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    files = read_manifests(args.manifest)
    if args.generated:
        files += generated_clips(work / "generated", args.generated, 16000)
    start = time.monotonic()
    est = student(args, work)
    print(f"{len(files)} clips; student {est.module__channels}, {args.epochs} epochs", flush=True)
    try:
        est.fit(files)
    finally:
        budget = _account(work, time.monotonic() - start, "train")
        print(f"budget so far: {budget['wall_h']} h wall, {budget['cpu_h']} h CPU", flush=True)
    history = [{k: h.get(k) for k in ("epoch", "lr", "train_loss", "valid_loss", "dur")}
               for h in est.history_ if "train_loss" in h]
    (work / "history.json").write_text(json.dumps(history, indent=1))
    done = sum("train_loss" in h for h in est.history_)  # finished (checkpointed) epochs
    if est.interrupted_ or done < args.epochs:
        print(f"stopped after epoch {done} of {args.epochs}: run the same command to go on")
        return 3
    from sklearn_samplecnn import save_pretrained

    meta = {"pool_clips": len(files), "windows": int(est.n_windows_),
            "wall_h": budget["wall_h"], "cpu_h": budget["cpu_h"],
            "recipe": "scripts/distill_student.py " + " ".join(sys.argv[2:])}
    save_pretrained(est, work / "student.samplecnn", metadata=meta)
    print(f"done: {work / 'student.samplecnn'}")
    return 0


def export(args) -> int:
    """The trained student as fp16 weights, under its shipped name."""
    import torch

    from sklearn_samplecnn import load_pretrained, save_pretrained
    from sklearn_samplecnn.pretrained import PretrainedModel

    model = load_pretrained(Path(args.work) / "student.samplecnn")
    config = dict(model.config)
    config["name"] = args.name
    config["training"] = {**config["training"], "weights": "float16",
                          "licence": "BSD-3-Clause (sklearn-samplecnn); trained on openly "
                                     "licensed recordings (docs/music_pool.md) with the "
                                     "ISC-licensed musicnn as teacher"}
    half = PretrainedModel(module=model.module.to(torch.float16), config=config)
    path = save_pretrained(half, args.out)
    print(f"{path}: {path.stat().st_size:,} bytes")
    return 0


def held_out_clips(files: list[str], valid_size: float = 0.05) -> list[str]:
    """The clips the training run held out for its validation loss (the same
    ``ClipSplit`` draw): never trained on, so the agreement is measured there."""
    from sklearn_samplecnn.estimators import ClipSplit

    class _Indexes:  # what ClipSplit reads of a dataset, over clip numbers
        y = None

        def __init__(self, index):
            self.clips, self.index = index, index

        def subset(self, ids):
            return _Indexes([self.index[i] for i in ids])

    _, valid = ClipSplit(valid_size, random_state=0)(_Indexes(list(range(len(files)))))
    return [files[i] for i in valid.index]


def agreement(args) -> int:
    """Macro ROC-AUC of the student's tag scores against the teacher's top tags, per window
    of the held-out clips (and per clip, over their windows' means)."""
    from sklearn.metrics import roc_auc_score

    from sklearn_samplecnn.estimators import from_pretrained
    from sklearn_samplecnn.estimators.distill import default_teacher

    work = Path(args.work)
    files = read_manifests(args.manifest)
    if args.generated:
        files += generated_clips(work / "generated", args.generated, 16000)
    held = held_out_clips(files)
    student = from_pretrained(work / "student.samplecnn", tail="drop")
    gram = student.predict_proba_segments(held)
    teacher = default_teacher("MSD_musicnn").fit([np.zeros(47616, np.float32)] * 2)
    length, crop = student.module_.input_length, 47616
    offset = (length - crop) // 2
    from sklearn_samplecnn.audio import load_audio

    rows = []
    for k, f in enumerate(held):
        y = load_audio(f, sr=16000)
        starts = np.round(gram.start[gram.clip == k] * 16000).astype(int)
        views = [y[s + offset:s + offset + crop] for s in starts]
        rows.append(teacher.transform(views)[:, :50])
    t_prob = np.concatenate(rows)
    s_prob = gram.proba

    def macro_auc(truth_scores, student_scores, top=args.top):
        positive = np.zeros_like(truth_scores, dtype=bool)
        best = np.argsort(-truth_scores, axis=1)[:, :top]
        np.put_along_axis(positive, best, True, axis=1)
        aucs = [roc_auc_score(positive[:, t], student_scores[:, t])
                for t in range(positive.shape[1]) if 0 < positive[:, t].sum() < len(positive)]
        return float(np.mean(aucs)), len(aucs)

    per_window, n_tags = macro_auc(t_prob, s_prob)
    clip_t = np.stack([t_prob[gram.clip == k].mean(axis=0) for k in range(len(held))])
    clip_s = np.stack([s_prob[gram.clip == k].mean(axis=0) for k in range(len(held))])
    per_clip, n_clip_tags = macro_auc(clip_t, clip_s)
    corr = float(np.corrcoef(t_prob.ravel(), s_prob.ravel())[0, 1])
    result = {"held_out_clips": len(held), "windows": int(len(s_prob)), "top": args.top,
              "macro_roc_auc_windows": per_window, "tags_scored_windows": n_tags,
              "macro_roc_auc_clips": per_clip, "tags_scored_clips": n_clip_tags,
              "probability_correlation": corr}
    (work / "agreement.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def status(args) -> int:
    work = Path(args.work)
    for name in ("budget.json", "history.json"):
        if (work / name).exists():
            print(name, (work / name).read_text())
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or resume) for at most --hours")
    t.add_argument("--manifest", type=Path, action="append", required=True)
    t.add_argument("--work", required=True)
    t.add_argument("--hours", type=float, default=1.0)
    t.add_argument("--epochs", type=int, default=6)
    t.add_argument("--width", choices=sorted(WIDTHS), default="half",
                   help="filters per layer: Table 1's, or half of them (default)")
    t.add_argument("--hop", type=int, default=None,
                   help="samples between window starts (default: non-overlapping)")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--generated", type=int, default=100,
                   help="generated clips of 15 s per make_music task to add (default: 100)")
    e = sub.add_parser("export", help="write the trained student as fp16 weights")
    e.add_argument("--work", required=True)
    e.add_argument("--name", default="samplecnn_musicnn_16k")
    e.add_argument("--out", type=Path, required=True)
    a = sub.add_parser("agreement", help="the student against the teacher on held-out clips")
    a.add_argument("--manifest", type=Path, action="append", required=True)
    a.add_argument("--work", required=True)
    a.add_argument("--generated", type=int, default=100)
    a.add_argument("--top", type=int, default=3,
                   help="the teacher's top tags per window count as positives (default: 3)")
    s = sub.add_parser("status", help="the budget used and the history")
    s.add_argument("--work", required=True)
    args = parser.parse_args(argv)
    np.seterr(all="ignore")
    return {"train": train, "export": export, "agreement": agreement,
            "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
