"""Convolutions computed on other CPU kernels than their own: grouped ones with their groups merged (faster), and
narrow strided 1×1 ones subsampled first (a oneDNN fault avoided). The same function either way.

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

`SubsampledConv2d` computes a 1×1 convolution of stride s as the same convolution at stride 1 on every s-th pixel
(`x[:, :, ::s, ::s]`), which is its definition. oneDNN's 1×1 backward-weights kernel for a strided channels-last
input with fewer input channels than its channel block (8 on AVX2, 16 on AVX-512) writes past its workspace
(oneDNN issue 6035): heap corruption or a hang on AVX2, wrong weight gradients on AVX-512. ResNeXt's projection
shortcuts are such convolutions wherever a stage's input is narrow (a template with a small `width`, which the
budget solver can choose). `subsample_strided_pointwise` swaps every 1×1 strided convolution narrower than
`FAULTY_BELOW` input channels of a channels-last model on the CPU; it is not optional, since the kernel it avoids
is wrong, not slow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

MIN_GROUP_WIDTH = 8  # channels per group below which oneDNN's grouped kernels are slow
C = TypeVar("C", bound=nn.Conv2d)
FAULTY_BELOW = 16  # input channels below which oneDNN's strided channels-last 1×1 backward-weights kernel is faulty


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
        new = _twin(cls, conv)
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

    def merged(conv: nn.Conv2d) -> nn.Module | None:
        merge = merge_factor(conv.groups, conv.in_channels // conv.groups, min_width)
        return MergedGroupsConv2d.of(conv, merge) if merge > 1 else None

    return _swap(model, merged)


class SubsampledConv2d(nn.Conv2d):
    """A strided 1×1 `nn.Conv2d` computed at stride 1 on the pixels it reads (module docstring); made from one by
    `of(conv)`, which keeps that convolution's parameters: its state dict is the strided convolution's."""

    @classmethod
    def of(cls, conv: nn.Conv2d) -> SubsampledConv2d:
        """This module computing `conv` (a 1×1 convolution without padding; same parameters, same state dict)."""
        if conv.kernel_size != (1, 1) or conv.padding != (0, 0):
            raise ValueError(f"{conv} is not a 1×1 convolution without padding")
        return _twin(cls, conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sh, sw = self.stride
        return F.conv2d(x[:, :, ::sh, ::sw], self.weight, self.bias, 1, 0, 1, self.groups)

    def extra_repr(self) -> str:
        rows, columns = self.stride
        return f"{super().extra_repr()}, computed at stride 1 on x[:, :, ::{rows}, ::{columns}]"


def subsample_strided_pointwise(model: nn.Module, below: int = FAULTY_BELOW) -> int:
    """Replace every strided 1×1 `nn.Conv2d` of `model` with fewer than `below` input channels by a
    `SubsampledConv2d` of the same parameters; returns how many were replaced."""

    def subsampled(conv: nn.Conv2d) -> nn.Module | None:
        strided = conv.kernel_size == (1, 1) and conv.padding == (0, 0) and conv.stride != (1, 1)
        return SubsampledConv2d.of(conv) if strided and conv.in_channels < below else None

    return _swap(model, subsampled)


def _twin(cls: type[C], conv: nn.Conv2d) -> C:
    """A `cls` module of `conv`'s shape and hyper-parameters holding `conv`'s own parameters (the same tensors, so the
    same state dict), in `conv`'s training mode."""
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
    return new


def _swap(model: nn.Module, make: Callable[[nn.Conv2d], nn.Module | None]) -> int:
    """Replace each plain `nn.Conv2d` (zero padding) of `model` for which `make` gives a module; how many were."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Conv2d and child.padding_mode == "zeros" and (new := make(child)) is not None:
                setattr(parent, name, new)
                swapped += 1
    return swapped
