"""Filter estimates by gradient ascent, their spectra, and the plots (section 7)."""

import numpy as np
import pytest
import torch

from sklearn_samplecnn import SampleCNNTagger
from sklearn_samplecnn.nn import FrameLevelCNN, MelFrameLevelCNN, SampleCNN
from sklearn_samplecnn.visualize import (
    estimate_filters,
    filter_spectra,
    plot_embedding,
    plot_filter_spectra,
)

from .conftest import FIT_FAST

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def trained_model():
    """A tiny SampleCNN trained a few SGD steps on random two-class data."""
    torch.manual_seed(0)
    model = SampleCNN("3-3-3-3", channels=(8, 8, 8, 8, 8), n_outputs=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(32, 81), torch.randint(0, 2, (32,))
    model.train()
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def _own_activation(model, estimates, layer):
    """Mean activation of filter i for row i (full-length input, via forward)."""
    with torch.no_grad():
        _, hidden = model(torch.from_numpy(estimates), return_hidden=[layer])
    act = hidden[layer]
    return act[torch.arange(len(act)), torch.arange(len(act))].mean(dim=1).numpy()


@pytest.mark.parametrize("layer", ["strided", "module2", -1])
def test_gradient_ascent_raises_each_filters_activation(trained_model, layer):
    kwargs = dict(n_samples=81, noise_std=1.0, random_state=3)
    start = estimate_filters(trained_model, layer, n_steps=0, **kwargs)
    est = estimate_filters(trained_model, layer, n_steps=20, **kwargs)
    assert est.shape == (8, 81) and est.dtype == np.float32
    before = _own_activation(trained_model, start, trained_model.resolve_layer(layer))
    after = _own_activation(trained_model, est, trained_model.resolve_layer(layer))
    assert np.all(after >= before - 1e-6)
    live = before > 0  # filters off everywhere get no gradient and keep their noise
    assert live.sum() >= 3
    assert np.all(after[live] > before[live])
    assert after.mean() > before.mean() + 0.05


def test_estimate_filters_start_is_seeded_noise_and_model_state_restored(trained_model):
    trained_model.train()
    a = estimate_filters(trained_model, "module1", n_samples=81, n_steps=0, random_state=7)
    b = estimate_filters(trained_model, "module1", n_samples=81, n_steps=0, random_state=7)
    np.testing.assert_array_equal(a, b)
    assert a.std() == pytest.approx(0.1, rel=0.1)  # default noise_std
    assert trained_model.training  # mode given back
    trained_model.eval()
    sub = estimate_filters(trained_model, "module1", n_samples=81, filters=[5, 2])
    full = estimate_filters(trained_model, "module1", n_samples=81)
    assert sub.shape == (2, 81)
    assert not np.allclose(sub[0], full[0])  # row 0 now targets filter 5


def test_estimate_filters_on_short_input_and_errors(trained_model):
    # 729 samples: longer than the model's 81, only the blocks up to the layer run
    assert estimate_filters(trained_model, "module3", n_samples=729, n_steps=2).shape == (8, 729)
    with pytest.raises(ValueError, match="n_samples=9 is too short to reach layer 'module3'"):
        estimate_filters(trained_model, "module3", n_samples=9)
    with pytest.raises(ValueError, match=r"filters must be channel indices .* \[0, 8\)"):
        estimate_filters(trained_model, 0, n_samples=81, filters=[8])
    with pytest.raises(ValueError, match="lr must be positive, got 0"):
        estimate_filters(trained_model, 0, lr=0)
    with pytest.raises(ValueError, match="'nope' is not one of"):
        estimate_filters(trained_model, "nope")


def test_estimate_filters_on_frame_level_models():
    torch.manual_seed(0)
    raw = FrameLevelCNN(81, 81, channels=(4,) * 8, n_outputs=2)
    assert estimate_filters(raw, "module1", n_steps=2).shape == (4, 729)
    mel = MelFrameLevelCNN(243, 81, n_mels=16, channels=(4,) * 7, n_outputs=2)
    assert estimate_filters(mel, "module1", n_samples=2000, n_steps=2).shape == (4, 2000)


def test_filter_spectra_sorts_by_peak_frequency():
    sr, n = 8000, 400
    t = np.arange(n) / sr
    tones = [3000.0, 500.0, 1000.0]
    freqs, spectra = filter_spectra(np.stack([np.sin(2 * np.pi * f * t) for f in tones]), sr)
    assert freqs.shape == (201,) and freqs[-1] == sr / 2
    assert spectra.shape == (3, 201)
    np.testing.assert_allclose(freqs[spectra.argmax(axis=1)], sorted(tones))
    with pytest.raises(ValueError, match=r"estimates must have shape"):
        filter_spectra(np.zeros(10), sr)


def _png_ok(path):
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_filter_spectra_from_model_writes_png(trained_model, tmp_path):
    path = tmp_path / "spectra.png"
    fig = plot_filter_spectra(trained_model, sr=22050, n_samples=81, n_steps=3, path=path)
    assert _png_ok(path)
    images = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in images] == list(trained_model.hidden_layers)
    assert images[0].images[0].get_extent()[3] == pytest.approx(22050 * 40 / 81)


def test_plot_filter_spectra_default_layers_stop_where_input_runs_out(tmp_path):
    model = SampleCNN("3^6", channels=(4,) * 8, n_outputs=2)  # 2187 samples
    fig = plot_filter_spectra(model, sr=16000, n_samples=27, n_steps=1)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["strided", "module1", "module2"]


def test_plot_filter_spectra_from_estimates(tmp_path):
    rng = np.random.default_rng(0)
    est = {"a": rng.standard_normal((5, 64)), "b": rng.standard_normal((3, 64))}
    fig = plot_filter_spectra(est, sr=1000, layers=["b"], path=tmp_path / "b.png")
    assert _png_ok(tmp_path / "b.png")
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["b"]
    with pytest.raises(ValueError, match=r"layers \['c'\] are not among"):
        plot_filter_spectra(est, sr=1000, layers=["c"])


def test_plot_embedding_one_panel_per_layer(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(["rock", "jazz"], 10)
    features = rng.standard_normal((20, 6)) + (labels == "rock")[:, None] * 4.0
    path = tmp_path / "tsne.png"
    fig = plot_embedding(
        features,
        labels,
        layer_slices={"module8": slice(0, 3), "conv1x1": [3, 4, 5]},
        path=path,
        perplexity=30,  # clipped to 19
    )
    assert _png_ok(path)
    panels = [ax for ax in fig.axes if ax.collections]
    assert [ax.get_title() for ax in panels] == ["module8", "conv1x1"]
    assert sum(len(c.get_offsets()) for c in panels[0].collections) == 20
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == ["jazz", "rock"]
    with pytest.raises(ValueError, match=r"labels must have shape \(20,\)"):
        plot_embedding(features, labels[:5])


def test_taggram_plot(fitted, tmp_path):
    pytest.importorskip("matplotlib")
    from sklearn_samplecnn.visualize import plot_taggram

    _, paths, labels = fitted
    lists = [["low", "warm"] if c == "low" else ["high", "bright"] for c in labels]
    tagger = SampleCNNTagger(train_split=None, **{**FIT_FAST, "max_epochs": 8}).fit(paths, lists)
    seg = tagger.predict_proba_segments(paths[:2])
    fig = plot_taggram(seg, clip=1, path=tmp_path / "taggram.png")
    assert (tmp_path / "taggram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax, _colorbar) = fig.axes
    image = ax.collections[0].get_array().reshape(4, 20)  # tags x segments
    np.testing.assert_allclose(image, seg.proba[seg.clip == 1].T)
    assert [t.get_text() for t in ax.get_yticklabels()] == tagger.tags_.tolist()
    assert ax.get_xlim() == pytest.approx((0.0, 1600 / 8000))  # the whole clip
    assert ax.get_title() == paths[1]
    # from the estimator and one path; the two most probable tags, most probable on top
    top = plot_taggram(tagger, paths[1], top_k=2, path=tmp_path / "top.png")
    mean = seg.proba[seg.clip == 1].mean(axis=0)
    expected = tagger.tags_[np.argsort(-mean)[:2]].tolist()
    assert [t.get_text() for t in top.axes[0].get_yticklabels()] == expected
    assert set(expected) == {"high", "bright"}  # clip 1 is a high tone
    with pytest.raises(ValueError, match="clip 5 has no segments"):
        plot_taggram(seg, clip=5)
