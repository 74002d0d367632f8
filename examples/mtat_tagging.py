"""MagnaTagATune auto-tagging as in the paper: a 3^9 SampleCNNTagger, macro ROC-AUC on test.

The paper's main setting (Table 1, section 3): the 50 most frequent tags, the
folder split (train ``0``-``b``, valid ``c``, test ``d``-``f``), 22,050 Hz
audio cut into 59,049-sample segments, batches of 23 segments, SGD with
Nesterov momentum 0.9 from lr 0.01, the best weights reloaded and the lr divided
by 5 after a 3-epoch validation-loss plateau (``schedule="paper"``). The tagger
trains on the train clips, watches the loss on the valid clips and is scored
with macro ROC-AUC over the tags on the test clips (the paper: 0.9055).

Meant for a GPU: one epoch over MTAT's 15,000 training clips is about 150,000
segments. Decoding mp3 every epoch is the other cost: ``--audio-cache DIR``
keeps the decoded, resampled clips as ``.npy`` files and ``--workers`` decodes in
parallel.

Run it::

    python examples/mtat_tagging.py --quick     # generated tag songs, tiny model, < 1 min CPU
    python examples/mtat_tagging.py --mtat ~/data/mtat --device cuda --workers 8 \\
        --audio-cache ~/data/mtat_cache --save mtat_3-9.samplecnn

On several GPUs (data-parallel through Hugging Face accelerate; every process
trains on its share of each epoch's batches, the loss is averaged over
processes so the paper schedule decides the same everywhere, and only the main
process writes checkpoints, scores and saves)::

    accelerate launch --multi_gpu --num_processes 4 examples/mtat_tagging.py \
        --mtat ~/data/mtat --accelerate --mixed-precision bf16 --workers 4 \
        --audio-cache ~/data/mtat_cache --checkpoint-dir mtat_ckpt --save mtat_3-9.samplecnn

(``torchrun --nproc_per_node 4 examples/mtat_tagging.py ... --accelerate`` works too;
rerun the same command after a crash to resume from ``--checkpoint-dir``.)

``--mtat`` is the folder holding ``annotations_final.csv`` (see
:func:`~sklearn_samplecnn.datasets.fetch_magnatagatune`). ``--quick`` generates
auto-tagging songs (:func:`~sklearn_samplecnn.datasets.make_music`,
``task="tags"``), splits them 60/20/20 and trains a 3^7 model with 16 filters per
layer at 8 kHz for 8 epochs from lr 0.03.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from sklearn_samplecnn import SampleCNNTagger, save_pretrained
from sklearn_samplecnn.datasets import fetch_magnatagatune, make_music
from sklearn_samplecnn.tunables import reexec_with_tunables

#: The paper's MTAT result for the 3^9 model (Table 4).
PAPER_AUC = 0.9055
#: ``--quick``'s model: 3^7 (6,561 samples, 0.8 s at 8 kHz), 16 filters per layer.
QUICK_MODEL = {"module__sizes": "3^7", "module__channels": [16] * 9}


class ValidClips:
    """A skorch ``train_split``: the clips from ``n_train`` on are the validation set.

    Keeps MTAT's own valid folder (``c``) as the validation data instead of a
    random fraction of the training clips.
    """

    def __init__(self, n_train: int) -> None:
        self.n_train = n_train

    def __call__(self, dataset, y=None, **fit_params):
        n = len(dataset.clips)
        return (dataset.subset(np.arange(self.n_train)),
                dataset.subset(np.arange(self.n_train, n)))


def load_data(args):
    """(files, tag matrix, tag names, split array)."""
    if args.mtat is not None:
        data = fetch_magnatagatune(data_home=args.mtat, n_tags=args.n_tags)
        return np.array(data.filenames, dtype=object), data.target, data.target_names, data.split
    data = make_music(args.out / "mtat_quick", n_clips=args.n_clips, task="tags",
                      duration=args.duration, sr=args.sr, random_state=0)
    n = len(data.filenames)
    split = np.array(["train"] * n, dtype="<U5")
    split[int(0.6 * n):int(0.8 * n)] = "valid"
    split[int(0.8 * n):] = "test"
    return np.array(data.filenames, dtype=object), data.target, data.target_names, split


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Meant for a GPU on real data; --quick runs on a CPU in under a minute.")
    parser.add_argument("--mtat", type=Path, metavar="PATH",
                        help="a local MagnaTagATune copy (the folder with "
                             "annotations_final.csv); default with --quick: generated tags")
    parser.add_argument("--quick", action="store_true",
                        help="generated tag songs (120 clips of 4 s at 8 kHz) and a tiny "
                             "3^7 model for 8 epochs")
    parser.add_argument("--out", type=Path, default=Path("mtat_output"),
                        help="folder for generated audio (default: %(default)s)")
    parser.add_argument("--n-tags", type=int, default=50,
                        help="most frequent MTAT tags to keep (default: %(default)s)")
    parser.add_argument("--n-clips", type=int, default=120,
                        help="generated clips with --quick (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=4.0,
                        help="seconds per generated clip (default: %(default)s)")
    parser.add_argument("--sr", type=int, default=None,
                        help="sample rate in Hz (default: 22050, the paper's; 8000 with "
                             "--quick)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum epochs; the paper schedule stops earlier (default: 100; "
                             "8 with --quick)")
    parser.add_argument("--batch-size", type=int, default=23,
                        help="segments per batch (default: %(default)s, the paper's)")
    parser.add_argument("--lr", type=float, default=None,
                        help="initial SGD learning rate (default: 0.01, the paper's; 0.03 "
                             "with --quick)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes decoding audio (default: %(default)s)")
    parser.add_argument("--audio-cache", metavar="memory|DIR",
                        help="keep decoded, resampled clips in memory or in DIR")
    parser.add_argument("--save", type=Path, metavar="FILE",
                        help="save the trained tagger (.samplecnn)")
    parser.add_argument("--accelerate", action="store_true",
                        help="train through an accelerate.Accelerator (start with "
                             "`accelerate launch` or torchrun for several GPUs)")
    parser.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="bf16",
                        help="with --accelerate (default: %(default)s)")
    parser.add_argument("--grad-accum", type=int, default=1,
                        help="with --accelerate: gradient accumulation steps (default: 1)")
    parser.add_argument("--checkpoint-dir", metavar="DIR",
                        help="a checkpoint every epoch; the same command resumes from it")
    args = parser.parse_args(argv)
    if args.mtat is None and not args.quick:
        parser.error("give --mtat PATH (a MagnaTagATune copy) or --quick (generated data)")
    args.sr = args.sr or (8000 if args.quick else 22050)
    args.epochs = args.epochs or (8 if args.quick else 100)
    args.lr = args.lr or (0.03 if args.quick else 0.01)
    args.out.mkdir(parents=True, exist_ok=True)

    X, Y, tags, split = load_data(args)
    train, valid, test = (split == "train"), (split == "valid"), (split == "test")
    print(f"{len(X)} clips, {len(tags)} tags; train {train.sum()}, valid {valid.sum()}, "
          f"test {test.sum()}")
    model = QUICK_MODEL if args.quick else {"module__sizes": "3^9"}  # Table 1 channels
    extra = {}
    if args.workers:
        extra = {"iterator_train__num_workers": args.workers,
                 "iterator_valid__num_workers": args.workers}
    main_process = True
    if args.accelerate:
        from accelerate import Accelerator

        accelerator = Accelerator(mixed_precision=args.mixed_precision,
                                  gradient_accumulation_steps=args.grad_accum,
                                  cpu=args.device == "cpu")
        extra["accelerator"] = accelerator
        main_process = accelerator.is_main_process
    tagger = SampleCNNTagger(sr=args.sr, max_epochs=args.epochs, batch_size=args.batch_size,
                             lr=args.lr, schedule="paper", train_split=ValidClips(train.sum()),
                             tail="drop",  # the paper's non-overlapping segments
                             audio_cache=args.audio_cache, device=args.device, random_state=0,
                             verbose=1 if main_process else 0,
                             checkpoint_dir=args.checkpoint_dir, **model, **extra)
    fit_idx = np.concatenate([np.flatnonzero(train), np.flatnonzero(valid)])
    t0 = time.perf_counter()
    tagger.fit(list(X[fit_idx]), Y[fit_idx])
    train_s = time.perf_counter() - t0
    tagger.tags_ = np.array(tags, dtype=object)
    if not main_process:  # the trained weights are the same in every process
        return {}

    P = tagger.predict_proba(list(X[test]))
    Yt = Y[test]
    scored = Yt.min(axis=0) != Yt.max(axis=0)  # AUC needs positives and negatives
    per_tag = roc_auc_score(Yt[:, scored], P[:, scored], average=None)
    auc = float(np.mean(per_tag))
    names = np.asarray(tags)[scored]
    order = np.argsort(per_tag)
    print(f"\ntrained {tagger.module_.name} for {len(tagger.history_)} epochs in {train_s:.1f} s")
    print(f"test macro ROC-AUC {auc:.4f} over {scored.sum()} tags "
          f"(paper, 3^9 on MTAT: {PAPER_AUC})")
    print("best tags:  " + ", ".join(f"{names[i]} {per_tag[i]:.3f}" for i in order[::-1][:5]))
    print("worst tags: " + ", ".join(f"{names[i]} {per_tag[i]:.3f}" for i in order[:5]))
    if args.save:
        print(f"saved {save_pretrained(tagger, args.save, metadata={'dataset': 'MTAT'})}")
    return {"auc": auc, "epochs": len(tagger.history_), "train_seconds": train_s}


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)
    main()
