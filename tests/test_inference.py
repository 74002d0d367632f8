"""The inference module computes what SampleCNN.eval() computes, without touching it."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from sklearn_samplecnn.nn import (
    InferenceSampleCNN,
    SampleCNN,
    auto_batch_size,
    count_macs,
    optimize_for_inference,
    run_batched,
)

CONFIGS = [
    ("2-2-2-2", (3, 4, 5, 6, 7)),
    ("3-3-2", (4, 4, 8, 8)),
    ("4^3", (4, 5, 6, 7, 8)),
    ("3-5-2", (2, 6, 3, 5)),
]


def trained_like(sizes: str, channels: tuple[int, ...], seed: int = 0) -> SampleCNN:
    """Random weights, batch-norm statistics from train-mode passes, random affine terms."""
    torch.manual_seed(seed)
    model = SampleCNN(sizes, channels=channels, n_outputs=3)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(6, model.input_length) * 2.0 + 0.3)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.5)
    return model.eval()


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    scale = max(float(b.abs().max()), 1e-6)
    assert float((a - b).abs().max()) <= 1e-4 * scale


@pytest.mark.parametrize(("sizes", "channels"), CONFIGS)
def test_same_logits_and_hidden_as_eval(sizes, channels):
    model = trained_like(sizes, channels)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = optimize_for_inference(model)
    x = torch.randn(5, model.input_length)
    with torch.no_grad():
        ref_logits, ref_hidden = model(x, return_hidden=True)
        logits, hidden = fast(x, return_hidden=True)
        plain = fast(x)
    _close(logits, ref_logits)
    _close(plain, ref_logits)
    assert list(hidden) == list(model.hidden_layers) == list(fast.hidden_layers)
    for name in model.hidden_layers:
        _close(hidden[name], ref_hidden[name])
        assert hidden[name].is_contiguous()
    # the source module is untouched: same tensors, same values, same mode
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.training
    assert all(p.requires_grad for p in model.parameters())
    assert not any(p.requires_grad for p in fast.parameters())


def test_selected_hidden_layers_and_input_shapes():
    model = trained_like("3-3-2", (4, 4, 8, 8))
    fast = optimize_for_inference(model)
    x = torch.randn(2, 1, model.input_length)
    _, hidden = fast(x, return_hidden=["module1", "conv1x1"])
    assert sorted(hidden) == ["conv1x1", "module1"]
    assert tuple(hidden["module1"].shape) == (2, 4, model.layer_time_lengths()["module1"])
    with pytest.raises(ValueError, match="unknown hidden layers"):
        fast(x, return_hidden=["module7"])
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 18\)"):
        fast(torch.randn(2, 17))


def test_folding_is_exact_where_it_matters():
    """Identity batch norm folds to the convolution itself; the class keeps the attributes."""
    torch.manual_seed(1)
    model = SampleCNN("3-3-2", channels=(4, 4, 8, 8), n_outputs=2).eval()
    fast = InferenceSampleCNN(model)
    conv = model.features.module1[0]
    folded = fast.features.module1.conv
    scale = 1 / np.sqrt(1 + model.features.module1[1].eps)
    torch.testing.assert_close(folded.weight[:, :, 0, :], conv.weight * scale)
    assert folded.weight.is_contiguous(memory_format=torch.channels_last)
    assert (fast.sizes, fast.channels, fast.input_length, fast.name) == (
        model.sizes, model.channels, model.input_length, model.name
    )
    with pytest.raises(TypeError, match="must be a SampleCNN"):
        optimize_for_inference(torch.nn.Linear(2, 2))


def test_train_mode_after_folding_changes_nothing():
    model = trained_like("4^3", (4, 5, 6, 7, 8))
    fast = optimize_for_inference(model).train()
    x = torch.randn(3, model.input_length)
    with torch.no_grad():
        _close(fast(x), model(x))


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 100])
def test_run_batched_matches_one_pass(batch_size):
    model = trained_like("2-2-2-2", (3, 4, 5, 6, 7))
    fast = optimize_for_inference(model)
    segments = np.random.default_rng(0).standard_normal((7, model.input_length), dtype=np.float32)
    with torch.no_grad():
        ref_logits, ref_hidden = model(torch.from_numpy(segments), return_hidden=True)
    logits, hidden = run_batched(fast, segments, batch_size, return_hidden=True)
    _close(logits, ref_logits)
    for name in model.hidden_layers:
        _close(hidden[name], ref_hidden[name])
    _close(run_batched(model, torch.from_numpy(segments), batch_size), ref_logits)
    assert run_batched(fast, segments[:0], batch_size).shape == (0, 3)


def test_run_batched_checks_its_input():
    model = trained_like("3-3-2", (4, 4, 8, 8))
    with pytest.raises(ValueError, match="training mode"):
        run_batched(model.train(), np.zeros((2, 18), np.float32), 2)
    fast = optimize_for_inference(model.eval())
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        run_batched(fast, np.zeros((2, 18), np.float32), 0)
    with pytest.raises(TypeError, match="segments must be"):
        run_batched(fast, [[0.0] * 18], 2)
    with pytest.raises(ValueError, match="segments must have shape"):
        run_batched(fast, np.zeros(18, np.float32), 2)
    assert run_batched(fast, np.zeros((2, 18), np.float32)).shape == (2, 3)


def test_auto_batch_size_cpu(monkeypatch):
    from sklearn_samplecnn.nn import runtime

    monkeypatch.setattr(runtime, "_glibc_keeps_buffers", lambda: False)
    assert auto_batch_size("cpu") == 1
    monkeypatch.setattr(runtime, "_glibc_keeps_buffers", lambda: True)
    assert auto_batch_size(torch.device("cpu")) > 1


def test_glibc_tunables_read_from_the_start_environment():
    from sklearn_samplecnn.nn import runtime

    tunables = os.environ.get("GLIBC_TUNABLES", "")
    assert runtime._glibc_keeps_buffers() == ("mmap_max=0" in tunables)


def test_count_macs_table1_and_small():
    assert abs(count_macs(SampleCNN.from_mn(3, 9)) - 1.731e9) <= 0.005 * 1.731e9
    small = SampleCNN("3-3-2", channels=(4, 4, 8, 8), n_outputs=2)
    # strided 4*1*3*6, module1 4*4*3*6, module2 8*4*2*2, 1x1 8*8*1, linear 8*2
    assert count_macs(small) == 72 + 288 + 128 + 64 + 16
    assert count_macs(optimize_for_inference(small)) == count_macs(small)


def test_auto_batch_size_follows_the_model():
    assert auto_batch_size("cpu", SampleCNN(**{"sizes": "3-3-3-3", "channels": [4] * 5})) >= 64
    assert 1 <= auto_batch_size("cpu", SampleCNN("3^9")) <= 4
    assert 1 <= auto_batch_size("cpu") <= 4  # no module: the paper's model
