"""Each init scheme's weight statistics match its formula."""

import math

import pytest
import torch
from torch import nn

from ablate.layers.act import ACTS
from ablate.layers.init import INITS, apply_init, fans, mark_output
from ablate.schema.choices import ACT_LEVELS

FAN_IN, FAN_OUT = 64 * 9, 128 * 9  # Conv2d(64 → 128, 3×3): channels × kernel area


def _conv(scheme, act="relu", std=0.01, a=0.05):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 128, 3))
    act_options = ACT_LEVELS.of(act).options()  # leaky_relu's slope, at its default 0.01
    init_options = {"normal": {"std": std}, "uniform": {"a": a}}.get(scheme, {})
    apply_init(net, scheme, ACTS[act].gain(**act_options), **init_options)
    return net[0]


def _std_close(w, expected, rel=0.03):
    assert w.std().item() == pytest.approx(expected, rel=rel)
    assert abs(w.mean().item()) < 0.05 * expected + 1e-6


def test_fans_are_channels_times_kernel_area():
    assert fans(nn.Conv2d(64, 128, 3).weight) == (FAN_IN, FAN_OUT)
    assert fans(nn.Linear(30, 20).weight) == (30, 20)


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "leaky_relu", "selu"])
def test_kaiming_normal_uses_the_activation_gain(act):
    gain = {"relu": math.sqrt(2), "tanh": 5 / 3, "sigmoid": 1.0, "leaky_relu": math.sqrt(2 / (1 + 0.01**2)),
            "selu": 0.75}[act]
    _std_close(_conv("kaiming_normal", act).weight, gain / math.sqrt(FAN_IN))


def test_kaiming_uniform_bound_and_std():
    w = _conv("kaiming_uniform", "tanh").weight
    bound = (5 / 3) * math.sqrt(3 / FAN_IN)
    assert w.abs().max().item() <= bound + 1e-7
    _std_close(w, bound / math.sqrt(3))


def test_xavier_normal_and_uniform():
    _std_close(_conv("xavier_normal").weight, math.sqrt(2 / (FAN_IN + FAN_OUT)))
    w = _conv("xavier_uniform").weight
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert w.abs().max().item() <= bound + 1e-7
    _std_close(w, bound / math.sqrt(3))


def test_lecun_normal_ignores_gain():
    _std_close(_conv("lecun_normal", "relu").weight, 1 / math.sqrt(FAN_IN))


def test_normal_and_uniform_take_their_parameters():
    _std_close(_conv("normal", std=0.2).weight, 0.2)
    w = _conv("uniform", a=0.3).weight
    assert w.abs().max().item() <= 0.3
    _std_close(w, 0.3 / math.sqrt(3))


def test_zeros_zeroes_weights_and_biases():
    conv = _conv("zeros")
    assert conv.weight.abs().sum() == 0 and conv.bias.abs().sum() == 0


def test_orthogonal_rows_are_orthonormal_times_gain():
    w = _conv("orthogonal", "relu").weight.reshape(128, -1)
    gram = w @ w.T
    assert torch.allclose(gram, 2.0 * torch.eye(128), atol=1e-4)  # gain² = 2 for ReLU


def test_default_leaves_the_framework_init_alone():
    torch.manual_seed(0)
    reference = nn.Conv2d(64, 128, 3).weight.clone()
    assert torch.equal(_conv("default").weight, reference)


def test_biases_start_at_zero_except_default():
    for scheme in INITS:
        bias = _conv(scheme).bias
        assert (bias.abs().sum() == 0) == (scheme != "default"), scheme


def test_output_layer_gets_gain_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1000, 1000), mark_output(nn.Linear(1000, 500)))
    apply_init(net, "kaiming_normal", math.sqrt(2))
    _std_close(net[0].weight, math.sqrt(2) / math.sqrt(1000))
    _std_close(net[1].weight, 1 / math.sqrt(1000))


def test_constant_sets_every_weight_to_value_over_fan_in():
    net = nn.Sequential(nn.Conv2d(64, 128, 3))
    apply_init(net, "constant", 1.0, value=2.0)
    assert torch.all(net[0].weight == 2.0 / FAN_IN) and torch.all(net[0].bias == 0)


def _filter_spread(overrides, tmp_path):
    """Trained LeNet-5's conv layers: (largest difference between two filters of a
    layer, largest weight change from the first filter's start), over its layers."""
    from ablate.config.compose import load_config
    from ablate.runner.run import run
    from ablate.runner.spec import RunSpec

    config = load_config(["device=cpu", "epochs=2", "diagnostics=off", *overrides])  # 2 × 16 steps
    assert run(RunSpec(config, tmp_path / "r")).status in ("completed", "collapsed")
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["model"]
    convs = [w for w in state.values() if w.dim() == 4]
    assert len(convs) == 2  # LeNet-5's two conv layers
    spread = max((w - w[:1]).abs().max().item() for w in convs)
    fan_in = [w[0].numel() for w in convs]
    moved = max((w[0] - 1.0 / n).abs().max().item() for w, n in zip(convs, fan_in))
    return spread, moved


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_constant_init_keeps_every_filter_of_a_layer_identical_through_training(tmp_path, norm):
    """Symmetry itself: every unit of a layer starts alike and gets the same
    gradient, so the filters move (the net learns) but stay copies of one
    another; batch norm normalises identical channels identically and does not
    break it either."""
    spread, moved = _filter_spread(["init=constant", f"norm={norm}"], tmp_path)
    assert moved > 1e-3, "the filters did not train"
    assert spread <= 1e-6 * max(moved, 1.0)


def test_kaiming_filters_differ(tmp_path):
    spread, _ = _filter_spread(["init=kaiming_normal"], tmp_path)
    assert spread > 0.1
