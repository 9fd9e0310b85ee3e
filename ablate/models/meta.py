"""Counting a block that does not list its layers: one run of its module on torch's meta device.

The meta device holds shapes only: building the module allocates no memory and initialises nothing,
and a forward pass does no arithmetic, so counting even a wide block takes milliseconds. The counts
follow `ablate.engine.blocks.Layer`'s conventions: params from the module's parameters; multiply-adds
as `FlopCounterMode`'s FLOPs / 2 (convs and matrix products; biases, BN, activations, pooling and
elementwise ops add none); acts as the output elements of every conv, linear and max-pool layer
(forward hooks); weights (equation 4) as the params outside normalisation layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ablate.engine.blocks import BLOCKS, BlockCounts, BlockShape, block_counts, block_name, block_type
from ablate.engine.template import Template, derive
from ablate.errors import ConfigError, TemplateError

if TYPE_CHECKING:
    from ablate.engine.blocks import Block

ACT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.LayerNorm)


def count_module(module: nn.Module, x: torch.Tensor) -> tuple[BlockCounts, torch.Tensor]:
    """Params, multiply-adds, acts and weights of `module` on input `x` (one image), by running it once;
    and its output."""
    acts = 0

    def count_acts(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal acts
        acts += output.numel()

    hooks = [m.register_forward_hook(count_acts) for m in module.modules() if isinstance(m, ACT_LAYERS)]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            y = module(x)
    finally:
        for hook in hooks:
            hook.remove()
    params = sum(p.numel() for p in module.parameters())
    norm = sum(p.numel() for m in module.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters(recurse=False))
    return BlockCounts(params, counter.get_total_flops() // 2, acts, params - norm), y


def count_block(block: Block, shape: BlockShape) -> BlockCounts:
    """One block of `shape` counted on the meta device (form c; every form has the same count).

    The module must give `width × resolution²` from `in_width × in_resolution²`: a block of one's own that
    does not is refused here, in one sentence, rather than by the next layer's shape error in training.
    An error raised in the block's own code keeps its traceback, with a note naming the block and shape.
    """
    try:
        with torch.device("meta"):
            module = block.module(shape, "c").eval()
            x = torch.empty(1, shape.in_width, shape.in_resolution, shape.in_resolution)
        counts, y = count_module(module, x)
    except Exception as e:
        e.add_note(
            f"while ablate built block={block_name(block)!r} for its block of {where(shape)} at "
            f"{shape.in_resolution}×{shape.in_resolution} (the fields of BlockShape: {', '.join(BlockShape._fields)})"
        )
        raise
    wanted = (1, shape.width, shape.resolution, shape.resolution)
    if tuple(y.shape) != wanted:
        raise TemplateError(
            f"block={block_name(block)!r} gives {_size(y.shape[1:])} from {_size(x.shape[1:])} in its block of "
            f"{where(shape)}: a block's module must give width×resolution² ({_size(wanted[1:])})."
        )
    return counts


def check_module(template: Template) -> None:
    """A block of one's own, held to its module in every block shape of `template`: the module must give
    width×resolution² (see `count_block`), and a block that lists its layers must list its module's (same params
    and multiply-adds), since its count comes from the list alone and a wrong list would make every figure wrong.
    One sentence (`TemplateError`) otherwise. The built-in blocks are held to their modules by the tests."""
    block = block_type(template.block)
    if block_name(block) in BLOCKS:
        return
    network = derive(template)
    shapes = dict.fromkeys(
        BlockShape.of(stage, first, template.shortcut) for stage in network.stages for first in (True, False)
    )
    for shape in shapes:
        counted = block_counts(block, shape)  # a block without layers: its module's count (cached; one sentence)
        if block.method != "analytic":
            continue
        listed, built = counted, count_block(block, shape)
        if (listed.params, listed.flops) != (built.params, built.flops):
            raise TemplateError(
                f"block={block_name(block)!r} lists layers of {listed.params:,} params and {listed.flops:,} "
                f"multiply-adds in its block of {where(shape)}, but its module has {built.params:,} params and "
                f"{built.flops:,} multiply-adds: make residual_layers() list the module's layers, or drop it to "
                "count the module on the meta device."
            )


def check_last_bn(template: Template) -> None:
    """For `model.zero_init_last_bn=true`: a block of one's own must build a module with a `last_bn` to zero (the
    built-in blocks have one); refused when the config is checked, not once the run has built its model."""
    block = block_type(template.block)
    if block_name(block) in BLOCKS:
        return
    shape = BlockShape.of(derive(template).stages[0], True, template.shortcut)
    with torch.device("meta"):
        module = block.module(shape, "c")
    if getattr(module, "last_bn", None) is None:
        raise no_last_bn(f"model.block={block_name(block)!r} builds a module of class {type(module).__name__}")


def no_last_bn(what: str) -> ConfigError:
    """The sentence for zero_init_last_bn on a block without a last BN; `what` names the block."""
    return ConfigError(
        f"model.zero_init_last_bn=true needs blocks with a last_bn: {what}, which has none; give it a last_bn "
        "property or set model.zero_init_last_bn=false."
    )


def where(shape: BlockShape) -> str:
    """A block's place in words: `in_width=64, width=256, stride=1`."""
    return f"in_width={shape.in_width}, width={shape.width}, stride={shape.stride}"


def _size(dims: Any) -> str:
    return "×".join(str(int(n)) for n in dims)
