"""Decode and resample throughput of :func:`sklearn_samplecnn.audio.load_audio`.

Writes synthetic clips (30 s by default) in a temporary folder - WAV at
22,050 Hz mono (GTZAN-like), WAV, FLAC, OGG/Vorbis and MP3 at 44,100 Hz
stereo (CD-like) - and times, per format, decoding at the file's own rate
(``sr=None``) and decoding + downmixing + resampling to 22,050 Hz with each
filter (``kaiser_fast``, ``kaiser_best``, ``soxr_hq``). Reports seconds per clip
and x real time (clip seconds per wall second), with the resampling of the
decoded, downmixed signal also timed on its own. resampy compiles its kernel
with numba on the first call of each process; that one-off cost is measured
on a tiny signal first and reported separately, so the table is steady state.

    python benchmarks/bench_io.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _common import add_common_arguments, machine_info, print_table, time_call, write_json

from sklearn_samplecnn.audio import audio_info, load_audio, resample, write_audio

TARGET_SR = 22050
#: name -> (extension, sample rate, channels)
FORMATS = {
    "wav_22k": (".wav", 22050, 1),
    "wav_44k": (".wav", 44100, 2),
    "flac_44k": (".flac", 44100, 2),
    "ogg_44k": (".ogg", 44100, 2),
    "mp3_44k": (".mp3", 44100, 2),
}
RES_TYPES = ("kaiser_fast", "kaiser_best", "soxr_hq")


def synthetic_music(seconds: float, sr: int, channels: int, seed: int = 0) -> np.ndarray:
    """A few decaying harmonic notes plus noise, ``(channels, n)`` or ``(n,)``, peak ~0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = 0.02 * rng.standard_normal((channels, n))
    span = np.arange(2 * sr) / sr  # each note rings for 2 s (exp(-6) at the end)
    for onset in range(0, n, sr // 2):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        t = span[: n - onset]
        note = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * np.exp(-3.0 * t)
        y[:, onset:onset + len(t)] += 0.1 * note * rng.uniform(0.5, 1.0, size=(channels, 1))
    y = (0.5 * y / np.abs(y).max()).astype(np.float32)
    return y[0] if channels == 1 else y


def warm_up_resamplers() -> dict[str, float]:
    """One-off costs: importing resampy, numba-compiling its kernel, loading each filter."""
    tiny = np.random.default_rng(0).standard_normal(4410).astype(np.float32)
    out = {}
    t0 = time.perf_counter()
    import resampy  # noqa: F401  (timed: pulls in numba)

    out["resampy_import_s"] = time.perf_counter() - t0
    for res_type in RES_TYPES:
        t0 = time.perf_counter()
        resample(tiny, orig_sr=44100, target_sr=TARGET_SR, res_type=res_type)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        resample(tiny, orig_sr=44100, target_sr=TARGET_SR, res_type=res_type)
        out[f"{res_type}_first_call_s"] = first
        out[f"{res_type}_one_off_s"] = first - (time.perf_counter() - t0)
    return out


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    if args.smoke:
        s = {"seconds": 2.0, "formats": ["wav_22k", "wav_44k"],
             "res_types": ["kaiser_fast", "soxr_hq"], "min_time": 0.0, "min_repeats": 1}
    elif args.quick:
        s = {"seconds": 30.0, "formats": list(FORMATS), "res_types": list(RES_TYPES),
             "min_time": 0.5, "min_repeats": 3}
    else:
        s = {"seconds": 30.0, "formats": list(FORMATS), "res_types": list(RES_TYPES),
             "min_time": 2.0, "min_repeats": 3}
    if args.seconds is not None:
        s["seconds"] = args.seconds
    return s


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_io.json")
    parser.add_argument("--seconds", type=float, default=None, help="clip length (default 30)")
    args = parser.parse_args(argv)
    s = _settings(args)
    start = time.perf_counter()
    one_off = warm_up_resamplers()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_io_") as tmp:
        for fmt in s["formats"]:
            ext, sr, channels = FORMATS[fmt]
            path = Path(tmp) / f"clip_{fmt}{ext}"
            write_audio(path, synthetic_music(s["seconds"], sr, channels), sr)
            seconds = audio_info(path).duration  # encoders may pad a little
            cases = [("decode", None, None)] + [
                ("decode+resample", TARGET_SR, rt) for rt in s["res_types"] if sr != TARGET_SR
            ]
            mono = load_audio(path, sr=None)
            for step, target, res_type in cases:
                load = partial(load_audio, path, sr=target, res_type=res_type or "kaiser_fast")
                t = time_call(load, min_time=s["min_time"], min_repeats=s["min_repeats"])
                # the resampling alone, timed on its own (a difference of two noisy times can
                # come out negative)
                r = None if target is None else time_call(
                    partial(resample, mono, orig_sr=sr, target_sr=target, res_type=res_type),
                    min_time=s["min_time"], min_repeats=s["min_repeats"],
                )
                results.append({
                    "format": fmt, "file_sr": sr, "channels": channels,
                    "file_bytes": path.stat().st_size, "clip_seconds": seconds,
                    "step": step, "res_type": res_type, "target_sr": target,
                    "seconds_per_clip": t["best"], "seconds_per_clip_median": t["median"],
                    "repeats": t["repeats"],
                    "resample_seconds": None if r is None else r["best"],
                    "x_realtime": seconds / t["best"],
                })
                print(f"[{time.perf_counter() - start:6.1f}s] {fmt} {step} {res_type or ''}: "
                      f"{t['best']:.3f} s/clip", flush=True)

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    payload = {
        "benchmark": "bench_io",
        "mode": mode,
        "machine": machine_info(packages=("numpy", "soundfile", "resampy", "soxr", "numba")),
        "settings": s,
        "one_off_costs": one_off,
        "results": results,
        "elapsed_s": time.perf_counter() - start,
    }
    m = payload["machine"]
    print(f"\n{m['cpu_model']}, {m['usable_cores']} usable cores, "
          f"soundfile {m['versions']['soundfile']}, resampy {m['versions']['resampy']}, "
          f"soxr {m['versions']['soxr']}, {m['date']}")
    print_table(
        [{"cost": k, "seconds": v} for k, v in one_off.items()],
        ["cost", ("seconds", "seconds", ".3f")],
        title="\nOne-off costs per process (not in the table below)",
    )
    print_table(results, [
        "format", ("channels", "ch"), ("file_bytes", "bytes"), "step",
        ("res_type", "filter"), ("seconds_per_clip", "s/clip", ".3f"),
        ("resample_seconds", "resample alone", ".3f"), ("x_realtime", "x realtime", ".0f"),
    ], title=f"\nload_audio on {s['seconds']:.0f} s clips (best of repeated calls)")
    path = write_json(args.out, payload)
    print(f"\nwrote {path} ({payload['elapsed_s']:.1f} s)")
    return payload


if __name__ == "__main__":
    main()
