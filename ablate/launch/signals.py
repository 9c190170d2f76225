"""SIGTERM as Ctrl-C, once.

`kill`, `timeout`, `docker stop` and a scheduler's end of job send SIGTERM; a
run stops as on Ctrl-C (it records `interrupted`, a sweep writes its tables).
Later SIGTERMs are ignored, since they are normal and a second
KeyboardInterrupt would land inside the except block that records the first,
leaving the run `running`. They come from SLURM signalling every process of
the step and then the sweep stopping its workers, and from the kernel, which
sends a worker the parent-death signal again each time it hands it to another
thread of the dying sweep (kernel/exit.c, forget_original_parent).
"""

from __future__ import annotations

import signal


def ignore_repeat(signum, frame) -> None:
    # A handler that does nothing rather than SIG_IGN, which programs started
    # afterwards (scancel) would inherit.
    pass


def interrupt_once(signum, frame) -> None:
    signal.signal(signal.SIGTERM, ignore_repeat)
    raise KeyboardInterrupt
