"""Design spaces (`+sweep=design_spaces`, hydra/sweeper=ablate_design_spaces, ablate.report.design_spaces).

The sampler (seeded, every design on the budget, spaces and refusals), the statistics against SciPy on
fixed samples with known answers, the report section from hand-made records (no training), and one tiny
real sweep through `python -m ablate -m` on synthetic data with two designs per space.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats as sps

from ablate.config import compose, load_template
from ablate.config.loading import CONFIG_MODULE
from ablate.config.schema import check
from ablate.engine.budget import Budget, solve
from ablate.errors import ConfigError
from ablate.report import collect, design_spaces, write_report
from hydra_plugins.ablate_design_space_sweeper import _sampler as sampler
from hydra_plugins.ablate_design_space_sweeper.sweeper import command_line, plan
from tests.fake_sweeps import record, write_record

ROOT = Path(__file__).resolve().parents[1]
TINY = load_template("tiny")
BUDGET = Budget.relative(TINY, 1.0, "params", tolerance=0.1, name="tiny")  # conf/sweep/design_spaces.yaml
SWEEP_FILE = OmegaConf.load(resources.files(CONFIG_MODULE) / "sweep" / "design_spaces.yaml")
SPACES = sampler.spaces_of(OmegaConf.to_container(SWEEP_FILE.hydra.sweeper.spaces))


def budget(scale: float | None) -> Budget:
    return BUDGET if scale is None else Budget.relative(TINY, scale, "params", tolerance=0.1, name="tiny")


def options(**changes) -> dict:
    node = OmegaConf.to_container(SWEEP_FILE.hydra.sweeper)
    node.pop("_target_", None)
    return {**node, **changes}


# ----------------------------------------------------------------------------- the sampler
def test_the_same_seed_gives_the_same_designs_and_more_samples_keep_the_first():
    first = sampler.sample(SPACES["resnext"], TINY, budget, 6, seed=3)
    again = sampler.sample(SPACES["resnext"], TINY, budget, 6, seed=3)
    assert first.designs == again.designs
    more = sampler.sample(SPACES["resnext"], TINY, budget, 9, seed=3)
    assert more.designs[:6] == first.designs  # a resumed sweep with a larger N adds designs
    other = sampler.sample(SPACES["resnext"], TINY, budget, 6, seed=4)
    assert [d.overrides for d in other.designs] != [d.overrides for d in first.designs]
    # a space's designs do not depend on the spaces it is compared with
    alone = sampler.sample_all([SPACES["resnext"]], TINY, budget, 4, seed=3)[0]
    pair = sampler.sample_all([SPACES["resnet"], SPACES["resnext"]], TINY, budget, 4, seed=3)[1]
    assert alone.designs == pair.designs


def test_every_design_is_on_the_budget_distinct_and_inside_its_space():
    for space in SPACES.values():
        s = sampler.sample(space, TINY, budget, 12, seed=0)
        assert len(s.designs) == 12 and [d.sample for d in s.designs] == list(range(12))
        assert len({(d.cardinality, d.depths, d.width) for d in s.designs}) == 12
        for d in s.designs:
            assert d.cardinality in space.cardinality and d.width in space.width
            assert all(lo <= x <= hi for x, (lo, hi) in zip(d.depths, space.depths, strict=True))
            t = TINY.replace(cardinality=d.cardinality, depths=d.depths, width=d.width)
            solution = solve(t, BUDGET)  # what the run does at run time: the same d, the same complexity
            assert (d.bottleneck_width, d.achieved) == (solution.value, solution.achieved)
            assert abs(d.deviation) <= 0.1 and d.target == BUDGET.target
            assert d.overrides == [f"model.cardinality={d.cardinality}",
                                   f"model.depths=[{','.join(map(str, d.depths))}]", f"model.width={d.width}",
                                   f"+design_space={space.name}"]


def test_draws_off_the_budget_are_passed_over_not_trained():
    s = sampler.sample(SPACES["resnext"], TINY, budget, 12, seed=0)
    assert s.off_budget > 0  # C=16 or 32 with a wide first stage overshoots tiny's params even at d=1
    assert s.draws == 12 + s.off_budget + s.repeats == s.designs[-1].draw + 1
    # the refusal recorded is the solver's own sentence
    assert s.first_refusal.startswith("budget params=207,818 cannot be met within tolerance 0.1 by varying "
                                      "bottleneck_width: the nearest is ")
    skipped = set(range(s.draws)) - {d.draw for d in s.designs}
    assert len(skipped) == s.off_budget + s.repeats


def test_a_budget_range_gives_each_design_its_own_scale():
    s = sampler.sample(SPACES["resnet"], TINY, budget, 8, seed=1, scale_range=(0.5, 2.0))
    scales = [d.scale for d in s.designs]
    assert all(0.5 <= x <= 2.0 for x in scales) and len(set(scales)) > 4
    for d in s.designs:
        assert d.target == pytest.approx(d.scale * BUDGET.target) and abs(d.deviation) <= 0.1
        assert f"budget.scale={d.scale!r}" in d.overrides


def test_a_space_whose_every_draw_is_off_the_budget_is_refused():
    space = sampler.spaces_of({"huge": {"cardinality": [32, 64], "width": [256]}})["huge"]
    with pytest.raises(ConfigError) as e:
        sampler.sample(space, TINY, budget, 2, draws=50)
    # the draws stop once both designs were drawn: neither is solved again on each of the other draws
    assert str(e.value).startswith("design space 'huge' (C ∈ {32, 64}, width ∈ {256}) has no design on the budget: "
                                   "its 2 designs are all off it (params=207,818 ±0.1; the first: budget "
                                   "params=207,818 is out of reach by varying bottleneck_width")
    with pytest.raises(ConfigError, match="^design space 'huge' .* on the budget: all 5 draws were off it "):
        sampler.sample(space, TINY, budget, 2, draws=5, scale_range=(1.0, 1.01))  # scales: a draw is new each time
    # the solver's sentence ends inside the brackets without its full stop (not 'width=1.):')
    assert str(e.value).endswith(" and up; even cardinality=1 needs 2,830,275 at bottleneck_width=1): widen the space or "
                                 "loosen budget.tolerance.")


def test_a_space_smaller_than_n_is_refused_before_any_draw(monkeypatch):
    """Found by hand: samples=100000 (draws=1000000) sat solving draw after draw of a space of a few hundred designs,
    with nothing said; a space that holds fewer designs than asked for is refused at once."""
    space = sampler.spaces_of({"two": {"cardinality": [1], "width": [24, 32], "depths": [1, 1, 1, 1]}})["two"]
    monkeypatch.setattr(sampler, "solve", lambda *a, **k: pytest.fail("no design needs solving"))
    with pytest.raises(ConfigError) as e:
        sampler.sample(space, TINY, budget, 3, draws=50)
    assert str(e.value) == ("hydra.sweeper.samples=3 is more than the 2 designs design space 'two' (C ∈ {1}, width ∈ "
                            "{24, 32}, depths ∈ [1]×[1]×[1]×[1]) holds: give fewer samples, or widen the space.")


def test_a_space_too_small_for_n_distinct_designs_is_refused_once_every_design_was_drawn(monkeypatch):
    """Four designs, two of them on the budget (C = 64 is out of its reach): the draws stop once all four were seen,
    and each design is solved once, however often it is drawn."""
    space = sampler.spaces_of({"four": {"cardinality": [1, 64], "width": [24, 32], "depths": [1, 1, 1, 1]}})["four"]
    solved = []
    real = sampler.solve
    monkeypatch.setattr(sampler, "solve", lambda t, *a, **k: solved.append((t.cardinality, t.width)) or real(t, *a, **k))
    with pytest.raises(ConfigError) as e:
        sampler.sample(space, TINY, budget, 3, draws=1_000_000)
    assert sorted(solved) == [(1, 24), (1, 32), (64, 24), (64, 32)]
    taken = int(str(e.value).split(" gave in ")[1].split()[0])
    assert 4 <= taken < 100
    assert str(e.value).startswith("hydra.sweeper.samples=3 is more than the 2 distinct on-budget designs design space "
                                   f"'four' gave in {taken} draws (")


@pytest.mark.parametrize("changes, sentence", [
    ({"samples": 1}, "hydra.sweeper.samples=1 is invalid: give a whole number of at least 2 designs per space (an "
                     "error distribution and a test between spaces need two or more)."),
    ({"compare": ["resnet", "resnxt"]}, "hydra.sweeper.compare=[resnet,resnxt] names 'resnxt', which is not a "
                                        "design space: the spaces defined in hydra.sweeper.spaces are resnet, "
                                        "resnext."),
    ({"compare": ["resnet"]}, "hydra.sweeper.compare=[resnet] gives 1 design space: a comparison needs two or "
                              "more, such as hydra.sweeper.compare=[resnet,resnext]."),
    # Found by hand: with one space defined, the sentence offered compare=[resnet], one space again
    ({"spaces": {"resnet": {}}}, "hydra.sweeper.spaces gives 1 design space: a comparison needs two or more: define "
                                 "another beside resnet, e.g. '+hydra.sweeper.spaces.other={cardinality:[2,4],"
                                 "width:[32],depths:[[1,3],[1,3],[1,3],[1,2]]}'."),
    ({"spaces": {"resnet": {"widths": [16]}, "b": {}}}, "hydra.sweeper.spaces.resnet.widths is not a design-space "
                                                       "field: valid fields are cardinality, width, depths (d is "
                                                       "solved for the budget)."),
    ({"spaces": {"a": {"depths": [[3, 1]]}, "b": {}}}, "hydra.sweeper.spaces.a.depths=[[3,1]] is invalid: give one "
                                                      "[fewest, most] range of blocks per stage (a number fixes a "
                                                      "stage), such as [[1,3],[1,3],[1,3],[1,2]]."),
    ({"spaces": {"a": {"cardinality": [0, 2]}, "b": {}}}, "hydra.sweeper.spaces.a.cardinality=[0,2] is invalid: "
                                                         "give a list of whole numbers of at least 1 to choose from, "
                                                         "such as [2,4,8,16,32]."),
    ({"scale_range": [2, 1]}, "hydra.sweeper.scale_range=[2,1] is invalid: give [low, high], two positive budget "
                              "scales with low ≤ high, such as [0.5,2.0], or null for one budget."),
    # found by hand: hydra.sweeper.samples=1000000000 was refused as `hydra.sweeper.draws=1000 is invalid` only;
    # either side of the relation may be the one typed, so the sentence names both
    ({"draws": 1}, "hydra.sweeper.draws=1 is fewer than hydra.sweeper.samples=20: a space needs at least one draw "
                   "per design sampled; raise hydra.sweeper.draws to 20 or more, or lower hydra.sweeper.samples."),
    ({"samples": 1000000000}, "hydra.sweeper.draws=1000 is fewer than hydra.sweeper.samples=1000000000: a space "
                              "needs at least one draw per design sampled; raise hydra.sweeper.draws to 1000000000 "
                              "or more, or lower hydra.sweeper.samples."),
    ({"draws": 2.5}, "hydra.sweeper.draws=2.5 is invalid: give a whole number of draws per space, at least "
                     "hydra.sweeper.samples=20."),
    ({"seed": -1}, "hydra.sweeper.seed=-1 is invalid: give a whole number of at least 0, such as 0."),
])
def test_bad_settings_are_one_sentence(changes, sentence):
    cfg = compose(["+sweep=design_spaces"])
    with pytest.raises(ConfigError) as e:
        plan(cfg, options(**changes), ["+sweep=design_spaces"])
    assert str(e.value) == sentence


def test_the_plan_gives_every_member_the_command_line_and_its_design():
    cfg = compose(["+sweep=design_spaces", "optim.epochs=1"])
    body, jobs = plan(cfg, options(samples=3), ["+sweep=design_spaces", "optim.epochs=1"])
    assert body["compare"] == ["resnet", "resnext"] and len(body["designs"]) == len(jobs) == 6
    for job, design in zip(jobs, body["designs"], strict=True):
        assert job == ["+sweep=design_spaces", "optim.epochs=1", *design["overrides"]]
        member = compose(job)
        check(member)  # `+design_space=NAME` is a root key the schema knows
        assert member.design_space == design["space"]
    _, repeated = plan(cfg, options(samples=3), ["+sweep=design_spaces", "seed=0,1"])
    assert [j[-1] for j in repeated[:4]] == ["seed=0", "seed=1", "seed=0", "seed=1"] and len(repeated) == 12
    assert body["budget"]["metric"] == "params" and body["budget"]["reference"] == "tiny"


def test_the_command_line_cannot_set_what_the_sampler_samples():
    with pytest.raises(ConfigError, match=r"^'model.cardinality=2': hydra/sweeper=ablate_design_spaces samples "
                                          r"model.cardinality from each design space"):
        command_line(["model.cardinality=2"])
    with pytest.raises(ConfigError, match=r"^'optim.epochs=1,2' is a sweep: hydra/sweeper=ablate_design_spaces"):
        command_line(["optim.epochs=1,2"])
    assert command_line(["+sweep=design_spaces", "seed=0,1,2"]) == (["+sweep=design_spaces"], ["0", "1", "2"])


def test_a_design_space_root_key_must_name_a_space():
    with pytest.raises(ConfigError, match=r"^design_space=3 is invalid: it must be the name of a design space"):
        check(compose(["+design_space=3"]))
    check(compose(["+design_space=resnext"]))


# ----------------------------------------------------------------------------- the statistics
def test_ks_and_bootstrap_are_scipys_on_fixed_samples():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 6.0, 7.0, 8.0])
    d = design_spaces.compare(a, b)
    assert d.ks_statistic == 1.0 and d.ks_p == pytest.approx(2 / 70)  # exact two-sided p: 2 of C(8,4) orderings
    assert (d.min_delta, d.mean_delta) == (4.0, 4.0)
    for stat, low, high in ((np.min, d.min_ci_low, d.min_ci_high), (np.mean, d.mean_ci_low, d.mean_ci_high)):
        ci = sps.bootstrap((b, a), lambda x, y, axis=-1, f=stat: f(x, axis=axis) - f(y, axis=axis), vectorized=True,
                           method="percentile", n_resamples=9999, rng=np.random.default_rng(0)).confidence_interval
        assert (low, high) == (ci.low, ci.high)
    assert 0 < d.mean_ci_low < 4 < d.mean_ci_high < 8  # disjoint samples: every resample's Δ lies in (0, 8)
    same = design_spaces.compare([1.0, 1.0, 1.0], [3.0, 3.0, 3.0])  # constant samples: Δ is exactly 2
    assert (same.min_ci_low, same.min_ci_high, same.mean_ci_low, same.mean_ci_high) == (2.0, 2.0, 2.0, 2.0)
    x, y = [10.2, 11.0, 9.8, 10.5, 12.1], [9.7, 10.1, 9.9, 11.5]
    assert design_spaces.compare(x, y).ks_p == sps.ks_2samp(x, y).pvalue
    assert math.isnan(design_spaces.compare([1.0], [2.0, 3.0]).ks_p)  # one design: no test


def test_edf_and_complexity_normalized_weights():
    assert list(design_spaces.edf_at(np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0, 0.5]))) == [1 / 3, 2 / 3, 1, 0]
    # two log bins over [1e5, 4e5] (edge 2e5): space a has 3 low and 1 high, b 1 low and 1 high; c only low
    complexity = pd.Series([1e5, 1.2e5, 1.5e5, 4e5, 1.1e5, 3.9e5])
    space = pd.Series(["a", "a", "a", "a", "b", "b"])
    w = design_spaces.normalized_weights(complexity, space, bins=2)
    assert list(w) == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2, 1 / 2, 1 / 2])
    assert w[space == "a"].sum() == pytest.approx(1) and w[space == "b"].sum() == pytest.approx(1)
    w = design_spaces.normalized_weights(pd.Series([1e5, 4e5, 1.1e5]), pd.Series(["a", "a", "c"]), bins=2)
    assert list(w) == [1.0, 0.0, 1.0]  # the high bin has no design of space c: its designs weigh 0


# ----------------------------------------------------------------------------- the report, from hand-made records
ERRORS = {"resnet": [12.0, 11.0, 14.0, 13.0], "resnext": [10.5, 11.5, 12.5, 9.5]}


def fake_sweep(root: Path, errors=ERRORS, scale_range=None, missing=0, with_plan=True) -> Path:
    """A design-space sweep folder: the plan the sweeper would write and one record per design (no training)."""
    n = len(next(iter(errors.values())))
    cfg = compose(["+sweep=design_spaces"])
    body, jobs = plan(cfg, options(samples=n, scale_range=scale_range), ["+sweep=design_spaces"])
    root.mkdir(parents=True)
    if with_plan:
        design_spaces.write_plan(root, body)
    for i, (design, job) in enumerate(zip(body["designs"], jobs, strict=True)):
        if design["sample"] >= n - missing and design["space"] == "resnext":
            continue
        t = TINY.replace(cardinality=design["cardinality"], depths=tuple(design["depths"]), width=design["width"],
                         bottleneck_width=design["bottleneck_width"])
        section = {"metric": "params", "scope": "network", "target": design["target"], "achieved": design["achieved"],
                   "deviation": design["deviation"], "vary": "bottleneck_width", "value": design["bottleneck_width"],
                   "tolerance": 0.1}
        err = errors[design["space"]][design["sample"]]
        write_record(root, record(job, 0, (err + 5, err), template=t, budget=section, job_num=i,
                                  config={"budget": {"metric": "params", "scale": design["scale"] or 1.0}}))
    return root


def test_the_section_from_records(tmp_path):
    out = write_report(fake_sweep(tmp_path / "sweep", missing=1), tmp_path / "report")
    designs = pd.read_csv(out / "design_spaces.csv")
    assert list(designs.space) == ["resnet"] * 4 + ["resnext"] * 4
    assert list(designs.error[:7]) == [*ERRORS["resnet"], *ERRORS["resnext"][:3]] and math.isnan(designs.error[7])
    assert list(designs.status) == ["completed"] * 7 + ["missing"]
    assert list(designs.edf[:4]) == [0.5, 0.25, 1.0, 0.75]  # F(e) within each space
    assert list(designs.edf[4:7]) == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert designs.params[:7].between(0.9 * BUDGET.target, 1.1 * BUDGET.target).all()
    assert designs.complexity.between(0.9 * BUDGET.target, 1.1 * BUDGET.target).all()  # the missing one: planned
    tests = pd.read_csv(out / "design_spaces_tests.csv")
    ks = sps.ks_2samp(ERRORS["resnet"], ERRORS["resnext"][:3])
    assert (tests.first[0], tests.other[0], tests.n_first[0], tests.n_other[0]) == ("resnet", "resnext", 4, 3)
    assert tests.ks_statistic[0] == pytest.approx(ks.statistic) and tests.ks_p[0] == pytest.approx(ks.pvalue)
    assert tests.mean_delta[0] == pytest.approx(np.mean(ERRORS["resnext"][:3]) - np.mean(ERRORS["resnet"]))
    assert tests.min_delta[0] == pytest.approx(10.5 - 11.0)
    md = (out / "design_spaces.md").read_text()
    assert "| resnet  | 4         | 4           | 11.00     | 12.50 ± 1.29     | 12.50        |" in md
    assert "resnext − resnet" in md and "## Designs without a result" in md and "resnext #3" in md
    assert "space `resnext`: C ∈ {2, 4, 8, 16, 32}" in md
    for ext in ("png", "svg"):
        assert (out / f"edf.{ext}").stat().st_size > 5_000
    assert "design_spaces.md" in (out / "index.html").read_text()
    assert design_spaces.analyse(collect(tmp_path / "sweep")).normalized is False


def test_a_design_with_several_seeds_is_their_mean(tmp_path):
    cfg = compose(["+sweep=design_spaces"])
    body, jobs = plan(cfg, options(samples=2), ["+sweep=design_spaces", "seed=0,1"])
    errors = iter([11.0, 13.0, 9.0, 10.0, 12.0, 12.5, 8.0, 9.0])  # design by design, seed 0 then seed 1
    for i, job in enumerate(jobs):
        write_record(tmp_path / "sweep", record(job, int(job[-1][5:]), (20.0, next(errors)), job_num=i))
    design_spaces.write_plan(tmp_path / "sweep", body)
    a = design_spaces.analyse(collect(tmp_path / "sweep"))
    assert list(a.designs.runs) == [2] * 4 and list(a.designs.error) == [12.0, 9.5, 12.25, 8.5]


def test_the_section_without_a_plan_groups_by_the_design_space_override(tmp_path):
    sweep = collect(fake_sweep(tmp_path / "sweep", with_plan=False))
    assert design_spaces.applies(sweep)
    a = design_spaces.analyse(sweep)
    assert a.spaces == ["resnet", "resnext"]
    assert sorted(a.designs.error[a.designs.space == "resnext"]) == sorted(ERRORS["resnext"])


def test_a_budget_range_adds_the_normalized_edf(tmp_path):
    sweep = collect(fake_sweep(tmp_path / "sweep", scale_range=[0.5, 2.0]))
    a = design_spaces.analyse(sweep)
    assert a.normalized
    for space in ("resnet", "resnext"):
        w = a.designs.weight[a.designs.space == space]
        assert w.sum() == pytest.approx(1.0) or w.sum() == 0
    paths = design_spaces.write(sweep, tmp_path / "out")
    assert (tmp_path / "out" / "edf.png") in paths
    assert "complexity-normalized" in (tmp_path / "out" / "design_spaces.md").read_text()


def test_a_folder_sampled_otherwise_is_refused(tmp_path):
    from hydra_plugins.ablate_design_space_sweeper.sweeper import _same_plan

    cfg = compose(["+sweep=design_spaces"])
    body, _ = plan(cfg, options(samples=2), ["+sweep=design_spaces"])
    design_spaces.write_plan(tmp_path, body)
    _same_plan(tmp_path, plan(cfg, options(samples=4), ["+sweep=design_spaces"])[0])  # more samples: continues
    with pytest.raises(ConfigError) as e:
        _same_plan(tmp_path, plan(cfg, options(samples=2, seed=1), ["+sweep=design_spaces"])[0])
    # found by hand: it said `(its seed differ)`, and not what changed to what
    assert str(e.value) == (
        f"{tmp_path} holds a design-space sweep sampled otherwise: hydra.sweeper.seed=1, it was 0; keep its "
        "settings to continue it, or start a new folder with hydra.sweep.dir=…."
    )
    spaces = options()["spaces"]
    wider = options(samples=2, spaces={**spaces, "resnext": {**spaces["resnext"], "width": [64, 128]}})
    looser = compose(["+sweep=design_spaces", "budget.tolerance=0.2"])
    with pytest.raises(ConfigError) as e:
        _same_plan(tmp_path, plan(looser, wider, ["+sweep=design_spaces"])[0])
    assert str(e.value) == (
        f"{tmp_path} holds a design-space sweep sampled otherwise: hydra.sweeper.spaces.resnext.width=[64,128], it "
        "was [16,24,32,40,48]; budget.tolerance=0.2, it was 0.1; keep its settings to continue it, or start a new "
        "folder with hydra.sweep.dir=…."
    )


# ----------------------------------------------------------------------------- one tiny real sweep
SMALL = ["+sweep=design_spaces", "hydra.sweeper.samples=2", "data=synthetic", "data.num_samples=256",
         "data.val_samples=128", "data.train_subset=null", "optim.epochs=1", "trainer.progress=false",
         "trainer.num_threads=1"]


def ablate(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONPATH": str(ROOT)}  # the checkout's hydra_plugins
    return subprocess.run([sys.executable, "-m", "ablate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.slow
def test_a_tiny_real_sweep_two_designs_per_space(tmp_path):
    args = [*SMALL, f"hydra.sweep.dir={tmp_path / 'design_spaces'}", "-m"]
    first = ablate(args, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    plan_body = json.loads((tmp_path / "design_spaces" / "design_spaces.json").read_text())
    assert [d["space"] for d in plan_body["designs"]] == ["resnet", "resnet", "resnext", "resnext"]
    runs = collect(tmp_path / "design_spaces").runs
    assert len(runs) == 4 and set(runs.status) == {"completed"}
    for d in plan_body["designs"]:  # each member ran the design it was given, with the d the sampler solved
        row = runs[[set(d["overrides"]) <= set(o.split()) for o in runs.overrides]].iloc[0]
        assert (row.cardinality, row.bottleneck_width, row.width, row.depths) == (
            d["cardinality"], d["bottleneck_width"], d["width"], "-".join(map(str, d["depths"])))
        assert row.budget_achieved == d["achieved"]
    report = tmp_path / "reports" / "design_spaces"
    designs = pd.read_csv(report / "design_spaces.csv")
    assert designs.error.between(0, 100).all() and len(designs) == 4
    assert (report / "edf.svg").is_file() and "KS D" in (report / "design_spaces.md").read_text()
    again = ablate(args, tmp_path)  # resumed: the same designs, every member skipped
    assert again.returncode == 0, again.stderr[-3000:]
    assert (again.stdout + again.stderr).count("already holds this completed run") == 4
    bad = ablate([*SMALL, "hydra.sweeper.samples=1", f"hydra.sweep.dir={tmp_path / 'bad'}", "-m"], tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "ablate: hydra.sweeper.samples=1 is invalid: give a whole number of at least 2 designs per space (an error "
        "distribution and a test between spaces need two or more).")
    assert not (tmp_path / "bad").exists()


def test_both_report_files_title_the_sweep_alike(tmp_path):
    """`python -m ablate +sweep=design_spaces hydra.sweep.dir=sweeps/ds -m` titled its table `# design_spaces: …` (the
    config) and its design-space page `# ds: …` (the folder), found by hand: both now by the config, as the table was
    (whose header names the folder)."""
    sweep = fake_sweep(tmp_path / "ds")
    (sweep / "multirun.yaml").write_text("hydra:\n  runtime:\n    choices: {sweep: design_spaces}\n")
    out = write_report(sweep, tmp_path / "report")
    assert (out / "table.md").read_text().startswith("# design_spaces: top-1 error by setting")
    assert (out / "design_spaces.md").read_text().startswith("# design_spaces: design spaces compared")
