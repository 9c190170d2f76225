"""Results in object storage: a sweep folder under any fsspec URI (s3://, gs://, az://, file://).

The layout inside the bucket is the run-folder format of a local sweep, byte
for byte, so a pulled copy reads as any other sweep. Each file is one whole
object: an object PUT is atomic, so a reader sees the old object or the new
one, never half of either. A run trains in local scratch and uploads its files;
status.json goes last, as the commit marker (store.status decides what a
status means; this module only moves bytes).

Credentials and the endpoint come the usual way: for S3, AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_PROFILE and AWS_ENDPOINT_URL_S3 (botocore reads
them; ablate adds no setting of its own).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePath
from typing import Any

from ablate.errors import ConfigError

# A run's light files: what a report or ablate.load reads. Never checkpoint.pt
# (megabytes a run) or log.txt; predictions.npz is a byte per test image, for the report's per-image tests.
LIGHT_FILES = ("config.yaml", "status.json", "summary.json", "history.csv", "factors.json", "diagnostics.csv",
               "predictions.npz")
# Outside runs/, so the run folders hold exactly what a local sweep's hold (store.lease).
LEASES = "leases"

# Per-protocol options of the fsspec filesystem. Listings are never cached: a
# worker must see the statuses other workers wrote a moment ago. botocore's own
# retries are cut to one attempt, so `retry` below owns the policy and can say
# what it is doing; s3fs's retry loop likewise.
FS_OPTIONS: dict[str, dict[str, Any]] = {
    "s3": {"skip_instance_cache": True, "use_listings_cache": False,
           "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 5, "read_timeout": 60}},
}

# Seconds between the attempts of one object transfer: 4 tries over ~7 s ride
# out a server restart or a dropped connection; longer outages are reported.
RETRY_DELAYS = (1.0, 2.0, 4.0)


class UploadError(OSError):
    """An object could not be written after every retry: the run is not recorded as done."""


def is_uri(value: str | PurePath) -> bool:
    """True for `scheme://...`, also after pathlib collapsed it to `scheme:/...` (a typer Path argument)."""
    return uri_of(value) is not None


def uri_of(value: str | PurePath) -> str | None:
    """The URI `value` spells, or None for a plain path. `Path("s3://b/p")` reads `s3:/b/p`: put the slashes back."""
    text = str(value)
    scheme, sep, rest = text.partition(":/")
    if not sep or not scheme.isidentifier() or len(scheme) < 2:  # `C:/x` is a Windows drive, not a scheme
        return None
    rest = rest.lstrip("/")
    return f"{scheme}:///{rest}" if scheme == "file" else f"{scheme}://{rest}".rstrip("/")


def retry(action: Callable[[], Any], what: str, on_retry: Callable[[str], None] | None = None,
          delays: Iterable[float] = RETRY_DELAYS) -> Any:
    """`action()`, tried again after each delay on a connection or server error; the last error is raised
    as UploadError naming `what`. FileExistsError (a conditional write that lost) and FileNotFoundError pass through."""
    delays = list(delays)
    for attempt in range(len(delays) + 1):
        try:
            return action()
        except (FileExistsError, FileNotFoundError):
            raise
        except Exception as e:  # noqa: BLE001 — botocore's connection errors are not OSErrors
            if attempt == len(delays):
                raise UploadError(f"{what}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
            if on_retry is not None:
                on_retry(f"{what} failed ({type(e).__name__}); try {attempt + 2} of {len(delays) + 1} "
                         f"in {delays[attempt]:g} s")
            time.sleep(delays[attempt])
    raise AssertionError("unreachable")


class Remote:
    """A sweep folder in object storage: keys relative to its root (`runs/<id>/status.json`)."""

    def __init__(self, uri: str, on_retry: Callable[[str], None] | None = None,
                 delays: Iterable[float] = RETRY_DELAYS) -> None:
        import fsspec

        self.uri = str(uri).rstrip("/")
        protocol = self.uri.split("://", 1)[0]
        self.fs, self.root = fsspec.core.url_to_fs(self.uri, **FS_OPTIONS.get(protocol, {}))
        self.root = self.root.rstrip("/")
        if hasattr(self.fs, "retries"):
            self.fs.retries = 1  # s3fs's own retry loop (a class attribute, not an option): `retry` owns it
        self.on_retry = on_retry
        self.delays = tuple(delays)

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    def key(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def _retry(self, action: Callable[[], Any], what: str) -> Any:
        return retry(action, f"{what} {self.uri}", self.on_retry, self.delays)

    # -- whole objects
    def put(self, rel: str, data: bytes) -> None:
        self._retry(lambda: self.fs.pipe_file(self.key(rel), data), f"writing {rel} to")

    def create(self, rel: str, data: bytes) -> bool:
        """Write `rel` only if no object has that key (S3 If-None-Match: *); False when one does."""
        try:
            self._retry(lambda: self.fs.pipe_file(self.key(rel), data, mode="create"), f"creating {rel} in")
        except FileExistsError:
            return False
        return True

    def get(self, rel: str) -> bytes | None:
        """The object's bytes; None when there is none."""
        try:
            return self._retry(lambda: self.fs.cat_file(self.key(rel)), f"reading {rel} from")
        except FileNotFoundError:
            return None

    def delete(self, rel: str) -> None:
        try:
            self._retry(lambda: self.fs.rm_file(self.key(rel)), f"deleting {rel} from")
        except FileNotFoundError:
            pass

    def find(self, prefix: str = "") -> list[str]:
        """Every key under `prefix`, relative to the root, in one listing (S3 pages it, 1000 keys a page)."""
        base = self.key(prefix)
        try:
            found = self._retry(lambda: self.fs.find(base), f"listing {prefix or '/'} of")
        except FileNotFoundError:
            return []
        return sorted(k[len(self.root) + 1:] for k in found if k.startswith(self.root + "/"))

    # -- folders
    def upload(self, local_dir: Path, rel_dir: str, names: Iterable[str]) -> None:
        """Upload `names` of `local_dir` that exist, in the order given: the caller puts the commit marker last."""
        for name in names:
            path = Path(local_dir) / name
            if path.is_file():
                self.put(f"{rel_dir}/{name}", path.read_bytes())

    def download(self, keys: Iterable[str], local_root: Path, strip: str = "") -> int:
        """Write each key under `local_root` (less the prefix `strip`); returns the objects copied."""
        from ablate.store import atomic

        copied = 0
        for rel in keys:
            data = self.get(rel)
            if data is not None:
                atomic.write_bytes(Path(local_root) / rel[len(strip):].lstrip("/"), data)
                copied += 1
        return copied

    def pull(self, local_dir: Path, light: bool = False) -> int:
        """Copy the sweep into `local_dir` (leases left behind); `light`: only what a report reads."""
        keys = [k for k in self.find() if not k.startswith(LEASES + "/")]
        if light:
            keys = [k for k in keys if "/" not in k or k.rsplit("/", 1)[-1] in LIGHT_FILES]
        return self.download(keys, local_dir)


# What a failed first contact means, by the exception's class (botocore's and
# s3fs's, matched by name so that this module imports neither): one line each.
PROBLEMS = {
    "NoCredentialsError": "no credentials for {uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "PartialCredentialsError": "incomplete credentials for {uri}: {detail}",
    "EndpointConnectionError": "cannot reach {uri}: {detail}",
    "ConnectTimeoutError": "cannot reach {uri}: {detail}",
    "ConnectionError": "cannot reach {uri}: {detail}",
    "FileNotFoundError": "cannot use {uri}: no such bucket or container",
    "PermissionError": "cannot use {uri}: access denied ({detail}); check the credentials and their permissions",
}


def _problem(uri: str, error: BaseException) -> str:
    chain, e = [], error
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        for cls in type(e).__mro__:
            if cls.__name__ in PROBLEMS:
                detail = str(e).splitlines()[0] if str(e) else type(e).__name__
                return PROBLEMS[cls.__name__].format(uri=uri, detail=detail)
    return f"cannot use {uri}: {type(chain[-1]).__name__}: {str(chain[-1]).splitlines()[0] if str(chain[-1]) else ''}"


def check(uri: str, write: bool = True) -> None:
    """Before any run: the store answers, takes our credentials, and (`write`) honours a conditional
    write (create-if-absent, which leases are built on). ConfigError of one line otherwise. A reader
    (report, load, pull) only lists, so read-only credentials do for it."""
    import uuid

    try:
        remote = Remote(uri, delays=())  # one try each: a bad address is a mistake to report, not to wait out
    except (ImportError, ValueError) as e:
        protocol = str(uri).split("://", 1)[0]
        hint = '; pip install "ablate[s3]"' if protocol == "s3" else ""
        raise ConfigError(f"results {uri}: no filesystem for '{protocol}://' ({str(e).splitlines()[0]}){hint}") from None
    if not write:
        try:
            remote.find("sweep.yaml")
        except Exception as e:  # noqa: BLE001
            raise ConfigError(_problem(uri, e)) from None
        return
    probe = f".ablate-probe-{uuid.uuid4().hex}"
    try:
        first = remote.create(probe, b"ablate: conditional-write probe\n")
        second = remote.create(probe, b"ablate: conditional-write probe\n")
        remote.delete(probe)
    except Exception as e:  # noqa: BLE001 — every first-contact failure becomes its one line
        raise ConfigError(_problem(uri, e)) from None
    if not (first and not second):
        raise ConfigError(f"{uri} does not honour conditional writes (create only if absent, S3 If-None-Match: *), "
                          "which ablate's leases need to keep two workers off one run")
