"""MNIST, Fashion-MNIST, CIFAR-10/100 and SVHN from `data.root`, in torchvision's layout.

Files sit where torchvision's dataset classes put them (`<root>/MNIST/raw/…`,
`<root>/cifar-10-batches-py/…`, `<root>/train_32x32.mat`), and
`data.download=true` calls those classes to fetch them, with their checksum
checks. Reading is done here, straight into one uint8 NCHW tensor per split:
torchvision's classes re-check the md5 of every file on each construction
(170 MB of hashing for CIFAR-10) and hand out HWC arrays meant for per-sample
PIL transforms, neither of which a batched on-device pipeline wants. The
formats are the published ones: IDX (LeCun et al., yann.lecun.com/exdb/mnist),
the CIFAR python pickles (Krizhevsky 2009) and SVHN's MATLAB files (Netzer et
al. 2011).

The official test split is the test set; validation images are a stratified
hold-out of the training split (`data.val_fraction`, fixed by `data.split_seed`),
so the epoch a run is scored at is never chosen on the images that score it.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ablate.schema.run import DataConfig
from ablate.data.cache import Decoded, cached_split
from ablate.data.registry import DATASETS, Dataset
from ablate.data.splits import Splits, assemble, val_fraction
from ablate.errors import ConfigError
from ablate.shapes import InputShape

SPLITS = ("train", "test")


def data_root(cfg: DataConfig) -> Path:
    if cfg.root is None:
        raise ConfigError(f"data={cfg.name} needs data.root, the folder that holds (or will hold) its files")
    return Path(cfg.root).expanduser()


def to_splits(cfg: DataConfig, classes: int, train: Callable[[], Decoded], carved: dict[str, float],
              given: dict[str, Callable[[], Decoded]]) -> Splits:
    """The training split with `carved` hold-outs taken from it (ablate.data.splits.carve),
    beside the dataset's own splits in `given`; every split's labels checked."""
    tr = train()
    _check_labels(cfg, tr, classes)
    own = {}
    for name, load in given.items():
        split = load()
        _check_labels(cfg, split, classes)
        own[name] = (split.x, split.y)
    return assemble(tr.x, tr.y, classes, cfg.split_seed, carved, own)


def _check_labels(cfg: DataConfig, split: Decoded, classes: int) -> None:
    # A label out of range would surface much later as a CUDA device assert.
    if len(split.y) and (int(split.y.min()) < 0 or int(split.y.max()) >= classes):
        raise ConfigError(f"data={cfg.name}: labels span {int(split.y.min())}..{int(split.y.max())}, "
                          f"expected 0..{classes - 1}; the files under {cfg.root} are not {cfg.name}")


# ------------------------------------------------------------------ decoders

# IDX element types (the magic number's third byte) → big-endian numpy dtype.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file, plain or gzipped: 2 zero bytes, type, rank, then rank
    big-endian uint32 sizes and the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ConfigError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    rank = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=rank, offset=4).tolist()
    data = np.frombuffer(raw, dtype=IDX_TYPES[raw[2]], offset=4 + 4 * rank)
    if data.size != int(np.prod(dims)):
        raise ConfigError(f"{path} is truncated: header says {dims}, found {data.size} values")
    return data.reshape(dims)


def decode_mnist(files: list[Path]) -> Decoded:
    images, labels = read_idx(files[0]), read_idx(files[1])
    x = torch.from_numpy(images.astype(np.uint8)).unsqueeze(1)  # (N, 28, 28) → (N, 1, 28, 28)
    return Decoded(x, torch.from_numpy(labels.astype(np.int64)))


def decode_cifar(files: list[Path], label_key: str) -> Decoded:
    xs, ys = [], []
    for f in files:
        with open(f, "rb") as fh:
            batch = pickle.load(fh, encoding="latin1")
        xs.append(np.asarray(batch["data"], dtype=np.uint8))  # rows of 3072: 1024 R, 1024 G, 1024 B
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    x = torch.from_numpy(np.concatenate(xs)).view(-1, 3, 32, 32)
    return Decoded(x, torch.from_numpy(np.concatenate(ys)))


def decode_svhn(files: list[Path]) -> Decoded:
    import scipy.io

    mat = scipy.io.loadmat(files[0])
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1))))  # (H, W, C, N) → NCHW
    y = torch.from_numpy(mat["y"].astype(np.int64).reshape(-1))
    return Decoded(x, torch.where(y == 10, 0, y))  # SVHN labels the digit 0 as 10


# ------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class Source:
    """Where torchvision keeps one dataset's files and how to read them."""

    title: str
    shape: InputShape
    folder: Callable[[Path], Path]  # the folder holding the files
    files: dict[str, tuple[str, ...]]  # split → file names inside `folder`
    decode: Callable[[list[Path]], Decoded]
    fetch: Callable[[Path], None]  # download every split with torchvision
    meta: tuple[str, str] | None = None  # (file, key) naming the classes, checked against shape


def _tv(name: str):
    import torchvision.datasets

    return getattr(torchvision.datasets, name)


def _fetch_train_flag(cls_name: str) -> Callable[[Path], None]:
    # MNIST and CIFAR download both splits (one archive / four files) on first construction.
    return lambda root: _tv(cls_name)(str(root), train=True, download=True)


def _fetch_svhn(root: Path) -> None:
    for split in SPLITS:
        _tv("SVHN")(str(root), split=split, download=True)


def _mnist_like(title: str, cls_name: str) -> Source:
    return Source(
        title=title, shape=InputShape(1, 28, 10),
        folder=lambda root: root / cls_name / "raw",  # torchvision: <root>/<ClassName>/raw
        files={"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")},
        decode=decode_mnist, fetch=_fetch_train_flag(cls_name),
    )


def _cifar(title: str, cls_name: str, folder: str, train: tuple[str, ...], test: str,
           classes: int, meta: tuple[str, str], label_key: str) -> Source:
    return Source(
        title=title, shape=InputShape(3, 32, classes), folder=lambda root: root / folder,
        files={"train": train, "test": (test,)},
        decode=lambda files: decode_cifar(files, label_key), fetch=_fetch_train_flag(cls_name), meta=meta,
    )


SOURCES: dict[str, Source] = {
    "mnist": _mnist_like("MNIST", "MNIST"),
    "fashion_mnist": _mnist_like("Fashion-MNIST", "FashionMNIST"),
    "cifar10": _cifar("CIFAR-10", "CIFAR10", "cifar-10-batches-py",
                      tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
                      10, ("batches.meta", "label_names"), "labels"),
    "cifar100": _cifar("CIFAR-100", "CIFAR100", "cifar-100-python", ("train",), "test",
                       100, ("meta", "fine_label_names"), "fine_labels"),
    "svhn": Source(
        title="SVHN", shape=InputShape(3, 32, 10), folder=lambda root: root,
        files={"train": ("train_32x32.mat",), "test": ("test_32x32.mat",)},
        decode=decode_svhn, fetch=_fetch_svhn,
    ),
}


def _locate(folder: Path, name: str) -> Path | None:
    """The file, or its gzipped twin (MNIST's mirrors serve `.gz`; torchvision
    keeps both after extracting)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _reason(err: Exception) -> str:
    """torchvision's download error in one line: its last line names the cause
    (`<urlopen error [Errno -2] Name or service not known>`), its first the file."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip() and line.strip() != ")"]
    cause = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
    return f"{type(err).__name__}: {cause}" if cause else type(err).__name__


def _find_files(cfg: DataConfig, src: Source, splits: tuple[str, ...]) -> dict[str, list[Path]]:
    root = data_root(cfg)
    folder = src.folder(root)
    wanted = [n for s in splits for n in src.files[s]] + ([src.meta[0]] if src.meta else [])
    missing = [n for n in wanted if _locate(folder, n) is None]
    if missing and cfg.download:
        try:
            src.fetch(root)
        except Exception as err:  # no network, a moved URL, a bad checksum: all the user's to fix
            raise ConfigError(f"data={cfg.name}: downloading {src.title} into {root} failed ({_reason(err)}); put "
                              f"{', '.join(missing)} into {folder} by hand, then run again") from None
        missing = [n for n in wanted if _locate(folder, n) is None]
    if missing:
        raise ConfigError(
            f"data={cfg.name}: {src.title} not found in {folder} (missing {', '.join(missing)}); "
            f"add data.download=true to fetch it, or set data.root to the folder that already holds it"
        )
    return {s: [_locate(folder, n) for n in src.files[s]] for s in splits}


def _check_meta(cfg: DataConfig, src: Source) -> None:
    """The class-name file must list as many classes as the data claims to have."""
    path = src.folder(data_root(cfg)) / src.meta[0]
    with open(path, "rb") as f:
        names = pickle.load(f, encoding="latin1")[src.meta[1]]
    if len(names) != src.shape.classes:
        raise ConfigError(f"{path} lists {len(names)} classes; {src.title} has {src.shape.classes}")


def _files(cfg: DataConfig) -> dict[str, list[Path]]:
    """The split files this config reads, located (and fetched, with data.download=true) and checked."""
    src = SOURCES[cfg.name]
    val_fraction(cfg)
    files = _find_files(cfg, src, SPLITS)
    if src.meta:
        _check_meta(cfg, src)
    return files


def load_torchvision(cfg: DataConfig) -> Splits:
    src = SOURCES[cfg.name]
    root = data_root(cfg)
    files = _files(cfg)

    def split(name: str) -> Callable[[], Decoded]:
        return lambda: cached_split(root, f"{cfg.name}-{name}", files[name], lambda: src.decode(files[name]))

    return to_splits(cfg, src.shape.classes, split("train"), {"val": val_fraction(cfg)}, {"test": split("test")})


for _name, _src in SOURCES.items():
    DATASETS.add(_name, Dataset(load_torchvision, lambda cfg, s=_src.shape: s, check=_files),
                 f"{_src.title}, {_src.shape.channels}×{_src.shape.size}×{_src.shape.size}, "
                 f"{_src.shape.classes} classes, from data.root (data.download=true fetches it)")
