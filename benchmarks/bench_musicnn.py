"""musicnn in the library against the original ``musicnn.extractor``: speed and identical outputs.

Both run on the same generated 29 s clips (22,050 Hz WAV, as a user's files would
be) on the same CPU, in one run. The original is timed as its users call it, one
``extractor(file, model="MSD_musicnn", extract_features=True)`` per file, in a
Python that has TensorFlow (``--reference-python``: a throwaway environment, see
``scripts/convert_musicnn.py``); the library's ``MusicnnTransformer`` transforms
the whole list (the same outputs: taggram, penultimate and pooled features). The
result is clips per second for each and their ratio, plus the largest difference
between the two taggrams. Without ``--reference-python`` only the library is
timed (``--smoke``, CI).

    python benchmarks/bench_musicnn.py --quick --reference-python tfenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import add_common_arguments, machine_info, print_table, write_json

# Runs in the reference Python: times extractor() per file, saves the taggrams.
_REFERENCE = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from musicnn.extractor import extractor
files, out = json.loads(sys.argv[1]), sys.argv[2]
extractor(files[0], model="MSD_musicnn", extract_features=True)  # imports, first graph
grams, times = {}, []
for k, f in enumerate(files):
    t = time.perf_counter()
    taggram, _, feats = extractor(f, model="MSD_musicnn", extract_features=True)
    times.append(time.perf_counter() - t)
    grams[f"taggram{k}"] = taggram
    grams[f"mean_pool{k}"] = feats["mean_pool"]
np.savez(out, times=np.array(times), **grams)
"""


def _settings(args) -> dict[str, Any]:
    if args.smoke:
        return {"clips": 2, "seconds": 7.0, "repeats": 1}
    if args.quick:
        return {"clips": 8, "seconds": 29.1, "repeats": 2}
    return {"clips": 24, "seconds": 29.1, "repeats": 3}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_musicnn.json")
    parser.add_argument("--reference-python", metavar="PYTHON",
                        help="a Python with musicnn 0.1.0, tensorflow-cpu 2.15 and numpy<2")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="decoding workers of the library's transformer (default: 1)")
    args = parser.parse_args(argv)
    s = _settings(args)
    import numpy as np

    from sklearn_samplecnn import MusicnnTransformer
    from sklearn_samplecnn.datasets import make_music

    start = time.perf_counter()
    rows, payload = [], {}
    with tempfile.TemporaryDirectory(prefix="bench_musicnn_") as tmp:
        music = make_music(Path(tmp) / "clips", n_clips=s["clips"], duration=s["seconds"],
                           sr=22050, random_state=0)
        files = [str(f) for f in music.filenames]
        layers = ("taggram", "penultimate", "max_pool", "mean_pool")
        ours = MusicnnTransformer(layers=layers, pooling=("max", "mean"), n_jobs=args.n_jobs)
        ours.fit(files[:1])
        ours.transform(files[:1])  # first call: allocations, threads
        times = []
        for _ in range(s["repeats"]):
            t0 = time.perf_counter()
            segments = ours.transform_segments(files)[0]
            times.append(time.perf_counter() - t0)
        best = min(times)
        rows.append({"what": "sklearn-samplecnn MusicnnTransformer",
                     "clips_per_s": len(files) / best, "s_per_clip": best / len(files)})
        print(f"[{time.perf_counter() - start:6.1f}s] library: {len(files) / best:.2f} clips/s",
              flush=True)
        if args.reference_python:
            out = Path(tmp) / "reference.npz"
            proc = subprocess.run([args.reference_python, "-c", _REFERENCE, json.dumps(files),
                                   str(out)], capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"the reference failed:\n{proc.stderr[-3000:]}")
            ref = np.load(out)
            total = float(ref["times"].sum())
            rows.append({"what": "musicnn.extractor (TensorFlow)",
                         "clips_per_s": len(files) / total, "s_per_clip": total / len(files)})
            widths = np.cumsum([0, *ours.extractors_[0].channels])
            diffs = {"taggram": 0.0, "mean_pool": 0.0}
            for k in range(len(files)):
                mine = segments.features[segments.clip == k]
                diffs["taggram"] = max(diffs["taggram"], float(np.abs(
                    mine[:, widths[0]:widths[1]] - ref[f"taggram{k}"]).max()))
                scale = float(np.abs(ref[f"mean_pool{k}"]).max())
                diffs["mean_pool"] = max(diffs["mean_pool"], float(np.abs(
                    mine[:, widths[3]:widths[4]] - ref[f"mean_pool{k}"]).max()) / scale)
            payload["max_abs_diff_taggram"] = diffs["taggram"]
            payload["max_rel_diff_mean_pool"] = diffs["mean_pool"]
            payload["speedup_vs_original"] = rows[0]["clips_per_s"] / rows[1]["clips_per_s"]
            print(f"[{time.perf_counter() - start:6.1f}s] original: "
                  f"{rows[1]['clips_per_s']:.2f} clips/s; ratio "
                  f"{payload['speedup_vs_original']:.2f}x; taggram max |diff| "
                  f"{diffs['taggram']:.1e}", flush=True)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    print_table(rows, ["what", ("clips_per_s", "clips/s", ".2f"), ("s_per_clip", "s/clip", ".2f")])
    payload = {"benchmark": "bench_musicnn", "mode": mode,
               "machine": machine_info(packages=("numpy", "torch", "soundfile", "soxr")),
               "settings": {**s, "n_jobs": args.n_jobs}, "results": rows, **payload,
               "elapsed_s": time.perf_counter() - start}
    path = write_json(args.out, payload)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
