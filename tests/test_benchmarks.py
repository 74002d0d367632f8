"""The benchmark scripts run end to end (``--smoke``: tiny sizes) and write the JSON they promise.

Speed is never asserted here; see the scripts themselves for the numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_script_json

ROOT = Path(__file__).resolve().parents[1]
MACHINE_KEYS = {"cpu_model", "logical_cores", "usable_cores", "versions", "glibc_tunables", "date"}


def run_script(name: str, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    return json.loads(out.read_text())


def test_bench_forward_smoke(tmp_path):
    data = run_script("bench_forward.py", tmp_path / "forward.json")
    assert data["benchmark"] == "bench_forward" and data["mode"] == "smoke"
    assert MACHINE_KEYS <= set(data["machine"])
    assert data["machine"]["versions"]["torch"]
    assert data["matmul_peak_gflops"]["cpu"]["1"]["peak"] > 0
    rows = [r for r in data["results"] if r["device"] == "cpu"]
    assert {(r["variant"], r["batch_size"]) for r in rows} == {
        (v, b) for v in ("plain", "optimized") for b in (1, 2)
    }
    for r in rows:
        assert r["segments_per_s"] > 0 and r["gflops"] > 0 and r["pct_peak"] > 0
        assert r["x_realtime"] == pytest.approx(r["segments_per_s"] * r["input_length"] / 22050)
        assert r["gflops"] == pytest.approx(2 * r["macs_per_segment"] * r["segments_per_s"] / 1e9)
    auto = data["auto_batch"][0]
    assert {"auto_batch_size", "best_batch_size", "auto_over_best"} <= set(auto)


def test_bench_io_smoke(tmp_path):
    data = run_script("bench_io.py", tmp_path / "io.json")
    assert data["benchmark"] == "bench_io" and data["mode"] == "smoke"
    assert MACHINE_KEYS <= set(data["machine"])
    assert data["one_off_costs"]["kaiser_fast_first_call_s"] > 0
    steps = {(r["format"], r["step"], r["res_type"]) for r in data["results"]}
    assert steps == {
        ("wav_22k", "decode", None),
        ("wav_44k", "decode", None),
        ("wav_44k", "decode+resample", "kaiser_fast"),
        ("wav_44k", "decode+resample", "soxr_hq"),
    }
    for r in data["results"]:
        assert r["seconds_per_clip"] > 0
        assert r["x_realtime"] == pytest.approx(r["clip_seconds"] / r["seconds_per_clip"])
        assert (r["resample_seconds"] is None) == (r["step"] == "decode")


def test_bench_musicnn_smoke(tmp_path):
    data = run_script("bench_musicnn.py", tmp_path / "musicnn.json")
    assert data["benchmark"] == "bench_musicnn" and data["mode"] == "smoke"
    assert MACHINE_KEYS <= set(data["machine"])
    (row,) = data["results"]  # no reference Python given: the library alone
    assert row["clips_per_s"] > 0
    assert row["s_per_clip"] == pytest.approx(1 / row["clips_per_s"])
    assert "speedup_vs_original" not in data


def test_reproduce_paper_table2_quick(tmp_path):
    result = run_script_json(["benchmarks/reproduce_paper.py", "table2", "--quick"], tmp_path)
    assert result["table"] == 2 and result["quick"] is True
    rows = result["rows"]
    assert [r["family"] for r in rows] == ["mel"] * 5 + ["raw"] * 5 + ["sample"] * 3
    assert [(r["window"], r["hop"]) for r in rows[:5]] == [
        (729, 729), (729, 243), (243, 243), (243, 81), (81, 81)]
    assert rows[-1]["paper_auc"] == 0.9055 and rows[5]["paper_auc"] == 0.8655
    # quick mode's 6,561-sample input (59,049 / 9): every model has two modules fewer
    assert result["input_length"] == 6561
    assert [r["n"] for r in rows] == [r["paper_n"] - 2 for r in rows]
    for r in rows:
        assert 0.0 <= r["score"] <= 1.0 and r["epochs"] >= 1


def test_bench_extract_identity_only_smoke(tmp_path):
    """``bench_extract.py --only identity``: the near-free extractor against decoding alone,
    with 1 and 2 processes, and nothing else."""
    out = tmp_path / "identity.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_extract.py"),
                           "--smoke", "--only", "identity", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["ratios"]) == {"near_free_1_vs_decode_only_1",
                                     "near_free_2_vs_decode_only_2", "near_free_2_vs_1"}
    assert [r["case"].split(",")[0] for r in result["rows"]] == [
        "near-free (identity) extractor", "decoding alone"] * 2
    assert all(r["clips_s"] > 0 for r in result["rows"])
