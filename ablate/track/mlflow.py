"""MLflow: an experiment per sweep, a parent run per sweep, a child run per ablate run.

The sweep process opens the parent (`sweep_run`) and records it in
`<sweep>/mlflow.json`; each run, in whichever worker or node, opens its child
under it and keeps the child's id in its run folder's `mlflow.json`, so a
resumed run continues the same MLflow run and skips the epochs it already
logged (no step twice). Params are the resolved config, flattened; metrics are
history.csv's columns with `step=epoch`; artifacts summary.json, history.csv
and log.txt. A `failed` or `diverged` run ends FAILED with its reason as a tag,
an `interrupted` one KILLED.

Where it goes: `tracker.mlflow.uri`, else MLFLOW_TRACKING_URI, else a SQLite
store in the sweep folder (`sqlite:///<sweep>/mlflow.db`; recent MLflow
refuses the old file store by default), artifacts beside it in `mlartifacts/`.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ablate.errors import ConfigError
from ablate.store import atomic
from ablate.store.status import Status
from ablate.track.base import EPOCH_SCALARS, SENT_AT_END, TRACKERS, RunInfo, TrackerKind, flatten

STATE_FILE = "mlflow.json"  # in the sweep folder (the parent run) and in each run folder (its child)
ENDINGS = {Status.COMPLETED: "FINISHED", Status.FAILED: "FAILED", Status.DIVERGED: "FAILED", Status.COLLAPSED: "FAILED",
           Status.STALLED: "FINISHED",
           Status.INTERRUPTED: "KILLED"}
ARTIFACTS = ("summary.json", "history.csv", "log.txt")
# Epochs are sent at most this often (seconds): a batch per epoch costs the
# training thread ~6 ms of a 33 ms digits epoch in MLflow's queue and its
# SQLAlchemy work; the live view lags by at most this (bench/bench_tracking.py).
SEND_EVERY = 2.0
PARAMS_PER_CALL = 100  # MLflow's log_batch limits
METRICS_PER_CALL = 1000


def tracking_uri(uri: str | None, sweep_dir: Path) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(sweep_dir / 'mlflow.db').resolve()}"


def read_state(folder: Path) -> dict[str, Any]:
    try:
        state = atomic.read_json(folder / STATE_FILE)
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def client_for(uri: str):
    import logging

    from mlflow import MlflowClient

    # Creating a SQLite store logs its schema migrations at INFO on stderr,
    # between the sweep's progress lines; they are MLflow's business, not the user's.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def check_uri(uri: str) -> None:
    """One line, before anything is exported, when MLflow cannot use `uri`
    (an unsupported scheme, a server that does not answer), rather than
    MLflow's chained tracebacks from the first run."""
    try:
        client_for(uri).search_experiments(max_results=1)
    except Exception as e:  # noqa: BLE001 — MLflow raises its own, SQLAlchemy's and requests' errors here
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ConfigError(f"MLflow cannot use the tracking URI {uri}: {reason[:300]}") from None


def experiment_id(client, name: str, sweep_dir: Path, uri: str) -> str:
    """The experiment named after the sweep, created on first use (artifacts in
    the sweep folder when the store is the default SQLite one there)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    local = uri == tracking_uri(None, sweep_dir) and uri.startswith("sqlite:")
    location = (sweep_dir / "mlartifacts").resolve().as_uri() if local else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # another process created it since the lookup
        return client.get_experiment_by_name(name).experiment_id


@contextmanager
def sweep_run(cfg: Any, sweep_dir: Path) -> Iterator[None]:
    """The sweep's parent run, open while the sweep runs (reused by a rerun of it)."""
    uri = tracking_uri(cfg.uri, sweep_dir)
    state = read_state(sweep_dir)
    try:
        client = client_for(uri)
        if state.get("uri") == uri and state.get("parent_run_id"):
            parent = state["parent_run_id"]
            client.update_run(parent, status="RUNNING")
        else:
            exp = experiment_id(client, cfg.experiment or sweep_dir.name, sweep_dir, uri)
            parent = client.create_run(exp, run_name=sweep_dir.name, tags={"ablate.sweep": sweep_dir.name}).info.run_id
            atomic.write_json(sweep_dir / STATE_FILE, {"uri": uri, "experiment_id": exp, "parent_run_id": parent})
    except Exception as e:  # noqa: BLE001 — tracking never stops a sweep
        warnings.warn(f"tracker mlflow: no parent run for the sweep ({type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}); runs are logged without one", stacklevel=2)
        yield
        return
    ending = "FINISHED"
    try:
        yield
    except KeyboardInterrupt:
        ending = "KILLED"
        raise
    finally:
        try:
            client.set_terminated(parent, status=ending)
        except Exception as e:  # noqa: BLE001
            warnings.warn(f"tracker mlflow: could not close the sweep's parent run ({e})", stacklevel=2)


class MlflowTracker:
    def __init__(self, cfg: Any, info: RunInfo) -> None:
        self.info = info
        parent = read_state(info.sweep_dir)
        uri = tracking_uri(cfg.uri, info.sweep_dir)
        self.client = client_for(uri)
        mine = read_state(info.run_dir)
        self.logged = 0  # the last epoch already in MLflow (a resume skips up to it)
        self.pending: list = []  # asynchronous writes not yet known to be done
        self.buffer: list = []  # epochs' metrics not sent yet
        self.sent = time.monotonic()  # when the buffer was last sent
        if mine.get("uri") == uri and mine.get("run_id"):
            self.run_id = mine["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            history = self.client.get_metric_history(self.run_id, "val_acc")
            self.logged = max((m.step for m in history), default=0)
        else:
            self.run_id = self._create(cfg, info, parent, uri)
        # A kill can land after an epoch's checkpoint but before MLflow's queue
        # wrote that epoch: the resumed run never trains it again, so log the
        # checkpointed epochs MLflow lacks from the run's own history.
        for row in info.history:
            self.epoch(row)

    def _create(self, cfg: Any, info: RunInfo, parent: Mapping[str, Any], uri: str) -> str:
        exp = parent.get("experiment_id") if parent.get("uri") == uri else None
        exp = exp or experiment_id(self.client, cfg.experiment or info.sweep, info.sweep_dir, uri)
        tags = {"ablate.run_id": info.run_id, "ablate.status": Status.RUNNING.value,
                **{f"ablate.factor.{k}": str(v) for k, v in info.factors.items()}}
        if parent.get("uri") == uri and parent.get("parent_run_id"):
            tags["mlflow.parentRunId"] = parent["parent_run_id"]
        run_id = self.client.create_run(exp, run_name=info.name, tags=tags).info.run_id
        self._log_params(run_id, flatten(info.config))
        atomic.write_json(info.run_dir / STATE_FILE, {"uri": uri, "run_id": run_id})
        return run_id

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items() if k not in ("run_id",)]
        for i in range(0, len(items), PARAMS_PER_CALL):
            self.client.log_batch(run_id, params=items[i:i + PARAMS_PER_CALL])

    def epoch(self, record: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        step = int(record["epoch"])
        if step <= self.logged:
            return
        stamp = int(time.time() * 1000)
        self.buffer += [Metric(k, float(record[k]), stamp, step) for k in EPOCH_SCALARS if record.get(k) is not None]
        self.logged = step
        if time.monotonic() - self.sent >= SEND_EVERY:
            self._send()

    def _send(self) -> None:
        """The buffered epochs in one asynchronous batch: MLflow's own queue writes
        it from a background thread, so training never waits on a database commit
        (~0.1 s on SQLite, three digits epochs); `finish` waits for every write."""
        for i in range(0, len(self.buffer), METRICS_PER_CALL):
            chunk = self.buffer[i:i + METRICS_PER_CALL]
            self.pending.append(self.client.log_batch(self.run_id, metrics=chunk, synchronous=False))
        self.buffer, self.sent = [], time.monotonic()

    def histograms(self, epoch: int, tensors) -> None:
        return None  # MLflow has no histograms (the run's diagnostics.csv keeps the statistics)

    def scalars(self, epoch: int, values: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(tag.replace("/", "."), value, stamp, epoch) for tag, value in values.items()]
        for i in range(0, len(metrics), METRICS_PER_CALL):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + METRICS_PER_CALL])

    def finish(self, status: str, summary: Mapping[str, Any], reason: str | None) -> None:
        from mlflow.entities import Metric, RunTag

        self._send()
        for operation in self.pending:  # the epochs' writes, before the run is closed
            operation.wait()
        self.pending.clear()
        stamp = int(time.time() * 1000)
        final = [Metric(f"summary.{m}", float(summary[m]), stamp, 0) for m in SENT_AT_END
                 if isinstance(summary.get(m), (int, float)) and math.isfinite(summary[m])]
        tags = [RunTag("ablate.status", status)] + ([RunTag("ablate.reason", reason)] if reason else [])
        self.client.log_batch(self.run_id, metrics=final, tags=tags)
        for name in ARTIFACTS:
            if (self.info.run_dir / name).exists():
                self.client.log_artifact(self.run_id, str(self.info.run_dir / name))
        self.client.set_terminated(self.run_id, status=ENDINGS.get(status, "FAILED"))


def holds(cfg: Any, info: RunInfo) -> bool:
    """The experiment already has a run tagged with this run id."""
    uri = tracking_uri(cfg.uri, info.sweep_dir)
    client = client_for(uri)
    found = client.get_experiment_by_name(cfg.experiment or info.sweep)
    if found is None:
        return False
    tagged = client.search_runs([found.experiment_id], filter_string=f"tags.`ablate.run_id` = '{info.run_id}'",
                                max_results=1)
    return bool(tagged)


TRACKERS.add("mlflow", TrackerKind(MlflowTracker, "mlflow", "mlflow", sweep=sweep_run, holds=holds),
             "MLflow: an experiment per sweep, a parent run per sweep, a nested run per ablate run")
