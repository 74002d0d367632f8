"""ContrastiveSampleCNN, NT-Xent and the crop-pair dataset, on tiny models and tones."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_samplecnn import (
    AudioLoadError,
    ContrastiveSampleCNN,
    MultiScaleFeatureTransformer,
    PretrainedFileError,
    load_pretrained,
    save_pretrained,
)
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.estimators import Clips, CropPairDataset, from_pretrained
from sklearn_samplecnn.exceptions import ClipTooShortError
from sklearn_samplecnn.nn import MelFrameLevelCNN, NTXentLoss, nt_xent_loss

from .conftest import tone

SR = 8000
FAST = dict(sr=SR, batch_size=8, max_epochs=3, lr=3e-3, temperature=0.2, train_split=None,
            verbose=0, random_state=0, module__sizes="3-3-3-3", module__channels=[8] * 5)


def _reference_nt_xent(z: torch.Tensor, t: float) -> float:
    """NT-Xent written out anchor by anchor (SimCLR's definition)."""
    n = z.shape[0] // 2
    z = z.double()
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        sim = [float(z[i] @ z[k] / (z[i].norm() * z[k].norm())) / t for k in range(2 * n)]
        denom = sum(math.exp(sim[k]) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(sim[j]) / denom)
    return total / (2 * n)


@pytest.mark.parametrize("n, dim, t", [(1, 3, 0.5), (4, 8, 0.5), (7, 5, 0.1), (16, 64, 1.0)])
def test_nt_xent_matches_the_reference_loop(n, dim, t):
    z = torch.randn(2 * n, dim, generator=torch.Generator().manual_seed(n))
    assert float(nt_xent_loss(z, t)) == pytest.approx(_reference_nt_xent(z, t), rel=1e-5)
    assert float(NTXentLoss(t)(z)) == pytest.approx(_reference_nt_xent(z, t), rel=1e-5)


def test_nt_xent_known_values_and_gradient():
    # perfectly separated pairs: loss -log(e^(1/t) / (e^(1/t) + 2 n - 2)) with orthogonal others
    z = torch.eye(4).repeat(2, 1)  # n = 4 clips, both views equal, clips orthogonal
    t = 0.5
    assert float(nt_xent_loss(z, t)) == pytest.approx(-math.log(math.e ** 2 / (math.e ** 2 + 6)))
    # all views equal: chance level log(2n - 1)
    assert float(nt_xent_loss(torch.ones(8, 3), t)) == pytest.approx(math.log(7))
    z = torch.randn(6, 4, requires_grad=True)
    nt_xent_loss(z).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\(2 \* n, dim\)"):
        nt_xent_loss(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="temperature must be positive"):
        NTXentLoss(0.0)


def _tone_clips(n=24, length=1200, seed=0):
    """Clips that differ in pitch (what two crops of one clip share)."""
    rng = np.random.default_rng(seed)
    return np.stack([tone(f, length, SR, rng=rng) for f in rng.uniform(150, 3000, n)])


def test_crop_pairs_are_two_different_crops_of_one_clip():
    ramp = np.arange(1000, dtype=np.float32)
    clips = Clips([ramp, ramp[:50] + 5000], "arrays", sr=SR)
    ds = CropPairDataset(clips, 81)
    torch.manual_seed(0)
    views, target = ds[0]
    assert views.shape == (2, 81) and views.dtype == torch.float32 and float(target) == 0
    for v in views:  # each a contiguous crop of clip 0
        assert torch.equal(v, torch.arange(v[0], v[0] + 81, dtype=torch.float32))
    starts = {int(ds[0][0][k, 0]) for _ in range(5) for k in range(2)}
    assert len(starts) > 1  # random starts, redrawn on every access
    short, _ = ds[1]  # 50 samples: both views are the padded clip
    assert torch.equal(short[0], short[1]) and torch.equal(short[0, 50:], torch.zeros(31))
    repeated, _ = CropPairDataset(clips, 81, short="repeat")[1]
    assert float(repeated[0, 50]) == 5000.0
    with pytest.raises(ClipTooShortError):
        CropPairDataset(clips, 81, short="error")
    assert len(ds.subset([1])) == 1 and ds.subset([1]).clips.items[0][0] == 5000.0


def test_views_differ_after_augmentation():
    X = _tone_clips(4)
    torch.manual_seed(0)
    views, _ = CropPairDataset(Clips(list(X), "arrays", sr=SR), 81)[0]
    assert not torch.equal(views[0], views[1])  # two crops
    same = views[:1].repeat(2, 1)[None].repeat(2, 1, 1)  # 2 clips, both views one crop
    for augment, differ in (("default", True), (None, False)):
        est = ContrastiveSampleCNN(**{**FAST, "augment": augment}).initialize()
        seen = []
        est.module_.register_forward_pre_hook(lambda m, args, seen=seen: seen.append(args[0]))
        z = est.infer(same)
        assert z.shape == (4, 64)  # (2 * batch, projection_dim): first views, then second
        encoder_input = seen[0]
        assert encoder_input.shape == (4, 81)
        # view 1 and view 2 of clip 0 are rows 0 and 2
        assert differ != torch.equal(encoder_input[0], encoder_input[2])


def test_loss_decreases_on_tiny_data():
    X = _tone_clips(32)
    est = ContrastiveSampleCNN(**{**FAST, "max_epochs": 12, "batch_size": 16}).fit(X)
    losses = [h["train_loss"] for h in est.history_]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.15
    assert np.mean(losses[-3:]) < math.log(2 * 16 - 1)  # below chance level (equal similarities)


def test_seeded_fits_repeat_and_validation_loss():
    X = _tone_clips(20)
    kw = {**FAST, "train_split": 0.25}
    a = ContrastiveSampleCNN(**kw).fit(X)
    b = ContrastiveSampleCNN(**kw).fit(X)
    for p, q in zip(a.module_.parameters(), b.module_.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert [h["valid_loss"] for h in a.history_] == [h["valid_loss"] for h in b.history_]
    c = ContrastiveSampleCNN(**{**kw, "random_state": 1}).fit(X)
    assert not torch.equal(next(a.module_.parameters()), next(c.module_.parameters()))


def test_encoder_is_a_pretrained_extractor(tmp_path):
    X = _tone_clips(16)
    est = ContrastiveSampleCNN(**FAST).fit(X, np.arange(16))  # y is ignored
    direct = MultiScaleFeatureTransformer(extractors=[est], layers=(-2, -1),
                                          pooling="paper").fit_transform(X)
    path = save_pretrained(est, tmp_path / "ssl.samplecnn")
    model = load_pretrained(path)
    assert model.config["task"] == "contrastive" and model.labels == []
    assert model.sample_rate == SR and model.input_length == 81
    assert model.config["estimator"] == {"short": "pad", "res_type": "soxr_hq"}
    for p, q in zip(model.module.parameters(), est.module_.parameters()):
        torch.testing.assert_close(p, q.detach())
    from_file = MultiScaleFeatureTransformer(extractors=[str(path)], layers=(-2, -1),
                                             pooling="paper").fit_transform(X)
    assert direct.shape == (16, 2 * 8) and np.isfinite(direct).all()
    np.testing.assert_allclose(from_file, direct, rtol=1e-5, atol=1e-6)
    assert direct.std(axis=0).max() > 0  # clips get different features
    with pytest.raises(PretrainedFileError, match="bare module"):
        from_pretrained(model)


def test_clone_pickle_params_and_no_predict():
    est = ContrastiveSampleCNN(**FAST)
    params = est.get_params()
    for gone in ("segment_mode", "hop_length", "tail", "aggregate", "optimizer__momentum",
                 "optimizer__nesterov"):
        assert gone not in params
    assert params["optimizer"] is torch.optim.Adam and params["augment"] == "default"
    assert params["temperature"] == 0.2 and params["projection_dim"] == 64
    assert not any(k.startswith("_") for k in params)
    assert not hasattr(est, "predict") and not hasattr(est, "predict_proba")
    with pytest.raises(AttributeError, match="features, not predictions"):
        est.predict([])
    X = _tone_clips(8)
    est.fit(X)
    again = pickle.loads(pickle.dumps(est))
    x = torch.from_numpy(X[:4, :81])
    est.module_.eval()
    again.module_.eval()
    torch.testing.assert_close(again.encode(x), est.encode(x))
    fresh = clone(est)
    assert not hasattr(fresh, "module_") and fresh.get_params()["sr"] == SR
    sgd = ContrastiveSampleCNN(optimizer=torch.optim.SGD, optimizer__momentum=0.5)
    assert sgd.get_params()["optimizer__momentum"] == 0.5
    with pytest.raises(TypeError, match="'tail'"):
        ContrastiveSampleCNN(tail="pad")


def test_partial_fit_continues_and_gpu_settings_route():
    X = _tone_clips(8)
    est = ContrastiveSampleCNN(**{**FAST, "max_epochs": 1})
    est.partial_fit(X)
    est.partial_fit(X)
    assert len(est.history_) == 2
    big = ContrastiveSampleCNN(batch_size=256, lr=3e-4, optimizer__weight_decay=1e-6,
                               iterator_train__num_workers=0, **{
                                   k: v for k, v in FAST.items() if k not in ("batch_size", "lr")})
    big.fit(X)  # 8 clips in one batch of 16 views
    assert big.optimizer_.param_groups[0]["weight_decay"] == 1e-6


@pytest.mark.parametrize("params, match", [
    (dict(temperature=0.0), "'temperature' parameter"),
    (dict(projection_dim=0), "'projection_dim' parameter"),
    (dict(augment="loud"), "'augment' parameter"),
    (dict(short="wrap"), "'short' parameter"),
    (dict(batch_size=1), "'batch_size' parameter"),
])
def test_bad_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveSampleCNN(**{**FAST, **params}).fit(_tone_clips(4))


def test_unsupported_module_and_short_clips():
    with pytest.raises(TypeError, match="learns input statistics"):
        ContrastiveSampleCNN(module=MelFrameLevelCNN, **{k: v for k, v in FAST.items()
                                                         if not k.startswith("module__")}
                             ).fit(_tone_clips(4, length=60000))
    with pytest.raises(ClipTooShortError):
        ContrastiveSampleCNN(**{**FAST, "short": "error"}).fit(_tone_clips(4, length=50))
    est = ContrastiveSampleCNN(**{**FAST, "short": "repeat"}).fit(_tone_clips(4, length=50))
    assert np.isfinite(est.history_[-1]["train_loss"])


def test_bad_files_per_on_error(tmp_path):
    X = _tone_clips(6)
    paths = []
    for i, x in enumerate(X):
        write_audio(tmp_path / f"c{i}.wav", x, SR)
        paths.append(str(tmp_path / f"c{i}.wav"))
    (tmp_path / "broken.wav").write_bytes(b"not audio" * 30)
    bad = [*paths, str(tmp_path / "broken.wav")]
    with pytest.raises(AudioLoadError, match="broken.wav"):
        ContrastiveSampleCNN(**FAST).fit(bad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = ContrastiveSampleCNN(on_error="skip", **FAST).fit(bad)
    assert any("broken.wav" in str(w.message) for w in caught)
    assert est.failed_files_ == [str(tmp_path / "broken.wav")]
    assert len(est.history_) == 3
