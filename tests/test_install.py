"""How the library is installed: one source for the torch requirement, and a core that
works with none of the optional extras (pandas, pyarrow, Dask, accelerate, matplotlib,
resampy, huggingface_hub) installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Modules of the optional extras (pyproject's optional-dependencies), all blocked below.
EXTRAS = ("pandas", "pyarrow", "dask", "distributed", "accelerate", "matplotlib", "resampy",
          "huggingface_hub")


def test_torch_requirement_has_one_source():
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = [Requirement(r) for r in project["dependencies"] if r.startswith("torch")]
    assert len(torch_req) == 1 and str(torch_req[0].specifier)  # a bounded range
    # the Makefile installs within pyproject's requirements, pinned by constraints.txt
    makefile = (ROOT / "Makefile").read_text()
    assert "torch==" not in makefile and "-c constraints.txt" in makefile
    pins = [Requirement(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    (torch_pin,) = [p for p in pins if p.name == "torch"]
    (version,) = [s.version for s in torch_pin.specifier if s.operator == "=="]
    assert torch_req[0].specifier.contains(version)
    # the README says how to get the CPU build, PyTorch's way, before the package
    readme = (ROOT / "README.md").read_text()
    cpu = readme.index("pip install torch --index-url https://download.pytorch.org/whl/cpu")
    assert cpu < readme.index("pip install sklearn-samplecnn", cpu)


_WITHOUT_EXTRAS = r"""
import importlib.abc, json, sys
BLOCKED = set(sys.argv[1].split(","))

class Hide(importlib.abc.MetaPathFinder):
    # every finder, but the extras' modules are not found: as if not installed

    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return None
        return self.inner.find_spec(name, path, target)

    def __getattr__(self, attr):  # invalidate_caches, find_distributions...
        return getattr(self.inner, attr)

sys.meta_path[:] = [Hide(f) for f in sys.meta_path]
import os, tempfile
import numpy as np, torch
torch.manual_seed(0)
from sklearn_samplecnn import (MFCCStatsTransformer, MultiScaleFeatureTransformer,
                               SampleCNNClassifier, SampleCNNTagger, load_audio, load_pretrained,
                               save_pretrained, write_audio)

rng = np.random.default_rng(0)
folder = tempfile.mkdtemp()
paths = []
for i in range(6):
    path = os.path.join(folder, f"{i}.wav")
    freq = 300 if i % 2 else 1500
    write_audio(path, 0.5 * np.sin(2 * np.pi * freq * np.arange(1600) / 16000), 16000)
    paths.append(path)
y = ["low" if i % 2 else "high" for i in range(6)]
tiny = {"module__sizes": "3-3-3-3", "module__channels": [4] * 5, "max_epochs": 2,
        "train_split": None, "verbose": 0, "random_state": 0, "sr": 8000}
clf = SampleCNNClassifier(**tiny).fit(paths, y)
proba = clf.predict_proba(paths)
tagger = SampleCNNTagger(**tiny).fit(paths, [[t] for t in y])
model = os.path.join(folder, "m.samplecnn")
save_pretrained(clf, model)
feats = MultiScaleFeatureTransformer(extractors=[model]).fit_transform(paths)
mfcc = MFCCStatsTransformer(sr=8000).fit_transform(paths)
try:
    load_pretrained("someone/model")  # a Hub id: read with huggingface_hub, absent here
except FileNotFoundError as exc:
    hub_hint = str(exc)
print(json.dumps({
    "decoded": len(load_audio(paths[0], sr=8000)),
    "proba_shape": list(proba.shape), "rows_sum": proba.sum(axis=1).round(5).tolist(),
    "classes": clf.classes_.tolist(),
    "tags": [isinstance(t, list) for t in tagger.predict_tags(paths[:2])],
    "reloaded": load_pretrained(model).labels, "feats": list(feats.shape),
    "mfcc": list(mfcc.shape), "finite": bool(np.isfinite(feats).all() and np.isfinite(mfcc).all()),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    "hub_hint": hub_hint,
}))
"""


def test_core_works_without_the_optional_extras(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, ",".join(EXTRAS)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["decoded"] == 800  # 0.1 s at 16 kHz, read at 8 kHz with soxr
    assert out["proba_shape"] == [6, 2] and out["rows_sum"] == [1.0] * 6
    assert out["classes"] == ["high", "low"] and out["tags"] == [True, True]
    assert out["reloaded"] == ["high", "low"]
    assert out["feats"][0] == 6 and out["feats"][1] > 0 and out["mfcc"][0] == 6
    assert out["finite"] and out["loaded"] == []
    assert "pip install 'sklearn-samplecnn[hub]'" in out["hub_hint"]


def test_the_pandas_extra_brings_parquet():
    # (tomllib is Python >= 3.11; the library supports 3.10)
    extra = re.search(r"^pandas = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)
    assert extra is not None and '"pyarrow' in extra.group(1)
