"""musicnn in PyTorch: parity with the original TensorFlow extractor, and the transformer.

``tests/data/musicnn_parity.npz`` holds two generated clips (int16 PCM, one at 16 kHz,
one at 22,050 Hz) and what ``musicnn.extractor.extractor`` 0.1.0 returned for them
under tensorflow-cpu 2.15.1, numpy 1.26.4 and librosa 0.11.0, recorded by
``scripts/convert_musicnn.py dump``. TensorFlow is not needed here.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.pipeline import FeatureUnion, make_pipeline

from sklearn_samplecnn import (
    BlockScaler,
    MFCCStatsTransformer,
    MultiScaleFeatureTransformer,
    MusicnnTransformer,
    PretrainedFileError,
    load_pretrained,
    shipped_models,
)
from sklearn_samplecnn.audio import load_audio, write_audio
from sklearn_samplecnn.estimators import from_pretrained
from sklearn_samplecnn.nn import MSD_TAGS, MTT_TAGS, Musicnn, MusicnnVGG
from sklearn_samplecnn.nn.musicnn import MUSICNN_EDGE_PAD, MUSICNN_HOP, MUSICNN_INPUT_LENGTH
from sklearn_samplecnn.segments import segment_signal

FIXTURE = Path(__file__).parent / "data" / "musicnn_parity.npz"
MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
CLIPS = ("clip16k", "clip22k")
# parity: the largest difference within this share of the layer's largest value
REL_TOL = 1e-4


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    import soundfile as sf

    data = dict(np.load(FIXTURE))
    root = tmp_path_factory.mktemp("musicnn")
    paths = {}
    for clip in CLIPS:
        paths[clip] = str(root / f"{clip}.wav")
        sf.write(paths[clip], data[f"{clip}/pcm"], int(data[f"{clip}/sr"]), subtype="PCM_16")
    return data, paths


def _close(ours, ref, what):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, what
    worst = np.abs(ours - ref).max() / np.abs(ref).max()
    assert worst <= REL_TOL, f"{what}: max difference {worst:.2e} of the layer's scale"


def test_fixture_was_recorded_from_the_original():
    data = np.load(FIXTURE)
    versions = json.loads(str(data["versions"]))
    assert versions["musicnn"] == "0.1.0" and versions["numpy"].startswith("1.")
    # extractor 0.1.0 repeats the first patch's penultimate features for later patches
    # (its loop never reassigns them), so only the first patch is compared below
    pen = data["clip16k/MSD_musicnn/penultimate"]
    assert pen.shape == (2, 200) and np.array_equal(pen[0], pen[1])


@pytest.mark.parametrize("model", MODELS)
def test_transformer_matches_the_original_extractor(fixture, model):
    """Taggram, penultimate and pooled features, through the library's whole pipeline:
    files decoded and resampled, patches cut with the STFT's edge padding."""
    data, paths = fixture
    musicnn = model.endswith("musicnn")
    layers = ("taggram", "penultimate", "mean_pool", "max_pool") if musicnn \
        else ("taggram", "pool5")
    feats = MusicnnTransformer(model, layers=layers, pooling=("max", "mean"))
    feats.fit([paths["clip16k"]])
    seg = feats.transform_segments([paths[c] for c in CLIPS])[0]
    widths = np.cumsum([0, *feats.extractors_[0].channels])
    for k, clip in enumerate(CLIPS):
        rows = seg.features[seg.clip == k]
        ref = data[f"{clip}/{model}/taggram"]
        assert len(rows) == len(ref) == 2  # the original's patch count (its tail dropped)
        got = dict(zip(layers, (rows[:, a:b] for a, b in zip(widths[:-1], widths[1:]))))
        np.testing.assert_allclose(got["taggram"], ref, atol=1e-5)
        if musicnn:
            _close(got["penultimate"][:1], data[f"{clip}/{model}/penultimate"][:1],
                   f"{model} penultimate")
            for layer in ("mean_pool", "max_pool"):
                _close(got[layer], data[f"{clip}/{model}/{layer}"], f"{model} {layer}")
        else:  # (filters, time) rows in the original's (time, mel, filters) order
            pool5 = got["pool5"]  # max over time: compare through the module below
            assert pool5.shape == (2, 128)


@pytest.mark.parametrize("model", MODELS)
def test_module_layers_match_the_original_frame_by_frame(fixture, model):
    data, paths = fixture
    module = load_pretrained(model).module
    rows = list(data["frame_rows"])
    for clip in CLIPS:
        y = load_audio(paths[clip], sr=16000)
        x = torch.from_numpy(segment_signal(np.pad(y, MUSICNN_EDGE_PAD), MUSICNN_INPUT_LENGTH,
                                            hop_length=MUSICNN_HOP, tail="drop"))  # musicnn's
        with torch.inference_mode():
            _, hidden = module(x, return_hidden=True)
        key = f"{clip}/{model}"
        if isinstance(module, Musicnn):
            mel = module.frontend(x)[0].numpy()
            np.testing.assert_allclose(mel, data[f"{clip}/logmel"], atol=5e-4)
            for layer in ("timbral", "temporal", "cnn1", "cnn2", "cnn3"):
                _close(hidden[layer][0].T[rows], data[f"{key}/{layer}"], f"{model} {layer}")
        else:
            pool5 = hidden["pool5"].transpose(1, 2).reshape(len(x), -1)
            _close(pool5, data[f"{key}/pool5"], f"{model} pool5")
            _close(hidden["pool3"][0].T[[0, 11, 22]], data[f"{key}/pool3"], f"{model} pool3")


def test_shipped_models_load_by_name_offline():
    names = shipped_models()
    assert set(MODELS) <= set(names)
    for name, tags, cls in (("MSD_musicnn", MSD_TAGS, Musicnn), ("MTT_vgg", MTT_TAGS, MusicnnVGG)):
        model = load_pretrained(name)
        assert isinstance(model.module, cls) and model.labels == list(tags)
        assert model.sample_rate == 16000 and model.config["task"] == "tagger"
        assert "ISC" in model.config["training"]["licence"]
    assert (Path(names["MSD_musicnn"]).parent / "LICENSE-musicnn.txt").is_file()
    with pytest.raises(FileNotFoundError, match="nor the name of a shipped model: .*MSD_musicnn"):
        load_pretrained("MSD_musicnnn")
    with pytest.raises(PretrainedFileError, match="not rebuilt as a SampleCNN estimator"):
        from_pretrained(load_pretrained("MSD_musicnn"))


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Three 8 s clips at 22,050 Hz and one unreadable file."""
    root = tmp_path_factory.mktemp("songs")
    rng = np.random.default_rng(1)
    t = np.arange(8 * 22050) / 22050
    paths = []
    for k, f0 in enumerate((110.0, 220.0, 440.0)):
        y = 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + np.sin(2 * np.pi * (k + 1) * t))
        y += 0.02 * rng.standard_normal(len(t))
        paths.append(str(root / f"song{k}.wav"))
        write_audio(paths[-1], y.astype(np.float32), 22050)
    bad = root / "broken.wav"
    bad.write_bytes(b"RIFF-not-really")
    return paths, str(bad)


def test_taggram_has_timestamps_and_top_tags_follow_it(songs):
    paths, _ = songs
    feats = MusicnnTransformer().fit(paths)
    gram = feats.taggram(paths)
    # 8 s at 16 kHz: two whole patches, the rest dropped as musicnn does
    assert gram.taggram.shape == (6, 50) and gram.tags == list(MSD_TAGS)
    assert gram.clip.tolist() == [0, 0, 1, 1, 2, 2]
    # the samples each patch reads: 187 frames of 256 samples, centred (the first one's
    # window starts before the clip)
    np.testing.assert_allclose(gram.start[:2], [0.0, (MUSICNN_HOP - 256) / 16000])
    np.testing.assert_allclose(gram.end[:2], [(MUSICNN_INPUT_LENGTH - 256) / 16000,
                                              (MUSICNN_HOP + MUSICNN_INPUT_LENGTH - 256) / 16000])
    assert ((gram.taggram >= 0) & (gram.taggram <= 1)).all()
    scores = feats.tag_scores(paths)
    np.testing.assert_allclose(scores[1], gram.taggram[2:4].mean(axis=0), rtol=1e-6)
    top = feats.top_tags(paths, top_k=4)
    assert [len(t) for t in top] == [4, 4, 4]
    assert top[2] == [MSD_TAGS[k] for k in np.argsort(-scores[2], kind="stable")[:4]]
    with pytest.raises(ValueError, match="top_k must be in"):
        feats.top_tags(paths, top_k=0)


def test_bad_file_keeps_the_good_rows(songs):
    paths, bad = songs
    feats = MusicnnTransformer(layers=("mean_pool",), on_error="skip").fit(paths)
    alone = feats.transform(paths[:2])
    with pytest.warns(UserWarning, match="broken.wav"):
        X = feats.transform([paths[0], bad, paths[1]])
    assert np.isnan(X[1]).all() and feats.failed_files_ == [bad]
    np.testing.assert_allclose(X[[0, 2]], alone, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert feats.top_tags([bad, paths[0]])[0] is None
    with pytest.raises(OSError, match="broken.wav"):
        MusicnnTransformer(layers=("mean_pool",)).fit(paths).transform([bad])


def test_cache_union_and_extractor_by_name(songs, tmp_path):
    paths, _ = songs
    cached = MusicnnTransformer(layers=("mean_pool",), cache_dir=tmp_path / "cache").fit(paths)
    first = cached.transform(paths)
    assert cached.feature_names_out_[0] == "musicnn__mean_pool__max-mean__ch000"
    assert first.shape == (3, 2 * 753)
    np.testing.assert_array_equal(cached.transform(paths), first)  # read back from the cache
    # the same model by name in MultiScaleFeatureTransformer gives the same columns (with
    # musicnn's whole patches only: MusicnnTransformer's tail="drop")
    multi = MultiScaleFeatureTransformer(extractors=["MSD_musicnn"], layers=("mean_pool",),
                                         tail="drop")
    np.testing.assert_allclose(multi.fit_transform(paths), first, rtol=1e-5, atol=1e-6)
    union = FeatureUnion([
        ("mfcc", make_pipeline(MFCCStatsTransformer(), BlockScaler())),
        ("musicnn", make_pipeline(MusicnnTransformer(layers=("mean_pool",)), BlockScaler())),
    ])
    Z = union.fit_transform(paths)
    assert Z.shape[0] == 3 and np.isfinite(Z).all()


def test_model_must_be_a_musicnn(tmp_path):
    from sklearn_samplecnn import save_pretrained
    from sklearn_samplecnn.nn import SampleCNN

    path = tmp_path / "tiny.samplecnn"
    save_pretrained(SampleCNN("3-3-3", channels=[2, 2, 2, 2], n_outputs=2), path,
                    metadata={"sample_rate": 16000})
    X = np.zeros((2, 16000), np.float32)
    with pytest.raises(ValueError, match="model must be a musicnn model"):
        MusicnnTransformer(str(path)).fit(X)


def test_vgg_layers_and_short_clips():
    X = [np.full(8000, 0.1, np.float32), np.linspace(-0.5, 0.5, 70000, dtype=np.float32)]
    feats = MusicnnTransformer("MTT_vgg", layers=("pool5", "taggram"), pooling="mean").fit(X)
    out = feats.transform(X)  # a 0.5 s clip is padded to one patch
    assert out.shape == (2, 128 + 50) and np.isfinite(out).all()
    assert feats.tags_ == list(MTT_TAGS)
