"""PyTorch models of templates: ResNet/ResNeXt networks with bottlenecks in the paper's forms a, b, c."""

from ablate.models.convert import convert
from ablate.models.resnext import FORMS, ResNeXt, build, init_weights, resolve_form

__all__ = ["FORMS", "ResNeXt", "build", "convert", "init_weights", "resolve_form"]
