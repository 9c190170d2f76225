"""`--launcher ray`: one Ray task per run, on a cluster or a private instance.

Ray schedules the tasks; `gpus_per_run` may be a fraction, so four runs with
0.25 share one GPU (Ray sets each task's CUDA_VISIBLE_DEVICES). A task whose
worker process dies (killed, out of memory, node lost) is retried by Ray up
to `ray_max_retries` times; the retry calls `execute(spec)` again and resumes
from the run's checkpoint.pt. The results folder must be on storage every
node sees, and ablate installed on every node.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ablate.errors import ConfigError
from ablate.launch.base import execute, lost
from ablate.launch.base import for_cluster, mark_interrupted, not_writable, sweep_dir_of
from ablate.launch.options import RayOptions
from ablate.runner.spec import RunResult, RunSpec
from ablate.store.atomic import check_writable_here, write_probe
from ablate.store.rundir import RunDir
from ablate.store.status import Status

WAIT_S = 1.0  # ray.wait slices, so Ctrl-C and --max-failures are seen promptly
PROBE_TIMEOUT_S = 300.0  # a node that cannot start a zero-CPU task in 5 min is not usable
GRACE_S = 5.0  # after Ctrl-C: how long running tasks get to record `interrupted` before a force-kill
SETTLE_S = 30.0  # after Ctrl-C: how long to wait for cancelled tasks to stop at all


def _run_task(spec: RunSpec) -> RunResult:
    # Where the run is: host, worker process (a retry is a new one), and the
    # GPU Ray gave it (several runs share one with fractional gpus_per_run).
    gpus = ",".join(str(g) for g in ray.get_gpu_ids()) or "none"
    RunDir(spec.run_dir).log(f"ray task on {socket.gethostname()}, worker pid {os.getpid()}, gpu {gpus}")
    return execute(spec)


class RayLauncher:
    def __init__(self, options: RayOptions, workers: int = 1, gpus: int = 0) -> None:
        # `workers` and `gpus` describe this machine; Ray's scheduler decides placement.
        self.options = options
        self.checked: set[Path] = set()  # sweep folders every node has written to

    def connect(self) -> None:
        if ray.is_initialized():
            return
        address = self.options.ray_address
        try:
            # No dashboard (extra dependencies, slower start); worker output stays
            # out of the live display: each run keeps its own log.txt.
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            raise ConfigError(f"cannot connect to {where}: {str(e).strip().splitlines()[0]}") from None

    def _fits(self, resources: dict) -> bool:
        return (resources.get("CPU", 0) >= self.options.cpus_per_run
                and resources.get("GPU", 0) >= self.options.gpus_per_run)

    def nodes_that_fit(self) -> list[dict]:
        """The live nodes that can hold one run; ConfigError when none can."""
        nodes = [n for n in ray.nodes() if n.get("Alive") and self._fits(n.get("Resources", {}))]
        if not nodes:
            o = self.options
            raise ConfigError(f"no node of the Ray cluster has {o.cpus_per_run} CPU(s) and {o.gpus_per_run:g} "
                              f"GPU(s) free for one run; lower --cpus-per-run / --gpus-per-run")
        return nodes

    def _capacity(self) -> int:
        """Runs the cluster can hold at once; more are not submitted, so a Ctrl-C
        or --max-failures leaves the rest unstarted."""
        o, total = self.options, ray.cluster_resources()
        cap = total.get("CPU", 0) // o.cpus_per_run
        if o.gpus_per_run:
            cap = min(cap, math.floor(total.get("GPU", 0) / o.gpus_per_run + 1e-9))
        return max(1, int(cap))

    def check_writable(self, sweep_dir: Path) -> None:
        """A zero-CPU task on every node that can take a run writes and deletes a
        file in the sweep folder."""
        sweep_dir = Path(sweep_dir).absolute()
        if sweep_dir in self.checked:
            return
        check_writable_here(sweep_dir)
        self.connect()
        nodes = self.nodes_that_fit()
        probe = ray.remote(write_probe)
        refs = [probe.options(num_cpus=0, max_retries=1, scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["NodeID"], soft=False)).remote(str(sweep_dir)) for n in nodes]
        for node, ref in zip(nodes, refs):
            try:
                ray.get(ref, timeout=PROBE_TIMEOUT_S)
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if getattr(e, "cause", None) is not None else e
                raise not_writable(sweep_dir, f"node {node.get('NodeManagerAddress')}: "
                                              f"{type(cause).__name__}: {cause}") from None
            except (ray.exceptions.RayError, TimeoutError) as e:
                raise not_writable(sweep_dir, f"node {node.get('NodeManagerAddress')}: "
                                              f"{str(e).strip().splitlines()[0]}") from None
        self.checked.add(sweep_dir)

    def map(self, specs: Sequence[RunSpec], keep_going: Callable[[], bool] = lambda: True) -> Iterator[RunResult]:
        """One task per run, at most the cluster's capacity in flight; yield results as they finish."""
        if not specs or not keep_going():
            return
        queue = for_cluster(specs, self.options.cpus_per_run)
        self.connect()
        self.check_writable(sweep_dir_of(queue))  # once per folder: a no-op when the CLI checked it first
        o = self.options
        task = ray.remote(_run_task).options(num_cpus=o.cpus_per_run, num_gpus=o.gpus_per_run,
                                             max_retries=o.ray_max_retries, retry_exceptions=False)
        in_flight: dict[ray.ObjectRef, RunSpec] = {}
        try:
            while queue or in_flight:
                capacity = self._capacity()
                while queue and len(in_flight) < capacity and keep_going():
                    spec = queue.pop(0)
                    in_flight[task.remote(spec)] = spec
                if not in_flight:
                    break  # keep_going() said stop and nothing is left running
                done, _ = ray.wait(list(in_flight), num_returns=1, timeout=WAIT_S)
                for ref in done:
                    yield self._result(ref, in_flight.pop(ref))
        except BaseException:
            self._cancel(list(in_flight))
            mark_interrupted(in_flight.values(), "interrupted: ray task cancelled")
            raise

    @staticmethod
    def _cancel(refs: list) -> None:
        """Stop the tasks in flight, so their run folders are final before the sweep ends.

        ray.cancel raises KeyboardInterrupt inside a running task, whose run then
        records `interrupted` as it would locally. A cancel that reaches a task
        while its worker is still starting can be lost, so it is repeated, and
        what is still going after GRACE_S is force-killed (its run keeps the
        last checkpoint).
        """
        start = time.monotonic()
        try:
            while refs and time.monotonic() - start < SETTLE_S:
                force = time.monotonic() - start > GRACE_S
                for ref in refs:
                    ray.cancel(ref, force=force)
                _, refs = ray.wait(refs, num_returns=len(refs), timeout=1.0)
        except (KeyboardInterrupt, Exception):  # noqa: BLE001 — a second Ctrl-C, or Ray already gone
            pass  # what did not record its end is marked by the caller

    def _result(self, ref: ray.ObjectRef, spec: RunSpec) -> RunResult:
        try:
            return ray.get(ref)
        except ray.exceptions.WorkerCrashedError as e:
            # Ray retried it `ray_max_retries` times already: something kills it every time (memory?).
            first = str(e).strip().splitlines()[0]
            return lost(spec, Status.FAILED, f"ray worker died {self.options.ray_max_retries + 1} times: {first}")
        except ray.exceptions.RayError as e:
            # The task failed outside run() (which records its own failures) or its node was lost.
            cause = getattr(e, "cause", None)
            reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(e).strip().splitlines()[0]
            return lost(spec, Status.FAILED, f"ray task failed: {reason.splitlines()[0]}")
