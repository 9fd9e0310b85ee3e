"""Fashion-MNIST (Xiao et al., 2017): 60000 + 10000 grayscale 28×28 images of 10 clothing classes.

The four idx files (gzip or plain) are read from `data.root` (or its FashionMNIST/raw/, torchvision's layout,
so a torchvision root serves as it is), else from Debian's
`dataset-fashion-mnist` package (/usr/share/datasets/fashion-mnist), else from the download
cache; with `data.download: true` missing files are fetched from the official location.

Checks: each file's decompressed content must have the published MD5 of the raw idx file
(torchvision lists the same digests). Debian recompresses the archives, so their .gz bytes
differ from the published .gz MD5s while their content is identical; checking the content
accepts both and still refuses any other bytes. A fresh download is also checked against the
published .gz MD5 before it is kept. Each file's header is parsed first, so a truncated or
malformed file is reported as such rather than as a checksum mismatch.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ablate.config.schema import FashionMNISTData
from ablate.data.base import Dataset, memory_dataset
from ablate.data.download import cache_dir, fetch, md5_bytes, mismatch
from ablate.data.options import root as root_dir
from ablate.errors import DataError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
APT = "apt-get install dataset-fashion-mnist"
# role -> (file name, MD5 of the published .gz, MD5 of its decompressed idx content)
FILES = {
    "train_images": (
        "train-images-idx3-ubyte.gz",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    ),
    "train_labels": (
        "train-labels-idx1-ubyte.gz",
        "25c81989df183df01b3e8a0aad5dffbe",
        "9018921c3c673c538a1fc5bad174d6f9",
    ),
    "val_images": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
    "val_labels": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SIDE = FashionMNISTData.side
TORCHVISION = Path("FashionMNIST", "raw")  # where torchvision keeps the files under its root: read there too


def find(folder: Path, gz_name: str) -> Path | None:
    """The file in `folder`, gzipped or already decompressed (`name` without .gz)."""
    for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, content_md5: str, ndim: int, fix: str) -> np.ndarray:
    """A uint8 idx array of `ndim` dimensions from `path`, parsed, then checked against `content_md5`."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path} is truncated or not a gzip file ({e}); {fix}.") from None
    magic = 0x0800 + ndim
    if len(data) < 4 + 4 * ndim or struct.unpack(">I", data[:4])[0] != magic:
        raise DataError(f"{path} is not an idx file of {ndim}-D unsigned bytes (magic {magic:#010x} expected); {fix}.")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    payload = data[4 + 4 * ndim :]
    if len(payload) != int(np.prod(dims)):
        raise DataError(
            f"{path} is truncated or malformed: its header says {'×'.join(map(str, dims))} = {int(np.prod(dims))} "
            f"bytes but it holds {len(payload)}; {fix}."
        )
    got = md5_bytes(data)
    if got != content_md5:
        raise mismatch(path, got, content_md5, fix)
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def locate(opts: FashionMNISTData) -> Path:
    """The folder holding all four files, downloading them first where allowed."""
    root = root_dir(opts)
    target = root or cache_dir("fashion_mnist")
    folders = [root] if root else [DEBIAN_DIR, target]
    for folder in [*folders, *([root / TORCHVISION] if root else [])]:
        if all(find(folder, name) for name, _, _ in FILES.values()):
            return folder
    missing = next(name for name, _, _ in FILES.values() if not find(folders[-1], name))
    where = " or ".join(str(f) for f in folders)
    if not opts.download:
        raise DataError(
            f"Fashion-MNIST is missing: {missing} is not in {where}; run `{APT}`, put the four idx files in "
            f"data.root, or set data.download=true."
        )
    fix = f"run `{APT}` or put the four idx files in data.root"
    url = opts.url.rstrip("/") + "/"
    for name, gz_md5, _ in FILES.values():
        if not find(target, name):
            fetch(url + name, target / name, gz_md5, fix)
    return target


def arrays(folder: Path) -> dict[str, np.ndarray]:
    """The four checked arrays: train/val images [N, 28, 28] and labels [N]."""
    fix = f"delete it and set data.download=true, or reinstall with `{APT}`"
    out = {}
    for role, (name, _, content_md5) in FILES.items():
        path = find(folder, name)
        if path is None:
            raise DataError(f"{folder / name} is missing: {fix}.")
        out[role] = read_idx(path, content_md5, 3 if role.endswith("images") else 1, fix)
    for split in ("train", "val"):
        images, labels = out[f"{split}_images"], out[f"{split}_labels"]
        path = find(folder, FILES[f"{split}_images"][0])
        if images.shape[1:] != (SIDE, SIDE) or images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{path} holds images of shape {tuple(images.shape)} but Fashion-MNIST has "
                f"{labels.shape[0]}×{SIDE}×{SIDE}; {fix}."
            )
        if labels.size and int(labels.max()) >= len(CLASSES):
            raise DataError(
                f"{find(folder, FILES[f'{split}_labels'][0])} has label {int(labels.max())}: "
                f"Fashion-MNIST labels are 0..{len(CLASSES) - 1}; {fix}."
            )
    return out


def prepare(opts: FashionMNISTData) -> None:
    """The four files present, downloaded where missing (`ablate.data.prepare`)."""
    locate(opts)


def load(opts: FashionMNISTData, device: torch.device, seed: int) -> Dataset:
    folder = locate(opts)
    raw = arrays(folder)

    def split(role: str) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(raw[f"{role}_images"].copy()).unsqueeze(1)
        return images, torch.from_numpy(raw[f"{role}_labels"].astype(np.int64))

    return memory_dataset(
        "fashion_mnist",
        "Fashion-MNIST",
        split("train"),
        split("val"),
        opts,
        device,
        seed,
        len(CLASSES),
        CLASSES,
        str(folder),
    )
