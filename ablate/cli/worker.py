"""`ablate worker URI/SWEEP` and `ablate pull URI/SWEEP DIR`: sweeps in object storage.

`ablate.cli.app` registers both. Credentials come from the usual environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ENDPOINT_URL_S3 for
an S3-compatible server); ablate adds no setting of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Uri = Annotated[str, typer.Argument(help="The sweep in object storage: s3://bucket/prefix/<sweep> (any fsspec URI).",
                                    show_default=False)]


def worker(
    uri: Uri,
    scratch: Annotated[Optional[Path], typer.Option(
        "--scratch", help="Local folder runs train in (default: a temporary folder, removed at the end).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Also re-run runs that failed.")] = False,
    lease_seconds: Annotated[float, typer.Option(
        "--lease-seconds", min=1.0, max=86_400.0,
        help="How long a claim lasts without a heartbeat (heartbeats every third of it): how long a killed "
             "worker's run waits before another worker takes it over.")] = 60.0,
) -> None:
    """Train a sweep's queued runs until none are left; run it on as many machines as you like.

    Each run is claimed with a lease in the bucket, trained in local scratch and
    uploaded after every epoch; a run whose worker died is taken over once its
    lease expires and resumes from its last uploaded checkpoint. Running the same
    command again is the resume.

    Example: ablate worker s3://my-bucket/ablate/norm-vs-act
    """
    from ablate.api.remote import run_worker
    from ablate.console import err, fail, note
    from ablate.errors import ConfigError
    from ablate.launch.worker import LOST_LEASE, NOT_UPLOADED

    def finished(result) -> None:
        reason = f" ({result.error})" if result.error else ""
        err.print(f"{result.run_id} {result.status}{reason}", highlight=False, markup=False)

    try:
        counts = run_worker(uri, scratch=scratch, retry_failed=retry_failed, lease_seconds=lease_seconds,
                            on_note=note, on_result=finished,
                            on_claim=lambda rid: err.print(f"{rid} claimed", highlight=False, markup=False))
    except ConfigError as e:
        raise fail(str(e)) from None
    except OSError as e:  # the store stopped answering mid-sweep (after the retries)
        raise fail(f"{uri}: {e}; nothing this worker trained since is recorded as done", code=1) from None
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to resume", highlight=False)
        raise typer.Exit(130) from None
    total = sum(counts.values())
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing left to run"
    err.print(f"worker: {total} run{'s' if total != 1 else ''} trained here: {summary}", highlight=False)
    if counts.get(NOT_UPLOADED) or counts.get(LOST_LEASE):
        raise typer.Exit(1)


def pull(
    uri: Uri,
    folder: Annotated[Path, typer.Argument(help="Local folder the sweep is copied into.", show_default=False)],
    light: Annotated[bool, typer.Option(
        "--light", help="Only what a report reads: no checkpoints or logs.")] = False,
) -> None:
    """Copy a sweep from object storage into a local folder, for offline work (ablate report FOLDER).

    Example: ablate pull s3://my-bucket/ablate/norm-vs-act results/norm-vs-act
    """
    from ablate.api.remote import pull as pull_sweep
    from ablate.console import err, fail
    from ablate.errors import ConfigError

    try:
        copied = pull_sweep(uri, folder, light=light)
    except ConfigError as e:
        raise fail(str(e)) from None
    err.print(f"{copied} files of {uri} copied into {folder}", highlight=False, markup=False)
