"""Seeded, class-balanced subsets (`data.train_subset`, `data.val_subset`).

Every class gets the same number of images as far as its own count allows (water-filling:
classes too small for an equal share give all they have, the rest share what is left); the
few images left over after equal shares go to classes drawn at random. Within a class the
images are a seeded random sample. Indices come back sorted, so the subset keeps file order.
"""

from __future__ import annotations

import torch

from ablate.config.schema import subset_too_large
from ablate.data.seeds import generator


def class_counts(labels: torch.Tensor, size: int, seed: int, num_classes: int | None = None) -> torch.Tensor:
    """How many images of each class a balanced subset of `size` takes."""
    available = torch.bincount(labels, minlength=num_classes or 0)
    lo, hi = 0, int(available.max())
    while lo < hi:  # the largest level L with sum(min(available, L)) <= size
        mid = (lo + hi + 1) // 2
        if int(available.clamp(max=mid).sum()) <= size:
            lo = mid
        else:
            hi = mid - 1
    counts = available.clamp(max=lo)
    extra = size - int(counts.sum())
    if extra:
        room = torch.nonzero(available > lo).flatten()
        chosen = room[torch.randperm(room.numel(), generator=generator(seed, "subset-classes"))[:extra]]
        counts[chosen] += 1
    return counts


def balanced_subset(labels: torch.Tensor, size: int, seed: int, num_classes: int | None = None) -> torch.Tensor:
    """Sorted indices (int64, CPU) of a seeded class-balanced subset of `size` images."""
    labels = labels.cpu().to(torch.int64)
    if not 0 < size <= labels.numel():
        raise ValueError(f"size {size} not in [1, {labels.numel()}]")
    counts = class_counts(labels, size, seed, num_classes)
    g = generator(seed, "subset")
    picked = []
    for k, take in enumerate(counts.tolist()):
        if take:
            members = torch.nonzero(labels == k).flatten()
            picked.append(members[torch.randperm(members.numel(), generator=g)[:take]])
    return torch.sort(torch.cat(picked)).values


def subset(
    field: str, size: int | None, labels: torch.Tensor, seed: int, what: str, num_classes: int | None = None
) -> torch.Tensor | None:
    """Indices for `data.<field>` = size (None: all), or a ConfigError naming the field and the maximum."""
    if size is None:
        return None
    n = labels.numel()
    if size > n:
        raise subset_too_large(field, size, n, what)
    return balanced_subset(labels, size, seed, num_classes)
