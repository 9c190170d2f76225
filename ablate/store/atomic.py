"""Atomic file writes: write a temporary file beside the target, then rename.

A reader (or a crash) never sees a half-written file: `os.replace` is atomic
on POSIX within one filesystem, which the same-folder temporary guarantees.
"""

from __future__ import annotations

import io
import json
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

from ablate.errors import ConfigError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates its file 0600 and the rename keeps that mode; results on
# shared storage must be readable by collaborators and report jobs, so files
# get the mode a plain open() would give them (0666 less the umask).
_FILE_MODE = 0o666 & ~_umask()


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def torch_save(path: Path, obj: Any) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())


def write_probe(sweep_dir: str) -> str:
    """On a worker: create and delete a file in the sweep folder; returns the host."""
    host = socket.gethostname()
    probe = Path(sweep_dir) / f".probe-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    probe.write_text("ablate writability probe\n")
    probe.unlink()
    return host


def check_writable_here(sweep_dir: Path) -> None:
    """The driver's own check, before anything is submitted."""
    try:
        Path(sweep_dir).mkdir(parents=True, exist_ok=True)
        write_probe(str(sweep_dir))
    except OSError as e:
        raise ConfigError(f"results folder {sweep_dir} is not writable: {e.strerror or e}") from None
