"""Frame-level baselines (Table 2): raw and mel models, the mel front end, standardisation."""

import numpy as np
import pytest
import torch

from sklearn_samplecnn.nn import (
    TABLE2_CONFIGS,
    FrameLevelCNN,
    MelFrameLevelCNN,
    MelSpectrogram,
    frame_modules,
    mel_filterbank,
)
from sklearn_samplecnn.nn.mel import hz_to_mel, mel_to_hz

SR = 22050
L = 59049
#: Table 2's n (modules) for each (window, hop), both frame-level models.
PAPER_MODULES = {(729, 729): 4, (729, 243): 5, (243, 243): 5, (243, 81): 6, (81, 81): 6}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _sine(freq, n=L, sr=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)


@pytest.mark.parametrize("window, hop", TABLE2_CONFIGS)
def test_raw_table2_configs_build_and_output(window, hop):
    n = PAPER_MODULES[(window, hop)]
    model = FrameLevelCNN(window, hop, channels=(8,) * (n + 2), n_outputs=3).eval()
    assert model.n_modules == n
    assert model.name == f"raw-{window}/{hop}"
    assert model.hidden_layers == (
        "frame_conv",
        *(f"module{i}" for i in range(1, n + 1)),
        "conv1x1",
    )
    logits, hidden = model(torch.randn(2, L), return_hidden=True)
    assert logits.shape == (2, 3)
    frames = (L - window) // hop + 1
    assert hidden["frame_conv"].shape == (2, 8, frames)
    t = frames
    for i in range(1, n + 1):
        t = -(-t // 3)
        assert hidden[f"module{i}"].shape == (2, 8, t)
    assert hidden["conv1x1"].shape == (2, 8, 1)
    # (B, 1, L) input and return_hidden by name give the same logits
    x = torch.randn(2, L)
    logits3, only = model(x[:, None], return_hidden=["module1"])
    assert set(only) == {"module1"}
    torch.testing.assert_close(logits3, model(x))


@pytest.mark.parametrize("window, hop", TABLE2_CONFIGS)
def test_mel_table2_configs_build_and_output(window, hop):
    n = PAPER_MODULES[(window, hop)]
    model = MelFrameLevelCNN(window, hop, n_mels=16, channels=(8,) * (n + 1), n_outputs=3).eval()
    assert model.n_modules == n
    assert model.name == f"mel-{window}/{hop}"
    assert model.hidden_layers == (*(f"module{i}" for i in range(1, n + 1)), "conv1x1")
    logits, hidden = model(torch.randn(2, L), return_hidden=True)
    assert logits.shape == (2, 3)
    frames = (L - 729) // hop + 1
    assert hidden["module1"].shape == (2, 8, -(-frames // 3))
    assert hidden["conv1x1"].shape == (2, 8, 1)


def test_default_channels_follow_table1_top_layers():
    assert FrameLevelCNN(729, 729).channels == (128, 256, 256, 512, 512, 512)
    assert FrameLevelCNN(81, 81).channels == (128, 256, 256, 256, 256, 512, 512, 512)
    assert MelFrameLevelCNN(243, 243, n_mels=8).channels == (256, 256, 256, 512, 512, 512)


def test_frame_modules_and_override_with_global_pool():
    assert [frame_modules(t) for t in (1, 2, 3, 4, 81, 241, 727)] == [0, 1, 1, 2, 4, 5, 6]
    model = FrameLevelCNN(729, 729, n_modules=2, channels=(4, 4, 4, 4), n_outputs=2).eval()
    logits, hidden = model(torch.randn(1, L), return_hidden=["conv1x1"])
    assert hidden["conv1x1"].shape == (1, 4, 9)  # the global max-pool takes the 9 steps
    assert logits.shape == (1, 2)
    assert torch.allclose(logits, model.classifier(hidden["conv1x1"].amax(dim=2)))


def test_get_config_rebuilds_and_resolve_layer():
    model = FrameLevelCNN(243, 81, channels=(4,) * 8, n_outputs=5, dropout=0.25)
    clone = FrameLevelCNN(**model.get_config())
    assert clone.get_config() == model.get_config()
    assert model.resolve_layer(0) == "frame_conv"
    assert model.resolve_layer(-1) == "conv1x1"
    assert model.resolve_layer("module3") == "module3"
    mel = MelFrameLevelCNN(243, 81, n_mels=8, channels=(4,) * 7, n_outputs=5)
    assert MelFrameLevelCNN(**mel.get_config()).get_config() == mel.get_config()
    assert mel.resolve_layer(-2) == "module6"
    with pytest.raises(ValueError, match="layer index 9"):
        model.resolve_layer(9)
    with pytest.raises(ValueError, match="'frame_conv' is not one of"):
        mel.resolve_layer("frame_conv")


def test_bad_arguments_and_inputs_name_the_problem():
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 59049\)"):
        FrameLevelCNN(channels=(4,) * 6)(torch.zeros(2, 1000))
    with pytest.raises(ValueError, match=r"expects input of shape"):
        MelFrameLevelCNN(n_mels=8, channels=(4,) * 5)(torch.zeros(2, 2, L))
    with pytest.raises(ValueError, match=r"n_modules must be an integer in \[0, 4\].*got 5"):
        FrameLevelCNN(729, 729, n_modules=5)
    with pytest.raises(ValueError, match="channels needs 6 positive numbers"):
        FrameLevelCNN(729, 729, channels=(8, 8))
    with pytest.raises(ValueError, match="window must be a positive integer, got 0"):
        FrameLevelCNN(0, 729)
    with pytest.raises(ValueError, match="win_length must not exceed n_fft"):
        MelSpectrogram(win_length=1024)
    with pytest.raises(ValueError, match="dropout must be in"):
        MelFrameLevelCNN(dropout=1.0)


# -- mel front end -----------------------------------------------------------
def test_slaney_mel_scale_anchors():
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(6400.0) == pytest.approx(42.0)
    assert hz_to_mel(200.0) == pytest.approx(3.0)
    f = np.array([0.0, 100.0, 999.0, 1000.0, 5000.0, 11025.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)


def test_mel_filterbank_is_area_normalised_triangles():
    fb = mel_filterbank(sr=SR, n_fft=729, n_mels=128)
    assert fb.shape == (128, 365) and fb.dtype == np.float32
    assert (fb >= 0).all()
    # wide (high) filters: sum of weights times bin spacing = triangle area = 1
    df = SR / 729
    np.testing.assert_allclose(fb[-40:].sum(axis=1) * df, 1.0, rtol=0.05)
    # each filter's peak lies at its centre frequency
    edges = mel_to_hz(np.linspace(0, hz_to_mel(SR / 2), 130))
    freqs = np.fft.rfftfreq(729, 1 / SR)
    peaks = freqs[fb[-40:].argmax(axis=1)]
    assert np.all(np.abs(peaks - edges[1:-1][-40:]) <= df)


@pytest.mark.parametrize("window, hop", [(729, 729), (243, 81)])
def test_mel_spectrogram_matches_numpy_and_peaks_at_the_sine(window, hop):
    freq = 1500.0
    x = _sine(freq, n=8000)
    melspec = MelSpectrogram(n_fft=729, win_length=window, hop_length=hop, n_mels=128, sr=SR)
    got = melspec(torch.from_numpy(x)[None])[0].numpy()

    # reference: Hann(window) centred in 729 zeros, rfft, |.|, mel, log10(1 + 10 A)
    win = np.zeros(729)
    left = (729 - window) // 2
    win[left : left + window] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
    n_frames = (len(x) - 729) // hop + 1
    frames = np.stack([x[t * hop : t * hop + 729] for t in range(n_frames)])
    mag = np.abs(np.fft.rfft(frames * win, axis=1))
    ref = np.log10(1 + 10 * (mel_filterbank(sr=SR, n_fft=729, n_mels=128) @ mag.T))
    assert got.shape == ref.shape == (128, n_frames)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)

    edges = mel_to_hz(np.linspace(0, hz_to_mel(SR / 2), 130))
    band = int(got.mean(axis=1).argmax())
    assert edges[band] < freq < edges[band + 2]


def test_mel_spectrogram_buffers_follow_the_module():
    melspec = MelSpectrogram(n_mels=16)
    assert {"window", "mel_basis"} <= set(dict(melspec.named_buffers()))
    out = melspec.double()(torch.zeros(1, 729, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (1, 16, 1)


# -- standardisation ---------------------------------------------------------
def _training_batches(seed=0, n_batches=3, batch=4):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        freqs = rng.uniform(100, 5000, size=batch)
        x = np.stack([_sine(f, amp=rng.uniform(0.1, 0.9)) for f in freqs])
        out.append(torch.from_numpy(x + 0.05 * rng.standard_normal(x.shape).astype(np.float32)))
    return out


def test_fit_standardizer_gives_zero_mean_unit_std_features():
    model = MelFrameLevelCNN(729, 243, n_mels=32, channels=(4,) * 6, n_outputs=2)
    batches = _training_batches()
    assert not bool(model.standardizer_fitted)
    assert model.fit_standardizer(iter(batches)) is model
    assert bool(model.standardizer_fitted)
    feats = torch.cat([model._front(b[:, None]) for b in batches])  # (B, n_mels, T)
    per_band = feats.transpose(0, 1).reshape(32, -1)
    np.testing.assert_allclose(per_band.mean(dim=1).numpy(), 0.0, atol=1e-4)
    np.testing.assert_allclose(per_band.std(dim=1, unbiased=False).numpy(), 1.0, atol=1e-3)
    # numpy arrays and (B, 1, L) batches are accepted too
    again = MelFrameLevelCNN(729, 243, n_mels=32, channels=(4,) * 6, n_outputs=2)
    again.fit_standardizer([b[:, None].numpy() for b in batches])
    torch.testing.assert_close(again.input_mean, model.input_mean)


def test_fit_standardizer_floors_std_and_rejects_empty():
    model = MelFrameLevelCNN(729, 729, n_mels=8, channels=(4,) * 5, n_outputs=2)
    model.fit_standardizer([torch.zeros(2, L)])
    assert torch.all(model.input_std == 1e-5) and torch.all(model.input_mean == 0)
    with pytest.raises(ValueError, match="at least one waveform"):
        model.fit_standardizer([])


def test_standardizer_statistics_survive_state_dict_round_trip():
    kwargs = dict(window=243, hop=243, n_mels=16, channels=(4,) * 6, n_outputs=2)
    model = MelFrameLevelCNN(**kwargs).fit_standardizer(_training_batches(n_batches=1)).eval()
    state = model.state_dict()
    assert {"input_mean", "input_std", "standardizer_fitted"} <= set(state)
    clone = MelFrameLevelCNN(**kwargs)
    clone.load_state_dict(state)
    clone.eval()
    assert bool(clone.standardizer_fitted)
    torch.testing.assert_close(clone.input_std, model.input_std)
    x = torch.randn(2, L)
    torch.testing.assert_close(clone(x), model(x))
