"""Faults of model files: refused by load_pretrained and by every command."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sklearn_samplecnn import (
    PretrainedFileError,
    load_pretrained,
)

from ..test_pretrained import _rewrite, _set
from .conftest import cli


# -- model files: refused by load_pretrained and by every command ----------------------------
def _flip_last_byte(src, dst):
    raw = bytearray(Path(src).read_bytes())
    raw[-1] ^= 0xFF
    Path(dst).write_bytes(bytes(raw))


def _unsealed_edit(src, dst):
    _rewrite(src, dst, _set("labels", ["high", "rock"]), reseal=False)


def _huge(src, dst):
    _rewrite(src, dst, lambda c: c["module_config"].update(channels=[2500] * 5))


def _foreign(src, dst):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(dst))


MODEL_FAULTS = {
    "pickle": (lambda s, d: torch.save({"w": torch.zeros(2)}, d), "pickled checkpoints"),
    "empty": (lambda s, d: Path(d).write_bytes(b""), "not a safetensors"),
    "truncated": (lambda s, d: Path(d).write_bytes(Path(s).read_bytes()[:300]),
                  "not a safetensors"),
    "weights_edited": (_flip_last_byte, "weights changed since saving"),
    "header_edited": (_unsealed_edit, "config changed since saving"),
    "huge_channels": (_huge, "2500"),
    "foreign_safetensors": (_foreign, "no sklearn-samplecnn config"),
}


@pytest.mark.parametrize("route", ["load_pretrained", "info", "predict", "extract"])
@pytest.mark.parametrize("fault", list(MODEL_FAULTS))
def test_bad_model_file_is_refused(model_file, good, tmp_path, capsys, fault, route):
    make, message = MODEL_FAULTS[fault]
    path = tmp_path / "bad.samplecnn"
    make(model_file, path)
    if route == "load_pretrained":
        with pytest.raises(PretrainedFileError, match=message) as err:
            load_pretrained(path)
        assert str(err.value).startswith(f"{path}: ")
        return
    out = tmp_path / "out.csv"
    argv = {"info": ["info", path], "predict": ["predict", path, good[0][0], "-o", out],
            "extract": ["extract", "-m", path, good[0][0], "-q", "-o", out]}[route]
    code, _, err = cli(capsys, *argv)
    assert code == 1 and err.startswith(f"samplecnn: error: {path}: ") and message in err
    assert "Traceback" not in err and not out.exists()
