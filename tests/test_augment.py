"""AudioAugment: each transform does what it says, seeded, and the estimators' augment hook."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from sklearn_samplecnn import SampleCNNClassifier, SampleCNNTagger
from sklearn_samplecnn.augment import AudioAugment, resolve_augment

from .conftest import TINY, tone

SR = 8000
# every transform off; each test switches on the one it checks
OFF = dict(p_pitch=0.0, p_filter=0.0, p_delay=0.0, p_gain=0.0, p_polarity=0.0, p_noise=0.0)


def _only(**params) -> AudioAugment:
    return AudioAugment(**{**OFF, **params})


def _sines(freqs, n=4096, sr=SR) -> torch.Tensor:
    t = torch.arange(n) / sr
    return torch.stack([0.5 * torch.sin(2 * torch.pi * f * t) for f in freqs])


def _band_power(x: torch.Tensor, lo: float, hi: float, sr=SR) -> torch.Tensor:
    spec = torch.fft.rfft(x).abs() ** 2
    f = torch.fft.rfftfreq(x.shape[-1], 1 / sr)
    return spec[:, (f >= lo) & (f < hi)].sum(dim=1)


def test_shape_dtype_device_kept_and_finite():
    torch.manual_seed(0)
    x = torch.randn(16, 1000)
    for dtype in (torch.float32, torch.float64):
        y = AudioAugment()(x.to(dtype), SR)
        assert y.shape == (16, 1000) and y.dtype == dtype and y.device == x.device
        assert torch.isfinite(y).all()
    silent = AudioAugment(p_noise=1.0)(torch.zeros(4, 500), SR)
    assert torch.equal(silent, torch.zeros(4, 500))  # no NaN from a 0-power SNR
    assert AudioAugment()(x, SR, 900).shape == (16, 900)
    # nothing on: the identity, bit for bit (length: the middle of the input)
    torch.testing.assert_close(_only()(x, SR), x, rtol=0, atol=0)
    torch.testing.assert_close(_only()(x, SR, 900), x[:, 50:950], rtol=0, atol=0)


def test_polarity_flips_the_sign():
    x = torch.randn(8, 300)
    torch.testing.assert_close(_only(p_polarity=1.0)(x, SR), -x)


def test_gain_scales_by_the_decibels_asked():
    x = torch.randn(8, 300)
    torch.testing.assert_close(_only(p_gain=1.0, gain_db=(6.0, 6.0))(x, SR),
                               x * 10 ** (6 / 20), rtol=1e-5, atol=1e-6)
    y = _only(p_gain=1.0, gain_db=(-12.0, 12.0))(x, SR)
    ratio_db = 20 * torch.log10(y.norm(dim=1) / x.norm(dim=1))
    assert ratio_db.min() >= -12.0 - 1e-3 and ratio_db.max() <= 12.0 + 1e-3
    assert ratio_db.std() > 1.0  # a gain per example


def test_noise_at_the_snr_asked():
    torch.manual_seed(0)
    x = _sines([200, 450, 700, 1100], n=16000)
    for snr in (5.0, 20.0):
        y = _only(p_noise=1.0, snr_db=(snr, snr))(x, SR)
        measured = 10 * torch.log10(x.pow(2).mean(1) / (y - x).pow(2).mean(1))
        np.testing.assert_allclose(measured.numpy(), snr, atol=0.2)


def test_filters_remove_the_band_they_cut():
    torch.manual_seed(0)
    x = torch.randn(64, 8000)
    y = _only(p_filter=1.0, lowpass_hz=(500.0, 500.0), highpass_hz=(1500.0, 1500.0))(x, SR)
    high_ratio = _band_power(y, 2000, 4000) / _band_power(x, 2000, 4000)
    low_ratio = _band_power(y, 0, 500) / _band_power(x, 0, 500)
    lowpassed = high_ratio < 10 ** (-40 / 10)  # 4th order: >= 48 dB down an octave+ above 500 Hz
    highpassed = low_ratio < 10 ** (-20 / 10)  # >= 24 dB down below 750 Hz, on average more
    assert (lowpassed ^ highpassed).all()  # each example one of the two
    assert 16 < int(lowpassed.sum()) < 48  # about half each
    # the pass band is kept
    pass_low = _band_power(y[lowpassed], 0, 250) / _band_power(x[lowpassed], 0, 250)
    pass_high = _band_power(y[highpassed], 3000, 4000) / _band_power(x[highpassed], 3000, 4000)
    assert pass_low.min() > 0.9 and pass_high.min() > 0.9


def test_delay_mixes_in_a_delayed_copy():
    x = torch.randn(4, 1000)
    y = _only(p_delay=1.0, delay_ms=(25.0, 25.0), delay_gain=0.5)(x, SR)  # 200 samples
    torch.testing.assert_close(y[:, :200], x[:, :200])
    torch.testing.assert_close(y[:, 200:], x[:, 200:] + 0.5 * x[:, :800])


def _peak_hz(x: torch.Tensor, sr=SR) -> np.ndarray:
    spec = torch.fft.rfft(x * torch.hann_window(x.shape[-1])).abs()
    return (spec.argmax(dim=1) * sr / x.shape[-1]).numpy()


def test_pitch_shift_moves_the_frequency_within_range():
    torch.manual_seed(0)
    augment = _only(p_pitch=1.0, max_semitones=3.0)
    n = 4000
    x = _sines([500.0] * 32, n=augment.input_length(n))
    y = augment(x, SR, n)
    assert y.shape == (32, n)
    semitones = 12 * np.log2(_peak_hz(y) / 500.0)
    assert np.abs(semitones).max() <= 3.0 + 0.1  # within the range (+ one FFT bin)
    assert np.abs(semitones).mean() > 0.5 and semitones.min() < 0 < semitones.max()
    # the level is kept (no band-limiting below 500 Hz, no silence at the ends)
    rms = y.pow(2).mean(1).sqrt()
    np.testing.assert_allclose(rms.numpy(), 0.5 / np.sqrt(2), rtol=0.05)
    # input_length leaves room for the largest upward shift
    assert augment.input_length(n) >= n * 2 ** (3 / 12) and augment.input_length(n) % 2 == 0
    assert _only().input_length(n) == n


def test_pitch_shift_without_room_mirrors_the_ends():
    torch.manual_seed(0)
    x = _sines([300.0] * 8, n=2000)
    y = _only(p_pitch=1.0, max_semitones=12.0)(x, SR)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert y.abs().max() <= 0.5 + 1e-4  # interpolation never overshoots


def test_seeded_draws_repeat_and_examples_differ():
    x = torch.randn(8, 2000)
    torch.manual_seed(3)
    a = AudioAugment()(x, SR)
    torch.manual_seed(3)
    b = AudioAugment()(x, SR)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = AudioAugment()(x, SR)  # the generator moved on: new draws
    assert not torch.equal(a, c)
    same = AudioAugment()(x[:1].repeat(8, 1), SR)  # one clip, 8 different views
    assert len({tuple(v[:50].round(decimals=4).tolist()) for v in same}) > 1


@pytest.mark.parametrize("params, match", [
    (dict(p_noise=1.5), "p_noise must be a probability"),
    (dict(p_polarity=-0.1), "p_polarity"),
    (dict(lowpass_hz=(0.0, 100.0)), "lowpass_hz"),
    (dict(snr_db=(30.0, 20.0)), r"snr_db .*got \(30.0, 20.0\)"),
    (dict(delay_ms=5.0), "delay_ms must be a"),
    (dict(max_semitones=13), "max_semitones"),
    (dict(filter_order=0), "filter_order"),
    (dict(delay_gain=2.0), "delay_gain"),
])
def test_bad_parameters_name_themselves(params, match):
    with pytest.raises(ValueError, match=match):
        AudioAugment(**params)


def test_bad_input_and_names():
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        AudioAugment()(torch.zeros(10), SR)
    with pytest.raises(ValueError, match="length must be in"):
        AudioAugment()(torch.zeros(2, 10), SR, 20)
    assert resolve_augment(None) is None
    assert resolve_augment("default") == AudioAugment()
    custom = AudioAugment(p_pitch=0.0, gain_db=(-3, 3))
    assert custom.gain_db == (-3.0, 3.0) and pickle.loads(pickle.dumps(custom)) == custom
    with pytest.raises(ValueError, match="'loud'"):
        resolve_augment("loud")


# -- the supervised estimators' augment parameter ---------------------------------------
class _Spy:
    """Records the batches it is called on; adds 1 so its effect shows."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, sr):
        self.calls.append((tuple(x.shape), sr))
        return x + 1.0


def _tones():
    rng = np.random.default_rng(0)
    X = np.stack([tone(300 if i % 2 else 1500, 400, SR, rng=rng) for i in range(12)])
    return X, np.arange(12) % 2


def test_classifier_augments_training_batches_only():
    X, y = _tones()
    spy = _Spy()
    clf = SampleCNNClassifier(augment=spy, sr=SR, max_epochs=2, batch_size=8, train_split=0.25,
                              verbose=0, random_state=0, **TINY).fit(X, y)
    # 9 training clips x 5 segments (4 whole ones of 81 samples, and the default
    # tail="overlap"'s last one ending with the clip) = 45: 6 batches of 8 (the last of 5)
    assert len(spy.calls) == 2 * 6
    assert all(shape[1] == 81 and sr == SR for shape, sr in spy.calls)
    assert "valid_loss" in clf.history_[-1]  # validation ran, unaugmented
    n = len(spy.calls)
    clf.predict_proba(X)
    assert len(spy.calls) == n  # never at prediction
    # the fitted spy is the estimator's parameter itself: clone copies it
    from sklearn.base import clone
    assert clone(clf).get_params()["augment"] is not spy


def test_default_augmentation_trains_and_is_seeded():
    X, y = _tones()
    kw = dict(augment="default", sr=SR, max_epochs=4, lr=0.05, train_split=None, verbose=0,
              random_state=0, segment_mode="random", optimizer__weight_decay=1e-4, **TINY)
    a = SampleCNNClassifier(**kw).fit(X, y)
    b = SampleCNNClassifier(**kw).fit(X, y)
    for p, q in zip(a.module_.parameters(), b.module_.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert a.optimizer_.param_groups[0]["weight_decay"] == 1e-4
    plain = SampleCNNClassifier(**{**kw, "augment": None}).fit(X, y)
    assert not torch.equal(next(a.module_.parameters()), next(plain.module_.parameters()))
    tagger = SampleCNNTagger(**kw).fit(X, np.stack([y, 1 - y], axis=1))
    assert tagger.predict(X).shape == (12, 2)


def test_bad_augment_parameter_is_named():
    X, y = _tones()
    with pytest.raises(ValueError, match="'augment' parameter"):
        SampleCNNClassifier(augment="loud", **TINY).fit(X, y)
    with pytest.raises(ValueError, match="'augment' parameter"):
        SampleCNNTagger(augment=3, **TINY).fit(X, np.stack([y, 1 - y], axis=1))
