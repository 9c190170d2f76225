"""A lease instead of `flock`, for runs in object storage: who trains a run, until when.

A lease is a numbered object, `leases/<run-id>/<generation>.json`, holding the
holder (host, pid, a random token), its last heartbeat and its expiry. A worker
claims a run by creating the next generation with a conditional write (S3
`If-None-Match: *`): of two workers that try at once, exactly one object is
created, so exactly one wins. The holder rewrites its own generation to push
the expiry on; nobody else writes that key. A lease that expired (its holder
was killed, or lost the network for longer than the lease) or was released is
taken over by creating the generation after it, and the newest generation is
the only one that counts: a holder that finds a newer one has lost the run and
must stop without writing its results.

Generations are never deleted, so a generation number is never reused and a
stale holder can never mistake a new lease for its own. Expiry compares wall
clocks of different machines: keep them in sync to well within LEASE_SECONDS
(NTP does, to milliseconds).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ablate.store.remote import LEASES, Remote

# Seconds a lease lasts without a heartbeat: how long a killed worker's run
# waits before another worker takes it over. Heartbeats come every third of it,
# so two lost heartbeats in a row still keep the lease.
LEASE_SECONDS = 60.0


def _key(run_id: str, generation: int) -> str:
    return f"{LEASES}/{run_id}/{generation:08d}.json"


def newest(remote: Remote, run_id: str) -> tuple[int, dict[str, Any]]:
    """(generation, record) of the run's newest lease; (0, {}) when it never had one."""
    keys = [k for k in remote.find(f"{LEASES}/{run_id}") if k.endswith(".json")]
    if not keys:
        return 0, {}
    generation = max(int(k.rsplit("/", 1)[-1].removesuffix(".json")) for k in keys)
    data = remote.get(_key(run_id, generation))
    try:
        return generation, json.loads(data) if data else {}
    except ValueError:
        return generation, {}  # unreadable: treated as expired


def is_free(record: dict[str, Any], now: float | None = None) -> bool:
    return bool(record.get("released")) or float(record.get("expires", 0)) <= (time.time() if now is None else now)


@dataclass
class Lease:
    remote: Remote
    run_id: str
    generation: int
    holder: str
    seconds: float
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def record(self, released: bool = False) -> bytes:
        beat = time.time()
        return json.dumps({"run_id": self.run_id, "holder": self.holder, "generation": self.generation,
                           "heartbeat": beat, "expires": 0.0 if released else beat + self.seconds,
                           "released": released}).encode()

    def heartbeat(self) -> bool:
        """Push the expiry on; False (and `lost`) when a newer generation exists."""
        generation, _ = newest(self.remote, self.run_id)
        if generation != self.generation:
            self.lost = True
            return False
        self.remote.put(_key(self.run_id, self.generation), self.record())
        return True

    def keep_alive(self) -> Lease:
        """Heartbeat in a daemon thread until `release()`; a failed heartbeat is retried at the next beat."""
        def beat() -> None:
            while not self._stop.wait(self.seconds / 3) and not self.lost:
                try:
                    self.heartbeat()
                except OSError:
                    pass  # the store is unreachable: the next beat tries again; the lease may lapse meanwhile

        self._thread = threading.Thread(target=beat, name=f"lease-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Stop the heartbeat and mark the lease free, unless another holder has it by now."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            if not self.lost and newest(self.remote, self.run_id)[0] == self.generation:
                self.remote.put(_key(self.run_id, self.generation), self.record(released=True))
        except OSError:
            pass  # the store is unreachable: the lease lapses at its expiry instead


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(remote: Remote, run_id: str, holder: str, seconds: float = LEASE_SECONDS) -> Lease | None:
    """The run's lease for `holder`, or None while another holder's lease is live or another
    worker created the next generation first."""
    generation, record = newest(remote, run_id)
    if generation and not is_free(record):
        return None
    lease = Lease(remote, run_id, generation + 1, holder, seconds)
    return lease if remote.create(_key(run_id, lease.generation), lease.record()) else None


def expires_in(remote: Remote, run_id: str) -> float:
    """Seconds until the run's newest lease is free (0 when it is)."""
    _, record = newest(remote, run_id)
    return 0.0 if is_free(record) else max(0.0, float(record.get("expires", 0)) - time.time())
