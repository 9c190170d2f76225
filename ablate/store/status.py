"""The one vocabulary of run statuses, and the named sets the code asks about.

status.json holds the value (`"completed"`); `Status` is a str, so a status
read back from JSON compares equal to the member and is found in the sets.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10: the same behaviour, spelled out
    from enum import Enum

    class StrEnum(str, Enum):
        __str__ = str.__str__
        __format__ = str.__format__


class Status(StrEnum):
    # In the order a sweep's end-of-run count lists them.
    COMPLETED = "completed"
    DIVERGED = "diverged"
    # Learnt, then fell back to chance and stayed there (ablate.store.outcome).
    COLLAPSED = "collapsed"
    # A tuning run stopped early (--stop-stalled) because its val accuracy sat near chance.
    STALLED = "stalled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    RUNNING = "running"
    QUEUED = "queued"


class Reading(StrEnum):
    """What a reader makes of runs, beside the statuses a run writes: a column
    of the tables and the report, never a value in status.json."""

    # Not ended yet: queued, running, interrupted, or a status this version does
    # not know. Counted as such in a partial sweep's tables, never dropped.
    PENDING = "pending"
    # Finished, but neither summary.json nor history.csv can be read: not counted
    # as completed, and the next sweep resumes it.
    UNREADABLE = "unreadable"


# The run ended and left a summary: a re-run skips it. Divergence is a result, and so are collapse and stalling.
FINISHED = frozenset({Status.COMPLETED, Status.DIVERGED, Status.COLLAPSED, Status.STALLED})
# The run ended, with a result or an error: what a report counts as done.
ENDED = FINISHED | {Status.FAILED}
# What a run whose process vanished may still show: it never recorded its end.
UNFINISHED = frozenset({Status.QUEUED, Status.RUNNING})
# Not ended yet, whatever its process is doing: what a report counts as pending.
PENDING = frozenset(Status) - ENDED
