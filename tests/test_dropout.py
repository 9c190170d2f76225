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
