"""Exact analytic complexity of a derived network: params, FLOPs, activations.

Conventions (paper §3.1, torchvision, pycls; see ../shared/reference/resnext-facts.md):
FLOPs are multiply-adds of convs and the FC layer, FC bias excluded (as torchvision counts);
params are conv weights, FC weight and bias, and BN's two affine vectors; acts are the output
elements of every conv, max-pool and FC layer (pycls). BN, ReLU, additions and pooling add no
FLOPs. `layers` mirrors `ablate.models.build` layer by layer, with the same names as the
model's modules (form c, torchvision names), so each count can be checked per layer.
No torch import: this runs in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple

from ablate.engine.template import Network, Stage, Template, conv_out, derive


@dataclass(frozen=True)
class Layer:
    """One counted layer: its module name, kind and counts."""

    name: str
    kind: str  # conv | bn | pool | fc
    stage: str  # stem | conv2 | ... | head
    params: int
    flops: int
    acts: int


@dataclass(frozen=True)
class Complexity:
    """Totals and per-stage sums of a network's layers."""

    params: int
    flops: int
    acts: int
    stages: dict  # stage name -> {"params", "flops", "acts"}
    layers: tuple[Layer, ...]

    def as_dict(self) -> dict:
        return {"params": self.params, "flops": self.flops, "acts": self.acts}


def _conv(name, stage, w_in, w_out, k, res_out, groups=1) -> Layer:
    weights = k * k * (w_in // groups) * w_out
    return Layer(name, "conv", stage, weights, weights * res_out * res_out, w_out * res_out * res_out)


def _bn(name, stage, w) -> Layer:
    return Layer(name, "bn", stage, 2 * w, 0, 0)


def block_layers(prefix: str, stage: Stage, first: bool, block: str, shortcut: bool) -> Iterator[Layer]:
    """Layers of one block (form c) in module order, named like torchvision's."""
    w_in = stage.in_width if first else stage.width
    stride = stage.stride if first else 1
    r_in = stage.in_resolution if first else stage.resolution
    r = conv_out(r_in, stride)
    g, c, s = stage.group_width, stage.cardinality, stage.name
    if block == "bottleneck":
        yield _conv(f"{prefix}.conv1", s, w_in, g, 1, r_in)
        yield _bn(f"{prefix}.bn1", s, g)
        yield _conv(f"{prefix}.conv2", s, g, g, 3, r, groups=c)
        yield _bn(f"{prefix}.bn2", s, g)
        yield _conv(f"{prefix}.conv3", s, g, stage.width, 1, r)
        yield _bn(f"{prefix}.bn3", s, stage.width)
    else:  # basic: two 3×3 convs; C paths of depth 2 aggregate into one dense block (Fig. 4)
        yield _conv(f"{prefix}.conv1", s, w_in, g, 3, r)
        yield _bn(f"{prefix}.bn1", s, g)
        yield _conv(f"{prefix}.conv2", s, g, stage.width, 3, r)
        yield _bn(f"{prefix}.bn2", s, stage.width)
    if shortcut and (w_in != stage.width or stride != 1):
        yield _conv(f"{prefix}.downsample.0", s, w_in, stage.width, 1, r)
        yield _bn(f"{prefix}.downsample.1", s, stage.width)


def layers(net: Network) -> Iterator[Layer]:
    """Every counted layer of the network, in the order the model runs them."""
    t = net.template
    if t.stem == "imagenet":
        r = conv_out(t.resolution, 2)
        yield _conv("conv1", "stem", t.in_channels, t.stem_width, 7, r)
        yield _bn("bn1", "stem", t.stem_width)
        r = conv_out(r, 2)
        yield Layer("maxpool", "pool", "stem", 0, 0, t.stem_width * r * r)
    else:
        yield _conv("conv1", "stem", t.in_channels, t.stem_width, 3, t.resolution)
        yield _bn("bn1", "stem", t.stem_width)
    for stage in net.stages:
        for j in range(stage.depth):
            yield from block_layers(f"{stage.layer}.{j}", stage, j == 0, t.block, t.shortcut)
    w = net.out_width
    yield Layer("fc", "fc", "head", w * t.num_classes + t.num_classes, w * t.num_classes, t.num_classes)


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
    )


class Counts(NamedTuple):
    """A network's totals alone: what the solver and the sweeps need, without the layer list."""

    params: int
    flops: int
    acts: int

    def as_dict(self) -> dict:
        return self._asdict()


def totals(template: Template) -> Counts:
    """Params, FLOPs and acts of `template`'s network in closed form: the same sums as
    `complexity`, without deriving stages or listing layers.

    A stage is its first block plus depth − 1 copies of the repeated block, so the cost grows with
    the number of stages, not blocks: a few microseconds for any template, which is what lets the
    solver search hundreds of candidates in a millisecond. Tests hold it equal to `complexity`.
    """
    t = template
    bottleneck = t.block == "bottleneck"
    sw, c, nc = t.stem_width, t.cardinality, t.num_classes
    if t.stem == "imagenet":
        r = (t.resolution - 1) // 2 + 1
        w = 49 * t.in_channels * sw
        params, flops, acts = w + 2 * sw, w * r * r, sw * r * r
        r = (r - 1) // 2 + 1
        acts += sw * r * r  # max-pool
    else:
        r = t.resolution
        w = 9 * t.in_channels * sw
        params, flops, acts = w + 2 * sw, w * r * r, sw * r * r
    w_in = sw
    for i, depth in enumerate(t.depths):
        width, g = t.width << i, c * (t.bottleneck_width << i)
        r_out = r if i == 0 else (r - 1) // 2 + 1
        for first, count in ((True, 1), (False, depth - 1)):
            if not count:
                continue
            w_block, r_in = (w_in, r) if first else (width, r_out)
            a2, a3 = r_in * r_in, r_out * r_out
            if bottleneck:
                w1, w2, w3 = w_block * g, 9 * (g // c) * g, g * width
                p = w1 + w2 + w3 + 4 * g + 2 * width
                f = w1 * a2 + (w2 + w3) * a3
                a = g * a2 + (g + width) * a3
            else:
                w1, w2 = 9 * w_block * g, 9 * g * width  # both dense (Fig. 4: C paths of depth 2)
                p = w1 + w2 + 2 * g + 2 * width
                f = (w1 + w2) * a3
                a = (g + width) * a3
            if t.shortcut and (w_block != width or (first and i > 0)):
                p += w_block * width + 2 * width
                f += w_block * width * a3
                a += width * a3
            params, flops, acts = params + count * p, flops + count * f, acts + count * a
        w_in, r = width, r_out
    params += w_in * nc + nc
    flops += w_in * nc
    acts += nc
    return Counts(params, flops, acts)


def block_params(template: Template) -> int:
    """Equation (4): conv weights of one non-first block of the first stage.

    For the bottleneck, C·(w·d + 3·3·d·d + d·w) with w the stage's output width
    (256·64 + 9·64·64 + 64·256 = 69,632 for ResNet-50). BN is not counted, as in the paper.
    """
    c, d, w = template.cardinality, template.bottleneck_width, template.width
    if template.block == "bottleneck":
        return c * (w * d + 9 * d * d + d * w)
    return 9 * w * c * d + 9 * c * d * w


def block_complexity(template: Template) -> dict:
    """The `block` scope of a budget: one non-first first-stage block (params: eq. 4)."""
    net = derive(template)
    stage = net.stages[0]
    ls = list(block_layers("block", stage, first=False, block=template.block, shortcut=False))
    return {
        "params": block_params(template),
        "flops": sum(x.flops for x in ls),
        "acts": sum(x.acts for x in ls),
    }
