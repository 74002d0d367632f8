"""Figures 3 and 4 of the paper: spectra of the filters a SampleCNN has learned.

Trains a small 3^9 SampleCNN on generated genre clips
(:func:`sklearn_samplecnn.datasets.make_music`), estimates each filter's
preferred 729-sample input by gradient ascent from noise
(:func:`sklearn_samplecnn.visualize.estimate_filters`) and plots the
magnitude spectrum of every estimate per layer, filters sorted by peak
frequency (:func:`sklearn_samplecnn.visualize.plot_filter_spectra`). In the
paper the lower layers show more filters peaking at low frequencies (a
log-like frequency spread, as a mel filterbank), and higher layers grow
sharper, harmonic-looking responses.

Run it::

    python examples/filter_visualization.py --quick          # about a minute on a CPU
    python examples/filter_visualization.py --channels 64 --max-epochs 30 --device cuda

It prints the PNG's path and, per layer, the share of filters whose peak
lies below 1 kHz and the median peak frequency.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Layers of the 3^9 model that a 729-sample (3^6) input reaches: the strided
#: conv leaves 243 steps and each module divides them by 3, down to 1 at module5.
DEFAULT_LAYERS = ("strided", "module1", "module2", "module3", "module4", "module5")
#: Genres of ``--quick``: four, so that a minute of training learns something.
QUICK_STYLES = ("classical", "hiphop", "metal", "reggae")


def peak_summary(estimates: dict[str, np.ndarray], sr: float,
                 low_hz: float = 1000.0) -> list[dict]:
    """Per layer: filters, share of peaks below ``low_hz`` and the median peak (Hz).

    Parameters
    ----------
    estimates : dict of str to ndarray of shape (n_filters, n_samples)
        Filter estimates per layer (from ``estimate_filters``).
    sr : float
        Sample rate of the estimates in Hz.
    low_hz : float, default=1000.0
        The "low frequency" bound.

    Returns
    -------
    list of dict
        ``layer``, ``n_filters``, ``share_below``, ``median_peak_hz``.
    """
    from sklearn_samplecnn.visualize import filter_spectra

    rows = []
    for name, est in estimates.items():
        freqs, spectra = filter_spectra(est, sr)
        peaks = freqs[np.argmax(spectra[:, 1:], axis=1) + 1]  # ignore the DC bin
        rows.append({"layer": name, "n_filters": len(peaks),
                     "share_below": float(np.mean(peaks < low_hz)),
                     "median_peak_hz": float(np.median(peaks))})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="16 filters per layer, 40 clips of 6 s in 4 genres, 15 epochs "
                             "(under a minute)")
    parser.add_argument("--n-clips", type=int, default=None,
                        help="generated genre clips (default 200, quick 40)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per clip (default 29.1, quick 6)")
    parser.add_argument("--channels", type=int, default=None,
                        help="filters in every layer (default 32, quick 16)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="training epochs (default 20, quick 15)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate")
    parser.add_argument("--layers", default=None,
                        help="comma-separated hidden layers to plot, names or indexes "
                             f"(default: {','.join(DEFAULT_LAYERS)}, every layer a 729-sample "
                             "input reaches)")
    parser.add_argument("--n-steps", type=int, default=50,
                        help="gradient-ascent steps per estimate")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--random-state", type=int, default=0, help="seed of data and model")
    parser.add_argument("--out", default="filter_spectra.png", help="PNG file to write")
    args = parser.parse_args(argv)

    from sklearn_samplecnn import SampleCNNClassifier
    from sklearn_samplecnn.audio import load_audio
    from sklearn_samplecnn.datasets import make_music
    from sklearn_samplecnn.visualize import estimate_filters, plot_filter_spectra

    quick = args.quick
    n_clips = args.n_clips or (40 if quick else 200)
    duration = args.duration or (6.0 if quick else 29.1)
    width = args.channels or (16 if quick else 32)
    epochs = args.max_epochs or (15 if quick else 20)
    sr = 22050

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_music(tmp, n_clips=n_clips, task="genre", duration=duration, sr=sr,
                          styles=QUICK_STYLES if quick else None,
                          random_state=args.random_state)
        X = [load_audio(p, sr=sr) for p in data.filenames]
    clf = SampleCNNClassifier(module__sizes="3^9", module__channels=[width] * 11, sr=sr,
                              max_epochs=epochs, lr=args.lr, schedule=None, train_split=None,
                              device=args.device, random_state=args.random_state, verbose=0)
    clf.fit(X, data.target)
    print(f"trained a 3^9 SampleCNN ({width} filters per layer) on {n_clips} generated clips "
          f"of {len(data.target_names)} genres for {epochs} epochs: train loss "
          f"{clf.history_[0]['train_loss']:.3f} -> {clf.history_[-1]['train_loss']:.3f}, "
          f"train accuracy {clf.score(X, data.target):.2f}, {time.perf_counter() - t0:.0f} s")

    model = clf.module_.cpu()
    layers = ([int(v) if v.lstrip("-").isdigit() else v for v in args.layers.split(",")]
              if args.layers else DEFAULT_LAYERS)
    names = [model.resolve_layer(la) for la in layers]
    estimates = {name: estimate_filters(model, name, n_samples=729, n_steps=args.n_steps,
                                        random_state=args.random_state) for name in names}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_filter_spectra(estimates, sr=sr, path=out)
    for row in peak_summary(estimates, sr):
        print(f"  {row['layer']:<8} {row['n_filters']:>3} filters: "
              f"{100 * row['share_below']:3.0f}% peak below 1 kHz, "
              f"median peak {row['median_peak_hz']:6.0f} Hz")
    print(f"wrote {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
