"""Per-layer diagnostics on networks whose answer is known in advance.

Expected values come from the variance arguments of Glorot & Bengio (2010)
and He et al. (2015): with N(0, 0.01²) weights a 3×3 conv over 8 channels
multiplies the activation std by about 0.01·√72 ≈ 0.085, so it shrinks layer
by layer; with N(0, 1) weights the pre-activations are O(√72) and tanh sits
at ±1; a sigmoid passes at most 1/4 of the gradient per layer.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ablate.schema.choices import ACT_LEVELS, INIT_LEVELS, NORM_LEVELS
from ablate.schema.run import (DataConfig, DropoutConfig, ModelConfig, OptimConfig,
                                  SchedConfig)
from ablate.diagnostics import COLUMNS, DiagnosticsConfig, Recorder, read_csv, record_epochs, warnings
from ablate.errors import ConfigError
from ablate.models import build_model
from ablate.shapes import InputShape

SHAPE = InputShape(1, 8, 10)  # digits-sized: 1 channel, 8×8 pixels, 10 classes


def build(act="tanh", init="normal", std=0.01, norm="none", placement="before_act", depth=8,
          model="convnet", dropout=0.0, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelConfig(name=model, depth=depth, width=8), NORM_LEVELS.of(norm, placement=placement),
                       ACT_LEVELS.of(act), INIT_LEVELS.of(init, **({"std": std} if init == "normal" else {})), DropoutConfig(p=dropout), SHAPE)


def probe(n=256, seed=1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def record(net: nn.Module, act: str, epoch: int = 0) -> list[dict]:
    return Recorder(net, *probe(), act).record(epoch)


def by_depth(rows: list[dict], statistic: str) -> list[float]:
    return [r["value"] for r in sorted((r for r in rows if r["statistic"] == statistic), key=lambda r: r["depth"])]


# ----------------------------------------------------------- known answers


def test_small_init_tanh_activation_std_shrinks_monotonically_with_depth():
    rows = record(build(std=0.01), "tanh")
    stds = by_depth(rows, "act_std")
    assert len(stds) == 9  # 8 conv blocks + the hidden linear layer of the head
    assert all(b < a for a, b in zip(stds, stds[1:])), stds
    # ≈ 0.085× per conv: 8 layers take it down by far more than 100×.
    assert stds[-1] < stds[0] / 1e4
    assert by_depth(rows, "saturated_frac") == [0.0] * 9


def test_large_init_tanh_saturates():
    sat = by_depth(record(build(std=1.0), "tanh"), "saturated_frac")
    # Layer 0 sees the raw input (fan-in 9); every later one sums 72 O(1) terms.
    assert all(s > 0.6 for s in sat[1:]), sat
    assert sum(sat) / len(sat) > 0.6


def test_relu_with_large_negative_bias_is_dead():
    net = build(act="relu", init="kaiming_normal")
    with torch.no_grad():
        net.features[0][0].bias.fill_(-100.0)  # inputs are N(0, 1): conv outputs stay far below 0
    dead = {r["layer"]: r["value"] for r in record(net, "relu") if r["statistic"] == "dead_frac"}
    assert dead["features.0.act"] == 1.0


def test_dead_units_are_channels():
    net = build(act="relu", init="kaiming_normal")
    with torch.no_grad():
        net.features[0][0].bias[:2] = -100.0  # 2 of 8 channels
    dead = {r["layer"]: r["value"] for r in record(net, "relu") if r["statistic"] == "dead_frac"}
    assert dead["features.0.act"] == pytest.approx(2 / 8)


def test_dead_units_of_a_linear_layer_are_features():
    net = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 3))
    with torch.no_grad():
        net[0].bias[:7] = -100.0
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    rows = Recorder(net, x, torch.zeros(64, dtype=torch.long), "relu").record(0)
    assert [r["value"] for r in rows if r["statistic"] == "dead_frac"] == [pytest.approx(0.7)]


def test_statistics_per_activation_kind():
    def kinds(act: str) -> set[str]:
        return {r["statistic"] for r in record(build(act=act, init="xavier_normal", depth=2), act)}

    common = {"act_mean", "act_std", "pre_mean", "pre_std", "grad_norm", "weight_norm"}
    assert kinds("relu") == common | {"dead_frac"}
    assert kinds("sigmoid") == common | {"saturated_frac"}
    assert kinds("leaky_relu") == common  # a negative slope: never dead, never saturated
    assert kinds("prelu") == common  # its slope is a parameter: one more grad_norm row, same kinds


def test_values_match_a_hand_computation():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    rows = {(r["layer"], r["statistic"]): r["value"] for r in Recorder(net, x, y, "tanh").record(0)}
    pre = net[0](x)
    post = torch.tanh(pre)
    assert rows[("1", "pre_mean")] == pytest.approx(pre.mean().item(), abs=1e-6)
    assert rows[("1", "pre_std")] == pytest.approx(pre.std(correction=0).item(), rel=1e-5)
    assert rows[("1", "act_std")] == pytest.approx(post.std(correction=0).item(), rel=1e-5)
    assert rows[("1", "saturated_frac")] == pytest.approx((post.abs() >= 0.96).float().mean().item())
    F.cross_entropy(net(x), y).backward()
    for name, p in net.named_parameters():
        assert rows[(name, "grad_norm")] == pytest.approx(p.grad.norm().item(), rel=1e-5)
        assert rows[(name, "weight_norm")] == pytest.approx(p.norm().item(), rel=1e-5)


# ------------------------------------------------------------ names, depth


def test_layer_names_and_depths_are_stable_across_norm_placement():
    before = record(build(act="relu", init="kaiming_normal", norm="batch"), "relu")
    after = record(build(act="relu", init="kaiming_normal", norm="batch", placement="after_act"), "relu")
    key = lambda rows: {(r["layer"], r["depth"], r["statistic"]) for r in rows}  # noqa: E731
    assert key(before) == key(after)
    depth = {r["layer"]: r["depth"] for r in before}
    for name in ("features.0.conv.weight", "features.0.conv.bias", "features.0.norm.weight", "features.0.act"):
        assert depth[name] == 0
    # Stages of 3, 3, 2 blocks, each closed by a pool and a dropout slot: block 8 is features.11.
    assert depth["features.11.act"] == 7
    # Head: flatten, dropout, linear (8), act, dropout, output linear (9).
    assert depth["classifier.2.weight"] == depth["classifier.3"] == 8
    assert depth["classifier.5.weight"] == max(depth.values()) == 9


def test_resnet_depth_follows_the_forward_pass():
    rows = record(build(act="relu", init="kaiming_normal", model="resnet", depth=8), "relu")
    depth = {r["layer"]: r["depth"] for r in rows}
    # stem, then block 1: conv (1), conv2 (2); block 2 downsamples: conv (3), conv2 (4), shortcut 1×1 (5).
    assert depth["features.0.conv.weight"] == 0
    assert (depth["features.1.block1.conv.weight"], depth["features.1.conv2.weight"]) == (1, 2)
    assert depth["features.3.shortcut.0.weight"] == 5
    assert depth["features.3.act"] == 5  # it runs after the shortcut joins
    assert min(r["depth"] for r in rows) == 0


# ---------------------------------------------------------- leaves no trace


def _hook_counts(net: nn.Module) -> dict[tuple[str, str], int]:
    return {(name, attr): len(value) for name, m in net.named_modules()
            for attr, value in vars(m).items() if "hook" in attr and isinstance(value, dict)}


def test_recording_leaves_no_trace():
    net = build(act="relu", init="kaiming_normal", norm="batch", model="lenet5", dropout=0.3)
    x, y = probe(64)
    F.cross_entropy(net(x), y).backward()  # a .grad on every parameter, and moved running stats
    net.eval()
    net.features[0].train()  # a mixed state must come back as it was, module by module
    modes = {name: m.training for name, m in net.named_modules()}
    state = {k: v.clone() for k, v in net.state_dict(keep_vars=True).items()}  # parameters and buffers
    grads = {n: (p.grad, p.grad.clone()) for n, p in net.named_parameters()}
    hooks = _hook_counts(net)
    assert hooks and all(count == 0 for count in hooks.values())
    rng = torch.get_rng_state()

    rows = Recorder(net, *probe(), "relu").record(3)

    assert rows and {r["epoch"] for r in rows} == {3}
    assert _hook_counts(net) == hooks
    assert {name: m.training for name, m in net.named_modules()} == modes
    for k, v in net.state_dict(keep_vars=True).items():
        assert torch.equal(v, state[k]), k  # BN running_mean/var and num_batches_tracked included
    for n, p in net.named_parameters():
        assert p.grad is grads[n][0] and torch.equal(p.grad, grads[n][1]), n
    assert torch.equal(torch.get_rng_state(), rng)  # dropout's draws came from a forked RNG


def test_recording_does_not_change_training():
    from ablate.data.device import load_data
    from ablate.train.loop import train
    from ablate.train.optim import make_optimizer
    from ablate.train.sched import make_scheduler

    data = load_data(DataConfig(name="digits", val_fraction=0.2), torch.device("cpu"))

    def fit(diagnose: bool) -> tuple[nn.Module, list[dict]]:
        net = build(act="relu", init="kaiming_normal", norm="batch", model="lenet5", dropout=0.3)
        optimizer = make_optimizer(net, OptimConfig())
        scheduler = make_scheduler(optimizer, SchedConfig(), data.train_steps(64), 2)
        x, y = data.normalize(data.to_unit(data.val_x[:256])), data.val_y[:256]
        recorder = Recorder(net, x, y, "relu", optimizer=optimizer)
        on_epoch = (lambda r: recorder.record(r.epoch)) if diagnose else (lambda r: None)
        if diagnose:
            recorder.record(0)
        torch.manual_seed(7)  # dropout masks
        train(net, data, optimizer, scheduler, epochs=2, batch_size=64, eval_batch_size=512, seed=0,
              amp_dtype=None, on_epoch=on_epoch)
        recorder.close()
        return net, recorder.rows

    plain, _ = fit(False)
    watched, rows = fit(True)
    assert {r["epoch"] for r in rows} == {0, 1, 2}
    for (name, a), b in zip(plain.state_dict().items(), watched.state_dict().values()):
        assert torch.equal(a, b), name


# ------------------------------------------------------------- update ratio


def test_update_ratio_is_the_last_optimizer_step():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)  # no momentum: Δw = -lr·g exactly
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    with Recorder(net, x, y, "relu", optimizer=optimizer) as recorder:
        assert "update_ratio" not in {r["statistic"] for r in recorder.record(0)}  # no step yet
        for _ in range(2):
            optimizer.zero_grad()
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
        rows = {(r["layer"], r["statistic"]): r["value"] for r in recorder.record(1)}
    assert not optimizer._optimizer_step_pre_hooks  # close() removed it
    for name, p in net.named_parameters():
        expected = 0.1 * p.grad.norm().item() / p.norm().item()  # grads of the second step
        assert rows[(name, "update_ratio")] == pytest.approx(expected, rel=1e-4), name


def test_a_disarmed_step_leaves_update_ratio_unknown_not_stale():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))

    def step():
        optimizer.zero_grad()
        F.cross_entropy(net(x), y).backward()
        optimizer.step()

    with Recorder(net, x, y, "relu", optimizer=optimizer) as recorder:
        step()  # armed: snapshot taken
        recorder.arm(False)
        step()  # the snapshot is now two steps old
        assert "update_ratio" not in {r["statistic"] for r in recorder.record(1)}
        recorder.arm(True)
        step()
        rows = {(r["layer"], r["statistic"]): r["value"] for r in recorder.record(2)}
    for name, p in net.named_parameters():
        assert rows[(name, "update_ratio")] == pytest.approx(0.1 * p.grad.norm().item() / p.norm().item(), rel=1e-4)


def test_a_run_copies_weights_only_in_the_epochs_it_records(tmp_path):
    from ablate.data.device import load_data
    from ablate.diagnostics.session import RunDiagnostics

    data = load_data(DataConfig(name="synthetic", n_train=256, n_val=64, size=8, channels=1),
                     torch.device("cpu"))
    net = build(depth=2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    session = RunDiagnostics(DiagnosticsConfig(every=3), epochs=7, model=net, data=data, act="tanh",
                             optimizer=optimizer, seed=0, batch_size=64, path=tmp_path / "d.csv")
    armed = [session.recorder.armed]  # during epoch 1
    for epoch in range(1, 7):
        session.after_epoch(epoch, diverged=False)
        armed.append(session.recorder.armed)  # during epoch + 1
    session.close()
    assert record_epochs(DiagnosticsConfig(every=3), 7) == {0, 3, 6, 7}
    assert armed == [False, False, True, False, False, True, True]  # epochs 1..7


# -------------------------------------------------------------- the table


def test_csv_schema_and_round_trip(tmp_path):
    recorder = Recorder(build(depth=2), *probe(), "tanh")
    recorder.record(0)
    recorder.record(5)
    path = tmp_path / "run" / "diagnostics.csv"
    recorder.write_csv(path)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,layer,depth,statistic,value" == ",".join(COLUMNS)
    assert len(lines) == 1 + len(recorder.rows)
    back = read_csv(path)
    assert [(r["epoch"], r["layer"], r["depth"], r["statistic"]) for r in back] == \
           [(r["epoch"], r["layer"], r["depth"], r["statistic"]) for r in recorder.rows]
    for a, b in zip(back, recorder.rows):
        assert a["value"] == pytest.approx(b["value"], rel=1e-6)  # 7 significant digits
    assert [p.name for p in path.parent.iterdir()] == ["diagnostics.csv"]  # no temporary left


@pytest.mark.parametrize(("every", "epochs", "expected"), [
    (0, 30, {0, 15, 30}),
    (0, 1, {0, 1}),
    (10, 25, {0, 10, 20, 25}),
    (1, 3, {0, 1, 2, 3}),
    (50, 5, {0, 5}),
])
def test_record_epochs(every, epochs, expected):
    assert record_epochs(DiagnosticsConfig(every=every), epochs) == expected


def test_record_epochs_off_and_range_check():
    assert record_epochs(DiagnosticsConfig(enabled=False), 30) == set()
    with pytest.raises(ConfigError, match="diagnostics.every"):
        DiagnosticsConfig(every=-1)


# ---------------------------------------------------------------- warnings


def test_warnings_fire_on_vanishing_gradients():
    # Sigmoid, PyTorch's default init, 8 conv layers: y' ≤ 1/4 per layer.
    found = warnings(record(build(act="sigmoid", init="default"), "sigmoid"))
    assert len(found) == 1 and found[0].startswith("vanishing gradients"), found
    ratio = float(found[0].split(" is ")[1].split("×")[0])
    assert ratio >= 1e4  # measured ≈ 4e8 on this seed
    assert "\n" not in found[0]


def test_warnings_name_collapse_saturation_and_dead_units():
    small = warnings(record(build(std=0.01), "tanh"))
    assert {w.split(" (")[0] for w in small} == {"vanishing gradients", "collapsing activations"}
    assert any(w.startswith("saturation") for w in warnings(record(build(std=1.0), "tanh")))
    net = build(act="relu", init="kaiming_normal")
    with torch.no_grad():
        net.features[2][0].bias.fill_(-100.0)
    dead = [w for w in warnings(record(net, "relu")) if w.startswith("dead units")]
    assert dead and "features.2.act (depth 2) at 100.0%" in dead[0]


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_warnings_quiet_on_a_healthy_net(norm):
    assert warnings(record(build(act="relu", init="kaiming_normal", norm=norm), "relu")) == []


def test_warnings_read_the_last_epoch_only():
    sick = record(build(act="sigmoid", init="default"), "sigmoid", epoch=0)
    healthy = record(build(act="relu", init="kaiming_normal"), "relu", epoch=4)
    assert warnings(sick + healthy) == []
    assert warnings(healthy + sick) == []  # by epoch number, not by order
    assert warnings([]) == []


def test_rows_are_finite_numbers():
    rows = record(build(act="relu", init="kaiming_normal", norm="group", model="alexnet"), "relu")
    assert all(math.isfinite(r["value"]) for r in rows)
    assert set(rows[0]) == set(COLUMNS)


@pytest.mark.gpu
def test_cuda_recording_matches_cpu_and_keeps_the_cuda_rng():
    net = build(act="relu", init="kaiming_normal", norm="batch", model="lenet5")
    cpu = {(r["layer"], r["statistic"]): r["value"] for r in record(net, "relu")}
    net, (x, y) = net.cuda(), probe()
    gpu_dropout = build(act="relu", init="kaiming_normal", model="lenet5", dropout=0.3).cuda()
    rng = torch.cuda.get_rng_state()
    Recorder(gpu_dropout, x.cuda(), y.cuda(), "relu").record(0)
    assert torch.equal(torch.cuda.get_rng_state(), rng)
    gpu = {(r["layer"], r["statistic"]): r["value"] for r in Recorder(net, x.cuda(), y.cuda(), "relu").record(0)}
    assert gpu.keys() == cpu.keys()
    for (layer, statistic), value in cpu.items():
        # TF32 convs on Ampere+ (~1e-3 relative) may tip a unit whose peak is ~0: 1 of 16+ units.
        tolerance = 0.07 if statistic == "dead_frac" else 1e-4
        assert gpu[(layer, statistic)] == pytest.approx(value, rel=2e-2, abs=tolerance), (layer, statistic)
