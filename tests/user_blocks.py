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


class NotABlock:
    """Any other class."""
