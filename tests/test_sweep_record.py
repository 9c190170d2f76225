"""sweep.yaml damaged or hand-written: one line for the sweep and the report, never a traceback."""

import pytest

from ablate.errors import ConfigError
from ablate.store.sweep_record import read_sweep_record


@pytest.mark.parametrize("content, why", [
    (b"- just a list\n", "it holds a list, not a mapping"),
    (b"just words\n", "it holds a str, not a mapping"),
    (b": :\n", "while parsing a block mapping"),
    (b"\x00" * 64, "unacceptable character"),
])
def test_a_damaged_record_is_one_line_naming_it(tmp_path, content, why):
    (tmp_path / "sweep.yaml").write_bytes(content)
    with pytest.raises(ConfigError) as e:
        read_sweep_record(tmp_path)
    message = str(e.value)
    assert str(tmp_path / "sweep.yaml") in message and why in message and "\n" not in message


def test_no_record_or_an_empty_one_is_an_empty_mapping(tmp_path):
    assert read_sweep_record(tmp_path) == {}
    (tmp_path / "sweep.yaml").write_text("")
    assert read_sweep_record(tmp_path) == {}
    (tmp_path / "sweep.yaml").write_text("name: s\nplanned: 4\n")
    assert read_sweep_record(tmp_path) == {"name": "s", "planned": 4}


def test_sweep_and_report_stop_on_it_before_any_run(cli):
    from pathlib import Path

    folder = Path("results/s")
    folder.mkdir(parents=True)
    (folder / "sweep.yaml").write_text("- just a list\n")
    sweep = cli("sweep", "norm=none,batch", "epochs=1", "--name", "s")
    assert sweep.exit_code == 2 and "results/s/sweep.yaml is not a sweep record" in sweep.output
    assert not (folder / "runs").exists()
    (folder / "runs.csv").write_text("run_id,sweep,status\n")
    report = cli("report", "results/s")
    assert report.exit_code == 2 and "is not a sweep record (it holds a list" in report.output
