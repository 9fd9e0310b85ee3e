"""Security: files and config values a user did not write cannot run code, inject markup or write elsewhere.

- Checkpoints load with `torch.load(weights_only=True)`: a pickle that would run code is refused (the run
  stops with its sentence, the file stays as it was, the code never runs), and no `torch.load` in the
  package goes without `weights_only=True`.
- Config values never pick Python objects: ablate instantiates nothing from its config (no Hydra
  `instantiate`, no `_target_`); a `_target_` in a model node is refused as an unknown field, and in the
  other nodes, or at the top, it is inert data, even in a sweep.
- Strings from configs reach `index.html` escaped.
- Output folders named after config values stay inside the outputs, the sweep and the report folders:
  `conf/__init__.py`'s `ablate.dirname` turns a value into one folder name ('/' → '%2F', '..' → '%2E%2E',
  over-long names cut and hashed), applied to `hydra.run.dir` (after `model.name`) and to each sweep
  member's `hydra.sweep.subdir` (after its overrides).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ablate.config import compose
from ablate.config.resolvers import NAME_MAX, dirname
from ablate.report import REPORTS, collect, default_out
from ablate.run import app
from ablate.run.record import RunRecord
from ablate.run.trainer import CHECKPOINT
from tests.test_bad_input import call

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["data=synthetic", "data.num_samples=128", "data.val_samples=64", "data.noise=16", "model.depths=[1,1]",
         "model.width=16", "model.bottleneck_width=8", "model.stem_width=16", "optim.batch_size=32", "optim.epochs=1",
         "trainer.progress=false", "trainer.num_threads=1", "trainer.peak_flops=1e11"]
SCRIPT = "<script>alert(1)</script>"
LONG = "../../../../" + "x" * 300  # a traversal, and more than a folder name can hold


def sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def calls(path: Path):
    """(dotted name of the callee, ast.Call) of every call in a module."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func), node


# ----------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_that_would_run_code_is_refused_and_left_alone(tmp_path):
    marker = tmp_path / "the-payload-ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / CHECKPOINT
    torch.save({"format": 1, "epoch": 1, "model": {}, "payload": Payload()}, path)
    before = path.read_bytes()
    record, error = app.execute(compose(SMALL), run_dir, SMALL)
    assert record.status == "failed" and error is not None
    assert record.reason == (f"the checkpoint {path} holds objects other than tensors and plain containers, which "
                             f"torch.load(weights_only=True) refuses to load: delete {path} or choose another run "
                             "directory.")
    assert not marker.exists()  # the pickle's code never ran
    assert path.read_bytes() == before and sorted(p.name for p in run_dir.iterdir()) == [CHECKPOINT]


def test_every_torch_load_in_the_package_is_weights_only():
    torch_loads = [(path, node) for path in sources("ablate", "hydra_plugins") for name, node in calls(path)
                   if name == "torch.load"]
    assert torch_loads, "no torch.load found: the scan is broken"
    for path, node in torch_loads:
        weights_only = [k.value for k in node.keywords if k.arg == "weights_only"]
        assert weights_only and isinstance(weights_only[0], ast.Constant) and weights_only[0].value is True, \
            f"{path}:{node.lineno}: torch.load without weights_only=True"


# ----------------------------------------------------------------------------- no objects from config values
# what turns a string into a Python object: Hydra's instantiation, imports by name, eval
INSTANTIATORS = {"instantiate", "get_class", "get_method", "get_object", "_locate", "import_module"}
BUILTINS = {"eval", "exec", "__import__", "hydra.utils.call"}


def test_ablate_instantiates_nothing_from_its_config(tmp_path):
    found = []
    for path in sources("ablate"):
        for name, node in calls(path):
            if name.rsplit(".", 1)[-1] in INSTANTIATORS or name in BUILTINS:
                found.append((path.relative_to(ROOT).as_posix(), ast.unparse(node)))
    # the dynamic imports: a data set module from a fixed table, keyed by a checked data set name; a block of
    # the user's own by its import path, kept only when it is a block class (below); an Optuna pruner of the
    # sweeper's config, checked to be one of optuna.pruners' classes before it is built (test_sweeper_pruning)
    assert sorted(found) == [("ablate/data/__init__.py", "import_module(MODULES[opts.name])"),
                             ("ablate/engine/blocks.py", "importlib.import_module(module_name)"),
                             ("ablate/run/pruning.py", "instantiate(self.pruner)")]
    record = app.run(compose([*SMALL, "data.name=os"]), tmp_path / "run", ())
    assert record.reason == ("data.name='os' is unknown: available data sets are cifar10, cifar100, fashion_mnist, "
                             "imagenet, synthetic.")


def test_a_block_import_path_runs_nothing_but_a_block_class(tmp_path):
    """`model.block=os:system` imports `os` (already imported) and refuses what it finds: nothing is called."""
    marker = tmp_path / "the-command-ran"
    code, stderr = call("ablate", [*SMALL, "model.block=os:system", f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 2
    assert stderr.startswith("ablate: model.block='os:system' is not a block class: <built-in function system> ")
    code, stderr = call("ablate", [*SMALL, f"model.block=shutil:rmtree", f"hydra.run.dir={tmp_path / 'run2'}"])
    assert code == 2 and "is not a block class" in stderr
    assert not marker.exists() and tmp_path.exists()


def test_a_target_in_the_model_node_is_an_unknown_field(tmp_path):
    code, stderr = call("ablate", [*SMALL, "+model._target_=os.system", f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 2
    assert stderr == ("ablate: model._target_ is not a model field: valid fields are depths, width, cardinality, "
                      "bottleneck_width, block, stem, stem_width, in_channels, resolution, num_classes, shortcut, "
                      "name, form, zero_init_last_bn.\n")


def test_targets_in_sweep_values_elsewhere_are_inert(tmp_path):
    """A sweep whose members carry `_target_: os.system` with a command at the top of the config, or in the
    data, optim and trainer nodes: such keys are refused as unknown fields, the same in every member, so the sweep
    is refused before any member runs (one sentence, exit 2; until 2026-12-03 each member failed and was recorded),
    and the command never runs."""
    marker = tmp_path / "the-command-ran"
    top = ["+_args_=['touch " + str(marker) + "']", "+_target_=os.system,subprocess.call"]
    code, stderr = call("ablate", ["-m", *SMALL, *top, f"hydra.sweep.dir={tmp_path / 'top'}"])
    assert code == 2, stderr
    assert stderr.strip().splitlines()[-1] == (
        "ablate: _args_ is not a config field: valid fields are budget, data, model, optim, report, seed, trainer (in "
        "every member of the sweep).")
    assert not list((tmp_path / "top").glob("*/result.json"))
    command = [f"+{node}_args_=['touch {marker}']" for node in ("data.", "optim.", "trainer.")]
    targets = ["+data._target_=os.system", "+optim._target_=os.system", "+trainer._target_=os.system"]
    code, stderr = call("ablate", ["-m", *SMALL, *targets, *command, *top, f"hydra.sweep.dir={tmp_path / 'nodes'}"])
    assert code == 2, stderr
    assert stderr.strip().splitlines()[-1].startswith("ablate: optim._args_ is not an optim field: valid fields are ")
    assert not list((tmp_path / "nodes").glob("*/result.json"))
    assert not marker.exists()


# ----------------------------------------------------------------------------- folder names from config values
def test_a_value_becomes_one_folder_name_inside_its_parent():
    assert dirname("model.cardinality=8,seed=0") == "model.cardinality=8,seed=0"  # ordinary names are unchanged
    assert dirname("model.depths=[1,2,1]") == "model.depths=[1,2,1]"
    assert dirname("model.name=../../x") == "model.name=..%2F..%2Fx"
    assert dirname("/etc") == "%2Fetc" and dirname("..") == "%2E%2E" and dirname(".") == "%2E"
    assert dirname("50%2F") == "50%252F"  # '%' is escaped first, so distinct values stay distinct
    values = ["a/b", "a%2Fb", "a%252Fb", "..", "%2E%2E", ".", "", LONG, LONG + "y", "x" * 400, "é" * 200]
    names = [dirname(v) for v in values]
    assert len(set(names)) == len(values)
    for name in names:
        assert "/" not in name and name not in (".", "..") and len(name.encode()) <= NAME_MAX
    cut = dirname(LONG)
    assert cut.startswith("..%2F..%2F..%2F..%2Fxxx") and re.fullmatch(r".*-[0-9a-f]{16}", cut)
    assert cut[-16:] == hashlib.sha256(LONG.replace("/", "%2F").encode()).hexdigest()[:16]


def test_a_report_of_any_sweep_folder_goes_inside_reports(tmp_path):
    sweep = tmp_path / "deep" / "sweep"
    RunRecord.new({"seed": 0}).save(sweep / "member")
    for given in (sweep, tmp_path / "deep" / "sweep" / "member" / "..", Path(os.path.relpath(sweep))):
        out = default_out(collect(given))
        assert out == REPORTS / "sweep"


def test_a_single_run_named_with_dots_stays_inside_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    # a run that starts (a refused config makes no folder at all: ablate.config.callback), and fails on its data
    model_and_recipe = [a for a in SMALL if not a.startswith("data")]
    code, stderr = call("ablate", [*model_and_recipe, "model.name=../../evil", "data=fashion_mnist",
                                   f"data.root={tmp_path}", "data.download=false"])
    assert code == 2 and stderr.startswith("ablate: Fashion-MNIST is missing"), stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]
    assert [p.name for p in (tmp_path / "here").iterdir()] == ["outputs"]
    (named,) = (tmp_path / "here" / "outputs").iterdir()
    assert named.name == "..%2F..%2Fevil"
    (run,) = named.iterdir()
    assert RunRecord.load(run).status == "failed"


@pytest.fixture(scope="module")
def hostile_sweep(tmp_path_factory):
    """A sweep whose values try to climb out of it (`model.name=../../../../evil`, and a traversal too long
    for a folder name) and to inject markup (`model.block='<script>...'`), with its report."""
    root = tmp_path_factory.mktemp("hostile")
    cwd = root / "a" / "b" / "c" / "d"
    cwd.mkdir(parents=True)
    args = ["-m", *SMALL, f"model.block='{SCRIPT}',bottleneck", f"model.name=../../../../evil,{LONG}",
            "hydra.sweep.dir=sweeps/hostile",
            "+hydra.callbacks.report._target_=ablate.report.callback.ReportCallback"]
    proc = subprocess.run([sys.executable, "-m", "ablate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    # the two members of the <script> block fail (an unknown block): the sweep says so after its report, exit 1
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("ablate: 2 of 4 members failed, each with: model.block=")
    return root, cwd


def test_sweep_values_cannot_write_outside_the_sweep_or_the_report(hostile_sweep):
    root, cwd = hostile_sweep
    sweep, report = cwd / "sweeps" / "hostile", cwd / "reports" / "hostile"
    outside = [p for p in root.rglob("*") if p.is_file() and sweep not in p.parents and report not in p.parents]
    assert outside == []
    members = [p for p in sweep.iterdir() if p.is_dir()]
    # each member's folder: its overrides as Hydra joins them (runtime keys left out), made one folder name
    kept = [o for o in SMALL if not o.startswith(("trainer.progress", "trainer.num_threads", "trainer.peak_flops"))]
    expected = {dirname(",".join(sorted([*kept, f"model.block={block}", f"model.name={name}"])))
                for block in (f"'{SCRIPT}'", "bottleneck") for name in ("../../../../evil", LONG)}
    assert {p.name for p in members} == expected
    assert all(len(p.name.encode()) <= NAME_MAX for p in members)
    assert sum(bool(re.search(r"-[0-9a-f]{16}$", p.name)) for p in members) >= 2  # the over-long ones, hashed
    records = [RunRecord.load(p) for p in members]
    assert sorted((r.config["model"]["block"], r.status) for r in records) == [
        (SCRIPT, "failed"), (SCRIPT, "failed"), ("bottleneck", "completed"), ("bottleneck", "completed")]


def test_config_strings_are_escaped_in_the_report_page(hostile_sweep):
    _, cwd = hostile_sweep
    page = (cwd / "reports" / "hostile" / "index.html").read_text()
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # both failed members: overrides and reason
    assert "block=&#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27; is unknown: valid blocks are bottleneck, basic." \
        in page
