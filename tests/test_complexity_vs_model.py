"""The analytic complexity (pure Python) against the built torch models, total and per layer.

FlopCounterMode counts a multiply-add as 2 FLOPs and, like `complexity`, ignores the FC bias,
BN, ReLU, pooling and additions, so the analytic multiply-adds times 2 must equal it exactly.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ablate.engine.complexity import complexity
from ablate.models import build
from ablate.engine.template import Template
from tests.strategies import templates

COUNTED = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.Linear)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def measured(t: Template, form: str) -> tuple[nn.Module, int, int]:
    """The model, its parameter count and its FLOPs on one image in eval mode."""
    model = build(t, form).eval()
    x = torch.randn(1, t.in_channels, t.resolution, t.resolution)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return model, sum(p.numel() for p in model.parameters()), counter.get_total_flops()


@settings(max_examples=200, deadline=None)
@given(templates())
def test_form_c_matches_complexity(t):
    cx = complexity(t)
    model, params, flops = measured(t, "c")
    assert params == cx.params
    assert flops == 2 * cx.flops
    # every counted layer is a module of that name, and every such module is counted
    counted = {name for name, m in model.named_modules() if isinstance(m, COUNTED)}
    assert counted == {layer.name for layer in cx.layers}


@settings(max_examples=30, deadline=None)
@given(templates(), st.sampled_from(["a", "b"]))
def test_forms_a_and_b_match_complexity(t, form):
    cx = complexity(t)
    _, params, flops = measured(t, form)
    assert params == cx.params
    assert flops == 2 * cx.flops


RESNET50 = Template()  # depths 3, 4, 6, 3; 1×64d
RESNEXT50 = Template(cardinality=32, bottleneck_width=4)


@pytest.mark.parametrize("t, params", [
    (RESNET50, 25_557_032),   # Table 1, ResNet-50 (exact count: torchvision, pycls)
    (RESNEXT50, 25_028_904),  # Table 1, ResNeXt-50 32×4d (exact count: torchvision, pycls)
])
def test_table1_models_have_the_papers_parameter_counts(t, params):
    model = build(t)
    assert sum(p.numel() for p in model.parameters()) == params


@pytest.mark.parametrize("t", [RESNET50, RESNEXT50, Template(
    depths=(2, 1, 2), width=24, cardinality=4, bottleneck_width=3, stem="cifar", stem_width=16,
    in_channels=1, resolution=28, num_classes=10, block="basic", shortcut=False)])
def test_every_layer_matches_its_module(t):
    modules = dict(build(t).named_modules())
    for layer in complexity(t).layers:
        m = modules[layer.name]
        if layer.kind == "conv":
            assert isinstance(m, nn.Conv2d) and m.weight.numel() == layer.params, layer.name
        elif layer.kind == "fc":
            assert isinstance(m, nn.Linear) and m.weight.numel() == layer.params - t.num_classes
            assert m.bias.numel() == t.num_classes
        elif layer.kind == "bn":
            assert isinstance(m, nn.BatchNorm2d) and m.weight.numel() + m.bias.numel() == layer.params
        else:
            assert layer.kind == "pool" and isinstance(m, nn.MaxPool2d) and layer.params == 0
