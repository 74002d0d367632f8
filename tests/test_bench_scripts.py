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


def test_cli_startup_smoke_run_measures_against_python_start(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_cli_startup.py"), "--smoke",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = {r["command"]: r for r in result["rows"]}
    assert list(rows) == ["python -c pass", "samplecnn --help", "samplecnn predict missing.wav"]
    assert rows["samplecnn --help"]["exit_status"] == 0
    assert rows["samplecnn predict missing.wav"]["exit_status"] == 2  # a usage error
    for r in rows.values():
        assert r["repeats"] == 2 and 0 < r["best_s"] <= r["median_s"]
        assert r["x_python_start"] == pytest.approx(r["best_s"] / result["baseline_s"])
    assert set(result["ratios"]) == set(list(rows)[1:])


def test_transfer_smoke_run_writes_the_table(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_transfer.py"), "--smoke",
                           "--student", "none", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    names = [r["pipeline"] for r in result["rows"]]
    assert names[:2] == ["MFCC statistics, SVM (RBF, C=10)",
                         "MFCC statistics, logistic regression"]
    assert names[2].startswith("SampleCNN, random weights") and len(names) == 13
    assert sum(n.startswith("union MFCC + best SampleCNN") for n in names) == 3
    # the shipped teacher's features, alone and in the union
    assert names[-2:] == ["musicnn teacher (MSD_musicnn), logistic regression",
                          "union MFCC + teacher: BlockScaler per block, LR C=100"]
    for r in result["rows"]:  # the same 2 folds for every row
        assert len(r["folds"]) == 2 and 0.0 <= r["mean"] <= 1.0
        assert r["mean"] == pytest.approx(sum(r["folds"]) / 2)
    assert set(result["gains"]) == {"ssl_minus_random", "supervised_minus_random",
                                    "small_data_minus_paper_recipe", "best_cnn_minus_mfcc",
                                    "union_minus_best_single"}
    # 3 kinds x 3 poolings x (7 hidden layers of the smoke model, top 3, all)
    assert len(result["layer_rows"]) == 3 * 3 * 9
    assert {r["pooling"] for r in result["layer_rows"]} == {"paper", "mean+std", "max+std"}
    assert result["machine"]["cpu_model"] and result["seconds"]["total"] > 0


def test_transfer_on_a_csv_of_clips_uses_grouped_folds(tmp_path):
    """--clips-csv: real recordings' protocol on generated clips: 3 labels x 2 groups (tracks)
    x 2 clips, StratifiedGroupKFold(2) by group."""
    import numpy as np

    from sklearn_samplecnn.audio import write_audio

    rng = np.random.default_rng(0)
    lines = ["path,label,group,start_s"]
    for label, f0 in (("low", 200.0), ("mid", 800.0), ("high", 3000.0)):
        for group in range(2):
            for k in range(2):
                t = np.arange(2 * 16000) / 16000
                y = 0.3 * np.sin(2 * np.pi * f0 * (1 + 0.1 * group) * t)
                path = tmp_path / f"{label}{group}{k}.flac"
                write_audio(path, (y + 0.01 * rng.standard_normal(len(t))).astype(np.float32),
                            16000)
                lines.append(f"{path.name},{label},{label}-{group},{2.0 * k}")
    (tmp_path / "clips.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_transfer.py"), "--smoke",
                           "--clips-csv", str(tmp_path / "clips.csv"), "--cv-seeds", "0,1",
                           "--student", "none", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["n_clips"] == 12 and result["n_tracks"] == 6
    assert result["classes"] == ["high", "low", "mid"]
    names = [r["pipeline"] for r in result["rows"]]
    assert names == ["MFCC statistics, SVM (RBF, C=10)",
                     "MFCC statistics, logistic regression",
                     "musicnn teacher (MSD_musicnn), logistic regression",
                     "small-data recipe (3^7 on generated tags, 1 seeds)",
                     "union MFCC + teacher: BlockScaler per block, LR C=100"]
    for r in result["rows"]:  # one mean per shuffle of the grouped folds
        assert len(r["cv_seed_means"]) == 2 and 0.0 <= r["mean"] <= 1.0
        assert r["mean"] == pytest.approx(sum(r["cv_seed_means"]) / 2)


def test_run_all_lists_every_benchmark():
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--quick" in proc.stdout
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("run_all", BENCH / "run_all.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    assert all((BENCH / s).exists() for s in module.SCRIPTS)
