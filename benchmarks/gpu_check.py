"""Everything the GPU needs measured, in one run on one card, into one JSON.

``make bench-gpu`` (or ``python benchmarks/gpu_check.py``) measures, each
against its own ceiling in the same process:

1. **model only** (3^9, Table 1, layers -3/-2/-1 pooled on the device): the
   plain module in fp32 and fp16 autocast (the reference of the first GPU
   run), then the library's :class:`~sklearn_samplecnn.nn.InferenceRunner`
   step by step: folded channels-last fp32 with cuDNN's autotuner, fp16 and
   bf16 weights, a CUDA graph, ``torch.compile``; a batch sweep; the share of
   the fp16 matrix peak measured in the same run;
2. **extraction**: ``MultiScaleFeatureTransformer(device="cuda")`` on 30 s WAV
   at 22,050 Hz, WAV at 44,100 Hz and MP3 at 44,100 Hz against the model-only
   rate at the same batch and precision, and against decoding alone in the
   same number of processes; worker scaling;
3. **feature cache**: a warm rerun against the cold run that filled it;
4. **training**: ``SampleCNNClassifier.fit`` against a bare torch loop over
   the same segments already on the GPU, same batch, same precision, fp32 and
   mixed precision, epochs of ``--train-segments`` segments;
5. **features CPU vs GPU**: largest relative difference;
6. **thread pools**: a logistic regression on 1,536 features before and after
   GPU work, in a fresh process, and under ``threadpool_limits``, with
   threadpoolctl's view of the pools;
7. **the CUDA tests** of the suite (``pytest -k cuda``).

Each section is timed and guarded: a failure is recorded in the JSON and the
others still run. The JSON is rewritten after every section, so a run cut
short keeps what it measured. ``--device cpu --smoke`` checks the script
itself in a few seconds without a GPU. ::

    python benchmarks/gpu_check.py                   # on a CUDA machine, ~4 min
    python benchmarks/gpu_check.py --device cpu --smoke
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
from _common import REPO_ROOT, machine_info, print_table, write_json

SR = 22050
LAYERS = (-3, -2, -1)


# -- helpers ---------------------------------------------------------------------
def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn, n_items: int, device, min_time: float, warmup: int = 2) -> float:
    """Items per second of ``fn()`` (which processes ``n_items``), after ``warmup`` calls;
    repeated for at least ``min_time`` s, best call kept."""
    for _ in range(warmup):
        fn()
    _sync(device)
    best, spent = float("inf"), 0.0
    while spent < min_time or best == float("inf"):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
    return n_items / best


def _model(sizes="3^9", channels=None):
    """bench_forward's model: random weights, non-trivial batch-norm statistics."""
    from bench_forward import build_model

    return build_model(sizes, channels)


def _pooled(run, layers):
    def fn(x):
        _, hidden = run(x, return_hidden=layers)
        return __import__("torch").cat([hidden[la].amax(dim=2).float() for la in layers], 1)

    return fn


def matmul_peak(device, dtype_name: str, n: int, min_time: float) -> float:
    import torch

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n**3 * _rate(lambda: torch.mm(a, b), 1, device, min_time) / 1e12


# -- 1. model only -------------------------------------------------------------------
def model_only(s, device, log) -> dict:
    import torch

    from sklearn_samplecnn.nn import InferenceRunner, count_macs, optimize_for_inference

    model = _model(s["sizes"], s["channels"])
    layers = [model.resolve_layer(la) for la in LAYERS]
    flops = 2 * count_macs(model)
    out = {"flops_per_segment": flops, "rows": []}
    if device.type == "cuda":
        out["fp16_matmul_peak_tflops"] = matmul_peak(device, "fp16", 8192, s["min_time"])
        out["bf16_matmul_peak_tflops"] = matmul_peak(device, "bf16", 8192, s["min_time"])
        out["fp32_matmul_peak_tflops"] = matmul_peak(device, "fp32", 8192, s["min_time"])
    batch = s["batch"]
    xs = [0.1 * torch.randn(batch, model.input_length, device=device) for _ in range(3)]
    k = [0]

    def measure(name, fn, bs=batch, inputs=None, **extra):
        inputs = inputs or xs
        k[0] = 0

        def call():
            x = inputs[k[0] % len(inputs)]
            k[0] += 1
            with torch.inference_mode():
                fn(x)

        t0 = time.perf_counter()
        try:
            seg_s = _rate(call, bs, device, s["min_time"])
        except Exception as exc:  # a variant that fails (compile, graphs) is reported
            out["rows"].append({"variant": name, "batch": bs, "error": repr(exc)[:300]})
            log(f"  {name}: FAILED {exc!r}"[:200])
            return None
        row = {"variant": name, "batch": bs, "seg_s": seg_s, "tflops": seg_s * flops / 1e12,
               "setup_and_timing_s": time.perf_counter() - t0, **extra}
        if "fp16_matmul_peak_tflops" in out:
            row["share_of_fp16_peak"] = row["tflops"] / out["fp16_matmul_peak_tflops"]
        out["rows"].append(row)
        log(f"  {name} batch {bs}: {seg_s:,.0f} seg/s ({row['tflops']:.1f} TFLOP/s)")
        return seg_s

    plain = model.to(device)
    measure("plain module, fp32", _pooled(plain, layers))
    if device.type == "cuda":
        opt = optimize_for_inference(model).to(device)

        def autocast16(x):
            with torch.autocast("cuda", dtype=torch.float16):
                return _pooled(opt, layers)(x)

        measure("folded channels-last, fp16 autocast (first GPU run's path)", autocast16)
    variants = [("runner fp32 (folded, channels-last, cuDNN autotuner)", "fp32", False)]
    if device.type == "cuda":
        variants += [("runner fp16 weights", "fp16", False), ("runner bf16 weights", "bf16", False),
                     ("runner fp16 weights + CUDA graph", "fp16", True)]
    best = {}
    for name, precision, graph in variants:
        run = InferenceRunner(model, device, precision, cuda_graph=graph)
        best[name] = measure(name, _pooled(run, layers))
    if device.type == "cuda" and s["compile"]:
        t0 = time.perf_counter()
        run = InferenceRunner(model, device, "fp16", compile=True)
        fn = _pooled(run, layers)
        try:
            with torch.inference_mode():
                fn(xs[0])
                _sync(device)
            compile_s = time.perf_counter() - t0
            measure("runner fp16 weights + torch.compile", fn, compile_seconds=compile_s)
        except Exception as exc:
            out["rows"].append({"variant": "runner fp16 weights + torch.compile",
                                "error": repr(exc)[:300]})
    sweep = s["batch_sweep"]
    for bs in sweep:
        inputs = [0.1 * torch.randn(bs, model.input_length, device=device) for _ in range(2)]
        for precision, graph in (("fp16" if device.type == "cuda" else "fp32", False),
                                 ("fp16", True) if device.type == "cuda" else (None, None)):
            if precision is None:
                continue
            run = InferenceRunner(model, device, precision, cuda_graph=graph)
            measure(f"sweep {precision}{' + graph' if graph else ''}", _pooled(run, layers),
                    bs=bs, inputs=inputs)
        del inputs
    rates = [r for r in out["rows"] if "seg_s" in r]
    top = max(rates, key=lambda r: r["seg_s"])
    out["best"] = top
    ref = next((r for r in rates if r["variant"].startswith("folded channels-last, fp16")), None)
    if ref:
        out["best_vs_first_gpu_path"] = top["seg_s"] / ref["seg_s"]
    out["first_gpu_run_reference_seg_s"] = 22421  # issue 9, H200, batch 256, same model
    out["best_vs_first_gpu_run_figure"] = top["seg_s"] / 22421
    return out


# -- 2./3. extraction and cache ---------------------------------------------------------
def _gen(args):
    folder, n, sr, seed, seconds = args
    from sklearn_samplecnn.datasets import make_music

    return list(make_music(folder, n_clips=n, duration=seconds, sr=sr, task="tags",
                           random_state=seed).filenames)


def _to_mp3(args):
    src, dst = args
    from sklearn_samplecnn.audio import load_audio, write_audio

    write_audio(dst, load_audio(src, sr=None), 44100)
    return dst


def make_files(root: Path, s, procs: int, log) -> dict:
    """Generated 30 s clips: ``distinct`` files per format (plus copies up to
    ``cache_clips`` distinct 22,050 Hz files for the cache), and the long lists the
    throughput is measured on (the distinct files repeated: the same decoding work)."""
    t0 = time.perf_counter()
    chunks = max(1, min(procs, s["distinct"]))
    per = -(-s["distinct"] // chunks)
    base = {}
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        for key, sr in (("wav22", SR), ("wav44", 44100)):
            jobs = [(root / f"{key}_{i}", per, sr, i, s["seconds"]) for i in range(chunks)]
            base[key] = [p for part in pool.map(_gen, jobs) for p in part][: s["distinct"]]
        (root / "mp3").mkdir()
        base["mp3"] = pool.map(_to_mp3, [(p, str(root / "mp3" / f"{i:04d}.mp3"))
                                         for i, p in enumerate(base["wav44"][: s["distinct_mp3"]])])
    files = {key: [paths[i % len(paths)] for i in range(s["entries"][key])]
             for key, paths in base.items()}
    distinct = list(base["wav22"])
    for i in range(len(distinct), s["cache_clips"]):
        src = base["wav22"][i % len(base["wav22"])]
        dst = Path(src).with_name(f"copy{i:05d}.wav")
        shutil.copyfile(src, dst)
        distinct.append(str(dst))
    files["cache"] = distinct
    log(f"  files written in {time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{k} {len(v)} entries" for k, v in files.items()))
    return files


def _decode_only(args):
    paths, sr, length = args
    from sklearn_samplecnn.audio import load_audio
    from sklearn_samplecnn.segments import segment_signal

    for p in paths:
        segment_signal(load_audio(p, sr=sr), length)
    return len(paths)


def decode_rate(paths, n_procs: int, sr: int = SR, length: int = 59049) -> float:
    """Clips/s of decoding + resampling + segmenting alone in ``n_procs`` processes."""
    shards = [(paths[i::n_procs], sr, length) for i in range(n_procs)]
    with multiprocessing.get_context("fork").Pool(n_procs) as pool:
        pool.map(_decode_only, [(sh[0][:2], sr, length) for sh in shards])  # warm
        t0 = time.perf_counter()
        pool.map(_decode_only, shards)
        return len(paths) / (time.perf_counter() - t0)


def extraction(s, device, files, model_path, jobs, log) -> dict:
    import torch

    from sklearn_samplecnn import MultiScaleFeatureTransformer
    from sklearn_samplecnn.audio import load_audio
    from sklearn_samplecnn.segments import segment_signal

    out = {"rows": []}
    feats = MultiScaleFeatureTransformer(extractors=[str(model_path)], layers=LAYERS,
                                         device=str(device), n_jobs=jobs)
    feats.fit(files["wav22"][:1])
    ext = feats.extractors_[0]
    from sklearn_samplecnn.nn import auto_batch_size

    batch = auto_batch_size(device, ext.runner.module)
    out["batch"], out["precision"] = batch, ext.runner.precision
    # the ceiling: the same runner, batch and pooling on pre-decoded segments on the device
    segs = torch.from_numpy(np.concatenate([
        segment_signal(load_audio(p, sr=SR), ext.input_length) for p in files["wav22"][:16]]))
    per_clip = len(segs) / 16
    x = segs.repeat(max(1, -(-batch // len(segs))), 1)[:batch].to(device)
    fn = feats._segment_fn(ext)

    def ceiling_call():
        with torch.inference_mode():
            fn(x)

    ceiling_seg = _rate(ceiling_call, batch, device, s["min_time"])
    out["ceiling_seg_s"], out["segments_per_clip"] = ceiling_seg, per_clip
    out["ceiling_clips_s"] = ceiling_seg / per_clip
    log(f"  ceiling: {ceiling_seg:,.0f} seg/s = {ceiling_seg / per_clip:,.0f} clips/s "
        f"(batch {batch}, {ext.runner.precision})")

    def timed(paths, n_jobs, warm=True, **params):
        f = MultiScaleFeatureTransformer(extractors=[str(model_path)], layers=LAYERS,
                                         device=str(device), n_jobs=n_jobs, **params)
        f.fit(paths[:1])
        if warm:
            f.transform(paths[: min(len(paths), 4 * max(n_jobs, 1))])  # workers, autotuner
        t0 = time.perf_counter()
        F = f.transform(paths)
        return len(paths) / (time.perf_counter() - t0), F

    for key, label in (("wav22", "WAV 22,050 Hz"), ("wav44", "WAV 44,100 Hz (soxr_hq)"),
                       ("mp3", "MP3 44,100 Hz")):
        paths = files[key]
        clips_s, _ = timed(paths, jobs)
        dec = decode_rate(paths, jobs, SR, ext.input_length)
        row = {"case": f"transformer, {label}, n_jobs={jobs}", "clips_s": clips_s,
               "seg_s": clips_s * per_clip, "vs_ceiling": clips_s * per_clip / ceiling_seg,
               "decode_only_clips_s": dec, "vs_decode_only": clips_s / dec}
        out["rows"].append(row)
        log(f"  {row['case']}: {clips_s:,.0f} clips/s, {row['vs_ceiling']:.2f} of the "
            f"ceiling; decoding alone {dec:,.0f} clips/s")
    for n_jobs in s["scaling_jobs"]:
        clips_s, _ = timed(files["wav22"][: len(files["wav22"]) // 2], n_jobs)
        out["rows"].append({"case": f"transformer, WAV 22,050 Hz, n_jobs={n_jobs}",
                            "clips_s": clips_s, "vs_ceiling": clips_s * per_clip / ceiling_seg})
        log(f"  n_jobs={n_jobs}: {clips_s:,.0f} clips/s")
    # cache: cold (fills) vs warm (every entry a hit), distinct files, stat keys
    with tempfile.TemporaryDirectory() as cache_dir:
        cold, F1 = timed(files["cache"], jobs, warm=False, cache_dir=cache_dir)
        warm, F2 = timed(files["cache"], jobs, warm=False, cache_dir=cache_dir)
    out["cache"] = {"cold_clips_s": cold, "warm_clips_s": warm, "speedup": warm / cold,
                    "identical": bool(np.array_equal(F1, F2))}
    log(f"  cache: cold {cold:,.0f} clips/s, warm {warm:,.0f} clips/s ({warm / cold:.0f}x)")
    # CPU vs device agreement on a few clips
    if device.type == "cuda":
        few = files["wav22"][:8]
        cpu = MultiScaleFeatureTransformer(extractors=[str(model_path)], layers=LAYERS)
        G = feats.transform(few)
        C = cpu.fit(few).transform(few)
        out["cpu_vs_gpu_max_rel_diff"] = float(np.max(np.abs(G - C)) / np.max(np.abs(C)))
    return out


def pipeline_probe(s, device, files, model_path, jobs, log) -> dict:
    """Where the extraction pipeline's time goes: the loader alone, pinning strategies,
    batch sizes, a compiled model, the tensor-sharing strategy."""
    import torch

    from sklearn_samplecnn import MultiScaleFeatureTransformer
    from sklearn_samplecnn.engine import Clips, SegmentBatches, run_segments
    from sklearn_samplecnn.engine.loop import _loader
    from sklearn_samplecnn.nn import InferenceRunner

    paths = files["wav22"][: s["probe_entries"]]
    feats = MultiScaleFeatureTransformer(extractors=[str(model_path)], layers=LAYERS,
                                         device=str(device), n_jobs=jobs).fit(paths[:1])
    ext = feats.extractors_[0]
    clips = Clips(paths, "paths", sr=SR)
    out = {"entries": len(paths), "rows": []}

    def record(name, seconds, **extra):
        out["rows"].append({"case": name, "clips_s": len(paths) / seconds, **extra})
        log(f"  {name}: {len(paths) / seconds:,.0f} clips/s")

    for pin in (True, False):
        for batch in (512, 128):
            ds = SegmentBatches(clips, range(len(paths)), segment_length=ext.input_length,
                                batch_size=batch, input_dtype=ext.runner.input_dtype)
            t0 = time.perf_counter()
            for b in _loader(ds, jobs, pin and device.type == "cuda", 0):
                b.x.to(device, non_blocking=True)
            _sync(device)
            record(f"loader only, batch {batch}, pin_memory={pin}", time.perf_counter() - t0)

    def go(name, fn, **kw):
        kw.setdefault("batch_size", 512)
        t0 = time.perf_counter()
        n = sum(1 for _ in run_segments(clips, fn, segment_length=ext.input_length,
                                        device=device, n_jobs=jobs, static_batch=True,
                                        input_dtype=ext.runner.input_dtype, **kw))
        record(name, time.perf_counter() - t0, clips=n)

    fn = feats._segment_fn(ext)

    def noop(x):
        return x[:, :4].float()

    for ring in (False, True):
        go(f"run_segments, no model (the feeding rate), batch 256, ring={ring}", noop,
           ring=ring, batch_size=256)
    for ring in (False, True):
        go(f"run_segments, batch 256, ring={ring}", fn, ring=ring, batch_size=256)
    go("run_segments, batch 512, ring=True", fn, ring=True)
    if device.type == "cuda":
        from sklearn_samplecnn import load_pretrained

        compiled = InferenceRunner(load_pretrained(model_path).module, device, "fp16",
                                   compile=True)
        ext_c = type(ext)(**{**ext.__dict__, "module": compiled})
        fn_c = feats._segment_fn(ext_c)
        t0 = time.perf_counter()
        with torch.inference_mode():
            fn_c(torch.zeros(256, ext.input_length, device=device, dtype=torch.float16))
        _sync(device)
        out["compile_seconds"] = time.perf_counter() - t0
        x = 0.1 * torch.randn(256, ext.input_length, device=device, dtype=torch.float16)

        def call():
            with torch.inference_mode():
                fn_c(x)

        out["compiled_ceiling_seg_s"] = _rate(call, 256, device, s["min_time"])
        log(f"  compiled ceiling {out['compiled_ceiling_seg_s']:,.0f} seg/s "
            f"(compile {out['compile_seconds']:.1f} s)")
        for ring in (False, True):
            go(f"run_segments, compiled model, batch 256, ring={ring}", fn_c, ring=ring,
               batch_size=256)
    return out


# -- 4. training ---------------------------------------------------------------------
def training(s, device, log) -> dict:
    import torch

    from sklearn_samplecnn import SampleCNNClassifier
    from sklearn_samplecnn.nn import SampleCNN

    n, batch = s["train_segments"], s["train_batch"]
    length = SampleCNN(s["sizes"], s["channels"], n_outputs=2).input_length
    rng = np.random.default_rng(0)
    X = (0.1 * rng.standard_normal((n, length))).astype(np.float32)
    y = (np.arange(n) % 10).astype(np.int64)
    out = {"segments_per_epoch": n, "batch": batch, "rows": []}
    precisions = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]

    def bare(precision):
        torch.manual_seed(0)
        model = SampleCNN(s["sizes"], s["channels"], n_outputs=10).to(device).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        loss_fn = torch.nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if precision == "bf16" else None

        def epoch():
            perm = torch.randperm(n, device=device)
            for i in range(0, n - batch + 1, batch):
                idx = perm[i:i + batch]
                opt.zero_grad(set_to_none=True)
                if amp is not None:
                    with amp:
                        loss = loss_fn(model(Xt[idx]), yt[idx])
                else:
                    loss = loss_fn(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()

        with torch.backends.cudnn.flags(enabled=True, benchmark=device.type == "cuda"):
            return _rate(epoch, (n // batch) * batch, device, 0.0, warmup=1)

    def estimator(precision, workers):
        clf = SampleCNNClassifier(module__sizes=s["sizes"], module__channels=s["channels"],
                                  batch_size=batch, max_epochs=2, train_split=None,
                                  schedule=None, verbose=0, random_state=0, device=str(device),
                                  precision=precision, iterator_train__num_workers=workers)
        clf.fit(X, y)
        dur = clf.history_[-1]["dur"]  # epoch 2: warm (autotuner, workers started)
        return sum(b["train_batch_size"] for b in clf.history_[-1]["batches"]) / dur

    for precision in precisions:
        b = bare(precision)
        out["rows"].append({"case": f"bare torch loop, data on the device, {precision}",
                            "seg_s": b})
        log(f"  bare loop {precision}: {b:,.0f} seg/s")
        for workers in s["train_workers"]:
            e = estimator(precision, workers)
            out["rows"].append({"case": f"SampleCNNClassifier.fit, {precision}, "
                                        f"{workers} workers", "seg_s": e, "vs_bare": e / b})
            log(f"  estimator {precision}, {workers} workers: {e:,.0f} seg/s ({e / b:.2f})")
    rates = {r["case"]: r["seg_s"] for r in out["rows"]}
    if len(precisions) == 2:
        best = {p: max(v for k, v in rates.items() if k.startswith("SampleCNNClassifier")
                       and f", {p}," in k) for p in precisions}
        out["mixed_precision_speedup"] = best["bf16"] / best["fp32"]
    return out


# -- 6. thread pools ------------------------------------------------------------------------
_LR = ("import time, numpy as np\n"
       "from sklearn.linear_model import LogisticRegression\n"
       "rng = np.random.default_rng(0); X = rng.standard_normal((1200, 1536)); "
       "y = rng.integers(0, 10, 1200)\n"
       "t0 = time.perf_counter(); LogisticRegression(max_iter=100).fit(X, y); "
       "print(time.perf_counter() - t0)\n")


def thread_pools(log) -> dict:
    from threadpoolctl import threadpool_info, threadpool_limits

    def lr_seconds():
        ns = {}
        exec(_LR.replace("print(time.perf_counter() - t0)", "ns['t'] = time.perf_counter() - t0")
             , {"ns": ns})
        return ns["t"]

    fresh = float(subprocess.run([sys.executable, "-c", _LR], capture_output=True, text=True,
                                 timeout=120).stdout.strip())
    out = {"fresh_process_s": fresh, "after_gpu_work_s": lr_seconds()}
    with threadpool_limits(limits=1, user_api="openmp"):
        out["after_gpu_work_openmp_1_s"] = lr_seconds()
    with threadpool_limits(limits=1, user_api="blas"):
        out["after_gpu_work_blas_1_s"] = lr_seconds()
    out["pools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads",
                                            "filepath")} for p in threadpool_info()]
    log(f"  LogisticRegression 1,536 features: fresh process {fresh:.2f} s, here "
        f"{out['after_gpu_work_s']:.2f} s, openmp=1 {out['after_gpu_work_openmp_1_s']:.2f} s, "
        f"blas=1 {out['after_gpu_work_blas_1_s']:.2f} s")
    return out


# -- main ------------------------------------------------------------------------------
def _settings(args) -> dict:
    if args.smoke:
        return {"sizes": "3-3-3-3-3-3", "channels": [4] * 7, "batch": 8, "batch_sweep": [16],
                "min_time": 0.05, "compile": False, "distinct": 4, "distinct_mp3": 2,
                "entries": {"wav22": 12, "wav44": 8, "mp3": 6}, "cache_clips": 8,
                "seconds": 3.0, "scaling_jobs": [1], "train_segments": 64, "train_batch": 16,
                "train_workers": [0], "probe_entries": 12}
    return {"sizes": "3^9", "channels": None, "batch": 256, "batch_sweep": [128, 512, 1024],
            "min_time": 0.5, "compile": True, "distinct": 96, "distinct_mp3": 48,
            "entries": {"wav22": 6000, "wav44": 2400, "mp3": 1200}, "cache_clips": 1200,
            "seconds": 30.0, "scaling_jobs": [4, 8], "train_segments": 10240,
            "train_batch": 128, "train_workers": [0, 6], "probe_entries": 3000}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script")
    parser.add_argument("--jobs", type=int, help="decoding processes (default: cores - 2)")
    parser.add_argument("--sections", default="model,extract,pipeline,train,threads,tests",
                        help="comma-separated subset of model,extract,pipeline,train,threads,"
                             "tests")
    parser.add_argument("--out", default="bench_results/gpu_check.json")
    args = parser.parse_args(argv)
    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but CUDA is not available; try --device cpu --smoke")
    s = _settings(args)
    cores = len(os.sched_getaffinity(0))
    jobs = args.jobs or max(1, cores - 2)  # the main loop and the pinning thread need cores
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.1f} s] {msg}", flush=True)

    info = machine_info(packages=("torch", "numpy", "scikit-learn", "skorch", "soundfile",
                                  "soxr"), threads=torch.get_num_threads(), jobs=jobs)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = {"name": props.name, "memory_gib": props.total_memory / 2**30,
                       "multiprocessors": props.multi_processor_count,
                       "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    result = {"machine": info, "settings": s, "sections": {}}
    wanted = args.sections.split(",")

    def section(name, fn, *a):
        if name.split(":")[0] not in wanted:
            return None
        log(f"== {name}")
        t0 = time.perf_counter()
        try:
            value = fn(*a)
            value["seconds"] = time.perf_counter() - t0
        except Exception:
            value = {"error": traceback.format_exc()[-2000:], "seconds": time.perf_counter() - t0}
            log(f"  FAILED: {value['error'].splitlines()[-1]}")
        result["sections"][name] = value
        write_json(args.out, result)
        return value

    section("model", model_only, s, device, log)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        if "extract" in wanted or "pipeline" in wanted:
            files = make_files(tmp, s, min(cores, 16), log)
            model_path = tmp / "model.samplecnn"
            from sklearn_samplecnn import save_pretrained

            save_pretrained(_model(s["sizes"], s["channels"]), model_path,
                            metadata={"sample_rate": SR})
            section("extract", extraction, s, device, files, model_path, jobs, log)
            section("pipeline", pipeline_probe, s, device, files, model_path, jobs, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    section("train", training, s, device, log)
    section("threads", thread_pools, log)
    if "tests" in wanted and device.type == "cuda":
        def tests():
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p",
                                   "no:cacheprovider", "tests/test_pipeline.py",
                                   "tests/test_classic.py", "-k", "cuda or gpu"],
                                  cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            return {"returncode": proc.returncode, "tail": tail}

        section("tests", tests)
    summary = _summary(result)
    result["summary"] = summary
    write_json(args.out, result)
    print_table([{"figure": k, "value": v} for k, v in summary.items()],
                [("figure", "figure"), ("value", "value", ".3f")],
                title=f"GPU check on {info.get('gpu', {}).get('name', device.type)}, "
                      f"{time.perf_counter() - start:.0f} s")
    print(f"wrote {args.out}")
    return result


def _summary(result) -> dict:
    sec, out = result["sections"], {}
    m = sec.get("model", {})
    if "best" in m:
        out["model-only best seg/s"] = m["best"]["seg_s"]
        out["model-only best vs first GPU run (22,421)"] = m.get("best_vs_first_gpu_run_figure")
        out["model-only best, share of fp16 peak"] = m["best"].get("share_of_fp16_peak")
    e = sec.get("extract", {})
    for r in e.get("rows", [])[:3]:
        out[f"{r['case']} vs ceiling"] = r["vs_ceiling"]
    if "cache" in e:
        out["cache warm / cold"] = e["cache"]["speedup"]
    if "cpu_vs_gpu_max_rel_diff" in e:
        out["features CPU vs GPU max rel diff"] = e["cpu_vs_gpu_max_rel_diff"]
    t = sec.get("train", {})
    for r in t.get("rows", []):
        if "vs_bare" in r:
            out[f"{r['case']} vs bare"] = r["vs_bare"]
    if "mixed_precision_speedup" in t:
        out["training bf16 / fp32"] = t["mixed_precision_speedup"]
    th = sec.get("threads", {})
    if "after_gpu_work_s" in th:
        out["LogisticRegression s, fresh / after GPU"] = th["fresh_process_s"]
        out["LogisticRegression s after GPU work"] = th["after_gpu_work_s"]
    if "tests" in sec:
        out["CUDA tests returncode"] = sec["tests"].get("returncode")
    return {k: (float(v) if isinstance(v, (int, float, np.floating)) else v)
            for k, v in out.items() if v is not None}


if __name__ == "__main__":
    main()
