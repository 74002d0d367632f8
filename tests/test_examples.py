"""The quick modes of the GTZAN, MTAT and transfer-learning examples run and print results.

Each example runs in a subprocess, as users start it, on generated clips with
tiny models (10-25 s each on one core).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sklearn_samplecnn.datasets import GENRES, make_music

ROOT = Path(__file__).resolve().parents[1]


def run_example(script: str, *args, cwd: Path, timeout: float = 60, env=None) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1))


def test_gtzan_cross_validation_quick(tmp_path):
    out = run_example("gtzan_cross_validation.py", "--quick", "--out", tmp_path / "o",
                      cwd=tmp_path)
    assert "stratified k-fold" in out
    assert "target: 80 clips, 10 genres" in out
    folds = re.search(r"4-fold accuracy per fold: (.*)", out).group(1).split(", ")
    assert len(folds) == 4 and all(0.0 <= float(f) <= 1.0 for f in folds)
    mean = number(r"accuracy (\d\.\d+) \+/- \d\.\d+ \(chance 0\.100", out)
    assert mean == pytest.approx(sum(map(float, folds)) / 4, abs=1e-3)
    assert (tmp_path / "o" / "tiny_tagger.samplecnn").is_file()


def test_gtzan_cross_validation_uses_the_filtered_split(tmp_path):
    genres = tmp_path / "gtzan" / "genres"
    data = make_music(genres, n_clips=30, duration=2.0, sr=8000, random_state=0)
    parts = {"train": [], "valid": [], "test": []}
    for i, f in enumerate(data.filenames):  # 3 clips per genre: one per part
        parts[("train", "valid", "test")[i // len(GENRES)]].append(
            Path(f).relative_to(genres).as_posix())
    for part, lines in parts.items():
        (tmp_path / "gtzan" / f"{part}_filtered.txt").write_text("\n".join(lines) + "\n")
    out = run_example("gtzan_cross_validation.py", "--quick", "--gtzan", tmp_path / "gtzan",
                      "--out", tmp_path / "o", cwd=tmp_path)
    assert "target: 30 clips, 10 genres" in out
    accuracy = number(r"fault-filtered split: C=[\d.]+ chosen on valid \([\d.]+\); "
                      r"test accuracy (\d\.\d+) on 10 clips", out)
    assert 0.0 <= accuracy <= 1.0


def test_mtat_tagging_quick(tmp_path):
    out = run_example("mtat_tagging.py", "--quick", "--out", tmp_path / "o",
                      "--save", tmp_path / "t.samplecnn", cwd=tmp_path)
    assert "120 clips, 13 tags; train 72, valid 24, test 24" in out
    assert "valid_loss" in out  # trained with MTAT-style predefined validation clips
    auc = number(r"test macro ROC-AUC (\d\.\d+) over \d+ tags", out)
    assert 0.0 <= auc <= 1.0
    assert re.search(r"trained 3\^7 for \d+ epochs", out)
    from sklearn_samplecnn import load_pretrained

    model = load_pretrained(tmp_path / "t.samplecnn")
    assert model.config["task"] == "tagger" and model.labels[:2] == ["drums", "bass"]


def test_transfer_learning_quick_with_the_mlp_head(tmp_path):
    out = run_example("transfer_learning.py", "--quick", "--head", "mlp",
                      "--out", tmp_path / "o", cwd=tmp_path)
    assert "quick mode: MLP head with hidden sizes (256, 256)" in out
    assert "head MLPClassifier(hidden_layer_sizes=(256, 256))" in out
    rows = re.findall(r"^  (-3|-2|-1|-3,-2,-1) +(\d+) +(\d\.\d+) +(\d\.\d+)$", out, re.M)
    assert [r[0] for r in rows] == ["-3", "-2", "-1", "-3,-2,-1"]
    n_features = [int(r[1]) for r in rows]
    assert n_features[3] == sum(n_features[:3])  # all three layers concatenated
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows)
    best = re.search(r"best: layers (\S+), accuracy (\d\.\d+)", out)
    assert float(best.group(2)) == max(float(r[2]) for r in rows)


def test_main_demo_quick(tmp_path):
    """The demo prints the protocol docs/transfer.md reports: every pipeline's mean over
    seeds and folds, its spread over the seeds and each seed's value."""
    out = run_example("demo.py", "--quick", "--out", tmp_path / "o", cwd=tmp_path, timeout=240)
    rows = re.findall(r"^(MFCC statistics, SVM \(C=10\)|MFCC statistics, logistic "
                      r"regression|SampleCNN features, logistic regression|union, "
                      r"BlockScaler per block, logistic regression \(C=100\)|musicnn \(MSD\) "
                      r"features, logistic regression) +"
                      r"(\d\.\d+) +(\d\.\d+) +(\d\.\d+) +(\d\.\d+) +(\d\.\d+) (\d\.\d+)$",
                      out, re.M)
    assert len(rows) == 5
    for _, mean, std, low, high, *seeds in rows:
        seeds = [float(v) for v in seeds]  # --quick: 2 seeds
        assert float(low) == min(seeds) and float(high) == max(seeds)
        assert abs(float(mean) - sum(seeds) / 2) < 1e-3
        assert abs(float(std) - abs(seeds[0] - seeds[1]) / 2) < 1e-3
    assert "accuracy: mean over 2 seeds x 2 folds; +- std over the 2 seeds" in out
    best = re.search(r"^best: (.*) accuracy (\d\.\d+) \(chance 0\.100\)$", out, re.M)
    assert best and float(best.group(2)) == max(float(r[1]) for r in rows)
    assert re.search(r"^(winner: .*standard deviation over the 2 seeds|no winner: )", out, re.M)
    assert "the same folds for every pipeline (seed 1)" in out
    assert (tmp_path / "o" / "confusion_matrix.png").stat().st_size > 1000
    # the shipped SampleCNN: nothing pretrained here
    assert "extractor samplecnn_musicnn_16k: samplecnn_musicnn_16k, 59049 samples at 16000 Hz" \
        in out
    assert not list((tmp_path / "o").glob("*.samplecnn"))


def test_main_demo_from_scratch_pretrains_per_seed(tmp_path):
    """--from-scratch: what the demo did before a model shipped, one pretraining per seed."""
    out = run_example("demo.py", "--quick", "--from-scratch", "--no-teacher", "--out",
                      tmp_path / "o", cwd=tmp_path, timeout=240)
    assert "-- pretraining 3^7 on 40 clips" in out and "musicnn" not in out
    assert sorted(p.name for p in (tmp_path / "o").glob("*.samplecnn")) == [
        "source_3-7_seed0.samplecnn", "source_3-7_seed1.samplecnn"]


@pytest.fixture
def broken_gtzan(tmp_path):
    """A GTZAN-layout copy of 20 short generated clips, one of them truncated."""
    import torch

    from sklearn_samplecnn import save_pretrained
    from sklearn_samplecnn.nn import SampleCNN

    genres = tmp_path / "gtzan" / "genres"
    data = make_music(genres, n_clips=20, duration=2.0, sr=8000, random_state=0)
    broken = Path(data.filenames[3])
    broken.write_bytes(broken.read_bytes()[:2000])  # the header promises more samples
    torch.manual_seed(0)
    model = tmp_path / "tiny.samplecnn"
    save_pretrained(SampleCNN("3-3-3-3", channels=[4] * 5, n_outputs=2), model,
                    metadata={"sample_rate": 8000})
    return tmp_path / "gtzan", model, broken


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_main_demo_with_a_broken_gtzan_file(broken_gtzan, on_error, tmp_path):
    gtzan, model, broken = broken_gtzan
    args = ["--gtzan", gtzan, "--pretrained", model, "--folds", "2", "--seeds", "1",
            "--no-teacher", "--on-error", on_error, "--out", tmp_path / "o"]
    fast = {"SAMPLECNN_NO_REEXEC": "1"}  # no malloc-tunables restart: imports once
    if on_error == "raise":
        env = {**os.environ, "OMP_NUM_THREADS": "1", **fast}
        proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"),
                               *map(str, args)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert broken.name in proc.stderr and "--on-error skip" in proc.stderr
        return
    out = run_example("demo.py", *args, cwd=tmp_path, timeout=120, env=fast)
    assert "1 of 20 clips could not be decoded (left out of the evaluation" in out
    assert str(broken) in out
    assert "2-fold stratified CV on 19 clips" in out
    assert re.search(r"^best: .* accuracy \d\.\d+ \(chance 0\.100\)$", out, re.M)
