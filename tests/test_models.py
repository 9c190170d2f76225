"""Every model × norm × placement × activation builds and trains a step."""

import pytest
import torch

from ablate.schema.choices import ACT_LEVELS, DROPOUT_LEVELS, INIT_LEVELS, NORM_LEVELS
from ablate.schema.run import ModelConfig
from ablate.layers.act import ACTS
from ablate.layers.dropout import DROPOUTS
from ablate.layers.norm import NORMS, PLACEMENTS
from ablate.models import MODELS, build_model
from ablate.shapes import InputShape

# Narrow widths keep 400+ combinations to a few seconds; widths stay divisible by 2 groups.
SMALL = {"lenet5": {}, "convnet": {"depth": 3, "width": 4}, "alexnet": {"width": 4},
         "resnet": {"depth": 8, "width": 4}}


def _net(model, norm="none", placement="before_act", act="relu", init="default", dropout="inverted", p=0.0,
         pool="max", shape=InputShape(1, 8, 10)):
    return build_model(ModelConfig(name=model, pool=pool, **SMALL[model]), NORM_LEVELS.of(norm, placement=placement),
                       ACT_LEVELS.of(act), INIT_LEVELS.of(init), DROPOUT_LEVELS.of(dropout, p=p), shape)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("norm", list(NORMS))
@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_every_combination_forward_backward(model, norm, placement):
    torch.manual_seed(0)
    x = torch.randn(4, 1, 8, 8)
    for act in ACTS:
        net = _net(model, norm, placement, act)
        out = net(x)
        assert out.shape == (4, 10)
        out.logsumexp(dim=1).mean().backward()
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert all(g is not None for g in grads), f"{model}/{norm}/{placement}/{act}: a parameter got no gradient"
        assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("dropout", list(DROPOUTS))
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_dropout_and_pool_choices_on_rgb_inputs(model, dropout, pool):
    shape = InputShape(3, 32, 7)
    net = _net(model, dropout=dropout, p=0.3, pool=pool, shape=shape)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("size", [8, 28, 32, 13])
def test_models_adapt_to_input_size(size):
    for model in MODELS:
        net = _net(model, shape=InputShape(1, size, 10))
        assert net(torch.randn(2, 1, size, size)).shape == (2, 10)


def test_placement_orders_the_block():
    before = _net("lenet5", "batch", "before_act").features[0]
    after = _net("lenet5", "batch", "after_act").features[0]
    assert [type(m).__name__ for m in before] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert [type(m).__name__ for m in after] == ["Conv2d", "ReLU", "BatchNorm2d"]


def test_dropout_kinds_land_in_their_slots():
    spatial = _net("convnet", dropout="spatial", p=0.2)
    dropconnect = _net("lenet5", dropout="dropconnect", p=0.2)
    kinds = lambda net: {type(m).__name__ for m in net.modules()}  # noqa: E731
    assert "Dropout2d" in kinds(spatial) and "InvertedDropout" not in kinds(spatial)
    assert "DropConnectLinear" in kinds(dropconnect) and "InvertedDropout" not in kinds(dropconnect)
    assert "InvertedDropout" in kinds(_net("lenet5", dropout="inverted", p=0.2))
    assert "ClassicDropout" in kinds(_net("lenet5", dropout="classic", p=0.2))
    assert "InvertedDropout" not in kinds(_net("lenet5", dropout="inverted", p=0.0))


def test_lrn_is_alexnets_formula_after_the_activation():
    """b = a / (k + α Σ_{n neighbouring channels} a²)^β with AlexNet's n=5, α=1e-4,
    β=0.75, k=2 (PyTorch's layer divides α by n; ours must not, to match the paper)."""
    from ablate.config.compose import load_config
    from ablate.layers.norm import make_norm

    cfg = load_config(["norm=lrn"]).norm
    assert cfg.placement == "after_act"
    lrn = make_norm("lrn")(6)
    a = torch.zeros(1, 6, 1, 1)
    a[0, 2] = 100.0  # one active channel: its own square is the whole sum
    expected = 100.0 / (2.0 + 1e-4 * 100.0**2) ** 0.75
    assert lrn(a)[0, 2, 0, 0].item() == pytest.approx(expected, rel=1e-5)
    block = _net("lenet5", "lrn", cfg.placement).features[0]
    assert [type(m).__name__ for m in block] == ["Conv2d", "ReLU", "LocalResponseNorm"]
