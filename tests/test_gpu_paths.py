"""The CUDA-only decisions, checked on any machine: CUDA's queries are stubbed
where the decision depends on them, and nothing here launches a kernel."""

import pytest
import torch

from ablate.config.compose import load_config
from ablate.schema.run import DataConfig
from ablate.data.device import DeviceData, load_data
from ablate.errors import ConfigError
from ablate.launch import launch_options
from ablate.config.launch import gpu_request_note
from ablate.launch import launch_options
from ablate.runner.spec import RunSpec
from ablate.runner.run import run
from ablate.store.rundir import RunDir
from ablate.train.device import resolve_device, resolve_precision


@pytest.fixture
def fake_cuda(monkeypatch):
    """Two CUDA devices, the current one being 1; bf16 support chosen per test."""
    support = {"bf16": True}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: support["bf16"])
    return support


def test_cuda_devices_always_carry_an_index(fake_cuda):
    # Tensors report cuda:N, and torch.device("cuda") != torch.device("cuda:1"),
    # so a bare "cuda" made every placed dataset look like it was streaming.
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match="only 2 CUDA device"):
        resolve_device("cuda:2")


def test_auto_precision_is_bf16_on_ampere_and_fp16_before(fake_cuda):
    cuda = torch.device("cuda", 0)
    assert resolve_precision("auto", cuda) == "bf16"
    fake_cuda["bf16"] = False  # a V100 or T4: bf16 only emulated
    assert resolve_precision("auto", cuda) == "fp16"
    assert resolve_precision("bf16", cuda) == "bf16"  # an explicit choice is kept
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_streaming_means_host_images_and_accelerator_batches():
    data = load_data(DataConfig(name="synthetic", n_train=64, n_val=16, size=8), torch.device("cpu"))
    assert not data.streaming
    x = data.train_x[:4]
    assert data.to_device(x) is x
    meta = DeviceData(data.train_x.to("meta"), data.train_y.to("meta"), data.val_x.to("meta"), data.val_y.to("meta"),
                      data.test_x.to("meta"), data.test_y.to("meta"), data.mean, data.std, data.shape,
                      torch.device("meta"))
    assert not meta.streaming  # images already where batches are computed
    on_host = DeviceData(data.train_x, data.train_y, data.val_x, data.val_y, data.test_x, data.test_y, data.mean,
                         data.std, data.shape, torch.device("meta"))
    assert on_host.streaming


@pytest.mark.parametrize("launcher, gpus, devices, outcome", [
    ("local", 0, {"cuda"}, None),
    ("ray", 0.25, {"cuda"}, None),
    ("slurm", 1, {"auto"}, None),
    ("slurm", 0, {"cpu"}, None),
    ("ray", 0, {"cuda:0"}, ConfigError),
    ("slurm", 0, {"cuda", "cpu"}, ConfigError),
    ("ray", 0, {"auto"}, "device=auto trains on CPU"),
])
def test_cluster_runs_that_need_a_gpu_must_book_one(launcher, gpus, devices, outcome):
    options = launch_options(launcher, **({"gpus_per_run": gpus} if launcher != "local" else {}))
    if outcome is ConfigError:
        with pytest.raises(ConfigError, match="--gpus-per-run is 0.*pass --gpus-per-run 1"):
            gpu_request_note(options, devices)
    elif outcome is None:
        assert gpu_request_note(options, devices) is None
    else:
        assert outcome in gpu_request_note(options, devices)


def test_fp16_loss_scale_survives_a_resume(tmp_path, monkeypatch):
    """The GradScaler's scale is in the checkpoint and comes back on resume."""
    import ablate.train.loop as loop

    config = load_config(["epochs=3", "device=cpu", "precision=fp16"])
    original, calls = loop.EpochRecord, {"n": 0}

    def stop_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "EpochRecord", stop_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run(RunSpec(config, tmp_path / "r"))
    rd = RunDir(tmp_path / "r")
    saved = torch.load(rd.checkpoint, weights_only=False)["scaler"]
    assert saved["scale"] > 0 and saved["_growth_tracker"] > 0  # steps were counted toward growth

    loaded = {}
    real_load = torch.amp.GradScaler.load_state_dict
    monkeypatch.setattr(torch.amp.GradScaler, "load_state_dict",
                        lambda self, state: (loaded.update(state), real_load(self, state))[1])
    monkeypatch.setattr(loop, "EpochRecord", original)
    assert run(RunSpec(config, tmp_path / "r")).status == "completed"
    assert loaded == saved
