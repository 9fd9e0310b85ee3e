"""The torch models: the three forms are one function, torchvision's names load, initialisation."""

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ablate.errors import ConfigError
from ablate.models import build, convert, resolve_form
from ablate.models.blocks import BasicBlock, BottleneckA, BottleneckB, BottleneckC
from ablate.models.convert import grouped_state
from ablate.engine.template import Template
from tests.strategies import templates

TORCHVISION_KEYS = json.loads((Path(__file__).parent / "data" / "torchvision_resnet_keys.json").read_text())
RESNET50 = Template()  # depths 3, 4, 6, 3; 1×64d
RESNEXT50 = Template(cardinality=32, bottleneck_width=4)
SMALL = Template(depths=(2, 1), width=16, cardinality=4, bottleneck_width=3, stem="cifar", stem_width=8,
                 in_channels=2, resolution=8, num_classes=5)
EXACT = 1e-10  # float64: the forms differ only in summation order (~1e-16 relative)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomise_bn(model: nn.Module, generator: torch.Generator) -> None:
    """Give every BN random γ, β and running statistics, as after some training."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for tensor, low, high in ((m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5),
                                          (m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 2.0)):
                    tensor.copy_(torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype) * (high - low) + low)
                m.num_batches_tracked.fill_(int(torch.randint(1, 100, (), generator=generator)))


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = grouped_state(a.state_dict()), grouped_state(b.state_dict())
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# --- the three forms are one function (Fig. 3) ---

@settings(max_examples=25, deadline=None)
@given(templates(max_stages=3), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_forms_compute_the_same_function(t, cardinality, seed):
    t = t.replace(block="bottleneck", cardinality=cardinality)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    c = build(t, "c").double()
    randomise_bn(c, g)
    a, b = convert(c, "a"), convert(c, "b")
    assert isinstance(a.layer1[0], BottleneckA) and isinstance(b.layer1[0], BottleneckB)
    x = torch.randn(3, t.in_channels, t.resolution, t.resolution, generator=g, dtype=torch.float64)
    # a training step's forward: batch statistics and the running-stat updates agree too
    outs = [m.train()(x) for m in (a, b, c)]
    for out in outs[:2]:
        assert (out - outs[2]).abs().max().item() <= EXACT
    for m in (a, b):
        sm, sc = grouped_state(m.state_dict()), c.state_dict()
        assert sm.keys() == sc.keys()
        for key in sc:
            assert (sm[key] - sc[key]).abs().max().item() <= EXACT, key
    # eval mode, and after chains of conversions
    y = c.eval()(x)
    for m in (a.eval(), b.eval(), convert(convert(a, "c"), "b"), convert(convert(b, "a"), "c")):
        assert not m.training
        assert (m(x) - y).abs().max().item() <= EXACT


def test_convert_round_trip_is_exact_and_shares_nothing():
    c = build(SMALL, "c")
    randomise_bn(c, torch.Generator().manual_seed(0))
    a = convert(c, "a")
    back = convert(convert(a, "b"), "c")
    assert_same_state(back, c)
    assert [k for k in back.state_dict()] == [k for k in c.state_dict()]
    with torch.no_grad():
        a.layer1[0].paths[1].conv2.weight.add_(1.0)
    assert_same_state(convert(a, "c").layer2, c.layer2)  # untouched parts still equal
    assert torch.equal(c.layer1[0].conv2.weight, back.layer1[0].conv2.weight)  # the source did not move


def test_path_tensors_are_slices_of_the_grouped_ones():
    c = build(SMALL, "c")
    a, b = convert(c, "a"), convert(c, "b")
    d = SMALL.bottleneck_width
    block_c, block_a, block_b = c.layer1[1], a.layer1[1], b.layer1[1]
    for i in range(SMALL.cardinality):
        rows = slice(i * d, (i + 1) * d)
        assert torch.equal(block_a.paths[i].conv1.weight, block_c.conv1.weight[rows])
        assert torch.equal(block_a.paths[i].conv2.weight, block_c.conv2.weight[rows])  # group i
        assert torch.equal(block_a.paths[i].conv3.weight, block_c.conv3.weight[:, rows])
        assert torch.equal(block_b.paths[i].bn2.running_var, block_c.bn2.running_var[rows])
    assert torch.equal(block_b.conv3.weight, block_c.conv3.weight)
    assert torch.equal(block_a.bn3.weight, block_c.bn3.weight)


def test_convert_keeps_dtype_and_mode():
    c = build(SMALL, "c").double().eval()
    a = convert(c, "a")
    assert (a.form, a.template) == ("a", SMALL)
    assert not a.training and all(p.dtype == torch.float64 for p in a.parameters())
    assert convert(a.train(), "auto").training and convert(a, "auto").form == "c"


def test_basic_block_has_one_form():
    t = SMALL.replace(block="basic")
    keys = [list(build(t, form).state_dict()) for form in "abc"]
    assert keys[0] == keys[1] == keys[2]
    assert all(isinstance(build(t, form).layer1[0], BasicBlock) for form in "abc")
    model = build(t, "c")
    assert_same_state(convert(model, "a"), model)


# --- names and torchvision checkpoints ---

def test_torchvision_fixture_counts_table1_parameters():
    # The fixture's own check that it describes the right networks: Table 1's exact counts.
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    counts = {name: sum(math.prod(s) for k, s in TORCHVISION_KEYS[name].items() if not k.endswith(buffers))
              for name in ("resnet50", "resnext50_32x4d")}
    assert counts == {"resnet50": 25_557_032, "resnext50_32x4d": 25_028_904}  # Table 1


@pytest.mark.parametrize("name, t", [("resnet50", RESNET50), ("resnext50_32x4d", RESNEXT50)])
def test_form_c_has_torchvision_keys_and_loads_its_state_dict(name, t):
    expected = TORCHVISION_KEYS[name]
    model = build(t, "c")
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == list(expected.items())
    g = torch.Generator().manual_seed(1)
    state = {k: torch.tensor(7) if k.endswith("num_batches_tracked") else torch.rand(shape, generator=g) + 0.5
             for k, shape in expected.items()}
    model.load_state_dict(state, strict=True)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_cifar_stem_has_no_maxpool():
    names = {name for name, _ in build(SMALL).named_modules()}
    assert {"conv1", "bn1", "layer1.0.conv1", "layer2.0.downsample.0", "avgpool", "fc"} <= names
    assert "maxpool" not in names
    assert build(SMALL).conv1.kernel_size == (3, 3) and build(RESNET50.replace(depths=(1,))).conv1.kernel_size == (7, 7)


# --- initialisation ---

@pytest.mark.parametrize("form", ["a", "b", "c"])
def test_he_initialisation(form):
    # Every form starts like torchvision's form c: conv weights N(0, 2/fan_out) with fan_out the
    # grouped conv's out_channels·k² (so a path of form a/b has C× its own). Tolerance 10%: the
    # sample std of n ≥ 4,096 normals has relative standard error 1/√(2n) ≤ 1.1%.
    t = Template(depths=(1, 1), width=64, cardinality=4, bottleneck_width=16, stem="cifar", stem_width=32,
                 resolution=8, num_classes=10)
    torch.manual_seed(0)
    model = build(t, form)
    checked = 0
    for key, w in grouped_state(model.state_dict()).items():
        if key.endswith("weight") and w.dim() == 4 and w.numel() >= 4096:
            expected = math.sqrt(2 / (w.shape[0] * w.shape[2] * w.shape[3]))
            assert abs(w.std().item() / expected - 1) < 0.1, key
            assert abs(w.mean().item()) < 0.1 * expected, key
            checked += 1
    assert checked >= 6
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any()


@pytest.mark.parametrize("block, form", [("bottleneck", "a"), ("bottleneck", "b"), ("bottleneck", "c"),
                                         ("basic", "c")])
def test_zero_init_last_bn_makes_blocks_identities(block, form):
    t = SMALL.replace(block=block, depths=(3,))
    model = build(t, form, zero_init_last_bn=True).eval()
    for blk in model.blocks():
        assert not blk.last_bn.weight.any()
        projection = list(blk.downsample.modules()) if blk.downsample is not None else []
        others = [m for m in blk.modules() if isinstance(m, nn.BatchNorm2d)
                  and m is not blk.last_bn and not any(m is p for p in projection)]
        assert others and all(bool(m.weight.eq(1).all()) for m in others)
    assert model.layer1[0].last_bn is (model.layer1[0].bn3 if block == "bottleneck" else model.layer1[0].bn2)
    x = torch.rand(2, t.width, 4, 4)  # non-negative, as after a ReLU
    with torch.no_grad():
        assert torch.equal(model.layer1[1](x), x)  # identity shortcut, zero residual
    assert build(t, form).layer1[0].last_bn.weight.eq(1).all()  # off by default


# --- the no-shortcut ablation ---

def test_no_shortcut_has_no_projection_and_no_addition():
    t = SMALL.replace(shortcut=False)
    model = build(t, zero_init_last_bn=True).eval()
    assert not any("downsample" in name for name, _ in model.named_modules())
    assert all(blk.downsample is None and not blk.shortcut for blk in model.blocks())
    # every residual branch is zero, so without additions the features are zero and the logits the FC bias
    x = torch.randn(3, t.in_channels, t.resolution, t.resolution)
    with torch.no_grad():
        assert torch.equal(model(x), model.fc.bias.expand(3, -1))
    with_shortcut = build(t.replace(shortcut=True))
    assert {n for n, _ in with_shortcut.named_modules() if n.endswith("downsample")} == {
        "layer1.0.downsample", "layer2.0.downsample"}


# --- forms by name ---

def test_model_keeps_template_and_form():
    model = build(SMALL, "auto")
    assert (model.template, model.form) == (SMALL, "c")
    assert isinstance(model.layer1[0], BottleneckC)
    assert resolve_form("auto") == "c"


@pytest.mark.parametrize("form", ["C", "", None, 3])
def test_unknown_form_is_one_sentence(form):
    with pytest.raises(ConfigError) as err:
        build(SMALL, form)
    shown = {None: "null", 3: "3"}.get(form, repr(form))  # as typed: a text quoted, null and numbers as such
    assert str(err.value) == f"form={shown} is unknown: valid forms are a, b, c, auto."
    with pytest.raises(ConfigError, match="valid forms are a, b, c, auto"):
        convert(build(SMALL), form)


def test_unknown_form_sentence_verbatim():
    with pytest.raises(ConfigError) as err:
        build(SMALL, "x")
    assert str(err.value) == "form='x' is unknown: valid forms are a, b, c, auto."
