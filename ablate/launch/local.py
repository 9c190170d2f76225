"""The local executor: runs `RunSpec`s in this process or in a process pool.

Every executor shares one contract (`ablate.launch`): take run specs, call
`execute(spec)` (which runs `ablate.runner.run.run` under the run's lock and
writes its run directory) and hand back `RunResult`s as they finish. Here:
`--workers 1` runs in-process; more workers are spawned processes. On CPU each
run uses its own thread count (ablate.train.threads); on GPU, workers are
spread over the visible devices, `runs_per_gpu` to a device, because one small
CNN leaves most of a GPU idle.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ablate.errors import ConfigError
from ablate.launch.base import execute, lost
from ablate.launch.signals import interrupt_once
from ablate.runner.spec import RunResult, RunSpec
from ablate.store.atomic import check_writable_here
from ablate.store.rundir import RunDir
from ablate.store.status import Status
from ablate.train.threads import usable_cores

_active = False  # a worker is inside a run (SIGTERM then interrupts it cleanly)


def _execute_in_worker(spec: RunSpec) -> RunResult:
    global _active
    _active = True
    try:
        return execute(spec)
    except KeyboardInterrupt:
        # run() has recorded the run as interrupted; leave before the pool
        # hands this worker another run.
        os._exit(130)
    finally:
        _active = False


def _on_sigterm(signum, frame) -> None:
    if _active:
        interrupt_once(signum, frame)
    os._exit(143)


def _stop_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the sweep's process dies, even by kill -9.

    Otherwise an orphaned worker trains on, holding its run's lock, and the
    re-run of the command finds that run "running elsewhere". With the signal
    it records itself interrupted at once and the re-run resumes it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the call: nobody will send the signal
        os._exit(143)


def _init_worker(gpu_slots, parent: int) -> None:
    # Ctrl-C goes to the whole process group; the parent decides what stops
    # and tells workers with SIGTERM, so idle workers never print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _stop_with_parent(parent)
    if gpu_slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_slots.get())


def gpu_ids(gpus: int, visible: str | None) -> list[str]:
    """What each worker puts in CUDA_VISIBLE_DEVICES: the parent's own visible
    devices in order (with CUDA_VISIBLE_DEVICES=2,3, device index 0 is GPU 2)."""
    listed = [d.strip() for d in visible.split(",") if d.strip()] if visible else []
    return listed[:gpus] if len(listed) >= gpus else [str(i) for i in range(gpus)]


# A default, not a limit: each worker holds its own copy of the dataset in memory.
MAX_DEFAULT_CPU_WORKERS = 8


def default_workers(runs: int, gpus: int, runs_per_gpu: int, threads: int = 1) -> int:
    """Without --workers: GPUs × runs per GPU on CUDA; on CPU the cores ÷ each
    run's threads (small CNNs run on one thread, so one worker a core: 1.42× the
    runs per hour of one 2-thread worker on 2 cores, bench/bench_sweep.py), but
    never more workers than runs."""
    if gpus:
        return gpus * runs_per_gpu
    return max(1, min(usable_cores() // max(1, threads), runs, MAX_DEFAULT_CPU_WORKERS))


def worker_threads(workers: int) -> int:
    """A GPU worker's share of the cores for its host side (at least one thread)."""
    return max(1, usable_cores() // workers)


def check_main_importable() -> None:
    """A spawned worker first imports the parent's main script from its path; code
    piped to `python -` has the path '<stdin>', so every worker would die before
    its run began. Said once, before any run, instead of every run failing."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if path is not None and not os.path.exists(path):
        raise ConfigError(f"worker processes cannot import the main script {path!r} (code piped to python?): "
                          "run it from a file or a notebook, or use workers=1")


class LocalExecutor:
    """`--launcher local`: this machine. It handles Ctrl-C itself (each run
    records `interrupted` before its worker exits)."""

    def __init__(self, workers: int = 1, gpus: int = 0) -> None:
        if workers > 1:
            check_main_importable()
        self.workers = workers  # on GPU, the caller's GPUs × runs per GPU
        self.gpus = gpus

    def check_writable(self, sweep_dir: Path) -> None:
        check_writable_here(sweep_dir)

    def map(self, specs: Sequence[RunSpec], keep_going: Callable[[], bool] = lambda: True) -> Iterator[RunResult]:
        """Yield results as runs finish; stop launching new ones once `keep_going()` is False."""
        if self.workers == 1:
            for spec in specs:
                if not keep_going():
                    return
                yield execute(spec)
            return
        yield from self._pool(specs, keep_going)

    def _new_pool(self, ctx, ids: list[str]) -> ProcessPoolExecutor:
        # Each worker takes one GPU slot as it starts; a pool replaced after a
        # worker died gets a full queue again, or its workers would wait forever.
        slots = None
        if ids:
            slots = ctx.Queue()
            for i in range(self.workers):
                slots.put(ids[i % len(ids)])
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(slots, os.getpid()))

    def _pool(self, specs: Sequence[RunSpec], keep_going: Callable[[], bool]) -> Iterator[RunResult]:
        ctx = mp.get_context("spawn")  # fork + CUDA or OpenMP thread pools is unsafe
        ids = gpu_ids(self.gpus, os.environ.get("CUDA_VISIBLE_DEVICES")) if self.gpus else []
        pool = self._new_pool(ctx, ids)
        pending: dict[Future, RunSpec] = {}
        queue = list(specs)
        breaks_in_a_row = 0  # pool replacements with no run finished in between
        try:
            while queue or pending:
                pool_broke = self._fill(pool, pending, queue, keep_going)
                if not pending and not pool_broke:
                    break
                done = wait(pending, return_when=FIRST_COMPLETED)[0] if pending else set()
                broken: list[tuple[RunSpec, str]] = []  # runs whose future says the pool broke
                for future in done:
                    spec = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool as e:
                        broken.append((spec, str(e).splitlines()[0]))
                        continue
                    breaks_in_a_row = 0
                    yield result
                if broken or pool_broke:
                    breaks_in_a_row += 1
                    in_flight = broken + [(spec, "") for spec in pending.values()]
                    pending.clear()
                    pool.shutdown(wait=True, cancel_futures=True)
                    yield from _after_a_death(in_flight, queue, give_up=breaks_in_a_row >= 3)
                    pool = self._new_pool(ctx, ids)
        except BaseException:
            # Ctrl-C (or a crash here): interrupt the runs in flight; each
            # records itself as interrupted before its worker exits.
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                if process.is_alive():
                    process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _fill(self, pool: ProcessPoolExecutor, pending: dict[Future, RunSpec], queue: list[RunSpec],
              keep_going: Callable[[], bool]) -> bool:
        """Submit until `workers` runs are in flight; True when the pool turned out broken.

        Exactly `workers`: the pool would otherwise pre-queue extra work that a
        Ctrl-C or --max-failures must not start."""
        while queue and len(pending) < self.workers and keep_going():
            try:
                pending[pool.submit(_execute_in_worker, queue[0])] = queue[0]
            except BrokenProcessPool:  # a worker died since the last wait
                return True
            queue.pop(0)
        return False


def _after_a_death(in_flight: list[tuple[RunSpec, str]], queue: list[RunSpec], give_up: bool) -> Iterator[RunResult]:
    """A worker died (out of memory, killed). The broken pool stops every other
    worker with SIGTERM, and their runs record themselves `interrupted` on the
    way out (or had not begun); once the pool has joined them, a run still
    marked running is the dead worker's: it failed. The others go back to the
    front of the queue and resume from their checkpoints. Workers that die
    before any run ends (a broken environment) would requeue the same runs
    forever: `give_up` (after 3 such deaths) fails them all."""
    for spec, error in reversed(in_flight):
        if RunDir(spec.run_dir).read_status().get("status") == Status.RUNNING or give_up:
            yield lost(spec, Status.FAILED, f"worker process died: {error}")
        else:
            queue.insert(0, spec)
