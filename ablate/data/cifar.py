"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009): 50000 + 10000 RGB 32×32 images, 10 or 100 classes.

Reads the standard python-pickle batches under `data.root` (default ~/.cache/ablate/NAME):
`cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta` or `cifar-100-python/train,
test, meta` (labels under `fine_labels`), as torchvision keeps them; `data.root` may also be that
folder itself. Where they are missing it extracts the official tar.gz found there, or downloads
it first when `data.download` is true. The archive and every
extracted file are checked against the published MD5s (those torchvision also lists);
only the members named in `VARIANTS` are extracted, each written by us, so an archive cannot
place files elsewhere.

Trust: the pickles are unpickled by `SafeUnpickler`, which resolves only numpy's array
reconstruction (and `_codecs.encode`, used by protocol-2 byte strings): a tampered file can
fail to load, it cannot run code. The MD5 checks run before any unpickling.
"""

from __future__ import annotations

import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ablate.config.schema import CifarData
from ablate.data.base import Dataset, memory_dataset
from ablate.data.download import cache_dir, check_md5, fetch
from ablate.data.options import root as root_dir
from ablate.errors import DataError


@dataclass(frozen=True)
class Variant:
    title: str
    archive: tuple[str, str]  # (file name, MD5)
    folder: str  # the folder the archive unpacks to
    train: tuple[tuple[str, str], ...]  # (file, MD5) of the training pickles, in order
    test: tuple[tuple[str, str], ...]
    meta: tuple[str, str]
    label_key: str
    names_key: str
    num_classes: int


VARIANTS = {
    "cifar10": Variant(
        "CIFAR-10",
        ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
        "cifar-10-batches-py",
        (
            ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
            ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
            ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
            ("data_batch_4", "634d18415352ddfa80567beed471001a"),
            ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        ),
        (("test_batch", "40351d587109b95175f43aff81a1287e"),),
        ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
        "labels",
        "label_names",
        CifarData.classes["cifar10"],
    ),
    "cifar100": Variant(
        "CIFAR-100",
        ("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
        "cifar-100-python",
        (("train", "16019d7e3df5f24257cddd939b257f8d"),),
        (("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),
        ("meta", "7973b15100ade9c7d40fb424638fde48"),
        "fine_labels",
        "fine_label_names",
        CifarData.classes["cifar100"],
    ),
}
SIDE = CifarData.side


class SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other global is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR file")
        return super().find_class(module, name)


def unpickle(path: Path) -> dict:
    """A CIFAR pickle as a dict with str keys (python-2 pickles, hence encoding='bytes')."""
    try:
        with open(path, "rb") as f:
            content = SafeUnpickler(f, encoding="bytes").load()
    except Exception as e:  # any unpickling failure means a malformed file
        raise DataError(f"{path} is not a CIFAR python pickle ({e}); delete it so it is extracted again.") from None
    if not isinstance(content, dict):
        raise DataError(
            f"{path} holds a {type(content).__name__}, not a CIFAR dict; delete it so it is extracted again."
        )
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}


def read_batches(folder: Path, files, variant: Variant) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 [N, 3, 32, 32] and labels int64 [N] of the given pickles, concatenated."""
    images, labels = [], []
    for name, _ in files:
        path = folder / name
        d = unpickle(path)
        data, y = d.get("data"), d.get(variant.label_key)
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or data.shape[1] != 3 * SIDE * SIDE
            or y is None
            or len(y) != data.shape[0]
        ):
            shape = getattr(data, "shape", None)
            raise DataError(
                f"{path} has data of shape {shape} with {len(y) if y is not None else 'no'} '{variant.label_key}': "
                f"{variant.title} pickles hold uint8 [N, {3 * SIDE * SIDE}] and N labels; "
                "delete it so it is extracted again."
            )
        y = np.asarray(y, dtype=np.int64)
        if y.size and not 0 <= y.min() <= y.max() < variant.num_classes:
            raise DataError(
                f"{path} has labels outside 0..{variant.num_classes - 1}; delete it so it is extracted again."
            )
        images.append(data.reshape(-1, 3, SIDE, SIDE))
        labels.append(y)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def members(variant: Variant) -> list[tuple[str, str]]:
    return [*variant.train, *variant.test, variant.meta]


def extract(archive: Path, root: Path, variant: Variant) -> None:
    """Write the needed members of the (checked) archive to root/folder, each atomically."""
    folder = root / variant.folder
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name, _ in members(variant):
                source = tar.extractfile(f"{variant.folder}/{name}")
                if source is None:
                    raise KeyError(name)
                part = folder / f"{name}.part"
                part.write_bytes(source.read())
                os.replace(part, folder / name)
    except (tarfile.TarError, KeyError, OSError, EOFError) as e:
        raise DataError(
            f"{archive} is not a complete {variant.title} archive ({e}); delete it and load again."
        ) from None


def locate(opts: CifarData, variant: Variant) -> Path:
    """The folder of checked pickles, extracting or downloading the archive where needed."""
    root = root_dir(opts) or cache_dir(opts.name)
    folder = root / variant.folder
    if root.name == variant.folder and not folder.exists():  # data.root is the extracted folder itself
        folder, root = root, root.parent
    archive_name, archive_md5 = variant.archive
    archive = root / archive_name
    put = f"put the official {archive_name} in data.root={str(root)!r}"
    fix = f"delete it and load again with data.download=true, or {put}"
    if not all((folder / name).is_file() for name, _ in members(variant)):
        if not archive.is_file():
            if not opts.download:
                raise DataError(
                    f"{variant.title} is missing: neither {folder} nor {archive} exists; set data.download=true "
                    f"or put {archive_name} in data.root={str(root)!r}."
                )
            fetch(
                opts.url.rstrip("/") + "/" + archive_name,
                archive,
                archive_md5,
                put,
            )
        check_md5(archive, archive_md5, fix)
        extract(archive, root, variant)
    for name, md5 in members(variant):
        check_md5(folder / name, md5, f"delete {folder} so it is extracted again from the checked archive")
    return folder


def prepare(opts: CifarData) -> None:
    """The checked pickles present, downloaded and extracted where missing (`ablate.data.prepare`)."""
    locate(opts, VARIANTS[opts.name])


def load(opts: CifarData, device: torch.device, seed: int) -> Dataset:
    variant = VARIANTS[opts.name]
    folder = locate(opts, variant)
    train = read_batches(folder, variant.train, variant)
    val = read_batches(folder, variant.test, variant)
    names = unpickle(folder / variant.meta[0]).get(variant.names_key) or []
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return memory_dataset(
        opts.name, variant.title, train, val, opts, device, seed, variant.num_classes, classes, str(folder)
    )
