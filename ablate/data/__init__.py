"""Data sets for training: `load(cfg.data, device, seed)` returns a `Dataset` with `train` and `val` splits.

Small sets (Fashion-MNIST, CIFAR-10/100, synthetic) live in memory as uint8 tensors on the
training device and are batched, augmented and normalised there (`base.TensorSplit`);
ImageNet class folders stream through DataLoader worker processes (`imagenet.FolderSplit`).
Both yield (x float32 [B,C,H,W] normalised, channels_last; y int64 [B]) on the device:

    data = load(cfg.data, device, seed)
    for x, y in data.train.batches(128, train=True, epoch=epoch, seed=seed, rank=rank, world_size=world):
        ...

One module per data set, each with `load(options, device, seed) -> Dataset`; the defaults of
every field are in `conf/data/NAME.yaml`.
"""

from __future__ import annotations

from importlib import import_module

from ablate.data.base import Dataset, Split, TensorSplit

# data set name -> module with its `load`
MODULES = {
    "cifar10": "ablate.data.cifar",
    "cifar100": "ablate.data.cifar",
    "fashion_mnist": "ablate.data.fashion_mnist",
    "imagenet": "ablate.data.imagenet",
    "synthetic": "ablate.data.synthetic",
}

__all__ = ["Dataset", "Split", "TensorSplit", "available", "load", "prepare"]


def available() -> list[str]:
    """Names of the data sets `load` knows."""
    return sorted(MODULES)


def prepare(cfg) -> None:
    """Find the data set's files, downloading and checking what is missing, without loading it.

    A run calls this once before it starts its DDP processes, each of which then loads the files: so a
    missing or corrupt data set is refused before any process starts, and a download is made once rather
    than by every process into the same files. A data set with nothing to fetch has no `prepare`.
    """
    opts, module = _module(cfg)
    if hasattr(module, "prepare"):
        module.prepare(opts)


def load(cfg, device="cpu", seed: int = 0) -> Dataset:
    """The data set a `data` config node (OmegaConf or dict) describes, on `device`.

    `seed` draws the class-balanced subsets and the synthetic images; shuffling and
    augmentation take their seed per call of `Split.batches`.
    """
    import torch

    opts, module = _module(cfg)
    return module.load(opts, torch.device(device), seed)


def _module(cfg):
    """The checked options of a `data` node and the module of its data set (from the fixed table)."""
    from ablate.data.options import options

    opts = options(cfg)
    return opts, import_module(MODULES[opts.name])
