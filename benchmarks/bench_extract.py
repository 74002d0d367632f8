"""End-to-end feature extraction: MultiScaleFeatureTransformer.transform on 30 s files.

One run measures, on the same N generated 30 s clips and the same 3^9 model
(Table 1 channels, layers -3/-2/-1, the paper's pooling):

- ``model-only ceiling``: the inference path on pre-decoded, pre-segmented
  tensors (no decoding, no resampling) at the auto batch size;
- ``transformer`` (cold, no cache) on WAV at 22,050 Hz, WAV at 44,100 Hz
  (resampled) and MP3 at 44,100 Hz; ``n_jobs`` decoding processes;
- ``naive loop`` written the way peers do it: per file decode, resample with
  resampy's ``kaiser_best``, forward all segments as one batch through the plain
  eval-mode module, pool;
- ``cached``: a second transform with ``cache_dir`` set (the first one fills it);
- peak RSS of a fresh process transforming N_small and N_large files (memory must
  not grow with the number of files);
- the **input pipeline's own ceiling**: the transformer with an extractor that
  costs next to nothing (an identity "model" of paper-length input, pooled:
  every sample is read once; ``threads=1``) and ``n_jobs`` = 1 and 2 decoding
  processes, against decoding, resampling and segmenting (a view, no copy)
  alone in the same number of plain processes started before timing.

Clips/s, x real time (audio seconds per wall second) and ratios. ``--only identity``
runs the last case alone (the pipeline against decoding; a minute in quick mode). ::

    python benchmarks/bench_extract.py --quick
    python benchmarks/bench_extract.py --quick --only identity
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import add_common_arguments, machine_info, print_table, write_json

from sklearn_samplecnn.tunables import reexec_with_tunables

SR = 22050
LAYERS = (-3, -2, -1)


def _settings(args) -> dict:
    if args.smoke:
        return {"sizes": "3-3-3-3-3", "channels": [8] * 6, "n": 3, "seconds": 3.0,
                "rss": (2, 6), "res_type_naive": "kaiser_best", "feed_entries": 16}
    if args.quick:
        return {"sizes": "3^9", "channels": None, "n": 6, "seconds": 30.0, "rss": (6, 24),
                "res_type_naive": "kaiser_best", "feed_entries": 240}
    return {"sizes": "3^9", "channels": None, "n": 50, "seconds": 30.0, "rss": (50, 500),
            "res_type_naive": "kaiser_best", "feed_entries": 480}


def make_files(root: Path, s: dict, formats=None):
    """The same generated music as WAV 22.05 kHz, WAV 44.1 kHz and MP3 44.1 kHz
    (``formats=("wav 22.05 kHz",)``: the list of those files alone)."""
    from sklearn_samplecnn.audio import load_audio, write_audio
    from sklearn_samplecnn.datasets import make_music

    wav22 = make_music(root / "wav22", n_clips=s["n"], duration=s["seconds"], sr=SR,
                       random_state=0).filenames
    if formats == ("wav 22.05 kHz",):
        return list(wav22)
    wav44 = make_music(root / "wav44", n_clips=s["n"], duration=s["seconds"], sr=44100,
                       random_state=0).filenames
    mp3 = []
    for p in wav44:
        out = root / "mp3" / (Path(p).stem + ".mp3")
        write_audio(out, load_audio(p, sr=None), 44100)
        mp3.append(str(out))
    return {"wav 22.05 kHz": list(wav22), "wav 44.1 kHz": list(wav44), "mp3 44.1 kHz": mp3}


def _model(s, path: Path, channels="settings"):
    import torch

    from sklearn_samplecnn import save_pretrained
    from sklearn_samplecnn.nn import SampleCNN

    torch.manual_seed(0)
    channels = s["channels"] if channels == "settings" else channels
    model = SampleCNN(s["sizes"], channels, n_outputs=50).eval()
    save_pretrained(model, path, metadata={"sample_rate": SR})
    return model


def model_ceiling(model, clips: list[np.ndarray]) -> float:
    """Seconds for the optimised module alone on pre-segmented tensors."""
    import torch

    from sklearn_samplecnn.nn import auto_batch_size, optimize_for_inference
    from sklearn_samplecnn.segments import segment_signal

    fast = optimize_for_inference(model)
    layers = [model.resolve_layer(la) for la in LAYERS]
    segs = [torch.from_numpy(segment_signal(c, model.input_length)) for c in clips]
    x = torch.cat(segs)
    bs = auto_batch_size("cpu")

    def run():
        with torch.inference_mode():
            for i in range(0, len(x), bs):
                _, hidden = fast(x[i:i + bs], return_hidden=layers)
                [h.amax(dim=2) for h in hidden.values()]

    run()
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def naive_loop(model, paths: list[str], res_type: str) -> float:
    """Seconds for the per-file loop peers write."""
    import torch

    from sklearn_samplecnn.audio import load_audio
    from sklearn_samplecnn.segments import segment_signal

    layers = [model.resolve_layer(la) for la in LAYERS]
    t0 = time.perf_counter()
    for p in paths:
        y = load_audio(p, sr=SR, res_type=res_type)
        x = torch.from_numpy(segment_signal(y, model.input_length))
        with torch.no_grad():
            _, hidden = model(x, return_hidden=layers)
        np.concatenate([hidden[la].amax(dim=2).mean(dim=0).numpy() for la in layers])
    return time.perf_counter() - t0


def transformer_seconds(model_path, paths, **params) -> float:
    from sklearn_samplecnn import MultiScaleFeatureTransformer

    feats = MultiScaleFeatureTransformer(extractors=[str(model_path)], layers=LAYERS, **params)
    feats.fit(paths[:1])
    t0 = time.perf_counter()
    feats.transform(paths)
    return time.perf_counter() - t0


def _decode_shard(args) -> int:
    paths, sr, length = args
    from sklearn_samplecnn.audio import load_audio
    from sklearn_samplecnn.segments import segment_signal

    for p in paths:
        segment_signal(load_audio(p, sr=sr), length)
    return len(paths)


def decode_only_seconds(paths, n_procs: int, length: int) -> float:
    """Decoding + segmenting alone in ``n_procs`` plain processes (started before timing)."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(n_procs) as pool:
        pool.map(_decode_shard, [(paths[:1], SR, length)] * n_procs)  # started and warm
        t0 = time.perf_counter()
        pool.map(_decode_shard, [(paths[i::n_procs], SR, length) for i in range(n_procs)])
        return time.perf_counter() - t0


class IdentityExtractor:
    """A near-free extractor of paper-length input: its one "hidden layer" is the
    segment itself, so the transformer's cost is the pipeline's (decoding,
    batching, moving, pooling every sample once). Built lazily: torch is
    imported after the interpreter's restart."""

    def __new__(cls, length: int = 59049):
        from torch import nn

        class Identity(nn.Module):
            input_length = length
            hidden_layers = ("segment",)
            name = "identity"

            def resolve_layer(self, layer):
                return "segment"

            def forward(self, x, return_hidden=False):
                h = x.unsqueeze(1)
                return (h[:, :, 0], {"segment": h}) if return_hidden else h[:, :, 0]

        return Identity()


def feeding(paths, device) -> dict:
    """The pipeline's own ceiling: a near-free (identity) extractor with 1 and 2
    decoding processes, against decoding alone in as many processes (best of
    two alternated runs each). threads=1: with a model this cheap, torch's own
    spinning threads would take the decoding processes' cores."""
    from sklearn_samplecnn import MultiScaleFeatureTransformer

    out = {}
    for n in (1, 2):
        feats = MultiScaleFeatureTransformer(extractors=[(IdentityExtractor(), SR)],
                                             layers="all", n_jobs=n, device=device,
                                             batch_size=64, threads=1).fit(paths[:1])
        free, dec = [], []
        for _ in range(2):
            t0 = time.perf_counter()
            feats.transform(paths)
            free.append(time.perf_counter() - t0)
            dec.append(decode_only_seconds(paths, n, 59049))
        out[n] = {"transformer_s": min(free), "decode_only_s": min(dec)}
    return out


def _rss_child(model_path: str, paths: list[str]) -> None:
    transformer_seconds(model_path, paths)
    print(json.dumps({"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_rss(model_path: Path, paths: list[str], n: int, tmp: Path) -> float:
    listing = tmp / f"files_{n}.json"
    listing.write_text(json.dumps([paths[i % len(paths)] for i in range(n)]))
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(model_path),
                          str(listing)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["max_rss_mb"]


def _feeding_rows(feed: dict, n_entries: int, seconds: float) -> tuple[list, dict]:
    rows = []
    for k, f in feed.items():
        rows.append({"case": f"near-free (identity) extractor, n_jobs={k}, threads=1",
                     "seconds": f["transformer_s"], "clips_s": n_entries / f["transformer_s"],
                     "x_realtime": n_entries * seconds / f["transformer_s"]})
        rows.append({"case": f"decoding alone, {k} process{'es' if k > 1 else ''}",
                     "seconds": f["decode_only_s"], "clips_s": n_entries / f["decode_only_s"],
                     "x_realtime": n_entries * seconds / f["decode_only_s"]})
    ratios = {"near_free_1_vs_decode_only_1": feed[1]["decode_only_s"] / feed[1]["transformer_s"],
              "near_free_2_vs_decode_only_2": feed[2]["decode_only_s"] / feed[2]["transformer_s"],
              "near_free_2_vs_1": feed[1]["transformer_s"] / feed[2]["transformer_s"]}
    return rows, ratios


def identity_only(args, s: dict) -> dict:
    """``--only identity``: the near-free extractor against decoding alone, nothing else."""
    with tempfile.TemporaryDirectory() as tmp_name:
        wav22 = make_files(Path(tmp_name), {**s, "n": s["n"]}, formats=("wav 22.05 kHz",))
        paths = [wav22[i % len(wav22)] for i in range(s["feed_entries"])]
        feed = feeding(paths, args.device)
    rows, ratios = _feeding_rows(feed, len(paths), s["seconds"])
    info = machine_info(packages=("torch", "numpy", "soundfile"))
    print_table(rows, [("case", "case"), ("clips_s", "clips/s", ".2f"),
                       ("x_realtime", "x real time", ".1f")],
                title=f"Identity extractor, {len(paths)} entries of {s['seconds']:.0f} s WAV")
    print(", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    result = {"machine": info, "settings": s, "rows": rows, "ratios": ratios}
    print(f"wrote {write_json(args.out, result)}")
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_extract.json")
    parser.add_argument("--jobs", type=int, default=2, help="decoding processes (n_jobs)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--only", choices=("identity",),
                        help="run one case alone: identity, the near-free extractor against "
                             "decoding alone")
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        _rss_child(args.rss_child[0], json.loads(Path(args.rss_child[1]).read_text()))
        return {}
    s = _settings(args)
    if args.only == "identity":
        return identity_only(args, s)
    from sklearn_samplecnn.audio import load_audio

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = make_files(tmp, s)
        model_path = tmp / "model.samplecnn"
        model = _model(s, model_path)
        n, audio_s = s["n"], s["n"] * s["seconds"]
        load_audio(files["wav 44.1 kHz"][0], sr=SR, res_type="kaiser_fast")  # resampy's JIT
        clips = [load_audio(p, sr=None) for p in files["wav 22.05 kHz"]]
        rows = []

        def row(name, seconds, **extra):
            rows.append({"case": name, "seconds": seconds, "clips_s": n / seconds,
                         "x_realtime": audio_s / seconds, **extra})

        ceiling = model_ceiling(model, clips)
        row("model-only ceiling (pre-decoded)", ceiling)
        cold = {}
        dev = args.device
        for fmt, paths in files.items():
            cold[fmt] = transformer_seconds(model_path, paths, n_jobs=args.jobs, device=dev)
            row(f"transformer, {fmt}", cold[fmt])
        resampy = transformer_seconds(model_path, files["wav 44.1 kHz"], n_jobs=args.jobs,
                                      res_type="kaiser_fast", device=dev)
        row("transformer, wav 44.1 kHz, res_type=kaiser_fast (resampy)", resampy)
        naive = {}
        for fmt in ("wav 22.05 kHz", "wav 44.1 kHz"):
            naive[fmt] = naive_loop(model, files[fmt], s["res_type_naive"])
            row(f"naive loop ({s['res_type_naive']}), {fmt}", naive[fmt])
        cache_dir = tmp / "cache"
        first = transformer_seconds(model_path, files["wav 44.1 kHz"], cache_dir=cache_dir,
                                    n_jobs=args.jobs, device=dev)
        second = transformer_seconds(model_path, files["wav 44.1 kHz"], cache_dir=cache_dir,
                                     n_jobs=args.jobs, device=dev)
        row("transformer, wav 44.1 kHz, cache filled", first)
        row("transformer, wav 44.1 kHz, cached rerun", second)
        rss = {k: peak_rss(model_path, files["wav 22.05 kHz"], k, tmp) for k in s["rss"]}
        feed_paths = [files["wav 22.05 kHz"][i % n] for i in range(s["feed_entries"])]
        feed = feeding(feed_paths, dev)
        feed_rows, feed_ratios = _feeding_rows(feed, len(feed_paths), s["seconds"])
        rows += feed_rows
    for r in rows:
        if not r["case"].startswith(("near-free", "decoding alone")):
            r["vs_ceiling"] = ceiling / r["seconds"]
    ratios = {
        "wav22_vs_ceiling": ceiling / cold["wav 22.05 kHz"],
        "wav44_vs_ceiling": ceiling / cold["wav 44.1 kHz"],
        "wav44_resampy_vs_ceiling": ceiling / resampy,
        "mp3_vs_ceiling": ceiling / cold["mp3 44.1 kHz"],
        "vs_naive_wav44": naive["wav 44.1 kHz"] / cold["wav 44.1 kHz"],
        "vs_naive_wav22": naive["wav 22.05 kHz"] / cold["wav 22.05 kHz"],
        "cached_speedup": first / second,
        "rss_growth": rss[s["rss"][1]] / rss[s["rss"][0]],
        **feed_ratios,
    }
    from sklearn_samplecnn.nn import auto_batch_size

    info = machine_info(packages=("torch", "numpy", "resampy", "soundfile"),
                        auto_batch_size=auto_batch_size("cpu"),
                        threads=__import__("torch").get_num_threads())
    print(f"{info['cpu_model']}, {info['usable_cores']} cores, torch {info['versions']['torch']}, "
          f"GLIBC_TUNABLES={info['glibc_tunables']!r}, auto batch {info['auto_batch_size']}, "
          f"{info['date']}")
    print_table(rows, [("case", "case"), ("clips_s", "clips/s", ".2f"),
                       ("x_realtime", "x real time", ".1f"),
                       ("vs_ceiling", "x ceiling", ".2f")],
                title=f"Extraction, {s['sizes']}, {n} clips of {s['seconds']:.0f} s, "
                      f"layers {LAYERS}")
    print("peak RSS: " + ", ".join(f"{k} files {v:.0f} MB" for k, v in rss.items()))
    print(", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    result = {"machine": info, "settings": s, "rows": rows, "peak_rss_mb": rss,
              "ratios": ratios}
    print(f"wrote {write_json(args.out, result)}")
    return result


if __name__ == "__main__":
    reexec_with_tunables(sys.argv)
    main()
