"""Inverted vs classic dropout, and DropConnect dropping weights."""

import pytest
import torch

from ablate.layers.dropout import ClassicDropout, DropConnectLinear, InvertedDropout

P = 0.4


def test_inverted_and_classic_have_equal_expected_output():
    x = torch.ones(2000, 500)
    inverted, classic = InvertedDropout(P), ClassicDropout(P)
    # Inverted: train mean 1 (survivors scaled up), test identity.
    # Classic: train mean 1-p (no scaling), test scaled by 1-p. Equal in expectation per phase pair.
    inv_train = inverted.train()(x).mean().item()
    cls_train = classic.train()(x).mean().item()
    inv_test = inverted.eval()(x).mean().item()
    cls_test = classic.eval()(x).mean().item()
    assert inv_train == pytest.approx(inv_test, rel=0.01)
    assert cls_train == pytest.approx(cls_test, rel=0.01)
    # The train/test ratio is identical: the networks learn the same function.
    assert inv_train / inv_test == pytest.approx(cls_train / cls_test, rel=0.01)


def test_classic_differs_from_inverted_exactly_by_where_the_scale_sits():
    x = torch.randn(64, 32)
    torch.manual_seed(1)
    inv = InvertedDropout(P).train()(x)
    torch.manual_seed(1)
    cls = ClassicDropout(P).train()(x)
    mask_inv, mask_cls = inv != 0, cls != 0
    assert torch.equal(mask_inv, mask_cls), "same RNG, same dropped units"
    assert torch.allclose(cls[mask_cls], x[mask_cls])  # classic: survivors unscaled in training
    assert torch.allclose(inv[mask_inv], x[mask_inv] / (1 - P))  # inverted: scaled by 1/(1-p)
    assert torch.allclose(ClassicDropout(P).eval()(x), x * (1 - P))  # classic: scaled at test
    assert torch.equal(InvertedDropout(P).eval()(x), x)


def test_dropconnect_zeroes_weights_not_activations():
    torch.manual_seed(0)
    layer = DropConnectLinear(50, 40, p=0.5).train()
    x = torch.eye(50)  # row i of the output is column i of the (masked) weight + bias
    out = layer(x) - layer.bias
    masked_weight = out.T
    zeros = masked_weight == 0
    assert 0.4 < zeros.float().mean().item() < 0.6, "about half the weights dropped"
    assert torch.allclose(masked_weight[~zeros], layer.weight[~zeros] / 0.5)
    # With dropout on activations a whole input would be dropped for every unit;
    # with DropConnect one input column keeps some weights and loses others.
    col = zeros[:, 0]
    assert col.any() and not col.all()
    assert torch.equal(layer.eval()(x), torch.nn.functional.linear(x, layer.weight, layer.bias))


def test_dropconnect_masks_differ_across_the_examples_of_a_batch():
    """Wan et al. 2013, eq. 2: each example gets its own weight mask; the per-batch variant shares one."""
    torch.manual_seed(0)
    x = torch.randn(1, 30).repeat(16, 1)  # 16 copies of one example
    per_example = DropConnectLinear(30, 20, p=0.5, mask="example").train()(x)
    per_batch = DropConnectLinear(30, 20, p=0.5, mask="batch").train()(x)
    assert torch.equal(per_batch, per_batch[:1].expand_as(per_batch))
    assert not torch.allclose(per_example[0], per_example[1])
    assert len({tuple(row.tolist()) for row in per_example}) == 16


def test_per_example_dropconnect_keeps_the_expected_output():
    torch.manual_seed(0)
    layer = DropConnectLinear(10, 5, p=0.5, mask="example").train()
    x = torch.randn(1, 10).repeat(20000, 1)
    mean = layer(x).mean(0)
    assert torch.allclose(mean, layer.eval()(x[:1])[0], atol=0.05)  # mean-field inference: the expected weights


@pytest.mark.parametrize("mask,output_masked", [("example", False), ("batch", True)])
def test_dropconnect_masks_the_output_layer_only_per_batch(mask, output_masked):
    from ablate.models import build_model
    from ablate.schema.choices import DROPOUT_LEVELS, ActConfig, InitConfig, NormConfig
    from ablate.schema.run import ModelConfig
    from ablate.shapes import InputShape

    net = build_model(ModelConfig(), NormConfig(), ActConfig(), InitConfig(),
                      DROPOUT_LEVELS.of("dropconnect", mask=mask), InputShape(1, 8, 10))
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [isinstance(m, DropConnectLinear) for m in linears] == [True, True, output_masked]


def test_per_batch_dropconnect_runs_keep_the_ids_they_had():
    from ablate.config.compose import load_config
    from ablate.runner.identity import run_id

    # a99a5c666af7: dropout=dropconnect as main computed it before per-example masks.
    assert run_id(load_config(["dropout=dropconnect", "dropout.mask=batch"])) == "a99a5c666af7"
    assert run_id(load_config(["dropout=dropconnect"])) != "a99a5c666af7"  # another computation, another run
