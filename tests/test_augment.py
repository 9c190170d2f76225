"""Augmentations: config parsing, registry/YAML parity, and each op's statistics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from scipy import stats

from ablate.schema.augs import aug_to_dict, parse_aug
from ablate.data.augment import AUGS, AugContext, build_pipeline
from ablate.data.colour import LUMA
from ablate.errors import ConfigError
from ablate.shapes import InputShape

CONF = Path(__file__).resolve().parents[1] / "conf"


def context(channels=3, size=32, classes=10, train_x=None) -> AugContext:
    if train_x is None:
        train_x = torch.randint(0, 256, (64, channels, size, size), generator=torch.Generator().manual_seed(0),
                                dtype=torch.uint8)
    return AugContext(InputShape(channels, size, classes), classes, train_x)


def run(spec: dict, x: torch.Tensor, y=None, ctx=None, seed=0):
    ctx = ctx or context(x.shape[1], x.shape[-1])
    y = torch.zeros(len(x), dtype=torch.int64) if y is None else y
    return build_pipeline(parse_aug(spec), ctx)(x, y, torch.Generator().manual_seed(seed))


def rand(*shape, seed=1, low=0.0, high=1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------ config parsing


def test_yaml_files_match_the_registry_and_its_defaults():
    files = {p.stem: yaml.safe_load(p.read_text()) for p in (CONF / "aug").glob("*.yaml")}
    assert set(files) == set(AUGS)
    for name, content in files.items():
        assert list(content) == [name]  # nested under its own name, so Hydra can merge several
        (params,) = parse_aug(content)
        assert params == AUGS[name].params()  # the YAML states the dataclass defaults
        assert aug_to_dict((params,)) == content
        assert AUGS.help[name]


def test_hydra_composes_several_aug_files_into_one_node():
    from hydra import compose, initialize_config_dir

    defaults = yaml.safe_load((CONF / "config.yaml").read_text())["defaults"]
    listed = any(isinstance(d, dict) and "aug" in d for d in defaults)
    group = "aug" if listed else "+aug"  # `+` appends the group while config.yaml has no aug default
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("config", overrides=[f"{group}=[flip,crop]", "aug.flip.p=0.3"])
    node = {k: dict(v) for k, v in cfg.aug.items()}
    assert node == {"flip": {"p": 0.3}, "crop": {"padding": 4, "mode": "zeros"}}
    crop, flip = parse_aug(node)
    assert (crop.name, crop.padding, flip.name, flip.p) == ("crop", 4, "flip", 0.3)


def test_parse_orders_by_registry_and_round_trips():
    params = parse_aug({"cutmix": None, "flip": {"p": 0.2}, "stretch": {}, "jitter": {"contrast": 0.1}})
    assert [p.name for p in params] == ["stretch", "flip", "jitter", "cutmix"]
    assert parse_aug(aug_to_dict(params)) == params
    assert parse_aug({}) == () and parse_aug(None) == ()


@pytest.mark.parametrize("spec, message", [
    ({"flp": None}, "unknown aug 'flp'; did you mean 'flip'? choices: crop, cutmix, cutout"),
    ({"flip": {"q": 0.5}}, "unknown key 'aug.flip.q'; keys here: p"),
    ({"crop": {"pading": 2}}, "unknown key 'aug.crop.pading'; did you mean 'padding'? keys here: padding, mode"),
    ({"flip": {"name": "crop"}}, "unknown key 'aug.flip.name'"),
    ({"flip": {"p": 1.5}}, "aug.flip.p=1.5 is out of range: must be in [0, 1]"),
    ({"flip": {"p": "often"}}, "aug.flip.p must be a number, got 'often'"),
    ({"mixup": {"alpha": 0}}, "aug.mixup.alpha=0.0 is out of range: must be > 0"),
    ({"crop": {"mode": "wrap"}}, "aug.crop.mode='wrap' is out of range: must be one of zeros, reflect, replicate"),
    ({"cutout": {"size": 0}}, "aug.cutout.size=0 is out of range"),
])
def test_bad_aug_settings_are_one_line_config_errors(spec, message):
    with pytest.raises(ConfigError) as err:
        parse_aug(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_crop_padding_must_be_smaller_than_the_image():
    with pytest.raises(ConfigError, match="aug.crop.padding=8 is out of range: must be smaller than the image"):
        build_pipeline(parse_aug({"crop": {"padding": 8}}), context(1, 8))


def test_empty_pipeline_is_the_identity():
    x, y = rand(4, 3, 8, 8), torch.arange(4)
    out_x, out_y = build_pipeline((), context())(x, y, torch.Generator())
    assert out_x is x and out_y is y


# ----------------------------------------------------------------- geometry


def test_flip_rate_is_p_and_flipped_images_are_mirrors():
    n, p = 20_000, 0.3
    x = torch.linspace(0, 1, 8).expand(n, 1, 8, 8).contiguous()  # left-right ramp: a flip is visible
    out, _ = run({"flip": {"p": p}}, x)
    flipped = out[:, 0, 0, 0] == 1.0
    assert torch.equal(out[flipped], x[flipped].flip(-1)) and torch.equal(out[~flipped], x[~flipped])
    assert abs(flipped.float().mean().item() - p) < 4 * math.sqrt(p * (1 - p) / n)  # 4 binomial std
    assert torch.equal(run({"flip": {"p": 0.0}}, x)[0], x)
    assert torch.equal(run({"flip": {"p": 1.0}}, x)[0], x.flip(-1))


@pytest.mark.parametrize("mode, pad_mode", [("zeros", "constant"), ("reflect", "reflect")])
def test_crop_is_a_translation_of_the_content(mode, pad_mode):
    n, pad, size = 2000, 3, 12
    x = rand(n, 3, size, size)
    out, _ = run({"crop": {"padding": pad, "mode": mode}}, x)
    padded = F.pad(x, (pad,) * 4, mode=pad_mode)
    matches = []
    for dy in range(-pad, pad + 1):  # content moved down by dy, right by dx
        for dx in range(-pad, pad + 1):
            ref = padded[:, :, pad - dy:pad - dy + size, pad - dx:pad - dx + size]
            matches.append((out == ref).flatten(1).all(1))
    matches = torch.stack(matches, 1)  # (N, 49)
    assert matches.sum(1).eq(1).all()  # every image is exactly one translation of itself
    counts = matches.sum(0).float()
    assert counts.min() > 0  # all 49 offsets occur, roughly uniformly (expected 41 each)
    assert stats.chisquare(counts.numpy()).pvalue > 1e-3


def blob(size: int, cy: float, cx: float, sigma=1.2) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float32)
    return torch.exp(-((r.view(-1, 1) - cy) ** 2 + (r.view(1, -1) - cx) ** 2) / (2 * sigma**2))


def centroid(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, H, W) → row and column of the mass centre, pixels."""
    r = torch.arange(img.shape[-1], dtype=torch.float32)
    mass = img.sum((1, 2))
    return (img.sum(2) * r).sum(1) / mass, (img.sum(1) * r).sum(1) / mass


def markers(n: int, size=33, offset=10.0) -> torch.Tensor:
    """Channel 0: a blob right of centre; 1: a blob below centre; 2: one lit centre pixel."""
    c = (size - 1) / 2
    dot = torch.zeros(size, size)
    dot[size // 2, size // 2] = 1.0
    return torch.stack([blob(size, c, c + offset), blob(size, c + offset, c), dot]).expand(n, 3, size, size)


def test_rotate_keeps_the_centre_and_draws_uniform_angles():
    n, deg, size = 1000, 20.0, 33
    out, _ = run({"rotate": {"degrees": deg}}, markers(n, size), ctx=context(3, size))
    assert torch.allclose(out[:, 2, 16, 16], torch.ones(n), atol=1e-5)  # the centre pixel maps to itself
    cy, cx = centroid(out[:, 0])
    dy, dx = cy - 16, cx - 16
    radius, angle = torch.hypot(dy, dx), torch.rad2deg(torch.atan2(dy, dx))
    assert torch.allclose(radius, torch.full_like(radius, 10.0), atol=0.3)  # rotation, no scaling
    assert angle.abs().max() <= deg + 0.5 and angle.abs().max() > 0.95 * deg
    assert stats.kstest(angle.numpy(), stats.uniform(-deg, 2 * deg).cdf).pvalue > 1e-3


def test_stretch_keeps_the_centre_and_draws_scale_and_aspect_in_range():
    n, size, scale, aspect = 1000, 33, 0.2, 0.1
    out, _ = run({"stretch": {"scale": scale, "aspect": aspect}}, markers(n, size, offset=8), ctx=context(3, size))
    assert torch.allclose(out[:, 2, 16, 16], torch.ones(n), atol=1e-5)
    _, cx = centroid(out[:, 0])
    cy, _ = centroid(out[:, 1])
    sx, sy = (cx - 16) / 8, (cy - 16) / 8  # how far each marker moved out from the centre
    s, r = (sx * sy).sqrt(), sx / sy
    tol = 0.01
    assert s.min() > 1 / (1 + scale) - tol and s.max() < 1 + scale + tol
    assert r.min() > 1 / (1 + aspect) - tol and r.max() < 1 + aspect + tol  # sx/sy = (s√r)/(s/√r) = r
    # log s and log r are uniform on ±log(1+scale), ±log(1+aspect): std = half-width/√3.
    assert abs(s.log().std().item() / (math.log1p(scale) / math.sqrt(3)) - 1) < 0.1
    assert abs(r.log().std().item() / (math.log1p(aspect) / math.sqrt(3)) - 1) < 0.1


# ------------------------------------------------------------------- colour


def test_jitter_brightness_scales_each_image_by_one_uniform_factor():
    x = rand(2000, 3, 6, 6, low=0.2, high=0.6)  # ×1.5 stays below 1: no clamping
    out, _ = run({"jitter": {"brightness": 0.5, "contrast": 0.0, "saturation": 0.0}}, x)
    ratio = out / x
    f = ratio[:, 0, 0, 0]
    assert torch.allclose(ratio, f.view(-1, 1, 1, 1).expand_as(ratio), atol=1e-5)
    assert f.min() >= 0.5 and f.max() <= 1.5
    assert stats.kstest(f.numpy(), stats.uniform(0.5, 1.0).cdf).pvalue > 1e-3


def luma(x: torch.Tensor) -> torch.Tensor:
    return (x * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)


def test_jitter_contrast_keeps_mean_luma_and_scales_deviations():
    x = rand(500, 3, 6, 6, low=0.3, high=0.7)
    out, _ = run({"jitter": {"brightness": 0.0, "contrast": 0.4, "saturation": 0.0}}, x)
    m_in, m_out = luma(x).mean((1, 2, 3)), luma(out).mean((1, 2, 3))
    assert torch.allclose(m_in, m_out, atol=1e-5)
    f = (out - m_in.view(-1, 1, 1, 1)) / (x - m_in.view(-1, 1, 1, 1))
    assert f.flatten(1).std(1).max() < 1e-2 and f.min() > 0.6 - 1e-3 and f.max() < 1.4 + 1e-3


def test_jitter_saturation_leaves_grey_pixels_and_luma_alone():
    grey_x = rand(200, 1, 6, 6, low=0.2, high=0.8).expand(200, 3, 6, 6)
    spec = {"jitter": {"brightness": 0.0, "contrast": 0.0, "saturation": 0.5}}
    assert torch.allclose(run(spec, grey_x)[0], grey_x, atol=1e-6)
    x = rand(200, 3, 6, 6, low=0.3, high=0.7)
    out, _ = run(spec, x)
    assert torch.allclose(luma(out), luma(x), atol=1e-5) and not torch.allclose(out, x, atol=1e-3)


def test_colour_ops_on_greyscale_warn_and_skip():
    ctx = context(channels=1, size=8)
    with pytest.warns(UserWarning, match="aug.pca_lighting skipped"):
        pipe = build_pipeline(parse_aug({"pca_lighting": None}), ctx)
    x = rand(16, 1, 8, 8)
    assert torch.equal(pipe(x, torch.zeros(16, dtype=torch.int64), torch.Generator())[0], x)
    with pytest.warns(UserWarning, match="aug.jitter.saturation skipped"):
        pipe = build_pipeline(parse_aug({"jitter": {"brightness": 0.5, "contrast": 0, "saturation": 0.4}}), ctx)
    out, _ = pipe(x * 0.5, torch.zeros(16, dtype=torch.int64), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x * 0.5)  # brightness still applies


def test_pca_lighting_moves_pixels_along_the_training_eigenvectors():
    # Training colours strongly correlated: a grey axis with large variance plus small independent noise.
    g = torch.Generator().manual_seed(3)
    base = torch.rand(256, 1, 8, 8, generator=g) * 200 + 20
    noise = torch.randn(256, 3, 8, 8, generator=g) * torch.tensor([8.0, 3.0, 1.0]).view(1, 3, 1, 1)
    train_x = (base + noise).round().clamp(0, 255).to(torch.uint8)
    pixels = train_x.permute(1, 0, 2, 3).reshape(3, -1).double().numpy() / 255
    lam, vec = np.linalg.eigh(np.cov(pixels, bias=True))  # independent reference: numpy
    sigma, n = 0.1, 4000
    x = rand(n, 3, 8, 8)
    out, _ = run({"pca_lighting": {"sigma": sigma}}, x, ctx=context(train_x=train_x, size=8))
    shift = out - x
    per_image = shift[:, :, :1, :1]
    assert torch.allclose(shift, per_image.expand_as(shift), atol=1e-6)  # one colour shift per image
    coef = per_image.view(n, 3).double().numpy() @ vec  # = α_i λ_i in the eigenbasis
    alpha = coef / lam
    assert np.allclose(alpha.std(0), sigma, rtol=0.06)  # α ~ N(0, σ) along every eigenvector
    assert abs(np.corrcoef(alpha.T)[0, 1]) < 0.1  # independent draws per eigenvector
    assert np.abs(coef[:, 2]).mean() > 20 * np.abs(coef[:, 0]).mean()  # most light along the grey axis


# ----------------------------------------------------------------- regions


def test_cutout_fills_one_clipped_square_with_the_training_mean():
    size, n = 5, 2000
    train_x = torch.full((8, 3, 16, 16), 51, dtype=torch.uint8)
    train_x[:, 1] = 102
    x = rand(n, 3, 16, 16)
    out, _ = run({"cutout": {"size": size}}, x, ctx=context(train_x=train_x, size=16))
    mask = (out != x).any(1)
    rows, cols = mask.any(2).sum(1), mask.any(1).sum(1)
    assert torch.equal(mask.sum((1, 2)), rows * cols)  # a rectangle
    assert rows.max() == size and cols.max() == size and (rows < size).any()  # clipped at borders
    fill = out.permute(0, 2, 3, 1)[mask]
    assert torch.allclose(fill, torch.tensor([0.2, 0.4, 0.2]).expand_as(fill), atol=1e-6)  # 51/255, 102/255


def mixing_batch(n: int):
    # One class per image, so each target row names both partners.
    return rand(n, 1, 8, 8), torch.arange(n), context(channels=1, size=8, classes=n)


def partners(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = len(t)
    own = t[torch.arange(n), torch.arange(n)]
    other = t.clone()
    other[torch.arange(n), torch.arange(n)] = -1
    j = other.argmax(1)
    valid = own < 1  # images paired with themselves carry no information
    return own, j, valid


@pytest.mark.parametrize("alpha", [0.4, 1.0])
def test_mixup_blends_images_and_targets_with_beta_lambda(alpha):
    x, y, ctx = mixing_batch(2000)
    out, t = run({"mixup": {"alpha": alpha}}, x, y, ctx)
    assert t.shape == (2000, 2000) and t.dtype == torch.float32
    assert torch.allclose(t.sum(1), torch.ones(2000)) and (t > 0).sum(1).max() <= 2
    lam, j, valid = partners(t)
    mixed = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[j]
    assert torch.allclose(out[valid], mixed[valid], atol=1e-5)
    lam = lam[valid].double().numpy()
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    assert stats.kstest(lam, stats.beta(2.0, 2.0).cdf).pvalue < 1e-6  # the test can tell α apart


def test_cutmix_label_weights_equal_the_pasted_area():
    x, y, ctx = mixing_batch(1000)
    out, t = run({"cutmix": {"alpha": 1.0}}, x, y, ctx)
    assert torch.allclose(t.sum(1), torch.ones(1000))
    lam, j, valid = partners(t)
    pasted = (out != x)[:, 0]  # distinct random pixels: a pasted pixel never equals the original
    area = pasted.float().mean((1, 2))
    assert torch.allclose(area[valid], 1 - lam[valid], atol=1e-6)
    assert torch.equal(out[valid][:, 0][pasted[valid]], x[j][valid][:, 0][pasted[valid]])
    rows, cols = pasted.any(2).sum(1), pasted.any(1).sum(1)
    assert torch.equal(pasted.sum((1, 2)), rows * cols)  # one box per image
    assert 0.2 < (1 - lam[valid]).mean() < 0.5  # U(0,1) λ, boxes floored and clipped: ~1/3 pasted


def test_mixup_then_cutmix_keep_targets_a_distribution():
    x, y, ctx = mixing_batch(256)
    _, t = run({"mixup": {"alpha": 1.0}, "cutmix": {"alpha": 1.0}}, x, y, ctx)
    assert torch.allclose(t.sum(1), torch.ones(256)) and (t >= 0).all() and (t > 0).sum(1).max() <= 4


# ----------------------------------------------------------- determinism


def test_full_pipeline_is_deterministic_under_a_seeded_generator():
    spec = {name: None for name in AUGS}
    ctx = context(size=32, classes=10)  # CIFAR-sized: every op's defaults fit
    x, y = rand(64, 3, 32, 32), torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(2))
    pipe = build_pipeline(parse_aug(spec), ctx)
    assert pipe.names == tuple(AUGS)
    a = pipe(x, y, torch.Generator().manual_seed(7))
    b = pipe(x, y, torch.Generator().manual_seed(7))
    c = pipe(x, y, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[0].shape == x.shape and a[1].shape == (64, 10)


@pytest.mark.gpu
def test_pipeline_runs_on_cuda_with_a_cuda_generator():
    spec = {name: None for name in AUGS}
    ctx = context(size=16, train_x=torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8).cuda())
    pipe = build_pipeline(parse_aug(spec), ctx)
    x, y = torch.rand(64, 3, 16, 16, device="cuda"), torch.randint(0, 10, (64,), device="cuda")
    a = pipe(x, y, torch.Generator("cuda").manual_seed(1))
    b = pipe(x, y, torch.Generator("cuda").manual_seed(1))
    assert a[0].is_cuda and torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_a_cutout_as_large_as_the_image_is_refused_before_any_run():
    """16 px (the CIFAR default) on 8×8 digits would blank every image."""
    from ablate.config.compose import load_config
    from ablate.errors import ConfigError

    with pytest.raises(ConfigError, match=r"aug.cutout.size=16 .*smaller than the image \(8 pixels\)"):
        load_config(["aug=[cutout]"])
    assert load_config(["aug=[cutout]", "aug.cutout.size=4"]).aug[0].size == 4
