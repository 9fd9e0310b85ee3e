"""ImageNet-style class folders streamed by DataLoader workers: `root/train/<wnid>/*`, `root/val/<wnid>/*`.

Classes are the sorted folder names under train/ (val/ may hold a subset of them). Workers
decode with Pillow (optional extra `imagenet`; imported only here, only when used) and apply
the paper's recipe (§4): training takes a random-resized crop (area `data.scale`, aspect
`data.ratio`, as torchvision's RandomResizedCrop) resized to `data.resolution`, flipped with
probability 1/2; evaluation resizes the short side to `data.resize` and takes the center
crop. Each image's random crop is drawn from (seed, epoch, index), so it does not depend on
the number of workers or ranks. Workers return uint8 HWC arrays; the batch is copied to the
device (pinned, non-blocking on CUDA), where permuting to NCHW gives channels_last for free,
and normalised there. Batch order and rank shards are those of every other split.
"""

from __future__ import annotations

import math
import multiprocessing
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ablate.config.schema import ImageNetData
from ablate.data.base import Dataset, Normalize, Split
from ablate.data.options import root as root_dir
from ablate.data.seeds import mix
from ablate.data.subset import subset
from ablate.errors import DataError

EXTENSIONS = (".jpeg", ".jpg", ".png", ".ppm", ".bmp", ".webp")
MAX_WORKERS = 8  # decoders per training process that `auto` starts at most
FORK = "fork" if "fork" in multiprocessing.get_all_start_methods() else None  # None: the platform's default


def pillow():
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            "data.name='imagenet' decodes images with Pillow, which is not installed: "
            "run `pip install 'ablate[imagenet]'` (or `pip install pillow`)."
        ) from None
    return Image


def scan(root: Path) -> tuple[list[str], dict[str, tuple[list[str], list[int]]]]:
    """Class names and, per split, the sorted file paths and their labels."""
    train_dir, val_dir = root / "train", root / "val"
    for d in (train_dir, val_dir):
        if not d.is_dir():
            raise DataError(
                f"{d} is not a directory: data.root={str(root)!r} must hold train/<class>/* and val/<class>/*."
            )
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{train_dir} has no class folders: it must hold one folder of images per class.")
    index = {c: k for k, c in enumerate(classes)}
    splits = {}
    for split, d in (("train", train_dir), ("val", val_dir)):
        paths, labels = [], []
        for folder in sorted(p for p in d.iterdir() if p.is_dir()):
            if folder.name not in index:
                raise DataError(
                    f"{folder} is a class that {train_dir} does not have: val classes must be train classes."
                )
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() in EXTENSIONS and f.is_file())
            if split == "train" and not files:  # a class no run can learn (val may leave classes out)
                raise DataError(
                    f"{folder} holds no images ({', '.join(EXTENSIONS)}): each class folder under train/ needs at "
                    "least one; add its images or remove the folder."
                )
            paths += [str(f) for f in files]
            labels += [index[folder.name]] * len(files)
        if not paths:
            raise DataError(f"{d} holds no images ({', '.join(EXTENSIONS)}) in class folders.")
        splits[split] = (paths, labels)
    return classes, splits


def crop_box(width: int, height: int, scale, ratio, rng: random.Random) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop parameters: (left, top, w, h); 10 tries, then the central crop."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


class Images(torch.utils.data.Dataset):
    """Decodes and transforms one image per index in a worker; returns (uint8 [H, W, 3], label)."""

    def __init__(self, paths: list[str], labels: list[int], size: int, resize: int, scale, ratio):
        self.paths, self.labels = paths, labels
        self.size, self.resize, self.scale, self.ratio = size, resize, tuple(scale), tuple(ratio)
        self.augment_seed: tuple[int, int] | None = None  # (seed, epoch) while training with augmentation

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        Image = pillow()
        try:
            with Image.open(self.paths[i]) as img:
                img = img.convert("RGB")
        except OSError as e:
            raise DataError(f"{self.paths[i]} is not a readable image ({e}); remove or replace it.") from None
        s = self.size
        if self.augment_seed is not None:
            rng = random.Random(mix(*self.augment_seed, i))
            width, height = img.size
            left, top, w, h = crop_box(width, height, self.scale, self.ratio, rng)
            img = img.resize((s, s), Image.BILINEAR, box=(left, top, left + w, top + h))
            if rng.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            width, height = img.size
            k = self.resize / min(width, height)
            img = img.resize((max(s, round(width * k)), max(s, round(height * k))), Image.BILINEAR)
            left, top = (img.size[0] - s) // 2, (img.size[1] - s) // 2
            img = img.crop((left, top, left + s, top + s))
        return np.asarray(img, dtype=np.uint8), self.labels[i]


def collate(items) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.stack([a for a, _ in items]))
    return x, torch.tensor([y for _, y in items], dtype=torch.int64)


class FolderSplit(Split):
    """A split of image files, decoded by `workers` processes and delivered as batches on the device."""

    def __init__(
        self, images: Images, normalize: Normalize, device: torch.device, workers: int, *, augment: bool, name: str
    ):
        self.images, self.normalize, self.device = images, normalize, device
        self.workers, self.augment, self.name = workers, augment, name
        self.labels = torch.tensor(images.labels, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.images)

    def batches(
        self, batch_size: int, *, train: bool, epoch: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order(batch_size, train=train, epoch=epoch, seed=seed, rank=rank, world_size=world_size)
        self.images.augment_seed = (seed, epoch) if train and self.augment else None
        cuda = self.device.type == "cuda"
        loader = torch.utils.data.DataLoader(
            self.images,
            batch_sampler=[b.tolist() for b in order.split(batch_size)],
            num_workers=self.workers,
            collate_fn=collate,
            pin_memory=cuda,
            persistent_workers=False,
            # forked from this process, as in a process Python started itself: a DDP process started by the fork
            # server would take its own start method, whose new server imports torch afresh for every epoch's workers
            multiprocessing_context=FORK if self.workers else None,
        )
        for x, y in loader:
            x = x.to(self.device, non_blocking=cuda).permute(0, 3, 1, 2)  # NHWC storage = channels_last NCHW
            yield self.normalize(x), y.to(self.device, non_blocking=cuda)


def prepare(opts: ImageNetData) -> Path:
    """The class folders' root, with Pillow to read them (`ablate.data.prepare`); nothing is downloaded."""
    pillow()
    root = root_dir(opts)
    if root is None or not root.is_dir():
        shown = "null" if root is None else repr(str(root))
        raise DataError(
            f"data.root={shown} is not a directory: data=imagenet needs "
            f"data.root set to a folder holding train/<class>/* and val/<class>/*."
        )
    return root


def worker_count(workers: int | str) -> int:
    """`data.workers` resolved: `auto` is one DataLoader worker per thread of this training process, at most
    MAX_WORKERS. Its thread count is already its share of the job's cores (DDP processes and sweep members split
    them), so two single-threaded DDP processes of a 2-core machine get one decoder each, not eight."""
    return min(torch.get_num_threads(), MAX_WORKERS) if workers == "auto" else int(workers)


def load(opts: ImageNetData, device: torch.device, seed: int) -> Dataset:
    root = prepare(opts)
    classes, splits = scan(root)
    size, resize, workers = opts.resolution, opts.resize, worker_count(opts.workers)
    assert opts.mean is not None and opts.std is not None  # the schema refuses null for a streamed set
    normalize = Normalize(opts.mean, opts.std, device)
    parts = {}
    for split, field in (("train", "train_subset"), ("val", "val_subset")):
        paths, labels = splits[split]
        keep = subset(
            field,
            getattr(opts, field),
            torch.tensor(labels),
            seed,
            f"the ImageNet {split} split under {root}",
            len(classes),
        )
        if keep is not None:
            paths, labels = [paths[i] for i in keep.tolist()], [labels[i] for i in keep.tolist()]
        images = Images(paths, labels, size, resize, opts.scale, opts.ratio)
        parts[split] = FolderSplit(
            images, normalize, device, workers, augment=split == "train" and opts.augment, name=f"imagenet/{split}"
        )
    return Dataset(
        "imagenet",
        len(classes),
        3,
        size,
        parts["train"],
        parts["val"],
        tuple(classes),
        normalize.mean,
        normalize.std,
        str(root),
    )
