"""The network template and the paper's two rules (ResNeXt §3.1).

A `Template` holds every hyper-parameter a user chooses; `derive` applies the two rules
to turn it into a `Network`: one `Stage` per entry of `depths`, each later stage halving
the resolution (stride 2 in the 3×3 conv of its first block) and doubling both the output
width and the group-conv width C·d. Pure Python, no torch: the complexity model and the
budget solver work on `Network` without building anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from ablate.engine.blocks import block_type
from ablate.errors import TemplateError, shown

STEMS = ("imagenet", "cifar")


@dataclass(frozen=True)
class Template:
    """Every free choice of a ResNet/ResNeXt-style network.

    `width` is the output width of the first stage (256 for ResNet-50), `cardinality` C and
    `bottleneck_width` d (per group) fix the first stage's group-conv width C·d. Later stages
    follow from the two rules in `derive`. `block` names a block type of `ablate.engine.blocks`
    (`bottleneck`, `basic`) or a user's own by import path, `package.module:Class`.
    """

    depths: tuple[int, ...] = (3, 4, 6, 3)
    width: int = 256
    cardinality: int = 1
    bottleneck_width: int = 64
    block: str = "bottleneck"
    stem: str = "imagenet"
    stem_width: int = 64
    in_channels: int = 3
    resolution: int = 224
    num_classes: int = 1000
    shortcut: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(self.depths))
        validate(self)

    def replace(self, **changes: Any) -> Template:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def unchecked_replace(self, **changes: Any) -> Template:
        """A copy with some fields changed and no validation: for the budget solver's inner loop,
        which sets one positive whole field (validation would be most of its cost)."""
        new = object.__new__(Template)
        new.__dict__.update(self.__dict__, **changes)
        return new

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["depths"] = list(self.depths)
        return out

    @property
    def group_width(self) -> int:
        """C·d of the first stage: the width of its grouped 3×3 conv."""
        return self.cardinality * self.bottleneck_width


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TemplateError(f"{name}={shown(value)} is invalid: it must be a whole number of at least 1.")


def validate(t: Template) -> None:
    """Raise `TemplateError` with one sentence for the first invalid field of `t`."""
    if t.stem not in STEMS:
        raise TemplateError(f"stem={shown(t.stem)} is unknown: valid stems are {', '.join(STEMS)}.")
    block_type(t.block)  # a name in BLOCKS or a block class's import path, module:Class
    if not t.depths:
        raise TemplateError("depths=[] is invalid: give at least one stage, e.g. depths=[3,4,6,3].")
    for i, depth in enumerate(t.depths):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise TemplateError(
                f"depths[{i}]={shown(depth)} is invalid: every stage needs a whole number of at least 1 block."
            )
    for name in ("width", "cardinality", "bottleneck_width", "stem_width", "in_channels", "resolution", "num_classes"):
        _positive_int(name, getattr(t, name))
    if not isinstance(t.shortcut, bool):
        raise TemplateError(f"shortcut={shown(t.shortcut)} is invalid: it must be true or false.")
    # The resolution must survive every downsampling: a stride-2 step needs at least 2 pixels.
    r = t.resolution
    for name, stride in _downsamplings(t):
        if stride == 2 and r < 2:
            raise TemplateError(
                f"resolution={t.resolution} vanishes before {name}: it is {r}×{r} there; "
                f"use a resolution of at least {min_resolution(t.stem, len(t.depths))} or fewer stages."
            )
        r = conv_out(r, stride)


def conv_out(size: int, stride: int) -> int:
    """Output size of a 'same'-padded odd-kernel conv or pool: (size − 1) // stride + 1."""
    return (size - 1) // stride + 1


def _downsamplings(t: Template) -> list[tuple[str, int]]:
    steps = [("the stem conv", 2), ("the stem max-pool", 2)] if t.stem == "imagenet" else [("the stem conv", 1)]
    steps += [(stage_name(i), 1 if i == 0 else 2) for i in range(len(t.depths))]
    return steps


def min_resolution(stem: str, num_stages: int) -> int:
    """The smallest input resolution whose every stride-2 step sees at least 2 pixels."""
    return 2 ** ((2 if stem == "imagenet" else 0) + num_stages - 1)


def stage_name(i: int) -> str:
    """The paper's name of stage i (conv2 is the first residual stage)."""
    return f"conv{i + 2}"


@dataclass(frozen=True)
class Stage:
    """One stage after the two rules: `depth` blocks at one resolution and width."""

    index: int
    name: str  # paper name: conv2, conv3, ...
    layer: str  # torchvision name: layer1, layer2, ...
    depth: int
    in_width: int  # input width of the first block
    width: int  # output width of every block
    cardinality: int
    bottleneck_width: int  # d of this stage
    stride: int  # stride of the first block's 3×3 conv
    in_resolution: int
    resolution: int  # output resolution

    @property
    def group_width(self) -> int:
        return self.cardinality * self.bottleneck_width

    def summary(self) -> dict[str, int | str]:
        """The stage as the run record and `describe --json` list it (the paper's Table 1 columns)."""
        return {
            "name": self.name,
            "depth": self.depth,
            "resolution": self.resolution,
            "width": self.width,
            "cardinality": self.cardinality,
            "bottleneck_width": self.bottleneck_width,
            "group_width": self.group_width,
            "stride": self.stride,
        }


@dataclass(frozen=True)
class Network:
    """A template with every stage derived."""

    template: Template
    stem_resolution: int  # resolution after the stem (before the first stage)
    stages: tuple[Stage, ...] = field(default_factory=tuple)

    @property
    def out_width(self) -> int:
        return self.stages[-1].width


def derive(template: Template) -> Network:
    """Apply the two rules of §3.1 to a template.

    (i) blocks of one stage share width and filter sizes; (ii) each later stage halves the
    resolution (stride 2 in the first block's 3×3 conv, the 'torch' style) and doubles the
    output width and C·d, keeping C fixed (so d doubles too).
    """
    t = template
    r = t.resolution
    if t.stem == "imagenet":
        r = conv_out(conv_out(r, 2), 2)
    stem_resolution = r
    stages = []
    in_width = t.stem_width
    for i, depth in enumerate(t.depths):
        stride = 1 if i == 0 else 2
        out_r = conv_out(r, stride)
        width = t.width * 2**i
        stages.append(
            Stage(
                index=i,
                name=stage_name(i),
                layer=f"layer{i + 1}",
                depth=depth,
                in_width=in_width,
                width=width,
                cardinality=t.cardinality,
                bottleneck_width=t.bottleneck_width * 2**i,
                stride=stride,
                in_resolution=r,
                resolution=out_r,
            )
        )
        in_width, r = width, out_r
    return Network(template=t, stem_resolution=stem_resolution, stages=tuple(stages))
