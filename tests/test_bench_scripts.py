"""The end-to-end benchmarks run in smoke mode and write valid JSON (speed is not tested)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script,keys", [
    ("bench_extract.py", {"wav22_vs_ceiling", "wav44_vs_ceiling", "vs_naive_wav44",
                          "cached_speedup", "rss_growth"}),
    ("bench_train.py", {"estimator_vs_bare", "files_vs_bare", "tuned_vs_default"}),
    pytest.param("bench_distributed.py", {"two_vs_one_workers", "one_worker_vs_in_process"},
                 marks=pytest.mark.skipif(find_spec("distributed") is None,
                                          reason="needs dask.distributed")),
])
def test_smoke_run_writes_json(script, keys, tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / script), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert keys <= set(result["ratios"])
    assert all(v > 0 for v in result["ratios"].values())
    assert result["machine"]["cpu_model"] and result["rows"]


def test_run_all_lists_every_benchmark():
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--quick" in proc.stdout
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("run_all", BENCH / "run_all.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    assert all((BENCH / s).exists() for s in module.SCRIPTS)
