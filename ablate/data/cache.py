"""Decoded splits cached beside the data, so only the first run pays for decoding.

A split is decoded once into one uint8 NCHW tensor and saved as
`<root>/.ablate-cache/<key>.pt` (atomic write: a crash or a second worker
never leaves half a file). The cache records a fingerprint of its source files
(relative path, size in bytes, mtime in ns); if any changes, or the cache
format does, the split is decoded again. A root that cannot be written (a
shared read-only copy) costs a warning and a decode per run, not a failure.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ablate.store.atomic import torch_save

CACHE_DIR = ".ablate-cache"
FORMAT = 1  # bump when the layout of a cached split changes


@dataclass(frozen=True)
class Decoded:
    x: Tensor  # uint8, (N, C, H, W), 0-255
    y: Tensor  # int64, (N,)


def fingerprint(root: Path, files: Iterable[Path]) -> list[list]:
    """[relative path, bytes, mtime ns] per source file: cheap to compute, and
    any re-download or edit changes it. A file outside the root (a dataset
    shipped in a wheel, data=mnist5k) is named by its absolute path."""
    out = []
    for f in sorted(files):
        st = f.stat()
        name = f.relative_to(root) if f.is_relative_to(root) else f.resolve()
        out.append([str(name), st.st_size, st.st_mtime_ns])
    return out


def cache_path(root: Path, key: str) -> Path:
    return root / CACHE_DIR / f"{key}.pt"


def cached_split(root: Path, key: str, files: Iterable[Path], decode: Callable[[], Decoded]) -> Decoded:
    """The split from the cache when its fingerprint matches, else `decode()` (then cached)."""
    path = cache_path(root, key)
    stamp = fingerprint(root, files)
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("format") == FORMAT and blob.get("fingerprint") == stamp:
                return Decoded(blob["x"], blob["y"])
        except Exception as err:  # a truncated or foreign file: decode again and overwrite it
            warnings.warn(f"ignoring unreadable cache {path}: {err}", stacklevel=2)
    split = decode()
    blob = {"format": FORMAT, "fingerprint": stamp,
            "x": split.x.contiguous(), "y": split.y.to(torch.int64).contiguous()}
    try:
        torch_save(path, blob)
    except OSError as err:
        warnings.warn(f"could not write the decoded-data cache {path} ({err}); "
                      "every run will decode the files again", stacklevel=2)
    return split
