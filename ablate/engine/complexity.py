"""Exact analytic complexity of a derived network: params, FLOPs, activations.

Conventions (paper §3.1, torchvision, pycls; see ../shared/reference/resnext-facts.md):
FLOPs are multiply-adds of convs and the FC layer, FC bias excluded (as torchvision counts);
params are conv weights, FC weight and bias, and BN's two affine vectors; acts are the output
elements of every conv, max-pool and FC layer (pycls). BN, ReLU, additions and pooling add no
FLOPs. The stem and head are listed here; every block's layers come from its block type
(`ablate.engine.blocks`), with the same names as the model's modules (form c, torchvision names),
so each count can be checked per layer. No torch import (unless a user's block must be counted on
the meta device).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from ablate.engine.blocks import BlockShape, Layer, block_type, bn, conv, fc, max_pool
from ablate.engine.template import Network, Template, conv_out, derive

__all__ = [
    "Complexity",
    "Counts",
    "Layer",
    "block_complexity",
    "block_params",
    "complexity",
    "layers",
    "method",
    "totals",
]


@dataclass(frozen=True)
class Complexity:
    """Totals and per-stage sums of a network's layers, and how its blocks were counted."""

    params: int
    flops: int
    acts: int
    stages: dict  # stage name -> {"params", "flops", "acts"}
    layers: tuple[Layer, ...]
    method: str = "analytic"  # analytic: from the block's layer list | meta: its module run on the meta device

    def as_dict(self) -> dict:
        return {"params": self.params, "flops": self.flops, "acts": self.acts}


def _stem(stem: str, in_channels: int, stem_width: int, resolution: int) -> Iterator[Layer]:
    """The stem's layers: 7×7/2 conv, BN, 3×3/2 max-pool (imagenet) or one 3×3/1 conv and BN (cifar)."""
    if stem == "imagenet":
        r = conv_out(resolution, 2)
        yield conv("conv1", in_channels, stem_width, 7, r)
        yield bn("bn1", stem_width)
        yield max_pool("maxpool", stem_width, conv_out(r, 2))
    else:
        yield conv("conv1", in_channels, stem_width, 3, resolution)
        yield bn("bn1", stem_width)


def layers(net: Network) -> Iterator[Layer]:
    """Every counted layer of the network, in the order the model runs them.

    A block that lists its layers contributes them under its module prefix (`layer1.0.conv1`); one
    counted on the meta device contributes a single layer of kind `block` named by that prefix.
    """
    t = net.template
    block = block_type(t.block)
    for layer in _stem(t.stem, t.in_channels, t.stem_width, t.resolution):
        yield layer._replace(stage="stem")
    for stage in net.stages:
        for j in range(stage.depth):
            prefix = f"{stage.layer}.{j}"
            shape = BlockShape.of(stage, j == 0, t.shortcut)
            if block.method == "meta":
                c = block.counts(shape)
                yield Layer(prefix, "block", stage.name, c.params, c.flops, c.acts)
                continue
            for layer in block.layers(shape):
                yield layer._replace(name=f"{prefix}.{layer.name}", stage=stage.name)
    yield fc("fc", net.out_width, t.num_classes)._replace(stage="head")


def complexity(network: Network | Template) -> Complexity:
    """Params, FLOPs (multiply-adds) and acts of a network, per layer, per stage and in total."""
    net = derive(network) if isinstance(network, Template) else network
    all_layers = tuple(layers(net))
    stages: dict[str, dict[str, int]] = {}
    for layer in all_layers:
        s = stages.setdefault(layer.stage, {"params": 0, "flops": 0, "acts": 0})
        s["params"] += layer.params
        s["flops"] += layer.flops
        s["acts"] += layer.acts
    return Complexity(
        params=sum(x.params for x in all_layers),
        flops=sum(x.flops for x in all_layers),
        acts=sum(x.acts for x in all_layers),
        stages=stages,
        layers=all_layers,
        method=block_type(net.template.block).method,
    )


def method(template: Template) -> str:
    """How the template's blocks are counted: `analytic` (their layer list) or `meta` (one meta-device run)."""
    return block_type(template.block).method


class Counts(NamedTuple):
    """A network's totals alone: what the solver and the sweeps need, without the layer list."""

    params: int
    flops: int
    acts: int

    def as_dict(self) -> dict:
        return self._asdict()


@lru_cache(maxsize=256)
def _stem_counts(stem: str, in_channels: int, stem_width: int, resolution: int) -> tuple[int, int, int]:
    """The stem's sums (the solver never varies its fields, so one computation serves a whole search)."""
    stem_layers = list(_stem(stem, in_channels, stem_width, resolution))
    return sum(x.params for x in stem_layers), sum(x.flops for x in stem_layers), sum(x.acts for x in stem_layers)


def _stem_resolution(t: Template) -> int:
    return (((t.resolution - 1) // 2) // 2) + 1 if t.stem == "imagenet" else t.resolution


def totals(template: Template) -> Counts:
    """Params, FLOPs and acts of `template`'s network in closed form: the same sums as
    `complexity`, without deriving stages or listing the network's layers.

    A stage is its first block plus depth − 1 copies of the repeated block, each counted once by the
    block type's `counts` (a closed form for the built-in blocks; the cached sums of its layers, or of
    one meta-device run, for a user's), so the cost grows with the number of stages, not blocks: what
    lets the solver search hundreds of candidates in milliseconds. Tests hold it equal to `complexity`.
    """
    t = template
    counts, shape = block_type(t.block).counts, BlockShape
    c, shortcut, width, d = t.cardinality, t.shortcut, t.width, t.bottleneck_width
    params, flops, acts = _stem_counts(t.stem, t.in_channels, t.stem_width, t.resolution)
    r, w_in, stride = _stem_resolution(t), t.stem_width, 1
    for depth in t.depths:
        r_out = (r - 1) // stride + 1
        p, f, a, _ = counts(shape(w_in, width, c, d, stride, r, shortcut))
        if depth > 1:
            p2, f2, a2, _ = counts(shape(width, width, c, d, 1, r_out, shortcut))
            p, f, a = p + (depth - 1) * p2, f + (depth - 1) * f2, a + (depth - 1) * a2
        params, flops, acts = params + p, flops + f, acts + a
        w_in, r, width, d, stride = width, r_out, 2 * width, 2 * d, 2  # rule (ii): halve the map, double the widths
    nc = t.num_classes
    return Counts(params + w_in * nc + nc, flops + w_in * nc, acts + nc)


def _block_shape(template: Template) -> BlockShape:
    """The shape of equation (4)'s block: a non-first block of the first stage, without its shortcut."""
    t = template
    return BlockShape(t.width, t.width, t.cardinality, t.bottleneck_width, 1, _stem_resolution(t), False)


def block_params(template: Template) -> int:
    """Equation (4): the weights (params other than BN's) of one non-first block of the first stage.

    For the bottleneck, C·(w·d + 3·3·d·d + d·w) with w the stage's output width
    (256·64 + 9·64·64 + 64·256 = 69,632 for ResNet-50). BN is not counted, as in the paper.
    """
    return block_type(template.block).counts(_block_shape(template)).weights


def block_complexity(template: Template) -> dict:
    """The `block` scope of a budget: one non-first first-stage block (params: eq. 4)."""
    c = block_type(template.block).counts(_block_shape(template))
    return {"params": c.weights, "flops": c.flops, "acts": c.acts}
