"""The live sweep panel, read through a pseudo-terminal as a user's terminal gets it.

It must move while runs train (redrawn on a timer, not only when a run
finishes), show each running run's epoch and val acc, and leave one line per
finished run in the scrollback.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

EPOCHS = 6
# Epochs long enough to watch on any machine: mnist5k's 3,000 28×28 images in batches
# of 16 (187 steps) take 0.5-3 s an epoch on 2 cores, quiet or loaded, so the panel's
# 4 redraws a second see the epoch count move. Digits' epochs (~30 ms on a quiet
# machine) ran all 30 between two reads of the run's progress, and the test failed
# whenever the machine was fast.
SLOW_EPOCHS = ["data=mnist5k", "batch_size=16"]
REDRAW_WITHIN = 2.0  # seconds: the longest a user may look at an unchanged panel while runs train
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def through_a_terminal(args: list[str], cwd, timeout: float = 240) -> list[tuple[float, str]]:
    """Run `python -m ablate ARGS` on a pseudo-terminal; (seconds since start, text) per read."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # rows, columns
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ablate", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while time.monotonic() - start < timeout:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append((time.monotonic() - start, data.decode("utf-8", "replace")))
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    assert proc.returncode == 0, "".join(text for _, text in chunks)[-2000:]
    return chunks


@pytest.mark.slow
def test_live_panel_moves_while_runs_train_and_leaves_a_line_per_run(tmp_path):
    chunks = through_a_terminal(["sweep", "seed=0,1", f"epochs={EPOCHS}", *SLOW_EPOCHS, "device=cpu", "--name",
                                 "live", "--workers", "1"], tmp_path)
    plain = [(t, ANSI.sub("", text)) for t, text in chunks]
    first_done = next(t for t, text in plain if re.search(r"\[1/2\] \w+ seed=\d: completed", text))
    panel = [t for t, text in plain if "elapsed " in text]
    training = [t for t in panel if t < first_done]
    # Redrawn on a timer: many frames before any run finished, none more than 2 s apart.
    assert len(training) >= 3, f"{len(training)} frames before the first run finished"
    gaps = [b - a for a, b in zip(training, training[1:])]
    assert max(gaps) <= REDRAW_WITHIN, f"the panel stood still for {max(gaps):.1f} s while a run trained"
    clocks = {m for t, text in plain if t < first_done for m in re.findall(r"elapsed (\d+:\d\d)", text)}
    assert len(clocks) >= 2, clocks  # the clock moves between frames, not only when a run ends
    # The running run, with its epoch and val acc, before it finished.
    seen = [(int(e), float(a)) for t, text in plain if t < first_done
            for e, a in re.findall(rf"seed=0  epoch (\d+)/{EPOCHS}  val acc (\d\.\d{{4}})", text)]
    assert seen and all(1 <= e <= EPOCHS and 0 <= a <= 1 for e, a in seen), seen
    assert len({e for e, _ in seen}) >= 2  # the epoch count moves as it trains
    # One line per finished run in what the terminal keeps, each once.
    whole = "".join(text for _, text in plain)
    for n in (1, 2):
        assert len(re.findall(rf"\[{n}/2\] \w+ seed=\d: completed test_acc=0\.\d{{4}}", whole)) == 1, n
    assert "2 runs: 2 completed" in whole
