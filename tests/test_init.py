"""The package's public names: one list (the type stub), resolved lazily, no torch at import."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import sklearn_samplecnn

STUB = Path(sklearn_samplecnn.__file__).with_name("__init__.pyi")


def test_the_stub_is_the_one_list_of_public_names():
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    stub = {a.asname: node.module for node in tree.body if isinstance(node, ast.ImportFrom)
            for a in node.names}
    assert all(a.asname == a.name for node in tree.body if isinstance(node, ast.ImportFrom)
               for a in node.names)  # "import x as x": re-exported for type checkers
    assert sorted(stub) + ["__version__"] == sklearn_samplecnn.__all__
    for name, module in stub.items():
        value = getattr(sklearn_samplecnn, name)
        assert value is getattr(importlib.import_module(f"sklearn_samplecnn.{module}"), name)


def test_import_loads_no_torch_until_a_name_is_used():
    code = ("import sys, sklearn_samplecnn as s; a = 'torch' in sys.modules; "
            "s.load_audio; b = 'torch' in sys.modules; s.SampleCNN; "
            "print(a, b, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "True"]


def test_the_stub_ships_with_the_package():
    toml = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"sklearn_samplecnn" = ["*.pyi", "py.typed"]' in toml
    assert STUB.with_name("py.typed").exists()
