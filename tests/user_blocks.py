"""Block types of one's own for the tests, written as a user would, outside the `ablate` package.

Both build the SE-ResNeXt example's module but list no layers of their own, so ablate counts them by
running the module on the meta device: the tests hold that count equal to the example's layer list.
"""

from __future__ import annotations

from ablate.engine.blocks import Block, BlockShape, Bottleneck
from examples.se_resnext.se_blocks import reduced_width


def _se_module(shape: BlockShape, form: str):
    from examples.se_resnext.se_modules import se_bottleneck

    return se_bottleneck(shape, form, reduced_width(shape.width))


class MetaSEBottleneck(Block):
    """The SE bottleneck given by its module alone."""

    def module(self, shape: BlockShape, form: str):
        return _se_module(shape, form)


class SEModuleOnly(Bottleneck):
    """A bottleneck subclass that changes only the module: the inherited layers (a plain bottleneck's)
    do not describe it, so it is counted on the meta device too."""

    def module(self, shape: BlockShape, form: str):
        return _se_module(shape, form)


class NoModule(Block):
    """Lists nothing and builds nothing: it cannot be counted."""


class NeedsArguments(Bottleneck):  # a block type is built once, with no arguments
    def __init__(self, reduction):
        self.reduction = reduction


class NotABlock:
    """Any other class."""


class OneChannelTooMany(Block):
    """Lists nothing; its module gives one channel more than the block's width."""

    def module(self, shape: BlockShape, form: str):
        from torch import nn

        return nn.Conv2d(shape.in_width, shape.width + 1, 3, stride=shape.stride, padding=1)


class MislistedSE(Bottleneck):
    """Builds the SE module but lists a plain bottleneck's layers: its count is not its module's."""

    def residual_layers(self, shape: BlockShape):
        return super().residual_layers(shape)

    def module(self, shape: BlockShape, form: str):
        return _se_module(shape, form)


class RaisesInModule(Block):
    """A user's bug: its module reads a field BlockShape does not have."""

    def module(self, shape: BlockShape, form: str):
        return shape.out_channels


class NoLastBN(Block):
    """A plain 3×3 conv of the right width: usable, but with no last BN to zero."""

    def module(self, shape: BlockShape, form: str):
        from torch import nn

        return nn.Conv2d(shape.in_width, shape.width, 3, stride=shape.stride, padding=1, bias=False)
