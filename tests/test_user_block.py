"""Blocks of one's own: the SE-ResNeXt example (examples/se_resnext), selected by import path.

The example's block lists its layers (counted analytically, without torch); the test blocks in
tests/user_blocks.py build the same module but list nothing, so they are counted on the meta device.
Both must equal a FLOP counter and a parameter count on the built model, and each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import ablate.models.meta
from ablate import Budget, BudgetError, Template, TemplateError, complexity, solve, totals
from ablate.budget import measure, table2
from ablate.cli.describe import main as describe
from ablate.engine.blocks import BlockShape, block_counts, block_type
from ablate.engine.complexity import block_complexity
from ablate.errors import ConfigError
from ablate.models import build, convert
from tests.strategies import templates

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "se_resnext"
SE = "examples.se_resnext.se_blocks:SEBottleneck"
META_SE = "tests.user_blocks:MetaSEBottleneck"
COUNTED = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.Linear)
# examples/se_resnext/model/seresnext_tiny.yaml: conf/model/tiny.yaml with the SE block
TINY_SE = Template(
    depths=(1, 1, 1, 1),
    width=32,
    cardinality=1,
    bottleneck_width=12,
    block=SE,
    stem="cifar",
    stem_width=32,
    in_channels=1,
    resolution=28,
    num_classes=10,
)
SMALL = dict(max_stages=3, max_c=4, max_d=4, max_width=48)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def counted(t: Template, form: str = "c") -> tuple[nn.Module, int, int]:
    """The built model, its parameter count and its multiply-adds on one image (FlopCounterMode / 2)."""
    model = build(t, form).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, t.in_channels, t.resolution, t.resolution))
    return model, sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


# --- SE-ResNeXt-50 32×4d against the reference implementations ---

# SENet's reference SE module (and timm's SEModule, rd_ratio=1/16, bias=True) in every block of ResNeXt-50 32×4d
# adds two 1×1 convs with biases on the pooled map of each block's output width w, hidden width w // 16:
#   params per block  w·(w/16) + w/16 + (w/16)·w + w = w²/8 + w/16 + w
#   conv2 w=256  ×3:    8,192 +  16 +  256 =   8,464 × 3 =    25,392
#   conv3 w=512  ×4:   32,768 +  32 +  512 =  33,312 × 4 =   133,248
#   conv4 w=1024 ×6:  131,072 +  64 + 1024 = 132,160 × 6 =   792,960
#   conv5 w=2048 ×3:  524,288 + 128 + 2048 = 526,464 × 3 = 1,579,392   → +2,530,992
#   25,028,904 (ResNeXt-50 32×4d, Table 1 / torchvision) + 2,530,992 = 27,559,896 (timm lists 27.56M).
# timm rounds w/16 with make_divisible(w/16, 8): 16, 32, 64, 128 are multiples of 8, so the count is the same.
#   multiply-adds per block w²/8 (biases excluded): 3·8,192 + 4·32,768 + 6·131,072 + 3·524,288 = 2,514,944
#   4,230,479,872 (ResNeXt-50 32×4d) + 2,514,944 = 4,232,994,816.
SERESNEXT50_PARAMS = 27_559_896
SERESNEXT50_FLOPS = 4_232_994_816


def test_describe_seresnext50_prints_the_reference_params_and_flops():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ablate.describe",
            "--config-dir",
            "examples/se_resnext",
            "model=seresnext50_32x4d",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["params"], out["flops"], out["counted"]) == (SERESNEXT50_PARAMS, SERESNEXT50_FLOPS, "analytic")
    assert [s["width"] for s in out["stages"]] == [256, 512, 1024, 2048]


def test_seresnext50_built_model_counts_the_same():
    model, params, flops = counted(Template(cardinality=32, bottleneck_width=4, block=SE))
    assert (params, flops) == (SERESNEXT50_PARAMS, SERESNEXT50_FLOPS)
    se = model.layer4[2].se  # SENet: 1×1 convs 2048→128→2048, both with bias
    assert (se.fc1.weight.shape, se.fc1.bias.shape, se.fc2.weight.shape) == (
        (128, 2048, 1, 1),
        (128,),
        (2048, 128, 1, 1),
    )


def test_describe_prints_se_blocks_in_table1(capsys):
    assert describe(["--config-dir", str(EXAMPLE), "model=seresnext50_32x4d"]) == 0
    text = capsys.readouterr().out
    assert "[1×1, 128; 3×3, 128, C=32; 1×1, 256; fc, [16, 256]] ×3" in text  # SENet's Table 1
    assert "params 27,559,896 (27.6M)  FLOPs 4,232,994,816 (4.2G)" in text


# --- the analytic (layer list) count against the built model ---


@settings(max_examples=40, deadline=None)
@given(templates(**SMALL, blocks=(SE,)))
def test_se_layers_match_the_built_model(t):
    cx = complexity(t)
    assert cx.method == "analytic"
    model, params, flops = counted(t)
    assert (params, flops) == (cx.params, cx.flops)
    assert totals(t) == (cx.params, cx.flops, cx.acts)
    # every counted layer is a module of that name (se.fc1, se.fc2 included), and every such module is counted
    assert {name for name, m in model.named_modules() if isinstance(m, COUNTED)} == {x.name for x in cx.layers}


@settings(max_examples=10, deadline=None)
@given(templates(**SMALL, blocks=(SE,)), st.sampled_from(["a", "b"]))
def test_se_forms_a_and_b_compute_the_same_function(t, form):
    t = t.replace(cardinality=max(t.cardinality, 2))
    torch.manual_seed(0)
    c = build(t, "c").double().eval()
    other = convert(c, form)
    assert sum(p.numel() for p in other.parameters()) == complexity(t).params
    x = torch.randn(2, t.in_channels, t.resolution, t.resolution, dtype=torch.float64)
    assert (other(x) - c(x)).abs().max().item() <= 1e-10


# --- the meta-device count ---


@settings(max_examples=25, deadline=None)
@given(templates(**SMALL, blocks=(SE,)), st.sampled_from([META_SE, "tests.user_blocks:SEModuleOnly"]))
def test_meta_count_equals_the_layer_list(t, meta_block):
    listed, meta = complexity(t), complexity(t.replace(block=meta_block))
    assert meta.method == "meta"
    assert (meta.params, meta.flops, meta.acts) == (listed.params, listed.flops, listed.acts)
    assert meta.stages == listed.stages
    assert totals(t.replace(block=meta_block)) == totals(t)
    assert block_complexity(t.replace(block=meta_block)) == block_complexity(t)


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["bottleneck", "basic"]),
    st.integers(1, 24),
    st.integers(1, 24),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from([1, 2]),
    st.integers(1, 9),
    st.booleans(),
)
def test_meta_count_of_the_built_in_blocks_equals_their_closed_form(name, w_in, width, c, d, stride, r, shortcut):
    block = block_type(name)
    shape = BlockShape(w_in, width, c, d, stride, r, shortcut)
    assert ablate.models.meta.count_block(block, shape) == block.counts(shape)


def test_meta_block_layers_are_whole_blocks():
    cx = complexity(TINY_SE.replace(block=META_SE))
    blocks = [x for x in cx.layers if x.kind == "block"]
    assert [x.name for x in blocks] == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    assert [x.name for x in cx.layers if x.kind != "block"] == ["conv1", "bn1", "fc"]


def test_meta_blocks_are_counted_once_per_shape(monkeypatch):
    calls = []
    real = ablate.models.meta.count_block
    monkeypatch.setattr(
        ablate.models.meta, "count_block", lambda block, shape: calls.append(shape) or real(block, shape)
    )
    block_counts.cache_clear()
    t = TINY_SE.replace(block=META_SE, depths=(2, 2))
    totals(t)
    # each stage's first and repeated block, but conv2's first block has the repeated one's shape (stem_width=width)
    assert len(calls) == len(set(calls)) == 3
    totals(t)
    complexity(t)
    assert len(calls) == 3
    budget = Budget.relative(t, metric="params", tolerance=0.5)
    first = solve(t.replace(cardinality=2), budget)
    searched = len(calls)
    assert solve(t.replace(cardinality=2), budget) == first and len(calls) == searched  # a second solve builds nothing


def test_solver_and_table2_on_a_meta_block_equal_the_listed_block():
    meta = TINY_SE.replace(block=META_SE)
    for scope in ("network", "block"):
        listed = table2(TINY_SE, [1, 2, 4], Budget.relative(TINY_SE, metric="params", scope=scope, tolerance=0.2))
        counted_ = table2(meta, [1, 2, 4], Budget.relative(meta, metric="params", scope=scope, tolerance=0.2))
        assert [(r.value, r.achieved) for r in counted_] == [(r.value, r.achieved) for r in listed]
    assert measure(meta.replace(bottleneck_width=5), "flops") == measure(TINY_SE.replace(bottleneck_width=5), "flops")


def test_engine_imports_torch_only_for_a_meta_block():
    code = (
        "import sys; from ablate import Template, Budget, complexity, solve, totals; "
        f"t = Template(depths=(1, 1), width=32, stem='cifar', stem_width=32, resolution=28, block={SE!r}); "
        "totals(t); complexity(t); solve(t.replace(cardinality=2), Budget.relative(t, tolerance=0.5)); "
        "print('torch' in sys.modules); "
        f"totals(t.replace(block={META_SE!r})); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_describe_says_a_block_was_counted_on_the_meta_device(capsys):
    overrides = ["--config-dir", str(EXAMPLE), "model=seresnext_tiny", f"model.block={META_SE}"]
    assert describe([*overrides, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["params"], out["flops"], out["counted"]) == (*totals(TINY_SE)[:2], "meta")
    assert describe(overrides) == 0
    text = capsys.readouterr().out
    assert text.rstrip().endswith("(blocks counted by running them once on the meta device)")
    assert "[MetaSEBottleneck, 32] ×1" in text


# --- one sentence for a block that cannot be used ---


@pytest.mark.parametrize(
    "block, sentence",
    [
        ("nosuchpkg.blocks:SE", "block='nosuchpkg.blocks:SE' cannot be imported: No module named 'nosuchpkg'."),
        (
            "tests.user_blocks:Nope",
            "block='tests.user_blocks:Nope' cannot be imported: 'tests.user_blocks' has no attribute 'Nope'.",
        ),
        (
            "tests.user_blocks:NotABlock",
            "block='tests.user_blocks:NotABlock' is not a block class: <class "
            "'tests.user_blocks.NotABlock'> does not subclass ablate.engine.blocks.Block.",
        ),
        (
            "ablate.engine.blocks:Block",
            "block='ablate.engine.blocks:Block' is not a block class: <class "
            "'ablate.engine.blocks.Block'> does not subclass ablate.engine.blocks.Block.",
        ),
        (
            "tests.user_blocks:",
            "block='tests.user_blocks:' is invalid: a block of your own is given as module:Class "
            "with an absolute module, e.g. mypkg.blocks:SEBottleneck.",
        ),
        (
            ".user_blocks:X",
            "block='.user_blocks:X' is invalid: a block of your own is given as module:Class with an "
            "absolute module, e.g. mypkg.blocks:SEBottleneck.",
        ),
        (
            "mypkg.SEBottleneck",
            "block='mypkg.SEBottleneck' is unknown: valid blocks are bottleneck, basic, or a block "
            "of your own as module:Class.",
        ),
    ],
)
def test_an_unusable_block_is_one_sentence(block, sentence):
    with pytest.raises(TemplateError) as e:
        Template(block=block)
    assert str(e.value) == sentence


def test_a_block_that_does_not_import_or_build_is_one_sentence(tmp_path, monkeypatch):
    """Found by hand: a block module with a syntax error, and a block class whose constructor takes arguments, passed
    the config check's import and ended the run in a traceback (`SyntaxError: invalid syntax (syn.py, line 1)`,
    `TypeError: B.__init__() missing 1 required positional argument`), exit 1, where a missing module is refused."""
    (tmp_path / "broken_blocks.py").write_text("def f(:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TemplateError) as e:
        Template(block="broken_blocks:SE")
    assert str(e.value) == (
        f"block='broken_blocks:SE' cannot be imported: invalid syntax in {tmp_path / 'broken_blocks.py'}, line 1."
    )
    with pytest.raises(TemplateError) as e:
        Template(block="tests.user_blocks:NeedsArguments")
    assert str(e.value) == (
        "block='tests.user_blocks:NeedsArguments' cannot be built: NeedsArguments(reduction) takes arguments, "
        "and ablate builds a block type once without any (each method is given its block's shape); give its "
        "settings defaults or class attributes."
    )


def test_a_block_that_cannot_be_counted_is_one_sentence():
    t = Template(block="tests.user_blocks:NoModule")  # importable and a block class: valid until counted
    with pytest.raises(TemplateError) as e:
        totals(t)
    assert str(e.value) == (
        "block='tests.user_blocks:NoModule' cannot be counted on the meta device: NoModule does "
        "not build a module; give its block class a layers() method instead."
    )


def test_describe_names_the_override(capsys, tmp_path):
    assert describe(["model=tiny", "model.block=nosuchpkg.blocks:SE"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: model.block='nosuchpkg.blocks:SE' cannot be imported: No module named 'nosuchpkg'."
    )
    assert describe(["--config-dir", str(tmp_path / "nope"), "model=tiny"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --config-dir {tmp_path / 'nope'} is not a folder: give the folder that holds your config groups "
        "(DIR/model/NAME.yaml, DIR/sweep/NAME.yaml), e.g. examples/se_resnext."
    )


# --- a sweep on it ---


@pytest.mark.slow
def test_cardinality_sweep_on_the_tiny_se_variant(tmp_path):
    # As a user runs it from their project's root (here the repository's, so `examples` imports); the budget is
    # the sweep's own, `budget.reference: ${model.name}`: the tiny SE variant's params as its config is written.
    args = [
        "--config-dir",
        str(EXAMPLE),
        "model=seresnext_tiny",
        "+sweep=cardinality_vs_width",
        "model.cardinality=1,2",
        "data=synthetic",
        "data.num_samples=256",
        "data.val_samples=128",
        "optim.epochs=1",
        "trainer.progress=false",
        "trainer.num_threads=1",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"+hydra.callbacks.report.out={tmp_path / 'report'}",
        "-m",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "ablate", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("result.json")]
    assert sorted(r["model"]["template"]["cardinality"] for r in records) == [1, 2]
    for r in records:
        assert r["status"] == "completed", r["reason"]
        assert r["model"]["template"]["block"] == SE
        assert r["budget"]["target"] == totals(TINY_SE).params
        assert abs(r["budget"]["deviation"]) <= r["budget"]["tolerance"] == 0.1
        assert r["model"]["complexity"]["params"] == r["budget"]["achieved"]
    assert (tmp_path / "report" / "index.html").is_file()


# --- a block whose module is not what the template says ---


def test_a_module_of_the_wrong_width_is_one_sentence():
    """The meta-device count checks the block's output: width × resolution², else the next block fails in training."""
    t = Template(block="tests.user_blocks:OneChannelTooMany", depths=(1, 1), width=16, stem_width=16, resolution=8, stem="cifar")
    with pytest.raises(TemplateError) as e:
        totals(t)
    assert str(e.value) == (
        "block='tests.user_blocks:OneChannelTooMany' gives 17×8×8 from 16×8×8 in its block of in_width=16, width=16, "
        "stride=1: a block's module must give width×resolution² (16×8×8)."
    )


def test_describe_refuses_a_module_of_the_wrong_width_before_printing(capsys):
    """Found by hand: describe printed its `model tiny: 1×12d` line, then the error (named `block=`, not the
    override), exit 2. The block is held to its module when the config is checked: one sentence, nothing else."""
    assert describe(["model=tiny", "model.block=tests.user_blocks:OneChannelTooMany"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        "error: model.block='tests.user_blocks:OneChannelTooMany' gives 33×28×28 from 32×28×28 in its block of "
        "in_width=32, width=32, stride=1: a block's module must give width×resolution² (32×28×28)."
    )


def test_describe_refuses_a_block_that_cannot_be_counted_in_one_sentence(capsys):
    """Found on the second read: the check at compose time called the meta count directly, so a block that builds
    no module ended in NotImplementedError's traceback instead of the count's one sentence."""
    assert describe(["model=tiny", "model.block=tests.user_blocks:NoModule"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        "error: model.block='tests.user_blocks:NoModule' cannot be counted on the meta device: NoModule does not "
        "build a module; give its block class a layers() method instead."
    )


def test_the_config_check_holds_a_listed_block_to_its_module():
    """Checked once, when the config is: the budget table and describe refuse it as the run does."""
    from ablate.config import compose
    from ablate.config.schema import check

    with pytest.raises(TemplateError) as e:
        check(compose(["model.depths=[1,1]", "model.width=16", "model.bottleneck_width=8", "model.stem_width=16",
                       "model.block=tests.user_blocks:MislistedSE"]), training=False)
    assert str(e.value).startswith("model.block='tests.user_blocks:MislistedSE' lists layers of 896 params")


def test_a_block_whose_layers_are_not_its_module_is_refused_before_training(tmp_path):
    """A listed block is counted from its layers; the run checks them against its module (meta device) first."""
    from ablate.config import compose
    from ablate.run import app

    overrides = ["data=synthetic", "data.num_samples=64", "data.val_samples=64", "model.depths=[1,1]",
                 "model.width=16", "model.bottleneck_width=8", "model.stem_width=16", "optim.epochs=1",
                 "trainer.progress=false", "model.block=tests.user_blocks:MislistedSE"]
    record = app.run(compose(overrides), tmp_path / "run", overrides=overrides)
    assert record.status == "failed"
    # by hand, the first block (16→16 at 28×28, C·d = 8): 1×1 16·8 + 3×3 8·8·9 + 1×1 8·16 = 832 weights, BNs
    # 2·(8+8+16) = 64: 896 params, 832·784 = 652,288 multiply-adds; its SE module (16→1→16, with biases) adds
    # 17 + 32 = 49 params and 16 + 16 = 32 multiply-adds
    assert record.reason == (
        "model.block='tests.user_blocks:MislistedSE' lists layers of 896 params and 652,288 multiply-adds in its block "
        "of in_width=16, width=16, stride=1, but its module has 945 params and 652,320 multiply-adds: make "
        "residual_layers() list the module's layers, or drop it to count the module on the meta device."
    )
    assert not record.epochs


def test_an_error_in_a_users_module_names_the_block_and_its_shape():
    t = Template(block="tests.user_blocks:RaisesInModule", depths=(1,), width=16, stem_width=16, resolution=8, stem="cifar")
    with pytest.raises(AttributeError) as e:
        totals(t)
    assert e.value.__notes__ == [
        "while ablate built block='tests.user_blocks:RaisesInModule' for its block of in_width=16, width=16, "
        "stride=1 at 8×8 (the fields of BlockShape: in_width, width, cardinality, bottleneck_width, stride, "
        "in_resolution, shortcut)"
    ]


def test_zero_init_last_bn_on_a_block_without_one_is_refused_at_compose_time():
    """Found by hand: the run loaded its data and built its model (18 s) before saying that the block has no last_bn,
    and named the module's class (`M has none`) rather than the block the user typed."""
    from ablate.config import compose
    from ablate.config.schema import check

    small = ["model.depths=[1,1]", "model.width=16", "model.bottleneck_width=8", "model.stem_width=16"]
    with pytest.raises(ConfigError) as e:
        check(compose([*small, "model.block=tests.user_blocks:NoLastBN", "model.zero_init_last_bn=true"]),
              training=False)
    assert str(e.value) == (
        "model.zero_init_last_bn=true needs blocks with a last_bn: model.block='tests.user_blocks:NoLastBN' builds a "
        "module of class Conv2d, which has none; give it a last_bn property or set model.zero_init_last_bn=false.")
    check(compose([*small, "model.block=tests.user_blocks:NoLastBN"]), training=False)
    check(compose([*small, "model.block=tests.user_blocks:MetaSEBottleneck", "model.zero_init_last_bn=true"]),
          training=False)
    template = Template(depths=(1, 1), width=16, bottleneck_width=8, stem="cifar", stem_width=16, resolution=28,
                        in_channels=1, num_classes=10, block="tests.user_blocks:NoLastBN")
    with pytest.raises(ConfigError) as e:  # from Python, past the config: the same sentence
        build(template, zero_init_last_bn=True)
    assert str(e.value) == ("model.zero_init_last_bn=true needs blocks with a last_bn: its block Conv2d, which has "
                            "none; give it a last_bn property or set model.zero_init_last_bn=false.")


def test_a_budget_on_a_field_the_block_does_not_use_says_so():
    """Found by hand: a search over model.block=choice(bottleneck, a block that ignores d) with budget=params said of
    that block 'the nearest is 345,578 at bottleneck_width=1048576 (-16.86%); the reachable range is 345,578 and up,
    in steps of this size': the solver had doubled d to its cap, since the block's params do not change with d."""
    template = Template(depths=(1, 1), width=16, bottleneck_width=8, stem="cifar", stem_width=16, resolution=28,
                        in_channels=1, num_classes=10, block="tests.user_blocks:NoLastBN")
    here = totals(template).params
    with pytest.raises(BudgetError) as e:
        solve(template, Budget("params", here * 2, tolerance=0.1))
    assert str(e.value) == (
        f"budget params={here * 2:,} cannot be met by varying bottleneck_width: this template has {here:,} params "
        "whatever bottleneck_width is (its block does not use it); vary another field.")
    assert solve(template, Budget("params", here)).value == 1  # met anyway: a tie goes to the smaller value
    assert solve(template, Budget("params", here * 2, tolerance=0.2), vary="width").value > 16
