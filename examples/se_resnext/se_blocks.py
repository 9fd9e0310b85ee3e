"""The SE-ResNeXt bottleneck as an ablate block type (Hu et al., "Squeeze-and-Excitation Networks").

Select it with `model.block=examples.se_resnext.se_blocks:SEBottleneck` (the model configs in
`model/` do). The class describes the block for ablate's engine: its layers (so params, FLOPs and
activations are exact and computed without torch), its Table-1 text, and its module, which is built
from `se_modules` only when a model is built. This file imports no torch, so `describe`, the budget
solver and sweep planning never load it.
"""

from __future__ import annotations

from collections.abc import Iterator

from ablate.engine.blocks import BlockShape, Bottleneck, Layer, conv

REDUCTION = 16  # SENet's r: the excitation's hidden width is C / 16


def reduced_width(width: int) -> int:
    """The SE module's hidden width: width // 16, as the SENet reference code (at least 1 channel).

    timm rounds it to a multiple of 8 instead (`make_divisible(width / 16, 8)`): equal for every width
    of SE-ResNeXt-50 (256…2048), different for narrow blocks such as the tiny variant's 32 and 64.
    """
    return max(1, width // REDUCTION)


class SEBottleneck(Bottleneck):
    """ResNeXt's bottleneck (1×1, grouped 3×3, 1×1, each with BN) whose output is rescaled per channel
    by a squeeze-and-excitation module before the shortcut is added: global average pool, 1×1 conv
    width→width/16 with bias, ReLU, 1×1 conv width/16→width with bias, sigmoid, scale.
    """

    def residual_layers(self, shape: BlockShape) -> Iterator[Layer]:
        yield from super().residual_layers(shape)  # conv1, bn1, conv2, bn2, conv3, bn3
        w, r = shape.width, reduced_width(shape.width)
        # the two 1×1 convs run on the pooled 1×1 map: width·r multiply-adds each, r and width outputs
        yield conv("se.fc1", w, r, 1, 1, bias=True)
        yield conv("se.fc2", r, w, 1, 1, bias=True)

    def text(self, shape: BlockShape) -> str:
        # SENet's Table 1 writes the excitation as "fc, [16, 256]" after the bottleneck's convs
        return f"{super().text(shape)[:-1]}; fc, [{reduced_width(shape.width)}, {shape.width}]]"

    def module(self, shape: BlockShape, form: str):
        from examples.se_resnext.se_modules import se_bottleneck

        return se_bottleneck(shape, form, reduced_width(shape.width))
