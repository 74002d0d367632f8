"""Model files: whole-file hashes, config checks before allocation, atomic saves, imports."""

from __future__ import annotations

import copy
import json
import os
import pickle
import struct
import warnings

import numpy as np
import pytest
import torch

from sklearn_samplecnn import (
    MelFrameLevelCNN,
    MultiScaleFeatureTransformer,
    PretrainedFileError,
    PretrainedModel,
    SampleCNNClassifier,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn import pretrained as pretrained_module
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.cli import main
from sklearn_samplecnn.estimators import from_pretrained
from sklearn_samplecnn.nn import PUBLIC_CODE_CHANNELS, SampleCNN
from sklearn_samplecnn.pretrained._config import config_sha256

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
    assert config["labels"] == ["high", "low"] and config["sample_rate"] == 8000
    assert "sr" not in config["estimator"]  # the rate is stored once, as sample_rate


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
    # files written before the rate was stored once also hold the estimator's sr
    (lambda c: c["estimator"].update(sr=16000), "differs from the estimator's sr"),
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
    np.testing.assert_allclose(from_pretrained(again).predict_proba(clf["X"]),
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


# -- importing weights from elsewhere ----------------------------------------
def _as_file(state, tmp_path, kind):
    if kind == "mapping":
        return state
    if kind == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "w.safetensors")
        return tmp_path / "w.safetensors"
    if kind == "checkpoint":  # nn.DataParallel names inside a training checkpoint
        state = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    if kind == "model-entry":  # how the public 16 kHz SampleCNN's code saves a checkpoint
        state = {"model": state}
    torch.save(state, tmp_path / "w.pt")
    return str(tmp_path / "w.pt")


@pytest.mark.parametrize("kind", ["mapping", "pt", "safetensors", "checkpoint", "model-entry"])
def test_plain_state_dict_is_wrapped(tiny, tmp_path, kind):
    source = _as_file(tiny.state_dict(), tmp_path, kind)
    model = PretrainedModel.from_state_dict(source, sample_rate=8000)
    assert model.module.sizes == (3, 3, 3) and model.module.channels == (3, 4, 5, 6)
    assert model.config["task"] is None and model.sample_rate == 8000
    x = torch.randn(4, 27)
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), tiny(x))
    assert model.fingerprint == pretrained_module.weights_fingerprint(tiny)


def test_given_architecture_must_fit_the_weights(tiny):
    state = tiny.state_dict()
    with pytest.raises(PretrainedFileError, match=r"'features.strided.0.weight' has shape "
                                                  r"\(3, 1, 3\) in the weights .* \(8, 1, 3\)"):
        PretrainedModel.from_state_dict(state, sample_rate=8000, channels=[8, 4, 5, 6])
    with pytest.raises(PretrainedFileError, match=r"missing \['features.module2.2.weight'"):
        PretrainedModel.from_state_dict(state, sample_rate=8000, sizes="3-3-2")
    with pytest.raises(PretrainedFileError, match=r"missing \['classifier.bias'\]"):
        PretrainedModel.from_state_dict({k: v for k, v in state.items()
                                         if k != "classifier.bias"}, sample_rate=8000)
    with pytest.raises(PretrainedFileError, match=r"unexpected \['extra.weight'\]"):
        PretrainedModel.from_state_dict({**state, "extra.weight": torch.zeros(1)},
                                        sample_rate=8000)
    with pytest.raises(PretrainedFileError, match="entry 'note' is a str"):
        PretrainedModel.from_state_dict({**state, "note": "hi"}, sample_rate=8000)
    with pytest.raises(PretrainedFileError, match="2 outputs but 3 labels"):
        PretrainedModel.from_state_dict(state, sample_rate=8000, labels=["a", "b", "c"],
                                        task="classifier")
    with pytest.raises(ValueError, match="task must be"):
        PretrainedModel.from_state_dict(state, sample_rate=8000, labels=["a", "b"])
    with pytest.raises(ValueError, match="layout must be one of"):
        PretrainedModel.from_state_dict(state, sample_rate=8000, layout="keras")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_payloads_are_refused_unrun(tiny, tmp_path):
    marker = str(tmp_path / "ran")
    torch.save({**tiny.state_dict(), "x": _Payload(marker)}, tmp_path / "evil.pt")
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"w": _Payload(marker)}))
    for name in ("evil.pt", "evil.pth"):
        with pytest.raises(PretrainedFileError, match="weights_only=True"):
            PretrainedModel.from_state_dict(tmp_path / name, sample_rate=8000)
    assert not os.path.exists(marker)


class _WonBlock(torch.nn.Module):
    """conv-bn-relu-maxpool with the attribute names of the public 16 kHz SampleCNN."""

    def __init__(self, c_in, c_out, kernel, stride, pool):
        super().__init__()
        self.conv = torch.nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)
        self.bn = torch.nn.BatchNorm1d(c_out)
        self.mp = torch.nn.MaxPool1d(pool)

    def forward(self, x):
        return self.mp(torch.relu(self.bn(self.conv(x))))


class _WonSampleCNN(torch.nn.Module):
    """That layout: layer1 (strided, padding 1) ... layerN (1x1), dense, sigmoid."""

    def __init__(self, channels, n_modules, n_class):
        super().__init__()
        c = [1, *channels]
        specs = [(3, 3, 1)] + [(3, 1, 3)] * n_modules + [(1, 1, 1)]
        for k, spec in enumerate(specs, start=1):
            self.add_module(f"layer{k}", _WonBlock(c[k - 1], c[k], *spec))
        self.dense = torch.nn.Linear(c[-1], n_class)

    def forward(self, x):
        x = x.unsqueeze(1)
        for name, block in self.named_children():
            if name.startswith("layer"):
                x = block(x)
        return torch.sigmoid(self.dense(x.squeeze(-1)))


def test_public_16k_layout_matches_its_source(tmp_path):
    torch.manual_seed(0)
    source = _random_bn(_WonSampleCNN([4, 5, 6, 7, 8], n_modules=3, n_class=3))
    torch.save(source.state_dict(), tmp_path / "best_model.pth")
    model = PretrainedModel.from_state_dict(
        tmp_path / "best_model.pth", layout="sota-music-tagging", sample_rate=16000,
        labels=["rock", "piano", "vocal"], task="tagger")
    assert model.module.sizes == (3, 3, 3, 3) and model.module.channels == (4, 5, 6, 7, 8)
    x = torch.randn(5, 81)
    delayed = torch.cat([torch.zeros(5, 1), x[:, :-1]], dim=1)  # their strided conv pads 1
    with torch.no_grad():
        torch.testing.assert_close(torch.sigmoid(model.module(delayed)), source(x))
    est = from_pretrained(load_pretrained(save_pretrained(model, tmp_path / "won.samplecnn")))
    assert est.tags_.tolist() == ["rock", "piano", "vocal"] and est.sr == 16000


def test_public_16k_layout_at_full_size():
    state = _WonSampleCNN(PUBLIC_CODE_CHANNELS, n_modules=9, n_class=50).state_dict()
    model = PretrainedModel.from_state_dict(state, layout="sota-music-tagging",
                                            sample_rate=16000)
    assert model.name == "3^9" and model.input_length == 59049
    assert model.module.channels == PUBLIC_CODE_CHANNELS and model.module.n_outputs == 50
    ours = model.module.state_dict()
    for theirs, mine in [("layer1.conv.weight", "features.strided.0.weight"),
                         ("layer10.bn.running_var", "features.module9.1.running_var"),
                         ("layer11.conv.bias", "features.conv1x1.0.bias"),
                         ("dense.weight", "classifier.weight")]:
        assert torch.equal(ours[mine], state[theirs])


def test_public_layout_refuses_what_it_cannot_map():
    state = _WonSampleCNN([4, 4, 4, 4], n_modules=2, n_class=2).state_dict()
    layout = {"layout": "sota-music-tagging", "sample_rate": 16000}
    se = {**state, "layer1.conv_1.weight": torch.zeros(4, 1, 3)}
    with pytest.raises(PretrainedFileError, match="squeeze-and-excitation"):
        PretrainedModel.from_state_dict(se, **layout)
    with pytest.raises(PretrainedFileError, match=r"\['spec.mel_scale.fb'\] are not part"):
        PretrainedModel.from_state_dict({**state, "spec.mel_scale.fb": torch.zeros(2)},
                                        **layout)
    even = {**state, "layer2.conv.weight": torch.zeros(4, 4, 2)}
    with pytest.raises(PretrainedFileError, match="layer2.conv.weight has an even kernel"):
        PretrainedModel.from_state_dict(even, **layout)
    with pytest.raises(PretrainedFileError, match="not a SampleCNN state_dict"):
        PretrainedModel.from_state_dict(state, sample_rate=16000)  # layout left out


def test_imported_weights_become_a_normal_model_file(tiny, tmp_path, capsys):
    model = PretrainedModel.from_state_dict(torch.save(tiny.state_dict(), tmp_path / "w.pt")
                                            or tmp_path / "w.pt", sample_rate=8000,
                                            labels=["calm", "loud"], task="tagger")
    path = save_pretrained(model, tmp_path / "tags.samplecnn")
    code, out, _ = _cli(capsys, "info", path)
    assert code == 0 and "tagger, 2 tags: calm, loud" in out and "imported" in out
    wav = tmp_path / "clip.wav"
    write_audio(wav, tone(440, 300, 8000), 8000)
    code, out, err = _cli(capsys, "predict", path, wav)
    assert code == 0, err
    assert out.splitlines()[0] == "path,tags,prob_calm,prob_loud"
    clips = np.random.default_rng(0).normal(size=(2, 100)).astype(np.float32)
    np.testing.assert_allclose(
        MultiScaleFeatureTransformer(extractors=[str(path)]).fit_transform(clips),
        MultiScaleFeatureTransformer(extractors=[(tiny, 8000)]).fit_transform(clips),
        rtol=1e-5)


# -- CLMR's released SampleCNN (issue 22) ---------------------------------------------------
class _ClmrSampleCNN(torch.nn.Module):
    """A SampleCNN laid out as CLMR's encoder: ``sequential`` blocks of (conv, batch norm,
    ReLU[, max-pool]), the first strided, the modules of kernel 3 with one zero of padding,
    the last a kernel-3 conv padded the same way; ``fc`` on the flattened last block."""

    def __init__(self, channels, n_modules, out_dim):
        super().__init__()
        nn = torch.nn
        blocks = [nn.Sequential(nn.Conv1d(1, channels[0], 3, stride=3, padding=0),
                                nn.BatchNorm1d(channels[0]), nn.ReLU())]
        for i in range(n_modules):
            blocks.append(nn.Sequential(nn.Conv1d(channels[i], channels[i + 1], 3, padding=1),
                                        nn.BatchNorm1d(channels[i + 1]), nn.ReLU(),
                                        nn.MaxPool1d(3, stride=3)))
        blocks.append(nn.Sequential(nn.Conv1d(channels[-2], channels[-1], 3, padding=1),
                                    nn.BatchNorm1d(channels[-1]), nn.ReLU()))
        self.sequential = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels[-1], out_dim)

    def forward(self, x):
        out = self.sequential(x[:, None])
        return self.fc(out.reshape(x.shape[0], -1))


def test_clmr_layout_gives_clmr_outputs(tmp_path):
    torch.manual_seed(0)
    source = _random_bn(_ClmrSampleCNN([4, 5, 6, 7, 8], n_modules=3, out_dim=3))
    torch.save(source.state_dict(), tmp_path / "supervised.pt")
    model = PretrainedModel.from_state_dict(tmp_path / "supervised.pt", layout="clmr",
                                            sample_rate=22050, labels=["a", "b", "c"],
                                            task="tagger")
    assert model.module.sizes == (3, 3, 3, 3) and model.module.channels == (4, 5, 6, 7, 8)
    x = torch.randn(5, 81)
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), source(x))
    assert model.config["training"]["layout"] == "clmr"


def test_clmr_contrastive_checkpoint_imports_as_a_feature_model(tmp_path):
    """A PyTorch Lightning checkpoint as CLMR releases them: the encoder under
    ``model.encoder.`` (no ``fc``), the projection head beside it, hyper-parameters in an
    ``argparse.Namespace``."""
    import argparse

    torch.manual_seed(1)
    source = _random_bn(_ClmrSampleCNN([4, 4, 6, 6, 8], n_modules=3, out_dim=2))
    encoder = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    state = {**{f"model.encoder.{k}": v for k, v in encoder.items()},
             "model.projector.0.weight": torch.randn(8, 8),
             "model.projector.2.weight": torch.randn(4, 8)}
    torch.save({"state_dict": state, "pytorch-lightning_version": "1.4.0", "epoch": 9,
                "hyper_parameters": argparse.Namespace(batch_size=48, sample_rate=22050)},
               tmp_path / "epoch=9.ckpt")
    model = PretrainedModel.from_state_dict(tmp_path / "epoch=9.ckpt", layout="clmr",
                                            sample_rate=22050)
    assert model.config["task"] is None and model.module.n_outputs == 1
    x = torch.randn(3, 81)
    with torch.no_grad():
        _, hidden = model.module(x, return_hidden=["conv1x1"])
        theirs = source.sequential(x[:, None])
    torch.testing.assert_close(hidden["conv1x1"], theirs)  # the encoder's embedding
    feats = MultiScaleFeatureTransformer(extractors=[model], layers=(-1,), pooling="paper")
    np.testing.assert_allclose(feats.fit_transform(x.numpy()), theirs[:, :, 0].numpy(),
                               rtol=1e-5, atol=1e-6)
    # the older plain checkpoints: encoder. and projector. prefixes
    plain = {**{f"encoder.{k}": v for k, v in encoder.items()},
             "projector.0.weight": torch.randn(8, 8)}
    again = PretrainedModel.from_state_dict(plain, layout="clmr", sample_rate=22050)
    assert again.config["weights_sha256"] == model.config["weights_sha256"]
    with pytest.raises(PretrainedFileError, match="no output layer"):
        PretrainedModel.from_state_dict(plain, layout="clmr", sample_rate=22050,
                                        labels=["x"], task="tagger")


def test_clmr_layout_refuses_what_it_cannot_map():
    state = _ClmrSampleCNN([4, 4, 4, 4], n_modules=2, out_dim=2).state_dict()
    kw = {"layout": "clmr", "sample_rate": 22050}
    with pytest.raises(PretrainedFileError, match=r"\['spec.weight'\] are not part of the "
                                                  "'clmr' layout"):
        PretrainedModel.from_state_dict({**state, "spec.weight": torch.zeros(2)}, **kw)
    wide = {**state, "sequential.1.0.weight": torch.zeros(4, 4, 5)}
    with pytest.raises(PretrainedFileError, match="sequential.1.0.weight has kernel 5"):
        PretrainedModel.from_state_dict(wide, **kw)
    gap = {k: v for k, v in state.items() if not k.startswith("sequential.2.")}
    with pytest.raises(PretrainedFileError, match=r"found conv blocks sequential.\[0, 1, 3\]"):
        PretrainedModel.from_state_dict(gap, **kw)


# -- models from the Hugging Face Hub cache (issue 22) --------------------------------------
def _hub_cache(root, repo_id, files: dict, revision="main"):
    """A folder laid out as huggingface_hub's cache, as ``huggingface-cli download`` leaves
    it: ``models--org--name/refs/<revision>`` holds the commit, ``snapshots/<commit>/`` the
    files (links into ``blobs/``)."""
    import hashlib

    repo = root / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repr(sorted(files)).encode()).hexdigest()
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        target = repo / "snapshots" / commit / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(os.path.relpath(blob, target.parent))
    return root


def test_models_load_from_the_hub_cache_offline(clf, tmp_path, monkeypatch, capsys):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = clf["path"].read_bytes()
    cache = _hub_cache(tmp_path / "hub", "someone/genres", {"model.samplecnn": data,
                                                            "README.md": b"# genres\n"})
    _hub_cache(cache, "someone/several", {"a.samplecnn": data, "b/c.samplecnn": data})
    model = load_pretrained("someone/genres", cache_dir=cache)
    assert model.labels == ["high", "low"] and model.path.endswith("model.samplecnn")
    expected = clf["est"].predict_proba(clf["X"])
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))  # the default
    est = SampleCNNClassifier.from_pretrained("someone/genres")
    np.testing.assert_allclose(est.predict_proba(clf["X"]), expected, rtol=1e-6)
    feats = MultiScaleFeatureTransformer(extractors=["someone/genres"], layers=(-1,))
    assert feats.fit_transform(clf["X"]).shape == (8, 8)
    assert load_pretrained("someone/several/b/c.samplecnn").labels == ["high", "low"]
    with pytest.raises(FileNotFoundError, match=r"several .samplecnn files.*name one, e.g. "
                                                r"'someone/several/a.samplecnn'"):
        load_pretrained("someone/several")
    with pytest.raises(FileNotFoundError, match=r"someone/missing: no such pretrained file, and "
                                                r"not a model in the Hugging Face Hub cache.*"
                                                r"huggingface-cli download someone/missing"):
        load_pretrained("someone/missing")
    with pytest.raises(FileNotFoundError, match="someone/genres"):
        load_pretrained("someone/genres", revision="v2")
    # the command line takes Hub ids too
    code, out, err = _cli(capsys, "info", "someone/genres")
    assert code == 0 and "labels: high, low" in out
    code, out, err = _cli(capsys, "info", "someone/missing")
    assert code == 1 and "samplecnn: error: someone/missing: no such pretrained file" in err


def test_float16_files_load_into_float32_modules_and_stay_checked(tmp_path):
    """A model shipped as float16 weights (half the bytes) loads as float32 with the
    rounded values, and its weights hash, taken over the tensors as stored, still catches
    an edit."""
    from sklearn_samplecnn.pretrained import PretrainedModel

    torch.manual_seed(0)
    model = SampleCNN("3-3-3", channels=[4, 4, 4, 4], n_outputs=2).eval()
    half = PretrainedModel(module=copy.deepcopy(model).half(),
                           config={"sample_rate": 8000, "estimator": {"sr": 8000},
                                   "task": None, "labels": []})
    path = save_pretrained(half, tmp_path / "half.samplecnn")
    loaded = load_pretrained(path)
    for (name, ours), theirs in zip(loaded.module.state_dict().items(),
                                    model.state_dict().values()):
        assert ours.dtype == theirs.dtype, name  # float32 again (int64 counters as they were)
        if ours.is_floating_point():
            torch.testing.assert_close(ours, theirs.half().float(), rtol=0, atol=0)
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0x01  # the lowest bit of a value near the end: still finite
    (tmp_path / "edited.samplecnn").write_bytes(bytes(raw))
    with pytest.raises(PretrainedFileError, match="weights changed since saving"):
        load_pretrained(tmp_path / "edited.samplecnn")
