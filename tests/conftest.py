import os

import pytest
import torch

# Tests share 2 cores with everything else; one thread keeps timings steady.
torch.set_num_threads(1)
os.environ.setdefault("COLUMNS", "200")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Invoke the `ablate` CLI in-process, in a scratch working directory."""
    from typer.testing import CliRunner

    from ablate.cli.app import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke
