"""Counting a block that does not list its layers: one run of its module on torch's meta device.

The meta device holds shapes only: building the module allocates no memory and initialises nothing,
and a forward pass does no arithmetic, so counting even a wide block takes milliseconds. The counts
follow `ablate.engine.blocks.Layer`'s conventions: params from the module's parameters; multiply-adds
as `FlopCounterMode`'s FLOPs / 2 (convs and matrix products; biases, BN, activations, pooling and
elementwise ops add none); acts as the output elements of every conv, linear and max-pool layer
(forward hooks); weights (equation 4) as the params outside normalisation layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ablate.engine.blocks import BlockCounts, BlockShape

if TYPE_CHECKING:
    from ablate.engine.blocks import Block

ACT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.LayerNorm)


def count_module(module: nn.Module, x: torch.Tensor) -> BlockCounts:
    """Params, multiply-adds, acts and weights of `module` on input `x` (one image), by running it once."""
    acts = 0

    def count_acts(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal acts
        acts += output.numel()

    hooks = [m.register_forward_hook(count_acts) for m in module.modules() if isinstance(m, ACT_LAYERS)]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(x)
    finally:
        for hook in hooks:
            hook.remove()
    params = sum(p.numel() for p in module.parameters())
    norm = sum(p.numel() for m in module.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters(recurse=False))
    return BlockCounts(params, counter.get_total_flops() // 2, acts, params - norm)


def count_block(block: Block, shape: BlockShape) -> BlockCounts:
    """One block of `shape` counted on the meta device (form c; every form has the same count)."""
    with torch.device("meta"):
        module = block.module(shape, "c").eval()
        x = torch.empty(1, shape.in_width, shape.in_resolution, shape.in_resolution)
    return count_module(module, x)
