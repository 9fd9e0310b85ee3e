"""Residual blocks: the bottleneck in the paper's three equivalent forms (Fig. 3) and the basic block.

The torch side of the block types in `ablate.engine.blocks`, which build these modules (and list
their layers). Every block is built from its `BlockShape`: input and output widths, C, d and stride,
the first block of a stage taking the stage's input width and stride. BN follows each conv, ReLU each BN except the
block's last, where it comes after the shortcut addition (§4). Form c uses torchvision's module
names (`conv1`, `bn1`, ..., `downsample.0/1`) so its checkpoints load; forms a and b keep their C
paths in `paths` (`paths.0.conv1`, ...) so `ablate.models.convert` can map weights between forms.
"""

from __future__ import annotations

import torch
from torch import nn

from ablate.engine.blocks import BlockShape


def conv1x1(w_in: int, w_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(w_in, w_out, kernel_size=1, stride=stride, bias=False)


def conv3x3(w_in: int, w_out: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(w_in, w_out, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)


class Block(nn.Module):
    """What every block shares: its widths, stride, and the shortcut around its residual function.

    Subclasses build their layers, then call `_add_shortcut()` last, so `downsample` follows the
    residual layers in the state dict as in torchvision.
    """

    def __init__(self, shape: BlockShape):
        super().__init__()
        self.w_in = shape.in_width
        self.w_out = shape.width
        self.stride = shape.stride
        self.cardinality = shape.cardinality
        self.bottleneck_width = shape.bottleneck_width
        self.shortcut = shape.shortcut

    def _add_shortcut(self) -> None:
        self.relu = nn.ReLU(inplace=True)
        # A projection where the shape changes; no module at all without shortcuts (the ablation).
        self.downsample: nn.Sequential | None
        if self.shortcut and (self.w_in != self.w_out or self.stride != 1):
            self.downsample = nn.Sequential(conv1x1(self.w_in, self.w_out, self.stride), nn.BatchNorm2d(self.w_out))
        else:
            self.downsample = None

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The BN whose output meets the shortcut (zero-initialised on request)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        if self.shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class BottleneckC(Block):
    """Form (c): 1×1 (w_in→C·d), grouped 3×3 with C groups (stride here), 1×1 (C·d→w_out).

    torchvision's `Bottleneck` with groups=C: same names and shapes, so its weights load.
    """

    def __init__(self, shape: BlockShape):
        super().__init__(shape)
        g = shape.group_width
        self.conv1 = conv1x1(self.w_in, g)
        self.bn1 = nn.BatchNorm2d(g)
        self.conv2 = conv3x3(g, g, self.stride, groups=self.cardinality)
        self.bn2 = nn.BatchNorm2d(g)
        self.conv3 = conv1x1(g, self.w_out)
        self.bn3 = nn.BatchNorm2d(self.w_out)
        self._add_shortcut()

    def residual(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    @property
    def last_bn(self):
        return self.bn3


class Path(nn.Module):
    """One of the C paths of forms (a) and (b): 1×1 (w_in→d), 3×3 (d→d), each with BN and ReLU,
    then in form (a) a 1×1 (d→w_out) whose output is summed with the other paths' before one BN."""

    def __init__(self, w_in: int, d: int, stride: int, w_out: int | None = None):
        super().__init__()
        self.conv1 = conv1x1(w_in, d)
        self.bn1 = nn.BatchNorm2d(d)
        self.conv2 = conv3x3(d, d, stride)
        self.bn2 = nn.BatchNorm2d(d)
        self.conv3 = conv1x1(d, w_out) if w_out is not None else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return out if self.conv3 is None else self.conv3(out)


class BottleneckA(Block):
    """Form (a): C explicit paths of 1×1, 3×3, 1×1, summed, then one BN on the sum.

    One BN after the sum (rather than one per path) is what makes (a) equal to (c) in function
    and in parameter count: BN of a sum of linear maps is BN of the grouped conv3's output.
    """

    def __init__(self, shape: BlockShape):
        super().__init__(shape)
        self.paths = nn.ModuleList(
            Path(self.w_in, self.bottleneck_width, self.stride, self.w_out) for _ in range(self.cardinality)
        )
        self.bn3 = nn.BatchNorm2d(self.w_out)
        self._add_shortcut()

    def residual(self, x):
        return self.bn3(torch.stack([path(x) for path in self.paths]).sum(0))

    @property
    def last_bn(self):
        return self.bn3


class BottleneckB(Block):
    """Form (b): C paths of 1×1 and 3×3, concatenated, then one 1×1 (C·d→w_out) and BN."""

    def __init__(self, shape: BlockShape):
        super().__init__(shape)
        self.paths = nn.ModuleList(Path(self.w_in, self.bottleneck_width, self.stride) for _ in range(self.cardinality))
        self.conv3 = conv1x1(shape.group_width, self.w_out)
        self.bn3 = nn.BatchNorm2d(self.w_out)
        self._add_shortcut()

    def residual(self, x):
        return self.bn3(self.conv3(torch.cat([path(x) for path in self.paths], dim=1)))

    @property
    def last_bn(self):
        return self.bn3


class BasicBlock(Block):
    """Two dense 3×3 convs, w_in→C·d (stride here) and C·d→w_out.

    With block depth 2 the C paths aggregate into one wide dense block (Fig. 4), so the basic
    block has a single form: forms a, b and c all build this class.
    """

    def __init__(self, shape: BlockShape):
        super().__init__(shape)
        g = shape.group_width
        self.conv1 = conv3x3(self.w_in, g, self.stride)
        self.bn1 = nn.BatchNorm2d(g)
        self.conv2 = conv3x3(g, self.w_out)
        self.bn2 = nn.BatchNorm2d(self.w_out)
        self._add_shortcut()

    def residual(self, x):
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    @property
    def last_bn(self):
        return self.bn2
