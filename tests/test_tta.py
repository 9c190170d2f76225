"""Test-time augmentation: the views it takes and how predictions average."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.data.geometry import translate
from ablate.data.tta import TTAS, Views, make_views, predict_tta, tta_padding
from ablate.errors import ConfigError
from ablate.schema.augs import CropParams

REFLECT = {"mode": "reflect"}


def views_of(x, name, padding=None, mode="reflect", fill=None):
    """`name`'s views of x, padded by `padding` (default size // 8) pixels of `mode`."""
    return Views(name, tta_padding(x.shape[-1]) if padding is None else padding, mode, fill)(x)


def predict(model, x, name, **kw):
    return predict_tta(model, views_of(x, name, **kw))


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
        views = views_of(x, name)
        assert len(views) == count and all(v.shape == x.shape for v in views)
        assert torch.equal(views[0], x)  # the first view is always the image itself
    assert torch.equal(views_of(x, "flip")[1], x.flip(-1))


def test_five_crop_corners_are_translations_by_the_padding():
    x, size = images(size=16), 16
    p = tta_padding(size)
    assert p == 2  # 16 // 8; 4 at CIFAR's 32 pixels
    centre, tl, tr, bl, br = views_of(x, "five_crop")
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
    five, ten = views_of(x, "five_crop"), views_of(x, "ten_crop")
    for a, b in zip(five, ten[:5]):
        assert torch.equal(a, b)
    for a, b in zip(five, ten[5:]):
        assert torch.equal(a.flip(-1), b)


def test_flip_tta_equals_plain_evaluation_for_a_flip_invariant_model():
    x, model = images(), PooledLinear()
    plain = model(x).softmax(-1)
    assert torch.allclose(predict(model, x, "flip"), plain, atol=1e-6)
    # A model that sees pixel positions gets a different answer, so the check has teeth.
    other = flat_linear()
    assert not torch.allclose(predict(other, x, "flip"), other(x).softmax(-1), atol=1e-4)


@pytest.mark.parametrize("name", ["five_crop", "ten_crop"])
def test_crop_tta_equals_plain_evaluation_on_translation_invariant_inputs(name):
    # Flat images are unchanged by reflect-padded translations and mirrors, so any model agrees.
    x = torch.randn(6, 3, 1, 1).expand(6, 3, 16, 16).contiguous()
    model = small_cnn()
    with torch.no_grad():
        plain = model(x).softmax(-1)
    assert torch.allclose(predict(model, x, name), plain, atol=1e-6)


@pytest.mark.parametrize("name", list(TTAS))
def test_prediction_is_the_mean_softmax_over_views_for_a_fixed_size_model(name):
    x, model = images(), flat_linear()
    out = predict(model, x, name)
    with torch.no_grad():
        expected = torch.stack([model(v).softmax(-1) for v in views_of(x, name)]).mean(0)
    assert out.shape == (6, 5) and not out.requires_grad
    assert torch.allclose(out, expected, atol=1e-6) and torch.allclose(out.sum(1), torch.ones(6))


def test_unknown_tta_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown eval.tta 'ten_crops'; did you mean 'ten_crop'"):
        make_views("ten_crops", "train", (), 16)


def test_crop_views_are_hand_built_zero_padded_shifts_and_the_centre_is_the_input():
    x = torch.arange(1, 10, dtype=torch.float32).reshape(1, 1, 3, 3)  # 1..9, no zero among them
    centre, tl, tr, bl, br = views_of(x, "five_crop", padding=1, mode="zeros")
    assert torch.equal(centre, x)
    padded = torch.zeros(1, 1, 5, 5)
    padded[..., 1:4, 1:4] = x
    for view, (top, left) in zip([tl, tr, bl, br], [(0, 0), (0, 2), (2, 0), (2, 2)]):
        assert torch.equal(view, padded[..., top:top + 3, left:left + 3])
    assert torch.equal(tl[0, 0], torch.tensor([[0.0, 0, 0], [0, 1, 2], [0, 4, 5]]))  # shifted down-right by 1


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate"])
def test_crop_views_are_images_the_training_crop_makes(mode):
    """Each view of the normalised image is the training crop's window (ablate.data.geometry,
    padding in [0, 1] pixels, then normalised) at the centre or a corner, value for value."""
    unit = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    mean, std = torch.tensor([0.3, 0.5, 0.4]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    normalize = lambda t: (t - mean) / std  # noqa: E731  (DeviceData.normalize's formula)
    p = 3
    views = make_views("five_crop", "train", (CropParams(padding=p, mode=mode),), 12,
                       fill=normalize(torch.zeros(1, 3, 1, 1)))
    assert (views.padding, views.mode) == (p, mode)
    got = views(normalize(unit))
    for view, (dy, dx) in zip(got, [(p, p), (0, 0), (0, 2 * p), (2 * p, 0), (2 * p, 2 * p)]):
        trained = normalize(translate(unit, torch.full((4,), dy), torch.full((4,), dx), p, mode))
        assert torch.equal(view, trained)


def test_without_a_training_crop_the_views_pad_an_eighth_of_black_and_reflect_keeps_the_old_views():
    assert (make_views("ten_crop", "train", (), 32).padding, make_views("ten_crop", "train", (), 32).mode) == \
        (4, "zeros")
    old = make_views("five_crop", "reflect", (CropParams(padding=2, mode="zeros"),), 32)
    assert (old.padding, old.mode) == (4, "reflect")  # size // 8 reflected, whatever the training crop
    assert make_views("none", "train", (), 32) is None


def test_tta_pad_moves_only_the_ids_of_crop_tta_runs():
    from ablate.config.compose import load_config
    from ablate.runner.identity import run_id

    for tta in ("none", "flip"):
        assert run_id(load_config([f"eval.tta={tta}"])) == run_id(load_config([f"eval.tta={tta}",
                                                                               "eval.tta_pad=reflect"]))
    # A crop run recorded before eval.tta_pad (the reflect views) keeps its id; the training-crop views are new runs.
    crop = load_config(["eval.tta=five_crop"])
    assert run_id(crop) != run_id(load_config(["eval.tta=five_crop", "eval.tta_pad=reflect"]))
    reflect = load_config(["eval.tta=five_crop", "eval.tta_pad=reflect"]).to_dict()
    recorded = {**reflect, "eval": {k: v for k, v in reflect["eval"].items() if k != "tta_pad"}}  # an older config.yaml
    from ablate.schema.identity import record_id

    assert record_id(recorded) == record_id(reflect)
