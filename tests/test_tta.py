"""Test-time augmentation: the views it takes and how predictions average."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.data.tta import TTAS, predict_tta, tta_padding
from ablate.errors import ConfigError


def images(n=6, c=3, size=16, seed=0) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=torch.Generator().manual_seed(seed))


class PooledLinear(nn.Module):
    """Global-average-pools its input, then a linear layer: blind to flips."""

    def __init__(self, channels=3, classes=5) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


def flat_linear(size=16, classes=5) -> nn.Module:
    # Sees every pixel position: not invariant to anything, and needs the exact input size.
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, classes))


def small_cnn(classes=5) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, stride=2),
                         nn.ReLU(), nn.Flatten(), nn.LazyLinear(classes))


def test_registry_names_and_view_counts():
    x = images()
    assert list(TTAS) == ["none", "flip", "five_crop", "ten_crop"]
    for name, count in {"none": 1, "flip": 2, "five_crop": 5, "ten_crop": 10}.items():
        views = TTAS[name](x)
        assert len(views) == count and all(v.shape == x.shape for v in views)
        assert torch.equal(views[0], x)  # the first view is always the image itself
    assert torch.equal(TTAS["flip"](x)[1], x.flip(-1))


def test_five_crop_corners_are_translations_by_the_padding():
    x, size = images(size=16), 16
    p = tta_padding(size)
    assert p == 2  # 16 // 8; 4 at CIFAR's 32 pixels
    centre, tl, tr, bl, br = TTAS["five_crop"](x)
    # Window at the padded image's top-left corner: the content sits p lower and p further right.
    assert torch.equal(tl[..., p:, p:], x[..., :-p, :-p])
    assert torch.equal(tr[..., p:, :-p], x[..., :-p, p:])
    assert torch.equal(bl[..., :-p, p:], x[..., p:, :-p])
    assert torch.equal(br[..., :-p, :-p], x[..., p:, p:])
    assert torch.equal(centre, x)
    # The border is reflected content, not a fill colour.
    assert torch.equal(tl[..., 0, p:], x[..., p, :-p])


def test_ten_crop_adds_the_mirrors_of_the_five_crops():
    x = images()
    five, ten = TTAS["five_crop"](x), TTAS["ten_crop"](x)
    for a, b in zip(five, ten[:5]):
        assert torch.equal(a, b)
    for a, b in zip(five, ten[5:]):
        assert torch.equal(a.flip(-1), b)


def test_flip_tta_equals_plain_evaluation_for_a_flip_invariant_model():
    x, model = images(), PooledLinear()
    plain = model(x).softmax(-1)
    assert torch.allclose(predict_tta(model, x, "flip"), plain, atol=1e-6)
    # A model that sees pixel positions gets a different answer, so the check has teeth.
    other = flat_linear()
    assert not torch.allclose(predict_tta(other, x, "flip"), other(x).softmax(-1), atol=1e-4)


@pytest.mark.parametrize("name", ["five_crop", "ten_crop"])
def test_crop_tta_equals_plain_evaluation_on_translation_invariant_inputs(name):
    # Flat images are unchanged by reflect-padded translations and mirrors, so any model agrees.
    x = torch.randn(6, 3, 1, 1).expand(6, 3, 16, 16).contiguous()
    model = small_cnn()
    with torch.no_grad():
        plain = model(x).softmax(-1)
    assert torch.allclose(predict_tta(model, x, name), plain, atol=1e-6)


@pytest.mark.parametrize("name", list(TTAS))
def test_prediction_is_the_mean_softmax_over_views_for_a_fixed_size_model(name):
    x, model = images(), flat_linear()
    out = predict_tta(model, x, name)
    with torch.no_grad():
        expected = torch.stack([model(v).softmax(-1) for v in TTAS[name](x)]).mean(0)
    assert out.shape == (6, 5) and not out.requires_grad
    assert torch.allclose(out, expected, atol=1e-6) and torch.allclose(out.sum(1), torch.ones(6))


def test_unknown_tta_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown eval.tta 'ten_crops'; did you mean 'ten_crop'"):
        predict_tta(PooledLinear(), images(), "ten_crops")
