"""Splits and the data set record: what the trainer iterates over.

A `Split` knows its size and how one epoch is cut into batches for one rank: training
reshuffles per (seed, epoch) with a CPU `torch.Generator` (the same permutation on every
rank and every device) and gives each rank a disjoint, equally long shard; evaluation keeps
the file order. `TensorSplit` holds a small set in memory as uint8 [N, C, H, W] on the
training device and gathers, augments and normalises each batch there: one index gather
per batch, no DataLoader and no host synchronisation between steps.

Augmentation is the paper's CIFAR recipe (appendix A): a random crop of the image zero-padded
by `pad` pixels on each side, flipped horizontally with probability 1/2. The padded copy is
made once at load time; each batch then takes its crops and flips with a single `take` over
precomputed offsets, laid out so the result is already channels_last. The crop offsets and
flips of a whole epoch are drawn once per epoch on the CPU from (seed, epoch), indexed by
image, so they do not depend on the device, the batch size or the number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ablate.config.schema import is_whole
from ablate.data.seeds import generator
from ablate.errors import ConfigError


def _check_batching(batch_size, rank, world_size) -> None:
    """The arguments of `Split`'s methods (a library API, also called outside a checked config)."""
    if not is_whole(batch_size):
        raise ConfigError(f"batch_size={batch_size!r} is invalid: it must be a whole number of at least 1.")
    if not is_whole(world_size):
        raise ConfigError(f"world_size={world_size!r} is invalid: it must be a whole number of at least 1.")
    if not is_whole(rank, 0) or not rank < world_size:
        raise ConfigError(f"rank={rank!r} is invalid: it must be an integer in [0, {world_size - 1}].")


class Split:
    """One split of a data set: its size and its per-rank batch order; subclasses yield batches."""

    name: str = "split"

    def __len__(self) -> int:
        raise NotImplementedError

    def num_batches(self, batch_size: int, drop_last: bool, *, rank: int = 0, world_size: int = 1) -> int:
        """Batches one rank gets per epoch: drop_last=True matches `batches(train=True)`, False `train=False`."""
        _check_batching(batch_size, rank, world_size)
        n = len(self)
        if drop_last:
            return (n // world_size) // batch_size
        return -(-len(range(rank, n, world_size)) // batch_size)

    def order(
        self, batch_size: int, *, train: bool, epoch: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> torch.Tensor:
        """The image indices (CPU int64) this rank visits in this epoch, in batch order.

        train: a permutation seeded by (seed, epoch), identical on all ranks, cut to a multiple
        of world_size, strided across ranks (disjoint shards of equal length) and cut to whole
        batches. Evaluation: 0..N-1 strided across ranks, every image exactly once (shards may
        differ by one image, so their batch counts by at most one).
        """
        _check_batching(batch_size, rank, world_size)
        n = len(self)
        if not train:
            return torch.arange(rank, n, world_size)
        perm = torch.randperm(n, generator=generator(seed, epoch))
        per_rank = n // world_size
        shard = perm[: per_rank * world_size][rank::world_size]
        usable = (per_rank // batch_size) * batch_size
        if usable == 0:
            raise ConfigError(
                f"batch_size={batch_size} is larger than the {per_rank} training images each of the "
                f"{world_size} rank(s) gets from {self.name}: lower the batch size or use more images."
            )
        return shard[:usable]

    def batches(
        self, batch_size: int, *, train: bool, epoch: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError


class Normalize:
    """uint8 pixels -> float32 (x/255 - mean) / std, per channel, on the device, keeping the memory format."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device):
        m = torch.tensor([float(v) for v in mean], dtype=torch.float32)
        s = torch.tensor([float(v) for v in std], dtype=torch.float32)
        self.mean, self.std = tuple(m.tolist()), tuple(s.tolist())
        self.scale = (1.0 / (255.0 * s)).view(1, -1, 1, 1).to(device)
        self.shift = (-m / s).view(1, -1, 1, 1).to(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32, memory_format=torch.channels_last)
        return x.mul_(self.scale).add_(self.shift)


class TensorSplit(Split):
    """A split held in memory on the training device as uint8 [N, C, H, W] plus int64 labels [N].

    With `augment` and `pad` > 0 the images are stored zero-padded by `pad` on each side, and
    training batches are random crops of the original size, flipped with probability 1/2.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        normalize: Normalize,
        *,
        augment: bool = False,
        pad: int = 0,
        name: str = "split",
    ):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], not {images.dtype} {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must be [N={images.shape[0]}], not {tuple(labels.shape)}")
        self.name = name
        self.normalize = normalize
        self.pad = int(pad) if augment else 0
        self.augment = bool(augment)  # pad 0: flips only
        self.shape = tuple(images.shape[1:])  # (C, H, W) of the images the model sees
        self.labels = labels.to(torch.int64)
        p = self.pad
        self.images = F.pad(images, (p, p, p, p)).contiguous() if p else images.contiguous()
        c, h, w = self.shape
        dev = images.device
        hp, wp = h + 2 * p, w + 2 * p
        # offset pieces of the crop gather, in [B, H, W, C] order so the result is channels_last
        self._row = (torch.arange(h, device=dev) * wp).view(1, h, 1, 1)
        self._col = torch.arange(w, device=dev).view(1, 1, w, 1)
        self._col_flipped = torch.arange(w - 1, -1, -1, device=dev).view(1, 1, w, 1)
        self._chan = (torch.arange(c, device=dev) * (hp * wp)).view(1, 1, 1, c)
        self._image_stride = c * hp * wp

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def batches(
        self, batch_size: int, *, train: bool, epoch: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x float32 [B,C,H,W] normalised, channels_last; y int64 [B]), both on the split's device."""
        order = self.order(batch_size, train=train, epoch=epoch, seed=seed, rank=rank, world_size=world_size)
        order = order.to(self.device)
        shifts = flips = None
        if train and self.augment:
            shifts, flips = self.augmentation(epoch, seed)
        for start in range(0, order.shape[0], batch_size):
            idx = order[start : start + batch_size]
            if shifts is None or flips is None:
                x = self._plain(idx)
            else:
                x = self._crops(idx, shifts.index_select(0, idx), flips.index_select(0, idx))
            yield self.normalize(x), self.labels.index_select(0, idx)

    def augmentation(self, epoch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop offsets [N, 2] in [0, 2·pad] and flips [N] (bool) of every image for one epoch, on the device."""
        g = generator(seed, epoch, "augment")
        n = len(self)
        shifts = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=g)
        flips = torch.randint(0, 2, (n,), generator=g).bool()
        return shifts.to(self.device), flips.to(self.device)

    def _plain(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.images.index_select(0, idx)
        if self.pad:
            c, h, w = self.shape
            x = x[:, :, self.pad : self.pad + h, self.pad : self.pad + w]
        return x

    def _crops(self, idx: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """One gather: crop at (dy, dx) of the padded image, mirrored where flips; uint8 [B,C,H,W] channels_last."""
        _, hp, wp = self.images.shape[1:]
        base = idx * self._image_stride + shifts[:, 0] * wp + shifts[:, 1]
        cols = torch.where(flips.view(-1, 1, 1, 1), self._col_flipped, self._col)
        offsets = base.view(-1, 1, 1, 1) + self._row + cols + self._chan  # [B, H, W, C]
        return self.images.view(-1).take(offsets).permute(0, 3, 1, 2)


@dataclass(frozen=True)
class Dataset:
    """A loaded data set: its shape facts and its two splits (val is the official test set for the small sets)."""

    name: str
    num_classes: int
    in_channels: int
    resolution: int
    train: Split
    val: Split
    classes: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    root: str | None = field(default=None, compare=False)


def pad_fix(size: int) -> str:
    """The way on from a crop padding too wide for `size`×`size` images."""
    return f"give a pad below {size}, such as 2 (the default) or 4 (the paper's CIFAR recipe)"


def wide_pad(pad: int, size: int) -> str | None:
    """The warning for a crop padding as wide as the image or wider, where some random crops (offsets uniform in
    [0, 2·pad] on each axis) hold no pixel of the image, with their share; None for a narrower pad."""
    if pad < size:
        return None
    hits = (2 * size - 1) / (2 * pad + 1)  # the share of offsets on one axis whose crop overlaps the image
    return (
        f"data.pad={pad} with {size}×{size} images: {1 - hits * hits:.0%} of the random crops hold no pixel of the "
        f"image; {pad_fix(size)}."
    )


LABEL_BYTES = 8  # an int64 label


@dataclass(frozen=True)
class Footprint:
    """What one process holds of an in-memory data set (`memory_dataset`'s layout: uint8 images and int64 labels;
    the kept training images stored zero-padded by `pad` when augmenting), in the parts a refusal names."""

    title: str
    train: int  # images of each split as loaded
    val: int
    kept_train: int  # images of each split kept (`data.train_subset`, `data.val_subset`)
    kept_val: int
    channels: int
    side: int
    pad: int  # the zero padding each kept training image is stored with; 0 without augmentation

    def bytes(self, pad: int | None = None) -> int:
        """The least memory held, with the training images padded by `pad` (None: this footprint's own): the larger
        of the loaded splits and the data set kept."""
        pad = self.pad if pad is None else pad
        image = self.channels * self.side * self.side
        loaded = (self.train + self.val) * (image + LABEL_BYTES)
        kept = self.kept_train * (self.channels * (self.side + 2 * pad) ** 2 + LABEL_BYTES)
        return max(loaded, kept + self.kept_val * (image + LABEL_BYTES))


def footprint(opts) -> Footprint | None:
    """The `Footprint` of the data set `opts` configures; None where the config does not tell its size or image
    shape (a folder data set is measured once its folders are read)."""
    sizes, shape = opts.sizes(), opts.fixes()
    if sizes is None or not {"in_channels", "resolution"} <= shape.keys():
        return None
    title, train, val = sizes
    return Footprint(
        title=title,
        train=train,
        val=val,
        kept_train=train if opts.train_subset is None else opts.train_subset,
        kept_val=val if opts.val_subset is None else opts.val_subset,
        channels=shape["in_channels"],
        side=shape["resolution"],
        pad=getattr(opts, "pad", 0) if opts.augment else 0,
    )


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images [N, C, H, W], in [0, 1] units."""
    x = images.transpose(0, 1).reshape(images.shape[1], -1).to(torch.float64) / 255.0
    return tuple(x.mean(1).tolist()), tuple(x.std(1).tolist())


def memory_dataset(
    name: str,
    title: str,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    opts,
    device,
    seed: int,
    num_classes: int,
    classes: Sequence[str] = (),
    root: str | None = None,
) -> Dataset:
    """A `Dataset` of two in-memory splits from CPU uint8 images [N,C,H,W] and int labels [N].

    Applies `data.train_subset` / `data.val_subset`, normalises with `data.mean` / `data.std`
    (null: measured on the training images), augments the training split per `data.augment`
    and `data.pad`, and moves everything to `device` once.
    """
    from ablate.data.subset import subset

    device = torch.device(device)
    in_channels, resolution = train[0].shape[1], train[0].shape[2]
    parts = {}
    for split, field_name, (images, labels) in (("train", "train_subset", train), ("val", "val_subset", val)):
        labels = labels.to(torch.int64)
        keep = subset(field_name, getattr(opts, field_name), labels, seed, f"the {title} {split} split", num_classes)
        if keep is not None:
            images, labels = images[keep], labels[keep]
        parts[split] = (images, labels)
    mean, std = opts.mean, opts.std  # one per channel (the schema checked their count), or None
    if mean is None or std is None:
        measured = channel_stats(parts["train"][0])
        mean, std = mean or measured[0], std or measured[1]
    normalize = Normalize(mean, std, device)
    augment, pad = opts.augment, opts.pad
    train_split = TensorSplit(
        parts["train"][0].to(device),
        parts["train"][1].to(device),
        normalize,
        augment=augment,
        pad=pad,
        name=f"{name}/train",
    )
    val_split = TensorSplit(parts["val"][0].to(device), parts["val"][1].to(device), normalize, name=f"{name}/val")
    return Dataset(
        name,
        num_classes,
        in_channels,
        resolution,
        train_split,
        val_split,
        tuple(classes),
        normalize.mean,
        normalize.std,
        root,
    )
