"""The torch modules of the SE-ResNeXt bottleneck: ablate's bottleneck forms with an SE module added.

The squeeze-and-excitation module follows the SENet reference implementation (and timm's `SEModule`):
global average pool, 1×1 conv with bias to `reduced` channels, ReLU, 1×1 conv with bias back, sigmoid,
and the block's output scaled by it, before the shortcut addition.
"""

from __future__ import annotations

import torch
from torch import nn

from ablate.engine.blocks import BlockShape
from ablate.models.blocks import BottleneckA, BottleneckB, BottleneckC


class SqueezeExcite(nn.Module):
    """Channel attention: x · sigmoid(fc2(relu(fc1(mean over the map of x))))."""

    def __init__(self, width: int, reduced: int):
        super().__init__()
        self.fc1 = nn.Conv2d(width, reduced, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, width, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


class SEResidual:
    """Mixed into a bottleneck form: its residual function followed by squeeze-and-excitation."""

    def __init__(self, shape: BlockShape, reduced: int):
        super().__init__(shape)  # type: ignore[call-arg]
        self.se = SqueezeExcite(shape.width, reduced)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(super().residual(x))  # type: ignore[misc]


class SEBottleneckA(SEResidual, BottleneckA):
    pass


class SEBottleneckB(SEResidual, BottleneckB):
    pass


class SEBottleneckC(SEResidual, BottleneckC):
    pass


def se_bottleneck(shape: BlockShape, form: str, reduced: int) -> nn.Module:
    """The SE bottleneck of `shape` in `form` (a, b or c: the same function, as for the plain bottleneck)."""
    return {"a": SEBottleneckA, "b": SEBottleneckB, "c": SEBottleneckC}[form](shape, reduced)
