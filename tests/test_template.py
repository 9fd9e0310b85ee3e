"""The template and the paper's two rules (§3.1)."""

import pytest
from hypothesis import given, settings

from ablate import Template, TemplateError, derive, load_template
from tests.strategies import templates


def test_resnext50_stages_follow_table1():
    # Table 1 (ResNeXt-50 32×4d): output 56, 28, 14, 7; group-conv widths 128, 256, 512, 1024; outputs 256 … 2048
    net = derive(load_template("resnext50_32x4d"))
    assert [s.resolution for s in net.stages] == [56, 28, 14, 7]
    assert [s.group_width for s in net.stages] == [128, 256, 512, 1024]
    assert [s.width for s in net.stages] == [256, 512, 1024, 2048]
    assert [s.depth for s in net.stages] == [3, 4, 6, 3]
    assert [s.cardinality for s in net.stages] == [32] * 4
    assert [s.stride for s in net.stages] == [1, 2, 2, 2]
    assert [s.name for s in net.stages] == ["conv2", "conv3", "conv4", "conv5"]
    assert net.stem_resolution == 56


def test_cifar_stem_keeps_resolution():
    # Appendix A: ResNeXt-29 output maps 32, 16, 8
    net = derive(load_template("resnext29_8x64d"))
    assert [s.resolution for s in net.stages] == [32, 16, 8]
    assert net.stages[0].in_width == 64


@settings(max_examples=300, deadline=None)
@given(templates(max_stages=6))
def test_two_rules_hold_for_any_template(t):
    net = derive(t)
    assert len(net.stages) == len(t.depths)
    r = net.stem_resolution
    for i, s in enumerate(net.stages):
        # rule (ii): every later stage halves the map and doubles width and C·d; C is kept
        assert s.width == t.width * 2**i
        assert s.group_width == t.cardinality * t.bottleneck_width * 2**i
        assert s.cardinality == t.cardinality
        assert s.stride == (1 if i == 0 else 2)
        assert s.in_resolution == r
        assert s.resolution == (r - 1) // s.stride + 1
        assert s.in_width == (t.stem_width if i == 0 else net.stages[i - 1].width)
        r = s.resolution


@pytest.mark.parametrize("field, value, sentence", [
    ("cardinality", 0, "cardinality=0 is invalid: it must be a whole number of at least 1."),
    ("bottleneck_width", 0, "bottleneck_width=0 is invalid: it must be a whole number of at least 1."),
    ("width", -4, "width=-4 is invalid: it must be a whole number of at least 1."),
    ("depths", (), "depths=[] is invalid: give at least one stage, e.g. depths=[3,4,6,3]."),
    ("depths", (3, 0), "depths[1]=0 is invalid: every stage needs a whole number of at least 1 block."),
    ("stem", "vgg", "stem='vgg' is unknown: valid stems are imagenet, cifar."),
    ("block", "dense", "block='dense' is unknown: valid blocks are bottleneck, basic."),
    ("cardinality", 2.5, "cardinality=2.5 is invalid: it must be a whole number of at least 1."),
])
def test_invalid_fields_say_one_sentence(field, value, sentence):
    with pytest.raises(TemplateError) as e:
        Template(**{field: value})
    assert str(e.value) == sentence


def test_vanishing_resolution_is_refused():
    with pytest.raises(TemplateError) as e:
        Template(resolution=16, depths=(1, 1, 1, 1))
    # imagenet stem: 16 → 8 → 4, conv3 → 2, conv4 → 1, conv5 would need 2 pixels
    assert str(e.value) == ("resolution=16 vanishes before conv5: it is 1×1 there; "
                            "use a resolution of at least 32 or fewer stages.")


def test_template_is_frozen_and_replace_validates():
    t = Template()
    with pytest.raises(Exception):
        t.width = 3
    assert t.replace(cardinality=32).cardinality == 32
    with pytest.raises(TemplateError):
        t.replace(cardinality=0)
