"""SampleCNN forward throughput: the plain eval module against the inference module.

For each model, thread count and batch size it times ``model.eval()`` and
:func:`sklearn_samplecnn.nn.optimize_for_inference` (batch norm folded,
channels-last ``(1, k)`` convolutions) under ``torch.inference_mode`` and reports
segments/s, GFLOP/s (2 x the analytic multiply-adds), the share of the fp32
matmul peak measured in the same run (``torch.mm`` of 2048 x 2048 at the same
threads, before and after the model runs, best of both) and x real time
(seconds of 22,050 Hz audio per second). It also checks the batch size that
:func:`sklearn_samplecnn.nn.auto_batch_size` recommends against the best one
measured. On CUDA (when available) it measures fp32, TF32 and bf16/fp16
autocast instead of thread counts.

The glibc allocator matters on CPU; compare two runs::

    python benchmarks/bench_forward.py --quick
    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \\
        python benchmarks/bench_forward.py --quick --out bench_results/bench_forward_tuned.json

On a machine shared with other work every number is noisy: the best of
several calls is reported (the median is in the JSON) and the peak is measured
in the same run; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from typing import Any

import torch
from _common import (
    add_common_arguments,
    machine_info,
    parse_int_list,
    print_table,
    time_call,
    write_json,
)

from sklearn_samplecnn.nn import (
    MULTISCALE_PRESETS,
    SampleCNN,
    auto_batch_size,
    count_macs,
    optimize_for_inference,
)

SR = 22050
CUDA_PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def build_model(name: str, channels: tuple[int, ...] | None = None, seed: int = 0) -> SampleCNN:
    """An eval-mode SampleCNN with random weights and non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    if name in MULTISCALE_PRESETS:
        model = SampleCNN.from_preset(name, channels=channels)
    else:
        model = SampleCNN(name, channels=channels)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def matmul_peak(
    n: int, device: torch.device, precision: str = "fp32", min_time: float = 0.5
) -> float:
    """Best GFLOP/s of ``torch.mm`` on ``n x n`` matrices (``precision`` as in CUDA_PRECISIONS)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def run() -> None:
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with _precision(device, precision, autocast=False):
        t = time_call(run, min_time=min_time, min_repeats=3, warmup=2)
    return 2 * n**3 / t["best"] / 1e9


@contextlib.contextmanager
def _precision(device: torch.device, precision: str, autocast: bool = True):
    """TF32 switches for fp32/tf32; autocast for bf16/fp16 (CUDA only)."""
    if device.type != "cuda":
        yield
        return
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        if autocast and precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float16
            with torch.autocast("cuda", dtype=dtype):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def time_forward(
    module: torch.nn.Module,
    batch: int,
    device: torch.device,
    precision: str,
    min_time: float,
    min_repeats: int,
) -> dict[str, Any]:
    """Seconds per forward pass of ``batch`` segments."""
    x = 0.1 * torch.randn(batch, module.input_length, device=device)

    def run() -> None:
        with torch.inference_mode(), _precision(device, precision):
            module(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return time_call(run, min_time=min_time, min_repeats=min_repeats, warmup=1)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    auto = auto_batch_size("cpu")
    if args.smoke:
        s = {
            "models": ["3-3-3-3"], "channels": (8, 8, 8, 8, 8), "batch_sizes": [1, 2],
            "threads": [1], "min_time": 0.01, "min_repeats": 1, "matmul_n": 256, "rounds": 1,
        }
    elif args.quick:
        s = {
            "models": ["3^9"], "channels": None, "batch_sizes": sorted({1, 2, 4, 8, auto}),
            "threads": [cores], "min_time": 0.3, "min_repeats": 2, "matmul_n": 2048, "rounds": 2,
        }
    else:
        s = {
            "models": ["3^9", "5^5", "5^6"], "channels": None,
            "batch_sizes": [1, 2, 4, 8, 16, 32, 64], "threads": list(range(1, cores + 1)),
            "min_time": 1.0, "min_repeats": 2, "matmul_n": 2048, "rounds": 2,
        }
    for key in ("models", "batch_sizes", "threads", "min_time", "rounds"):
        value = getattr(args, key)
        if value is not None:
            s[key] = value
    s["cuda_batch_sizes"] = [1, 2] if args.smoke else [1, 16, 64, 256] if args.quick else [
        1, 4, 16, 32, 64, 128, 256
    ]
    return s


def _record(model, variant, device, threads, precision, batch, timing, peak) -> dict[str, Any]:
    macs = count_macs(model)
    sps = batch / timing["best"]
    gflops = 2 * macs * sps / 1e9
    return {
        "device": device.type,
        "model": model.name,
        "input_length": model.input_length,
        "macs_per_segment": macs,
        "variant": variant,
        "threads": threads,
        "precision": precision,
        "batch_size": batch,
        "seconds_per_batch": timing["best"],
        "seconds_per_batch_median": timing["median"],
        "repeats": timing["repeats"],
        "rounds": timing.get("rounds", 1),
        "segments_per_s": sps,
        "segments_per_s_median": batch / timing["median"],
        "gflops": gflops,
        "peak_gflops": peak,
        "pct_peak": 100 * gflops / peak,
        "x_realtime": sps * model.input_length / SR,
    }


def _merge(timings: list[dict[str, Any]]) -> dict[str, Any]:
    """One timing from several rounds: the best call overall, the median of the medians."""
    return {
        "best": min(t["best"] for t in timings),
        "median": statistics.median(t["median"] for t in timings),
        "repeats": sum(t["repeats"] for t in timings),
        "rounds": len(timings),
    }


def run_cpu(s: dict[str, Any], models: dict[str, SampleCNN], log) -> tuple[list, dict]:
    """Every setting once per round, rounds one after the other, so that a burst of load
    from other processes spoils one round of a setting rather than all its calls."""
    device = torch.device("cpu")
    results, peaks = [], {}
    fast = {name: optimize_for_inference(model) for name, model in models.items()}
    for threads in s["threads"]:
        torch.set_num_threads(threads)
        timings: dict[tuple, list] = {}
        peak_runs = []
        for r in range(s["rounds"]):
            peak_runs.append(matmul_peak(s["matmul_n"], device))
            for name, model in models.items():
                for batch in s["batch_sizes"]:
                    # plain and optimized back to back, so both see the same machine load
                    for variant, module in (("plain", model), ("optimized", fast[name])):
                        t = time_forward(
                            module, batch, device, "fp32", s["min_time"], s["min_repeats"]
                        )
                        timings.setdefault((name, variant, batch), []).append(t)
                        log(f"  round {r + 1} cpu {name} threads={threads} batch={batch} "
                            f"{variant}: {batch / t['best']:.1f} segments/s")
        peak_runs.append(matmul_peak(s["matmul_n"], device))
        peak = max(peak_runs)
        peaks[str(threads)] = {"runs": peak_runs, "peak": peak}
        for (name, variant, batch), ts in timings.items():
            results.append(
                _record(models[name], variant, device, threads, "fp32", batch, _merge(ts), peak)
            )
    return results, peaks


def run_cuda(s: dict[str, Any], models: dict[str, SampleCNN], log) -> tuple[list, dict]:
    device = torch.device("cuda")
    results, peaks = [], {}
    for precision in CUDA_PRECISIONS:
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            continue
        peak = matmul_peak(4 * s["matmul_n"], device, precision)
        peaks[precision] = {"peak": peak}
        for name, model in models.items():
            plain = model.to(device)
            fast = optimize_for_inference(plain)
            for batch in sorted({*s["cuda_batch_sizes"], auto_batch_size(device)}):
                for variant, module in (("plain", plain), ("optimized", fast)):
                    t = time_forward(
                        module, batch, device, precision, s["min_time"], s["min_repeats"]
                    )
                    results.append(_record(model, variant, device, None, precision, batch, t, peak))
                    log(f"  cuda {name} {precision} batch={batch} {variant}: "
                        f"{batch / t['best']:.1f} segments/s")
            model.to("cpu")
    return results, peaks


def check_auto_batch(results: list[dict], device: str) -> list[dict]:
    """The recommended batch size against the best measured one, per model and setting."""
    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        if r["device"] == device and r["variant"] == "optimized":
            groups.setdefault((r["model"], r["threads"], r["precision"]), []).append(r)
    auto = auto_batch_size(device)
    for (model, threads, precision), rows in groups.items():
        best = max(rows, key=lambda r: r["segments_per_s"])
        at_auto = next((r for r in rows if r["batch_size"] == auto), None)
        out.append({
            "device": device, "model": model, "threads": threads, "precision": precision,
            "auto_batch_size": auto,
            "auto_segments_per_s": at_auto and at_auto["segments_per_s"],
            "auto_pct_peak": at_auto and at_auto["pct_peak"],
            "best_batch_size": best["batch_size"],
            "best_segments_per_s": best["segments_per_s"],
            "auto_over_best": at_auto and at_auto["segments_per_s"] / best["segments_per_s"],
        })
    return out


def _paired_rows(results: list[dict]) -> list[dict]:
    """One table row per setting with plain and optimized side by side."""
    rows: dict[tuple, dict] = {}
    for r in results:
        key = (r["device"], r["model"], r["threads"], r["precision"], r["batch_size"])
        row = rows.setdefault(key, dict(zip(
            ("device", "model", "threads", "precision", "batch_size"), key
        )))
        row[f"{r['variant']}_sps"] = r["segments_per_s"]
        row[f"{r['variant']}_pct"] = r["pct_peak"]
        if r["variant"] == "optimized":
            row["x_realtime"] = r["x_realtime"]
            row["gflops"] = r["gflops"]
    for row in rows.values():
        if "plain_sps" in row and "optimized_sps" in row:
            row["speedup"] = row["optimized_sps"] / row["plain_sps"]
    return list(rows.values())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_forward.json")
    parser.add_argument("--models", type=lambda t: t.split(","), default=None,
                        help="comma-separated sizes or presets, e.g. '3^9,5^5,3-3-3-2'")
    parser.add_argument("--batch-sizes", dest="batch_sizes", type=parse_int_list, default=None,
                        help="e.g. '1,2,4,8,16,32,64'")
    parser.add_argument("--threads", type=parse_int_list, default=None,
                        help="CPU thread counts, e.g. '1-2'")
    parser.add_argument("--min-time", dest="min_time", type=float, default=None,
                        help="seconds of timed calls per measurement")
    parser.add_argument("--rounds", type=int, default=None,
                        help="sweeps over all settings; each setting reports its best round")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: CPU, plus CUDA when available")
    args = parser.parse_args(argv)
    s = _settings(args)
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s]{msg}", flush=True)

    models = {name: build_model(name, s["channels"]) for name in s["models"]}
    results, peaks, auto = [], {}, []
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch.cuda.is_available() is False")
    if args.device in ("auto", "cpu"):
        cpu_results, peaks["cpu"] = run_cpu(s, models, log)
        results += cpu_results
        auto += check_auto_batch(cpu_results, "cpu")
    gpu = None
    if use_cuda:
        gpu = torch.cuda.get_device_name(0)
        cuda_results, peaks["cuda"] = run_cuda(s, models, log)
        results += cuda_results
        auto += check_auto_batch(cuda_results, "cuda")

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    payload = {
        "benchmark": "bench_forward",
        "mode": mode,
        "machine": machine_info(
            packages=("torch", "numpy"), torch_threads_default=torch.get_num_threads(),
            mkldnn=torch.backends.mkldnn.is_available(), gpu=gpu,
        ),
        "settings": {k: v for k, v in s.items()},
        "sample_rate": SR,
        "matmul_peak_gflops": peaks,
        "results": results,
        "auto_batch": auto,
        "elapsed_s": time.perf_counter() - start,
    }
    m = payload["machine"]
    print(f"\n{m['cpu_model']}, {m['usable_cores']} usable cores, torch {m['versions']['torch']}, "
          f"GLIBC_TUNABLES={m['glibc_tunables']!r}, {m['date']}")
    for dev, per in peaks.items():
        for key, p in per.items():
            print(f"matmul peak {dev} {key}: {p['peak']:.1f} GFLOP/s")
    print_table(_paired_rows(results), [
        ("device", "dev"), "model", ("threads", "thr"), ("precision", "prec"),
        ("batch_size", "batch"),
        ("plain_sps", "plain seg/s", ".1f"), ("plain_pct", "plain %pk", ".0f"),
        ("optimized_sps", "opt seg/s", ".1f"), ("optimized_pct", "opt %pk", ".0f"),
        ("speedup", "speedup", ".2f"), ("gflops", "opt GFLOP/s", ".1f"),
        ("x_realtime", "x realtime", ".0f"),
    ], title="\nForward throughput (best of repeated calls)")
    print_table(auto, [
        ("device", "dev"), "model", ("threads", "thr"), ("precision", "prec"),
        ("auto_batch_size", "auto"), ("auto_segments_per_s", "auto seg/s", ".1f"),
        ("auto_pct_peak", "auto %pk", ".0f"), ("best_batch_size", "best"),
        ("best_segments_per_s", "best seg/s", ".1f"), ("auto_over_best", "auto/best", ".2f"),
    ], title="\nRecommended batch size (auto_batch_size) against the best measured")
    path = write_json(args.out, payload)
    print(f"\nwrote {path} ({payload['elapsed_s']:.1f} s)")
    return payload


if __name__ == "__main__":
    main()
