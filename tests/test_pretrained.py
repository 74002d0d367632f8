"""Model files: whole-file hashes, config checks before allocation, atomic saves, imports."""

from __future__ import annotations

import json
import os
import struct
import warnings

import numpy as np
import pytest
import torch

from sklearn_samplecnn import (
    MelFrameLevelCNN,
    PretrainedFileError,
    SampleCNNClassifier,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn import pretrained as pretrained_module
from sklearn_samplecnn._file_config import config_sha256
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.cli import main
from sklearn_samplecnn.nn import SampleCNN

from .conftest import tone


def _random_bn(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return _random_bn(SampleCNN("3-3-3", channels=[3, 4, 5, 6], n_outputs=2))


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    """A tiny fitted classifier, its file, and a WAV file to predict on."""
    root = tmp_path_factory.mktemp("pretrained")
    X = np.random.default_rng(0).normal(size=(8, 162)).astype(np.float32)
    est = SampleCNNClassifier(sr=8000, max_epochs=1, train_split=None, verbose=0,
                              random_state=0, module__sizes="3-3-3-3",
                              module__channels=[4] * 5).fit(X, np.array(["low", "high"] * 4))
    write_audio(root / "clip.wav", tone(440, 800, 8000), 8000)
    return {"est": est, "X": X, "path": save_pretrained(est, root / "clf.samplecnn"),
            "wav": root / "clip.wav"}


class _Replace:
    """An edit that replaces the whole config (by a string: its raw JSON text)."""

    def __init__(self, value):
        self.value = value


def _rewrite(src, dst, edit, *, reseal: bool = True):
    """Copy a model file with ``edit(config)`` applied to its header, and the config hash
    recomputed as a deliberate editor would (unless ``reseal=False``)."""
    raw = open(src, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    config = json.loads(header["__metadata__"]["sklearn_samplecnn"])
    if isinstance(edit, _Replace):
        config = edit.value
    else:
        edit(config)
    if reseal and isinstance(config, dict) and "config_sha256" in config:
        config["config_sha256"] = config_sha256(config)
    header["__metadata__"]["sklearn_samplecnn"] = (
        config if isinstance(config, str) else json.dumps(config))
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    return dst


def _set(key, value):
    def edit(config):
        config[key] = value
    return edit


def _drop(key, inside=None):
    def edit(config):
        del (config if inside is None else config[inside])[key]
    return edit


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- the whole file is hashed ------------------------------------------------
def test_saved_config_records_format_and_both_hashes(clf):
    config = load_pretrained(clf["path"]).config
    assert config["format"] == "sklearn-samplecnn/2"
    assert config["config_sha256"] == config_sha256(config)
    assert config["labels"] == ["high", "low"] and config["estimator"]["sr"] == 8000


@pytest.mark.parametrize("edit", [
    lambda c: c["labels"].reverse(),  # would flip every prediction
    _set("sample_rate", 16000),
    lambda c: c["estimator"].update(hop_length=40),
    lambda c: c["training"].update(epochs=100),
], ids=["labels", "sample_rate", "estimator", "training"])
def test_edited_header_is_detected(clf, tmp_path, edit):
    path = _rewrite(clf["path"], tmp_path / "edited.samplecnn", edit, reseal=False)
    with pytest.raises(PretrainedFileError, match="config changed since saving") as info:
        load_pretrained(path)
    assert str(path) in str(info.value)


def _three_outputs(config):
    config["module_config"]["n_outputs"] = 3
    config["labels"].append("mid")


# -- the config must hold together (checked even when its hash was recomputed) -
@pytest.mark.parametrize("edit, message", [
    (_set("labels", ["high", "low", "mid"]), "2 outputs but 3 labels"),
    (_set("labels", []), "2 outputs but 0 labels"),
    (_set("labels", ["low", "low"]), "labels must be distinct"),
    (_set("labels", "high,low"), "labels must be a list"),
    (_set("sample_rate", -8000), "sample_rate must be a positive integer"),
    (_set("sample_rate", "fast"), "sample_rate must be a positive integer"),
    (_set("sample_rate", 16000), "differs from the estimator's sr"),
    (_set("input_length", 99), "input_length 99 .* does not match the model's 81"),
    (_set("task", "regressor"), "task must be one of"),
    (_set("multilabel", "yes"), "multilabel applies to taggers only"),
    (_set("module_config", [1, 2, 3]), "module_config must be a JSON object"),
    # a string would be expanded by the constructor: "3^900000000" is 900 million sizes
    (_set("module_config", {"sizes": "3^9"}), r"module_config\['sizes'\] must be"),
    (_set("module_class", "os.system"), "is not one of"),
    (_set("format", "sklearn-samplecnn/9"), "unknown format"),
    (_drop("sample_rate"), "the config lacks sample_rate"),
    (_drop("channels", "module_config"), "'features.strided.0.weight' has shape"),
    (_three_outputs, "'classifier.weight' has shape"),
    (_Replace([1, 2, 3]), "must be a JSON object"),
    (_Replace("{not json"), "has no sklearn-samplecnn config"),
])
def test_inconsistent_or_malformed_config_is_refused(clf, tmp_path, edit, message):
    path = _rewrite(clf["path"], tmp_path / "bad.samplecnn", edit)
    with pytest.raises(PretrainedFileError, match=message) as info:
        load_pretrained(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("edit", [
    _set("labels", ["high", "low", "mid"]), _set("module_config", [1, 2, 3]),
    _drop("labels"), _Replace([1, 2, 3]),
], ids=["3-labels", "module_config", "no-labels", "not-an-object"])
def test_cli_reports_bad_files_without_traceback(clf, tmp_path, capsys, edit):
    path = _rewrite(clf["path"], tmp_path / "bad.samplecnn", edit)
    out_csv = tmp_path / "out.csv"
    for argv in (["info", path], ["predict", path, clf["wav"], "-o", out_csv]):
        code, out, err = _cli(capsys, *argv)
        assert code == 1, (argv, out, err)
        assert err.startswith(f"samplecnn: error: {path}: ") and "Traceback" not in err
    assert not out_csv.exists()  # no CSV with a column per label and a value per output


# -- sizes implied by the config are checked before anything is built ---------
def test_huge_channels_are_refused_before_allocation(tiny, tmp_path, monkeypatch):
    path = save_pretrained(tiny, tmp_path / "m.samplecnn", metadata={"sample_rate": 8000})
    assert path.stat().st_size < 10_000
    bad = _rewrite(path, tmp_path / "huge.samplecnn",
                   lambda c: c["module_config"].update(channels=[2500] * 4))
    devices = []

    class Spy(SampleCNN):
        def __init__(self, *args, **kwargs):
            devices.append(torch.empty(0).device.type)  # where its weights would live
            super().__init__(*args, **kwargs)

    monkeypatch.setitem(pretrained_module.MODULE_CLASSES, "SampleCNN", Spy)
    with pytest.raises(PretrainedFileError, match=r"'features.strided.0.weight' has shape "
                                                  r"\(3, 1, 3\) in the file .* needs \(2500"):
        load_pretrained(bad)
    assert devices == ["meta"]  # only a meta module (no memory) was built
    assert load_pretrained(path).module.channels == (3, 4, 5, 6) and devices[-1] == "cpu"


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["module_config"].update(n_mels=100_000, n_fft=1_000_001), "mel filterbank"),
    (lambda c: c["module_config"].update(channels=[4] * 5000), "lists 5000 values"),
], ids=["mel-filterbank", "long-list"])
def test_other_oversized_configs_build_nothing(tmp_path, monkeypatch, edit, message):
    model = MelFrameLevelCNN(243, 243, n_mels=8, channels=[4] * 3, n_outputs=2,
                             input_length=729 * 3)
    path = save_pretrained(model, tmp_path / "mel.samplecnn", metadata={"sample_rate": 8000})
    bad = _rewrite(path, tmp_path / "bad.samplecnn", edit)

    class Refuse(MelFrameLevelCNN):
        def __init__(self, *args, **kwargs):
            raise AssertionError("a module was built")

    monkeypatch.setitem(pretrained_module.MODULE_CLASSES, "MelFrameLevelCNN", Refuse)
    with pytest.raises(PretrainedFileError, match=message):
        load_pretrained(bad)


# -- saving ------------------------------------------------------------------
def test_saving_to_a_folder_is_refused(tiny, tmp_path):
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        save_pretrained(tiny, tmp_path)
    assert os.listdir(tmp_path) == []


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tiny, tmp_path, monkeypatch):
    path = save_pretrained(tiny, tmp_path / "m.samplecnn", metadata={"sample_rate": 8000})
    before = path.read_bytes()

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(pretrained_module.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(tiny, path, metadata={"sample_rate": 16000})
    assert os.listdir(tmp_path) == ["m.samplecnn"] and path.read_bytes() == before


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_saved_file_mode_follows_the_umask(tiny, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = save_pretrained(tiny, tmp_path / "m.samplecnn", metadata={"sample_rate": 8000})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_resaving_a_loaded_model_keeps_its_config(clf, tmp_path):
    loaded = load_pretrained(clf["path"])
    again = load_pretrained(save_pretrained(loaded, tmp_path / "again.samplecnn",
                                            metadata={"note": "copy"}))
    for key in ("labels", "task", "estimator", "module_config", "sample_rate",
                "weights_sha256"):
        assert again.config[key] == loaded.config[key]
    assert again.config["training"]["epochs"] == 1 and again.config["training"]["note"] == "copy"
    np.testing.assert_allclose(again.to_estimator().predict_proba(clf["X"]),
                               clf["est"].predict_proba(clf["X"]), rtol=1e-5)


def test_first_format_loads_with_a_warning_and_resaves(clf, tmp_path):
    def as_v1(config):
        config["format"] = "sklearn-samplecnn/1"
        del config["config_sha256"]

    old = _rewrite(clf["path"], tmp_path / "v1.samplecnn", as_v1)
    with pytest.warns(UserWarning, match="no config hash.*rewrites it"):
        model = load_pretrained(old)
    save_pretrained(model, old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_pretrained(old).config["format"] == "sklearn-samplecnn/2"
    def as_v1_with_3_labels(config):
        as_v1(config)
        config["labels"].append("mid")

    bad = _rewrite(clf["path"], tmp_path / "bad.samplecnn", as_v1_with_3_labels)
    with pytest.warns(UserWarning), pytest.raises(PretrainedFileError, match="3 labels"):
        load_pretrained(bad)
