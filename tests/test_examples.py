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


def run_example(script: str, *args, cwd: Path, timeout: float = 60) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
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
    out = run_example("demo.py", "--quick", "--out", tmp_path / "o", cwd=tmp_path, timeout=150)
    assert "best per layer choice" in out and "(chance 0.100)" in out
    best = number(r"best: .* accuracy (\d\.\d+)", out)
    assert 0.0 <= best <= 1.0
    assert (tmp_path / "o" / "confusion_matrix.png").stat().st_size > 1000
    assert len(list((tmp_path / "o").glob("source_*.samplecnn"))) == 2
