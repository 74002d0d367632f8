"""Fault injection, round three: results that were doubtful without a word.

Loud float files, a header declaring an absurd sample rate, damaged or finished
checkpoints, model files set back to an old format or edited settings, imported weights
that are integers or NaN, feature stores whose manifest or values were edited, and
targets ``y`` that cannot be right. docs/reliability.md lists what these tests guarantee.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_samplecnn import (
    AudioLoadError,
    MultiScaleFeatureTransformer,
    PretrainedFileError,
    SampleCNNClassifier,
    SampleCNNTagger,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn.audio import audio_info, load_audio, write_audio
from sklearn_samplecnn.exceptions import FeatureStoreError, SampleCNNError
from sklearn_samplecnn.nn import SampleCNN
from sklearn_samplecnn.pretrained import PretrainedModel

from ..conftest import tone
from ..test_pretrained import _rewrite
from .conftest import FAST, SR, XR, YR, _At, _crash, _stop


# -- loud audio: one rule for files and arrays --------------------------------------------------
@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_loud_float_files_warn_like_arrays(clf, good, tmp_path, subtype):
    loud = str(tmp_path / "loud.wav")
    write_audio(loud, tone(440, 1600, SR) * 2e6, SR, subtype=subtype)  # peak 1e+06
    with pytest.warns(UserWarning, match=re.escape(f"{loud}: samples reach amplitude 1e+06")):
        load_audio(loud, sr=SR)
    with pytest.warns(UserWarning, match=re.escape(f"{loud}: samples reach amplitude 1e+06")):
        clf.predict_proba([good[0][0], loud])
    X = [tone(440, 400, SR), tone(440, 400, SR) * 2e6, tone(440, 400, SR) * 50]
    with pytest.warns(UserWarning, match=re.escape("X[1] (and 1 other clips): samples reach "
                                                   "amplitude 1e+06")):
        clf.predict_proba(X)
    with warnings.catch_warnings():  # the quiet ones stay quiet: PCM files never pass 1
        warnings.simplefilter("error")
        load_audio(good[0][0], sr=SR)
        clf.predict_proba([tone(440, 400, SR) * 9])


def test_loud_files_decoded_in_worker_processes_warn_here(model_file, good, tmp_path):
    loud = str(tmp_path / "loud.wav")
    write_audio(loud, tone(440, 1600, SR) * 2e6, SR, subtype="FLOAT")
    feats = MultiScaleFeatureTransformer(extractors=[str(model_file)], n_jobs=1)
    X = [*good[0][:4], loud]  # 4 files or more: decoded in a worker process
    with pytest.warns(UserWarning, match=re.escape(f"{loud}: samples reach amplitude")):
        feats.fit(X).transform(X)


# -- a header declaring an absurd rate: refused before any memory is spent ----------------------
def test_a_resampling_bomb_is_refused(good, tmp_path):
    import soundfile as sf

    bomb = str(tmp_path / "one_hz.wav")
    sf.write(bomb, np.zeros(4000, np.int16), 1)  # 8 kB; 32 M samples at 8 kHz
    assert audio_info(bomb).sample_rate == 1  # the header itself reads
    message = re.escape(f"{bomb}: declares 1 Hz: resampling its 4000 samples to 8000 Hz")
    with pytest.raises(AudioLoadError, match=message):
        load_audio(bomb, sr=SR)
    with pytest.raises(AudioLoadError, match=message):
        SampleCNNClassifier(**FAST).fit([*good[0][:2], bomb], ["a", "b", "a"])
    clips = SampleCNNClassifier(**FAST).fit(*good).set_params(on_error="skip")
    with pytest.warns(UserWarning, match=message):
        proba = clips.predict_proba([good[0][0], bomb])
    assert np.isnan(proba[1]).all() and np.isfinite(proba[0]).all()
    y = load_audio(good[0][0], sr=44100)  # an ordinary upsampling is never refused
    assert len(y) == 1600 * 44100 // SR


# -- checkpoints: integrity, and a finished run trained on to a larger max_epochs ------------
RESUME = {**FAST, "max_epochs": 4, "train_split": 0.2, "lr": 0.05}


def _flip_weights(path: Path, weights: torch.Tensor) -> None:
    """Flip 8 bytes inside a tensor's data in the checkpoint file."""
    raw = bytearray(path.read_bytes())
    at = raw.find(weights.numpy().tobytes())
    assert at > 0
    for k in range(8):
        raw[at + k] ^= 0x5A
    path.write_bytes(bytes(raw))


def test_a_damaged_checkpoint_is_refused(tmp_path):
    crashing = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path, callbacks=[_At(2, _crash)])
    with pytest.raises(RuntimeError, match="power cut"):
        crashing.fit(XR, YR)
    file = tmp_path / "checkpoint.pt"
    _flip_weights(file, crashing.module_.state_dict()["classifier.weight"])
    with pytest.raises(SampleCNNError, match=re.escape(f"{file}: the checkpoint is damaged")):
        SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path).fit(XR, YR)


def test_a_finished_run_trains_on_to_a_larger_max_epochs(tmp_path):
    short = SampleCNNClassifier(**{**RESUME, "max_epochs": 2}, checkpoint_dir=tmp_path).fit(XR, YR)
    longer = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path).fit(XR, YR)
    assert len(longer.history_) == 4 and [r["epoch"] for r in longer.history_] == [1, 2, 3, 4]
    assert not np.allclose(longer.predict_proba(XR), short.predict_proba(XR))
    again = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path).fit(XR, YR)  # restored
    assert len(again.history_) == 4
    np.testing.assert_array_equal(again.predict_proba(XR), longer.predict_proba(XR))


def test_a_run_a_callback_stopped_is_not_trained_on(tmp_path):
    stopped = SampleCNNClassifier(**RESUME, checkpoint_dir=tmp_path,
                                  callbacks=[_At(2, _stop)]).fit(XR, YR)
    assert len(stopped.history_) == 2
    again = SampleCNNClassifier(**{**RESUME, "max_epochs": 6}, checkpoint_dir=tmp_path).fit(XR, YR)
    assert len(again.history_) == 2  # the callback's decision stands
    np.testing.assert_array_equal(again.predict_proba(XR), stopped.predict_proba(XR))


# -- model files ---------------------------------------------------------------------------------
def test_a_file_set_back_to_the_old_format_is_refused(model_file, tmp_path):
    def downgrade(config):
        config["format"] = "sklearn-samplecnn/1"
        config["labels"] = ["low", "high"]  # swapped: the hash no longer matches

    bad = _rewrite(model_file, tmp_path / "old.samplecnn", downgrade, reseal=False)
    with pytest.raises(PretrainedFileError, match="claims the old format 'sklearn-samplecnn/1' "
                                                  "but carries config_sha256") as err:
        load_pretrained(bad)
    assert str(err.value).startswith(f"{bad}: ")


@pytest.mark.parametrize("fault", ["int32", "nan", "inf"])
def test_from_state_dict_refuses_integer_and_non_finite_weights(fault):
    state = SampleCNN("3-3-3", channels=(4, 4, 4, 4), n_outputs=2).state_dict()
    name = "features.module1.0.weight"
    if fault == "int32":
        state[name] = (state[name] * 100).to(torch.int32)
    else:
        state[name] = state[name].clone()
        state[name][0, 0, 0] = float(fault)
    message = "is int32; weights must be floating point" if fault == "int32" else \
        "holds 1 NaN or infinite value"
    with pytest.raises(PretrainedFileError, match=re.escape(f"tensor {name!r} {message}")):
        PretrainedModel.from_state_dict(state, sample_rate=SR, labels=["a", "b"],
                                        task="classifier")


def test_save_pretrained_refuses_non_finite_weights(tmp_path):
    module = SampleCNN("3-3-3", channels=(4, 4, 4, 4), n_outputs=2)
    with torch.no_grad():
        module.classifier.weight[0, 0] = float("nan")
    with pytest.raises(PretrainedFileError, match="tensor 'classifier.weight' holds 1 NaN"):
        save_pretrained(module, tmp_path / "nan.samplecnn", metadata={"sample_rate": SR})
    assert not (tmp_path / "nan.samplecnn").exists()


@pytest.mark.parametrize("key, value, expected", [
    ("threshold", "0.5", "a number in [0, 1]"),
    ("threshold", 7, "a number in [0, 1]"),
    ("tail", "wrap", "one of ['overlap', 'drop', 'pad', 'repeat']"),
    ("hop_length", -3, "a positive integer or null"),
    ("aggregate", None, "one of ['mean', 'max']"),
])
def test_an_edited_estimator_setting_is_refused_on_load(good, tmp_path, key, value, expected):
    Y = np.stack([good[1] == "low", good[1] == "high"], axis=1).astype(int)
    tagger = SampleCNNTagger(**FAST).fit(good[0], Y)
    path = save_pretrained(tagger, tmp_path / "tagger.samplecnn")

    def edit(config):
        config["estimator"][key] = value

    bad = _rewrite(path, tmp_path / "edited.samplecnn", edit)  # resealed: a deliberate edit
    with pytest.raises(PretrainedFileError, match=re.escape(
            f"estimator[{key!r}] must be {expected}, got {value!r}")):
        load_pretrained(bad)


# -- the feature store: manifest against shards, and a checksum per shard -----------------------
@pytest.fixture
def store(model_file, good, tmp_path):
    pytest.importorskip("pyarrow")
    from sklearn_samplecnn.features import write_feature_store

    feats = MultiScaleFeatureTransformer(extractors=[str(model_file)], shard_size=2)
    feats.fit(good[0])
    write_feature_store(feats, good[0], tmp_path / "store")  # 6 clips, 3 shards
    return tmp_path / "store", feats


def _edit_manifest(folder: Path, **changes) -> None:
    file = folder / "_manifest.json"
    manifest = json.loads(file.read_text())
    manifest.update(changes)
    file.write_text(json.dumps(manifest))


def _edit_shard(folder: Path, k: int, *, keep_checksum: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = folder / f"shard-{k:05d}.parquet"
    table = pq.read_table(file)
    column = table.column(3).to_numpy().copy()
    column[0] += 1.0
    table = table.set_column(3, table.column_names[3], pa.array(column, pa.float32()))
    if not keep_checksum:
        table = table.replace_schema_metadata(None)
    pq.write_table(table, file)


@pytest.mark.parametrize("edit, message", [
    ("n_clips", "counts 4 clips in shards of 2, which makes 2 shards, but records 3"),
    ("n_clips+n_shards", "shard files the _manifest.json does not count (shard-00002.parquet)"),
    ("n_clips+n_shards+file", "the shards' paths (or their order) are not those"),
    ("shard_size", "counts 6 clips in shards of 3, which makes 2 shards, but records 3"),
    ("values", "its values changed since it was written"),
    ("values, checksum dropped", "no SHA-256 in its metadata"),
])
def test_an_edited_store_is_refused(store, edit, message):
    from sklearn_samplecnn.features import read_feature_store

    folder, feats = store
    ref = read_feature_store(folder)
    if edit.startswith("n_clips"):
        _edit_manifest(folder, n_clips=4, **({"n_shards": 2} if "n_shards" in edit else {}))
        if edit.endswith("file"):
            (folder / "shard-00002.parquet").unlink()
    elif edit == "shard_size":
        _edit_manifest(folder, shard_size=3)
    else:
        _edit_shard(folder, 1, keep_checksum=edit == "values")
    with pytest.raises(FeatureStoreError, match=re.escape(message)):
        read_feature_store(folder)
    if edit.startswith("values"):  # verify=False: read as it is, the edited value included
        edited = read_feature_store(folder, verify=False).data
        assert edited[2, 0] == ref.data[2, 0] + 1.0
        np.testing.assert_array_equal(np.delete(edited, 2, axis=0), np.delete(ref.data, 2, 0))


def test_a_store_with_an_edited_shard_recomputes_it_on_resume(store, good):
    from sklearn_samplecnn.features import read_feature_store, write_feature_store

    folder, feats = store
    ref = read_feature_store(folder)
    _edit_shard(folder, 1, keep_checksum=True)
    with pytest.warns(RuntimeWarning, match="shard-00001.parquet is unreadable, incomplete or "
                                            "modified"):
        done = write_feature_store(feats, good[0], folder)
    assert (done.computed, done.reused) == (1, 2)
    np.testing.assert_array_equal(read_feature_store(folder).data, ref.data)
    # a shard without a SHA-256 (written before shards carried one) is finished work: kept
    import pyarrow.parquet as pq

    file = folder / "shard-00002.parquet"
    pq.write_table(pq.read_table(file).replace_schema_metadata(None), file)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        done = write_feature_store(feats, good[0], folder)
    assert (done.computed, done.reused) == (0, 3)
    np.testing.assert_array_equal(read_feature_store(folder, verify=False).data, ref.data)


# -- targets: errors that name y and say what is wrong ------------------------------------------
X4 = np.zeros((4, 200), np.float32)


@pytest.mark.parametrize("cls, y, message", [
    (SampleCNNClassifier, ["rock", 3, "pop", 4], "y mixes label types: strings ('rock') and "
                                                 "numbers (3)"),
    (SampleCNNClassifier, np.array(["rock", 3, "pop", 4], dtype=object), "y mixes label types"),
    (SampleCNNClassifier, [1.0, np.nan, 0.0, 1.0], "y has no label (NaN) for 1 of 4 clips, "
                                                   "e.g. y[1]"),
    (SampleCNNTagger, ["rock", 3, "pop", 4], "y mixes label types"),
    (SampleCNNTagger, np.array([[1, 0], [np.nan, 1], [0, 1], [1, 1]]),
     "y contains NaN (1 of 8 values), e.g. at row 1, column 0"),
    (SampleCNNTagger, [[], [], [], []], "y holds no tags: the tag lists of all 4 clips are "
                                        "empty"),
    (SampleCNNTagger, np.zeros((4, 0)), "y has no tag columns (shape (4, 0))"),
], ids=["mixed-list", "mixed-object-array", "nan-label", "tagger-mixed", "tagger-nan",
        "no-tags", "no-tag-columns"])
def test_a_bad_y_is_named(cls, y, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cls(**FAST).fit(X4, y)


def test_a_tagger_y_frame_with_nan_names_the_tag():
    pd = pytest.importorskip("pandas")
    Y = pd.DataFrame({"rock": [1, 0, np.nan, 1], "piano": [0, 1, 1, 0]})
    with pytest.raises(ValueError, match=re.escape("e.g. at row 2, column 0 (tag 'rock')")):
        SampleCNNTagger(**FAST).fit(X4, Y)
