"""sklearn-samplecnn: SampleCNN raw-waveform music models as scikit-learn estimators.

Public names are imported lazily, so ``import sklearn_samplecnn`` and the
numpy-only stages (:mod:`~sklearn_samplecnn.audio`,
:mod:`~sklearn_samplecnn.segments`) never import torch. The names and the
submodules that define them are listed once, in ``__init__.pyi``: type
checkers and IDEs read that stub, and this module reads it at import to
resolve each name on first use (the pattern of lazy_loader's
``attach_stub``, without the dependency).
"""

from __future__ import annotations

import ast
import importlib
import os

__version__ = "0.1.0"


def _read_stub() -> dict[str, str]:
    """``{public name: submodule}`` from the ``from .x import y as y`` lines of the stub."""
    stub = os.path.join(os.path.dirname(__file__), "__init__.pyi")
    with open(stub, encoding="utf-8") as f:
        tree = ast.parse(f.read(), stub)
    return {alias.asname or alias.name: node.module
            for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1
            for alias in node.names}


# public name -> submodule that defines it
_LAZY = _read_stub()

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
