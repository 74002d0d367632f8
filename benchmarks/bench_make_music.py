"""Speed of :func:`sklearn_samplecnn.datasets.make_music`: clips of 30 s per second.

Times generating and writing 16-bit WAV clips for both tasks, against the floor
of writing the same number of silent 30 s WAV files in the same run. Run with
``OMP_NUM_THREADS=1`` to measure one core (numpy here is single-threaded anyway).

    OMP_NUM_THREADS=1 python benchmarks/bench_make_music.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from _common import add_common_arguments, machine_info, print_table, time_call, write_json

from sklearn_samplecnn.datasets import make_music


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, "bench_results/make_music.json")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per clip")
    parser.add_argument("--sr", type=int, default=22050, help="sample rate (Hz)")
    args = parser.parse_args(argv)
    n_clips = 4 if args.smoke else 40 if args.quick else 100
    duration = 1.0 if args.smoke else args.duration
    n_samples = int(round(duration * args.sr))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        silence = np.zeros(n_samples, dtype=np.int16)

        def write_only():
            for i in range(n_clips):
                sf.write(Path(tmp) / f"silence{i}.wav", silence, args.sr, subtype="PCM_16")

        cases = {"write silence (floor)": write_only}
        for task in ("genre", "tags"):
            cases[f"make_music task={task}"] = (
                lambda task=task: make_music(Path(tmp) / task, n_clips=n_clips, task=task,
                                             duration=duration, sr=args.sr, random_state=0)
            )
        for name, fn in cases.items():
            t = time_call(fn, min_time=0.0, min_repeats=1 if args.quick else 2, warmup=0)
            rows.append({"case": name, "seconds": t["best"], "clips_per_s": n_clips / t["best"],
                         "x_real_time": n_clips * duration / t["best"]})
    print_table(rows, [("case", "case"), ("seconds", "s", ".2f"),
                       ("clips_per_s", "clips/s", ".1f"), ("x_real_time", "x real time", ".0f")],
                title=f"{n_clips} clips of {duration:g} s at {args.sr} Hz")
    path = write_json(args.out, {"machine": machine_info(("numpy", "scipy", "soundfile")),
                                 "n_clips": n_clips, "duration": duration, "sr": args.sr,
                                 "results": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
