"""Synthetic images: seeded, any shape, learnable, no files (tests and benchmarks).

Each class has a smooth random pattern (a 4×4 grid of values in [-1, 1] per channel,
bilinearly upsampled to the image size); an image is 128 + 64·pattern of its class plus
Gaussian pixel noise of std `data.noise`, rounded and clipped to uint8. Classes are equally
frequent. The same `seed` gives the same images on every device; training and validation
images share the class patterns and differ in their noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ablate.config.schema import SyntheticData
from ablate.data.base import Dataset, memory_dataset
from ablate.data.seeds import generator

CHUNK = 4096


def patterns(num_classes: int, channels: int, resolution: int, seed: int) -> torch.Tensor:
    """The class patterns, float32 [K, C, R, R] in [-1, 1]."""
    grid = torch.rand(num_classes, channels, 4, 4, generator=generator(seed, "synthetic-patterns")) * 2 - 1
    return F.interpolate(grid, size=(resolution, resolution), mode="bilinear", align_corners=True)


def images(protos: torch.Tensor, n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n images uint8 [n, C, R, R] with balanced labels int64 [n] in a seeded random order."""
    k = protos.shape[0]
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
    out = torch.empty((n, *protos.shape[1:]), dtype=torch.uint8)
    for start in range(0, n, CHUNK):
        y = labels[start : start + CHUNK]
        x = 128 + 64 * protos[y] + noise * torch.randn((y.numel(), *protos.shape[1:]), generator=g)
        out[start : start + CHUNK] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out, labels


def load(opts: SyntheticData, device: torch.device, seed: int) -> Dataset:
    n, n_val = opts.num_samples, opts.val_samples
    resolution, channels = opts.resolution, opts.in_channels
    num_classes, noise = opts.num_classes, opts.noise
    protos = patterns(num_classes, channels, resolution, seed)
    train = images(protos, n, noise, generator(seed, "synthetic-train"))
    val = images(protos, n_val, noise, generator(seed, "synthetic-val"))
    classes = tuple(f"class {k}" for k in range(num_classes))
    return memory_dataset("synthetic", "synthetic", train, val, opts, device, seed, num_classes, classes)
