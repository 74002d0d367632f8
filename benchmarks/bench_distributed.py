"""Feature extraction on a Dask cluster: in-process against a LocalCluster of 1 and 2 workers.

One run measures, on the same N generated 30 s MP3 files at 44.1 kHz (what
the Million Song Dataset's clips are; resampled to 22,050 Hz) and the same
model, ``MultiScaleFeatureTransformer.transform``:

- ``in process``: ``dask_client=None``, decoding in the same process
  (``n_jobs=0``), one torch thread: what one single-threaded worker does,
  without Dask;
- ``LocalCluster, 1 worker`` and ``2 workers``: worker processes of one thread
  each (``threads_per_worker=1``; Dask starts them with ``OMP_NUM_THREADS=1``),
  shards of ``shard_size`` clips.

Two models: a tiny SampleCNN (decoding and resampling dominate, the case
where the cluster's own costs show most) and the paper's 3^9 model (Table 1;
the per-worker figure the sizing page uses). Reported: clips/s, x real time,
the 2-vs-1-worker ratio and the cluster's overhead at 1 worker against in
process. Best of ``repeats`` timed transforms after the model is loaded on
every worker. The features are checked to match in-process
ones. ::

    python benchmarks/bench_distributed.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    _cpu_pressure,
    add_common_arguments,
    machine_info,
    print_table,
    time_call,
    write_json,
)

from sklearn_samplecnn._runtime import reexec_with_tunables

SR = 22050
FILE_SR = 44100


def _settings(args) -> dict:
    """Clips and shards per model: an even number of shards of equal size, so that two
    workers get the same work (the ratio measures the cluster, not an odd last shard)."""
    tiny, paper = ("3-3-3-3-3", [8] * 6), ("3^9", None)
    if args.smoke:
        return {"n": 4, "seconds": 3.0, "repeats": 1, "models": {"tiny": tiny},
                "clips": {"tiny": 4}, "shard": {"tiny": 2}}
    if args.quick:
        return {"n": 32, "seconds": 30.0, "repeats": 3, "models": {"tiny": tiny,
                                                                  "paper 3^9": paper},
                "clips": {"tiny": 32, "paper 3^9": 8}, "shard": {"tiny": 4, "paper 3^9": 2}}
    return {"n": 128, "seconds": 30.0, "repeats": 3, "models": {"tiny": tiny,
                                                               "paper 3^9": paper},
            "clips": {"tiny": 128, "paper 3^9": 32}, "shard": {"tiny": 8, "paper 3^9": 4}}


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


def measure(model: str, paths: list[str], shard: int, s: dict, client
            ) -> tuple[float, np.ndarray, float]:
    """Best seconds of ``transform(paths)`` on ``client`` (None: in process), the rows, and
    the seconds the workers took to load the model (their first shard's extra cost)."""
    from sklearn_samplecnn import MultiScaleFeatureTransformer

    feats = MultiScaleFeatureTransformer(extractors=[model], n_jobs=0, dask_client=client,
                                         shard_size=shard).fit(paths[:1])
    load = 0.0
    if client is not None:  # every worker imports torch and loads the model before timing
        from sklearn_samplecnn.distributed import _payload, _worker_transformer

        token, data = _payload(feats)
        t0 = time.perf_counter()
        client.run(lambda: _worker_transformer(token, data) and None)
        load = time.perf_counter() - t0
    rows = {}

    def run():
        rows["X"] = feats.transform(paths)

    timing = time_call(run, min_time=0.0, min_repeats=s["repeats"], max_repeats=s["repeats"],
                       warmup=0)  # the models are loaded: the best of the repeats is warm
    return timing["best"], rows["X"], load


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_distributed.json")
    args = parser.parse_args(argv)
    s = _settings(args)
    import torch
    from distributed import Client, LocalCluster

    torch.set_num_threads(1)  # in process: one core, like one single-threaded worker
    rows, features, worker_threads = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = make_files(tmp, s)
        models = make_models(tmp, s)
        inputs = {name: files[:s["clips"][name]] for name in models}

        def row(model, case, workers, seconds, X, load):
            n = len(inputs[model])
            rows.append({"model": model, "case": case, "workers": workers, "clips": n,
                         "seconds": seconds, "clips_s": n / seconds,
                         "x_realtime": n * s["seconds"] / seconds, "load_s": load})
            ref = features.setdefault(model, X)
            rows[-1]["max_abs_diff"] = float(np.nanmax(np.abs(X - ref)))

        for name, path in models.items():
            row(name, "in process (1 core)", 0,
                *measure(path, inputs[name], s["shard"][name], s, None))
        for n_workers in (1, 2):
            with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                worker_threads[n_workers] = sorted(client.run(torch.get_num_threads).values())
                for name, path in models.items():
                    row(name, f"LocalCluster, {n_workers} worker{'s' * (n_workers > 1)}",
                        n_workers, *measure(path, inputs[name], s["shard"][name], s, client))
    by = {(r["model"], r["workers"]): r["seconds"] for r in rows}
    ratios, overhead = {}, {}
    for name in models:
        prefix = "" if name == "tiny" else "paper_"
        ratios[f"{prefix}two_vs_one_workers"] = by[name, 1] / by[name, 2]
        ratios[f"{prefix}one_worker_vs_in_process"] = by[name, 0] / by[name, 1]
        overhead[name] = 100.0 * (by[name, 1] / by[name, 0] - 1.0)
    info = machine_info(packages=("torch", "numpy", "dask", "distributed", "soundfile", "soxr"),
                        torch_threads_in_process=torch.get_num_threads(),
                        torch_threads_per_worker=worker_threads)
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
              f"{info['cpu_pressure_avg10_at_start']} % at start, {pressure} % at the end")
    result = {"machine": {**info, "cpu_pressure_avg10_at_end": pressure}, "settings": s,
              "rows": rows, "ratios": ratios, "overhead_pct_1_worker": overhead}
    print(f"wrote {write_json(args.out, result)}")
    return result


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)
    main()
