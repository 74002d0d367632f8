"""The quick mode of the examples' paper reproduction (downsampling) runs end to end and writes
sound JSON (benchmarks/reproduce_paper.py is tested in test_benchmarks.py).

Each test starts the script in a subprocess (as CI and users do) on generated
clips with tiny models; about 30 s each on one core.
"""

from __future__ import annotations

import math
from pathlib import Path

from sklearn_samplecnn.nn import SAMPLE_RATE_PRESETS

from .conftest import run_script_json

ROOT = Path(__file__).resolve().parents[1]


def test_downsampling_quick(tmp_path):
    result = run_script_json(["examples/downsampling.py", "--quick"], tmp_path)
    rows = result["rows"]
    assert [r["sr"] for r in rows] == [2000, 8000, 22050]
    for r in rows:
        sizes = SAMPLE_RATE_PRESETS[r["sr"]]
        assert r["sizes"] == "-".join(map(str, sizes))
        assert r["input_samples"] == math.prod(sizes)
        assert 2500 <= r["input_ms"] <= 2800  # about 2.6 s of audio at every rate
        assert 0.0 <= r["score"] <= 1.0 and r["metric"] == "accuracy"
        assert r["train_seconds"] > 0 and r["epochs"] == result["settings"]["max_epochs"]
        assert r["time_ratio"] > 0
    assert rows[-1]["time_ratio"] == 1.0
    assert [r["paper_auc"] for r in rows] == [0.8700, 0.9031, 0.9055]
    assert [r["paper_time_ratio"] for r in rows] == [0.23, 0.55, 1.00]
