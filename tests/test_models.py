"""SampleCNN architecture: Table 1 counts, Table 3/4 presets, hidden layers."""

from __future__ import annotations

import pytest
import torch

from sklearn_samplecnn.nn import (
    MULTISCALE_PRESETS,
    PUBLIC_CODE_CHANNELS,
    SAMPLE_RATE_PRESETS,
    SampleCNN,
)

TABLE1_LAYER_PARAMS = [512, 49_280, 49_280, 98_560, 196_864, 196_864, 196_864, 196_864,
                       393_728, 786_944, 262_656]


def _conv_params(block):
    return sum(p.numel() for m in block.modules() if isinstance(m, torch.nn.Conv1d)
               for p in m.parameters())


def test_table1_parameter_counts():
    model = SampleCNN.from_mn(3, 9)
    per_layer = [_conv_params(block) for block in model.features]
    assert per_layer == TABLE1_LAYER_PARAMS
    assert sum(p.numel() for p in model.classifier.parameters()) == 25_650
    assert sum(per_layer) + 25_650 == 2_454_066
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2_460_466
    assert model.input_length == 59_049


def test_public_code_layout():
    model = SampleCNN(channels=PUBLIC_CODE_CHANNELS)
    convs = sum(_conv_params(b) for b in model.features)
    assert convs + sum(p.numel() for p in model.classifier.parameters()) == 1_863_986


TABLE3_LENGTHS = {2000: 5184, 4000: 10368, 8000: 20736, 12000: 31104, 16000: 43740,
                  20000: 52488, 22050: 59049}
TABLE4_LENGTHS = {"2^13": 16384, "2^14": 32768, "3^8": 19683, "3^9": 59049, "4^6": 16384,
                  "4^7": 65536, "5^5": 15625, "5^6": 78125}


@pytest.mark.parametrize("sr", sorted(SAMPLE_RATE_PRESETS))
def test_table3_presets(sr):
    model = SampleCNN.from_sample_rate(sr, channels=[2] * 11).eval()
    assert model.input_length == TABLE3_LENGTHS[sr]
    with torch.no_grad():
        _, hidden = model(torch.zeros(1, model.input_length), return_hidden=True)
    assert hidden["conv1x1"].shape[-1] == 1
    assert model.layer_time_lengths()["conv1x1"] == 1


@pytest.mark.parametrize("name", sorted(MULTISCALE_PRESETS))
def test_table4_presets(name):
    m, n = MULTISCALE_PRESETS[name]
    model = SampleCNN.from_preset(name, channels=[2] * (n + 2)).eval()
    assert model.input_length == TABLE4_LENGTHS[name] == m ** (n + 1)
    assert model.name == name.replace("^", "^")
    with torch.no_grad():
        logits, hidden = model(torch.zeros(2, model.input_length), return_hidden=True)
    assert logits.shape == (2, 50)
    assert list(hidden) == list(model.hidden_layers)
    assert {k: v.shape[-1] for k, v in hidden.items()} == model.layer_time_lengths()


def test_hidden_layer_lookup_and_errors():
    model = SampleCNN("3-3-3", channels=[2, 2, 2, 2], n_outputs=3)
    assert model.resolve_layer(-1) == "conv1x1" and model.resolve_layer(-3) == "module1"
    assert model.resolve_layer("module2") == "module2"
    with pytest.raises(ValueError, match="out of range"):
        model.resolve_layer(10)
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 27\)"):
        model(torch.zeros(1, 30))
    with pytest.raises(ValueError, match="channels needs 4"):
        SampleCNN("3-3-3", channels=[2, 2])
    with pytest.raises(ValueError, match="sizes"):
        SampleCNN("3-x")
    assert SampleCNN(**model.get_config()).get_config() == model.get_config()
