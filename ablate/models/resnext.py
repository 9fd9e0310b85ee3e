"""The network: stem, one `layerN` per derived stage, global average pool and FC.

`build(template, form)` turns a `Template` (or an already derived `Network`) into a plain
`nn.Module` whose module names, in form c, are torchvision's (`conv1`, `bn1`, `maxpool`,
`layer1.0.conv1`, ..., `fc`) and `ablate.engine.complexity.layers`' names, so a torchvision ResNet or
ResNeXt checkpoint loads and every analytic count can be checked module by module.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ablate.engine.blocks import FORMS, BlockShape, block_type
from ablate.engine.template import Network, Template, derive
from ablate.errors import ConfigError, shown


def resolve_form(form: str) -> str:
    """The concrete block form (a, b or c) to build for `form`, which may also be `auto`.

    `auto` picks c, the grouped form: forms a and b run C small convs, BNs and ReLUs per layer where
    c runs one grouped conv, so c is the fastest wherever it has been timed (`python -m benchmarks
    --only variants`; on CUDA `benchmarks/gpu.sh`), and the gap grows with C. Should a device ever
    measure otherwise, the choice belongs here alone. Names were checked with the config
    (`ablate.config.schema`); a bad name from Python code raises `ConfigError`.
    """
    if form == "auto":
        return "c"
    if form in FORMS:
        return form
    raise ConfigError(f"form={shown(form)} is unknown: valid forms are a, b, c, auto.")


class ResNeXt(nn.Module):
    """A ResNet/ResNeXt-style network from a derived `Network`, its blocks in one form.

    Keeps `template` and `form` so a model can be rebuilt, converted or described later.
    """

    def __init__(self, network: Network, form: str = "c", zero_init_last_bn: bool = False):
        super().__init__()
        t = network.template
        self.template = t
        self.form = form
        if t.stem == "imagenet":
            self.conv1 = nn.Conv2d(t.in_channels, t.stem_width, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(t.in_channels, t.stem_width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(t.stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if t.stem == "imagenet" else None
        block = block_type(t.block)
        self.stage_names = [stage.layer for stage in network.stages]
        for stage in network.stages:
            blocks = [block.module(BlockShape.of(stage, j == 0, t.shortcut), form) for j in range(stage.depth)]
            self.add_module(stage.layer, nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(network.out_width, t.num_classes)
        init_weights(self, zero_init_last_bn)

    def blocks(self):
        """Every residual block, in order (the modules of the `layerN` stages)."""
        return (block for name in self.stage_names for block in getattr(self, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def init_weights(model: ResNeXt, zero_init_last_bn: bool = False) -> None:
    """He initialisation (normal, fan-out, ReLU gain) of every conv; BN γ=1, β=0 (paper §4).

    The path convs of forms a and b get the fan-out of the grouped conv they are a slice of
    (C times their own), so every form starts from the same distribution as form c, which is
    torchvision's. `zero_init_last_bn` zeroes γ of each block's last BN (Goyal et al. 2017), so
    each residual block starts as the identity (without shortcuts, as a zero map).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    with torch.no_grad():
        for block in model.blocks():
            for path in getattr(block, "paths", ()):
                path.conv1.weight.mul_(1 / math.sqrt(block.cardinality))
                path.conv2.weight.mul_(1 / math.sqrt(block.cardinality))
            if zero_init_last_bn:
                last_bn = getattr(block, "last_bn", None)
                if last_bn is None:  # refused with the config already (ablate.config.schema.check_model)
                    from ablate.models.meta import no_last_bn

                    raise no_last_bn(f"its block {type(block).__name__}")
                nn.init.zeros_(last_bn.weight)


def build(template: Template | Network, form: str = "c", zero_init_last_bn: bool = False) -> ResNeXt:
    """The model of a template (derived by the two rules) with its bottlenecks in `form`.

    `form` is a, b or c (paper Fig. 3; equal functions and parameter counts) or auto; a bad
    name raises `ConfigError`.
    """
    network = template if isinstance(template, Network) else derive(template)
    return ResNeXt(network, resolve_form(form), zero_init_last_bn)
