"""The fast path changes how fast a run goes, never what it computes."""

import pytest
import torch

from ablate.config.compose import load_config
from ablate.schema.choices import NORM_LEVELS, ActConfig, InitConfig
from ablate.schema.run import DropoutConfig, ModelConfig, OptimConfig
from ablate.errors import ConfigError
from ablate.models import build_model
from ablate.shapes import InputShape
from ablate.runner.identity import run_id
from ablate.train.layout import apply_memory_format
from ablate.train.optim import OPTIMIZERS, make_optimizer

CPU = torch.device("cpu")


def model(name="lenet5", norm="none", size=28, channels=1, **norm_options):
    torch.manual_seed(0)
    return build_model(ModelConfig(name, width=16), NORM_LEVELS.of(norm, **norm_options), ActConfig(), InitConfig(),
                       DropoutConfig(), InputShape(channels, size, 10))


@pytest.mark.parametrize("name, norm, options, want", [
    ("lenet5", "none", {}, "channels_last"),
    ("lenet5", "layer", {}, "channels_last"),
    ("lenet5", "batch", {}, "contiguous"),  # batch norm on 6 channels is slower in channels-last
    ("convnet", "batch", {}, "channels_last"),  # ...but faster from 16 channels up
    ("convnet", "instance", {}, "contiguous"),
    ("convnet", "group", {"groups": 4}, "channels_last"),
    ("convnet", "lrn", {}, "contiguous"),
])
def test_auto_layout_on_cpu_follows_the_measurements(name, norm, options, want):
    m = model(name, norm, size=32, channels=3, **options)
    assert apply_memory_format(m, "auto", CPU) == want
    conv = next(p for p in m.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last) == (want == "channels_last")


def test_explicit_layout_overrides_auto_and_layout_does_not_change_the_output():
    x = torch.randn(8, 1, 28, 28)
    nchw, nhwc = model(norm="batch"), model(norm="batch")
    assert apply_memory_format(nhwc, "channels_last", CPU) == "channels_last"
    assert apply_memory_format(nchw, "contiguous", CPU) == "contiguous"
    assert torch.allclose(nchw(x), nhwc(x), atol=1e-5)


def test_memory_format_is_validated_and_not_part_of_the_run_id():
    with pytest.raises(ConfigError, match="memory_format.*channels_last"):
        load_config(["memory_format=nhwc"])
    assert run_id(load_config(["memory_format=contiguous"])) == run_id(load_config([]))


@pytest.mark.parametrize("name, options", [
    ("sgd", {"momentum": 0.9, "weight_decay": 5e-4}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adam", {"weight_decay": 1e-4}),
    ("adamw", {"weight_decay": 0.05}),
])
def test_fused_optimizers_take_the_same_steps_as_the_reference_loop(name, options):
    cfg = OptimConfig(name=name, lr=0.01, **options)
    fast_model, ref_model = model(), model()
    fast = make_optimizer(fast_model, cfg)
    ref = OPTIMIZERS[name](list(ref_model.parameters()), cfg)  # no fused kernel: the per-parameter loop
    assert fast.defaults.get("fused") and not ref.defaults.get("fused")
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):  # the same gradients to both; Gaussian, so none sits at 0 where Adam's m/√v is ill-conditioned
        for a, b in zip(fast_model.parameters(), ref_model.parameters(), strict=True):
            a.grad = torch.randn(a.shape, generator=generator)
            b.grad = a.grad.clone()
        fast.step()
        ref.step()
    for a, b in zip(fast_model.parameters(), ref_model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), (a - b).abs().max()  # a wrong update rule is off by ~lr = 1e-2
