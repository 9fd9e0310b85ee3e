"""PyTorch models of templates: ResNet/ResNeXt networks with bottlenecks in the paper's forms a, b, c.

Each block is built by its block type (`ablate.engine.blocks`, a built-in one or a user's by import path);
`ablate.models.meta` counts a block that lists no layers by running it on the meta device.
"""

from ablate.models.convert import convert
from ablate.models.resnext import FORMS, ResNeXt, build, init_weights, resolve_form

__all__ = ["FORMS", "ResNeXt", "build", "convert", "init_weights", "resolve_form"]
