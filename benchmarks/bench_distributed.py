"""Feature extraction on a Dask cluster: in-process against a LocalCluster of 1 and 2 workers.

One run measures, on the same N generated 30 s MP3 files at 44.1 kHz (what
the Million Song Dataset's clips are; resampled to 22,050 Hz) and the same
model, ``MultiScaleFeatureTransformer.transform``:

- ``in process``: ``dask_client=None``, decoding in the same process
  (``n_jobs=0``), one torch thread: what one single-threaded worker does,
  without Dask;
- ``LocalCluster, 1 worker`` and ``2 workers``: worker processes of one thread
  each (``threads_per_worker=1``; Dask starts them with ``OMP_NUM_THREADS=1``),
  shards of ``shard_size`` clips;
- ``machine check``: the same work split in two halves over 2 plain processes
  (no Dask): what two cores give at that moment. On a machine shared with other
  work the 2-worker ratio can only be read against it.

Two models: a tiny SampleCNN (decoding and resampling dominate, the case
where the cluster's own costs show most) and the paper's 3^9 model (Table 1;
the per-worker figure the sizing page uses). Reported: clips/s, x real time,
the 2-vs-1-worker ratio and the cluster's overhead at 1 worker against in
process. The three set-ups live side by side (both clusters started, the
model loaded on every worker first) and each repeat times every case once, in
turn, so that other work on a shared machine hits them alike; the best of
``repeats`` is kept. The features are checked to match in-process
ones. ::

    python benchmarks/bench_distributed.py --quick
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from _common import _cpu_pressure, add_common_arguments, machine_info, print_table, write_json

from sklearn_samplecnn.tunables import reexec_with_tunables

SR = 22050
FILE_SR = 44100


def _settings(args) -> dict:
    """Clips and shards per model: two equal shards, so that two workers get the same work
    (the ratio measures the cluster, not an odd last shard) and shards as large as the
    run allows (the default ``shard_size`` is 256: per-task costs vanish in it); short
    runs and several repeats, so that the best one finds the machine quiet."""
    tiny, paper = ("3-3-3-3-3", [8] * 6), ("3^9", None)
    if args.smoke:
        return {"n": 4, "seconds": 3.0, "repeats": 1, "models": {"tiny": tiny},
                "clips": {"tiny": 4}, "shard": {"tiny": 2}}
    if args.quick:
        return {"n": 16, "seconds": 30.0, "repeats": 5, "models": {"tiny": tiny,
                                                                  "paper 3^9": paper},
                "clips": {"tiny": 16, "paper 3^9": 8}, "shard": {"tiny": 8, "paper 3^9": 4}}
    return {"n": 128, "seconds": 30.0, "repeats": 5, "models": {"tiny": tiny,
                                                               "paper 3^9": paper},
            "clips": {"tiny": 128, "paper 3^9": 32}, "shard": {"tiny": 64, "paper 3^9": 16}}


def make_files(root: Path, s: dict) -> list[str]:
    """N generated clips as MP3 at 44.1 kHz."""
    from sklearn_samplecnn.audio import load_audio, write_audio
    from sklearn_samplecnn.datasets import make_music

    wav = make_music(root / "wav", n_clips=s["n"], duration=s["seconds"], sr=FILE_SR,
                     random_state=0).filenames
    out = []
    for p in wav:
        mp3 = root / "mp3" / (Path(p).stem + ".mp3")
        write_audio(mp3, load_audio(p, sr=None), FILE_SR)
        out.append(str(mp3))
    return out


def make_models(root: Path, s: dict) -> dict[str, str]:
    import torch

    from sklearn_samplecnn import save_pretrained
    from sklearn_samplecnn.nn import SampleCNN

    paths = {}
    for name, (sizes, channels) in s["models"].items():
        torch.manual_seed(0)
        path = root / f"{sizes}.samplecnn"
        save_pretrained(SampleCNN(sizes, channels, n_outputs=50).eval(), path,
                        metadata={"sample_rate": SR})
        paths[name] = str(path)
    return paths


def prepare(model: str, paths: list[str], shard: int, client):
    """A fitted transformer on ``client`` (None: in process) with the model already loaded on
    every worker, and the seconds that took (a worker's first-shard cost)."""
    from sklearn_samplecnn import MultiScaleFeatureTransformer

    feats = MultiScaleFeatureTransformer(extractors=[model], n_jobs=0, dask_client=client,
                                         shard_size=shard).fit(paths[:1])
    load = 0.0
    if client is not None:
        t0 = time.perf_counter()
        feats.load_on_workers(client)
        load = time.perf_counter() - t0
    return feats, load


_PLAIN: dict = {}


def _plain_init(models: dict[str, str], first: str) -> None:
    """A plain worker process of the machine check: one torch thread, the models loaded."""
    import torch

    from sklearn_samplecnn import MultiScaleFeatureTransformer

    torch.set_num_threads(1)
    for name, path in models.items():
        _PLAIN[name] = MultiScaleFeatureTransformer(extractors=[path], n_jobs=0,
                                                    dask_client=None).fit([first])


def _plain_transform(name: str, paths: list[str]) -> np.ndarray:
    return _PLAIN[name].transform(paths)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_distributed.json")
    args = parser.parse_args(argv)
    s = _settings(args)
    import torch
    from distributed import Client, LocalCluster

    info = machine_info(packages=("torch", "numpy", "dask", "distributed", "soundfile", "soxr"))
    torch.set_num_threads(1)  # in process: one core, like one single-threaded worker
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name, \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                         dashboard_address=None) as one, \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as two, \
            Client(one, set_as_default=False) as c1, Client(two, set_as_default=False) as c2:
        tmp = Path(tmp_name)
        files = make_files(tmp, s)
        models = make_models(tmp, s)
        clients = {0: None, 1: c1, 2: c2}
        info["torch_threads_in_process"] = torch.get_num_threads()
        info["torch_threads_per_worker"] = {
            k: sorted(c.run(torch.get_num_threads).values()) for k, c in clients.items() if c}
        # the machine check: the same work split over 2 plain processes, no Dask (what 2
        # cores give at this moment on a shared machine)
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_plain_init, initargs=(models, files[0]))
        list(pool.map(time.sleep, [0.5, 0.5]))  # both started and loaded before timing
        cases = []
        for name, path in models.items():
            paths = files[:s["clips"][name]]
            for workers, client in clients.items():
                feats, load = prepare(path, paths, s["shard"][name], client)
                cases.append({"model": name, "workers": workers, "paths": paths,
                              "run": feats.transform, "load_s": load, "times": []})

            def plain(paths, name=name):
                half = len(paths) // 2
                parts = pool.map(_plain_transform, [name, name], [paths[:half], paths[half:]])
                return np.concatenate(list(parts))

            cases.append({"model": name, "workers": "plain", "paths": paths, "run": plain,
                          "load_s": None, "times": []})
        # interleaved: every repeat times each case once, so that a burst of other work on
        # a shared machine hits all of them alike; the best time of each is kept
        try:
            for _ in range(s["repeats"]):
                for case in cases:
                    t0 = time.perf_counter()
                    case["X"] = case["run"](case["paths"])
                    case["times"].append(time.perf_counter() - t0)
        finally:
            pool.shutdown()
    reference = {c["model"]: c["X"] for c in cases if c["workers"] == 0}
    labels = {0: "in process (1 core)", 1: "LocalCluster, 1 worker",
              2: "LocalCluster, 2 workers", "plain": "machine check: 2 plain processes"}
    for c in cases:
        n, seconds = len(c["paths"]), min(c["times"])
        rows.append({"model": c["model"], "case": labels[c["workers"]],
                     "workers": c["workers"], "clips": n, "seconds": seconds,
                     "median_seconds": float(np.median(c["times"])), "clips_s": n / seconds,
                     "x_realtime": n * s["seconds"] / seconds, "load_s": c["load_s"],
                     "max_abs_diff": float(np.nanmax(np.abs(c["X"] - reference[c["model"]])))})
    by = {(r["model"], r["workers"]): r["seconds"] for r in rows}
    ratios, overhead = {}, {}
    for name in models:
        prefix = "" if name == "tiny" else "paper_"
        ratios[f"{prefix}two_vs_one_workers"] = by[name, 1] / by[name, 2]
        ratios[f"{prefix}one_worker_vs_in_process"] = by[name, 0] / by[name, 1]
        ratios[f"{prefix}machine_two_vs_one_processes"] = by[name, 0] / by[name, "plain"]
        ratios[f"{prefix}two_workers_vs_plain_processes"] = by[name, "plain"] / by[name, 2]
        overhead[name] = 100.0 * (by[name, 1] / by[name, 0] - 1.0)
    print(f"{info['cpu_model']}, {info['usable_cores']} cores, torch {info['versions']['torch']}, "
          f"distributed {info['versions']['distributed']}, load {info['loadavg_1min_at_start']}, "
          f"{info['date']}")
    print_table(rows, [("model", "model"), ("case", "case"), ("clips", "clips"),
                       ("clips_s", "clips/s", ".2f"), ("x_realtime", "x real time", ".1f"),
                       ("load_s", "model load s", ".2f"), ("max_abs_diff", "max |diff|", ".1e")],
                title=f"Extraction of {s['seconds']:.0f} s MP3 clips at 44.1 kHz "
                      f"(resampled to {SR} Hz), shards of "
                      + ", ".join(f"{v} ({k})" for k, v in s["shard"].items()))
    print(", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    print("cluster overhead at 1 worker: " + ", ".join(
        f"{k} {v:+.1f} %" for k, v in overhead.items()))
    pressure = _cpu_pressure()
    if pressure is not None:  # other work on the machine: 2 workers need both cores free
        print(f"CPU pressure (share of time some task waited for a core, last 10 s): "
              f"{info['cpu_pressure_avg10_at_start']} % before the run, {pressure} % at its "
              "end (this run's own processes included)")
    result = {"machine": {**info, "cpu_pressure_avg10_at_end": pressure}, "settings": s,
              "rows": rows, "ratios": ratios, "overhead_pct_1_worker": overhead}
    print(f"wrote {write_json(args.out, result)}")
    return result


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)
    main()
