"""Grouped convolutions computed with their groups merged: the same function, on the CPU's fast kernels.

oneDNN, which runs PyTorch's convolutions on the CPU, has fast kernels for a depthwise convolution (one channel
per group) and for groups of several channels, but a grouped convolution whose groups hold only a few channels
(2 to 7) falls to much slower ones, in its backward pass most of all. ResNeXt's high-cardinality blocks are made
of exactly those: C = 32 gives groups of 1, 2, 4 and 8 channels across the four stages of the built-in default.

`MergedGroupsConv2d` computes a grouped 3×3 convolution of C groups of d channels as one of C/k groups of k·d
channels, whose weight is block-diagonal: each output channel's k·d input weights are its own d weights in its
group's place and zeros elsewhere. The zeros add exact zeros to every sum, so the output and the gradients are
those of the grouped convolution up to the order of the additions (the rounding of the last bits); the extra
multiply-adds by zero are many fewer than the time the slow kernels lose. The weight stays the module's own
parameter of the grouped shape: the state dict, the names, the optimizer and the checkpoints are unchanged, and
the model as `ablate.models.build` makes it (what the complexity model and FLOP counters see) is not touched:
`merge_groups` swaps the modules of a model about to be trained.

`merge_factor` picks k: the smallest divisor of C that gives a merged group at least `MIN_GROUP_WIDTH` channels;
a depthwise convolution (d = 1, which has its own kernels) and one whose groups already have that many channels
keep k = 1. The rule is fixed, not timed at run time, so that a run's numbers never depend on what the
machine was doing when it chose; `benchmarks/grouped_conv.py` measures it per layer (the README has the
figures). Only on the CPU (`trainer.merge_groups`): cuDNN's grouped kernels do not need it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MIN_GROUP_WIDTH = 8  # channels per group below which oneDNN's grouped kernels are slow


def merge_factor(groups: int, group_width: int, min_width: int = MIN_GROUP_WIDTH) -> int:
    """How many of `groups` groups of `group_width` input channels to compute as one (1: as they are)."""
    if groups <= 1 or group_width <= 1 or group_width >= min_width:
        return 1
    divisors = (k for k in range(2, groups + 1) if groups % k == 0)
    return next((k for k in divisors if k * group_width >= min_width), groups)


class MergedGroupsConv2d(nn.Conv2d):
    """A grouped `nn.Conv2d` computed as `merge` times fewer groups with a block-diagonal weight (module docstring).

    Made from a grouped convolution by `of(conv, merge)`, which keeps that convolution's parameters (the same
    tensors): its state dict is the grouped convolution's.
    """

    merge: int
    _mask: torch.Tensor | None  # the block mask of the last device and dtype (not a buffer: DDP would sync it)

    @classmethod
    def of(cls, conv: nn.Conv2d, merge: int) -> MergedGroupsConv2d:
        """This module computing `conv` (same parameters, same state dict) with `merge` groups merged into one."""
        if conv.groups % merge:
            raise ValueError(f"merge={merge} does not divide the {conv.groups} groups of {conv}")
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,  # type: ignore[arg-type]  # a tuple, as nn.Conv2d keeps it
            stride=conv.stride,  # type: ignore[arg-type]
            padding=conv.padding,  # type: ignore[arg-type]
            dilation=conv.dilation,  # type: ignore[arg-type]
            groups=conv.groups,
            bias=conv.bias is not None,
            device="meta",  # no memory: the parameters are conv's own
        )
        new.weight, new.bias = conv.weight, conv.bias
        new.train(conv.training)
        new.merge = merge
        new._mask = None
        return new

    def _block_mask(self, like: torch.Tensor) -> torch.Tensor:
        """[out, merge·d, 1, 1]: 1 where an output channel's own group sits inside its merged group, else 0."""
        mask = self._mask
        if mask is None or mask.device != like.device or mask.dtype != like.dtype:
            out, d = like.shape[:2]
            place = (torch.arange(out, device=like.device) // (out // self.groups)) % self.merge  # [out]
            columns = torch.arange(self.merge * d, device=like.device) // d  # [merge·d]: which group's place
            mask = (columns[None, :] == place[:, None]).to(like.dtype)[:, :, None, None]
            self._mask = mask
        return mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.repeat(1, self.merge, 1, 1) * self._block_mask(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups // self.merge)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, computed as {self.groups // self.merge} groups"


def merge_groups(model: nn.Module, min_width: int = MIN_GROUP_WIDTH) -> int:
    """Replace every grouped `nn.Conv2d` of `model` whose groups are narrower than `min_width` channels by a
    `MergedGroupsConv2d` of the same parameters; returns how many were replaced."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Conv2d or child.padding_mode != "zeros":
                continue
            merge = merge_factor(child.groups, child.in_channels // child.groups, min_width)
            if merge > 1:
                setattr(parent, name, MergedGroupsConv2d.of(child, merge))
                swapped += 1
    return swapped
