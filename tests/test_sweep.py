"""A tiny real sweep end to end: `python -m ablate +sweep=cardinality_vs_width ... -m` and its report.

Three members on small synthetic data for one epoch: C=1 and C=2 train, C=64 cannot meet
the budget (d=1 is already far above tiny's params) and is recorded as failed with the
solver's sentence. The Hydra callback writes the report, then the sweep exits 1 with one line
naming the failed member; re-running the same command skips the completed members.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from importlib import resources

import pandas as pd
import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from ablate.budget import Budget, solve
from ablate.config.loading import CONFIG_MODULE, available, compose, load_template, solve_cfg
from ablate.errors import BudgetError

pytestmark = pytest.mark.slow

CARDINALITIES = (1, 2, 64)
ARGS = ["+sweep=cardinality_vs_width", f"model.cardinality={','.join(map(str, CARDINALITIES))}", "data=synthetic",
        "data.num_samples=256", "data.val_samples=128", "optim.epochs=1", "trainer.progress=false",
        "trainer.num_threads=1"]


def ablate(args, cwd, timeout=300):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "ablate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sweep")
    args = [*ARGS, f"hydra.sweep.dir={cwd / 'cardinality_vs_width'}", "-m"]
    first = ablate(args, cwd)
    assert first.returncode == 1, first.stderr[-3000:]  # C=64 failed (after the report was written)
    records = {p: p.read_bytes() for p in (cwd / "cardinality_vs_width").rglob("result.json")}
    second = ablate(args, cwd)
    assert second.returncode == 1, second.stderr[-3000:]
    return cwd, first, second, records


def test_the_sweep_exits_1_naming_its_failed_member(sweep):
    tiny = load_template("tiny")
    with pytest.raises(BudgetError) as solver:
        solve(tiny.replace(cardinality=64), Budget.relative(tiny, 1.0, "params", tolerance=0.1))
    reason = str(solver.value).rstrip(".")
    for proc in sweep[1:3]:
        assert proc.stderr.strip().splitlines()[-1] == (
            f"ablate: 1 of 3 members failed: model.cardinality=64 ({reason}) (report: "
            f"{os.path.join('reports', 'cardinality_vs_width')}).")


def test_a_multirun_without_a_report_exits_1_naming_its_failed_member(tmp_path):
    """Not only the sweep configs (whose report callback judges the sweep): any multirun whose member failed exits
    1 with the same line, after running every member; no report is written."""
    sweep_dir = tmp_path / "adhoc"
    args = ["budget=params", "budget.tolerance=0.1", "model.cardinality=1,64", *ARGS[2:], f"hydra.sweep.dir={sweep_dir}",
            "-m"]
    proc = ablate(args, tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "ablate: 1 of 2 members failed: model.cardinality=64 (budget params=207,818 is out of reach")
    assert proc.stderr.strip().splitlines()[-1].endswith(f"(report: python -m ablate.report {sweep_dir}).")
    statuses = sorted(json.loads(p.read_text())["status"] for p in sweep_dir.rglob("result.json"))
    assert statuses == ["completed", "failed"]
    assert not (tmp_path / "reports").exists()


def test_report_has_one_row_per_member(sweep):
    cwd = sweep[0]
    report = cwd / "reports" / "cardinality_vs_width"  # the callback's default folder, under the working dir
    runs = pd.read_csv(report / "runs.csv")
    assert sorted(runs.cardinality) == sorted(CARDINALITIES)
    table = pd.read_csv(report / "table.csv")
    assert len(table) == len(CARDINALITIES)
    md = (report / "table.md").read_text()
    assert "- command: `python -m ablate +sweep=cardinality_vs_width" in md
    for stem in ("curves", "error_vs_complexity"):
        assert (report / f"{stem}.png").stat().st_size > 10_000
        assert (report / f"{stem}.svg").stat().st_size > 10_000
    assert (report / "index.html").stat().st_size > 1_000


def test_each_member_has_the_solved_d_and_finite_errors(sweep):
    runs = pd.read_csv(sweep[0] / "reports" / "cardinality_vs_width" / "runs.csv").set_index("cardinality")
    tiny = load_template("tiny")
    budget = Budget.relative(tiny, 1.0, "params", tolerance=0.1)  # conf/sweep/cardinality_vs_width.yaml
    for c in CARDINALITIES[:2]:
        row = runs.loc[c]
        assert row.status == "completed"
        assert row.bottleneck_width == solve(tiny.replace(cardinality=c), budget).value
        assert row.params == pytest.approx(budget.target, rel=0.1)
        assert 0 <= row.final_val_err <= 100 and math.isfinite(row.final_val_loss)
    failed = runs.loc[64]  # the record holds the solver's own sentence
    with pytest.raises(BudgetError) as solver:
        solve(tiny.replace(cardinality=64), budget)
    assert failed.status == "failed" and failed.reason == str(solver.value)
    assert "failed" in (sweep[0] / "reports" / "cardinality_vs_width" / "table.md").read_text()


def test_rerunning_the_command_skips_completed_members(sweep):
    cwd, _, second, before = sweep
    completed = [p for p, data in before.items() if b'"status": "completed"' in data]
    assert len(completed) == 2
    for path in completed:
        assert path.read_bytes() == before[path]  # not trained again, not even rewritten
    assert (second.stdout + second.stderr).count("already holds this completed run") == 2


def test_unknown_sweep_lists_the_available_ones(tmp_path):
    result = ablate(["+sweep=nope", "-m"], tmp_path, timeout=120)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    for name in available("sweep"):
        assert name in out


@pytest.mark.parametrize("name", ["cardinality_vs_width", "complexity_2x", "cardinality_growth", "no_shortcut"])
def test_every_member_of_the_default_sweeps_solves(name):
    """Each member of each sweep, on the built-in default model, composes and meets its budget."""
    sweep = OmegaConf.load(resources.files(CONFIG_MODULE) / "sweep" / f"{name}.yaml")
    assert sweep.hydra.sweep.dir == f"sweeps/{name}"
    assert sweep.hydra.callbacks.report._target_ == "ablate.report.callback.ReportCallback"
    params = [f"{k}={v}" for k, v in sweep.hydra.sweeper.params.items()]
    members = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(params), None)[0]
    solved = []
    for overrides in members:
        cfg = compose([f"+sweep={name}", *overrides])
        template, _ = solve_cfg(cfg)  # raises BudgetError when a member cannot meet its budget
        solved.append((template.cardinality, template.bottleneck_width, template.depths, template.shortcut))
    # every member is a different network, except cardinality_growth's two series, which start from the same one
    assert len(set(solved)) == len(members) - (1 if name == "cardinality_growth" else 0)


def test_a_large_grid_says_that_hydra_composes_every_member_before_the_first_starts(tmp_path):
    """Found by hand: `model.width=range(16,2000)` printed nothing for minutes: Hydra's basic sweeper composes every
    member's config (about half a second each on a 2-core CPU) before it launches the first. The sweep says so, and
    how to start sooner. (Every member here is refused alike, so the sweep ends before anything trains.)"""
    proc = ablate(["model.cardinality=range(1,22)", "optim.lr=-1", f"hydra.sweep.dir={tmp_path / 'big'}", "-m"],
                  tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    said = proc.stdout + proc.stderr
    assert ("21 members: Hydra composes each member's config before it launches the first; "
            "hydra.sweeper.max_batch_size=N launches them N at a time, each batch checked as it starts.") in said
    small = ablate(["model.cardinality=1,2", "optim.lr=-1", f"hydra.sweep.dir={tmp_path / 'small'}", "-m"], tmp_path)
    assert small.returncode == 2 and "Hydra composes" not in small.stdout + small.stderr
