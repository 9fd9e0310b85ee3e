"""Adaptive repeats (ablate.report.sequential, hydra/sweeper=ablate_repeats) on synthetic records: no training.

The simulation tests replay many sweeps whose errors are drawn from a known model (a per-seed effect
shared by every setting, as runs with one seed see the same data order, plus run noise): with no true
difference the rate of any false `better`/`worse` stays at or below α, while the same simulation with
unadjusted levels shows it would catch a rule that does not; a true difference of 2δ is found. The
boundaries are checked against the published Lan–DeMets values and against SciPy's own integral.
The sweeper runs in this process on a task function that writes such a record instead of training.
"""

from __future__ import annotations

import json
import logging
import math
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from scipy import stats as sp

from ablate.errors import ConfigError
from ablate.report import sequential, write_report
from ablate.report.sequential import Plan, plan, pooled_variance, replay
from ablate.run.record import config_hash
from hydra_plugins.ablate_repeats_sweeper import register
from hydra_plugins.ablate_repeats_sweeper.sweeper import settings
from tests.fake_sweeps import record, write_record

COLUMNS = ["setting", "seed", "status", "final_val_err"]
PLAN = Plan(min=3, max=10, batch=2, alpha=0.05, resolution=0.2)  # looks at 3, 5, 7, 9, 10 seeds: the plan's numbers
DEFAULT = Plan()  # `+repeats=auto` as it comes: a look after every seed from 2
PLANS = pytest.mark.parametrize("p", [DEFAULT, PLAN], ids=["default", "min3-batch2"])


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def draw(rng, deltas: dict[str, float], p: Plan = PLAN, seed_sd: float = 1.0, noise: float = 0.1) -> list[tuple]:
    """Every seed of every setting: 10 + seed effect (shared by the settings of one seed) + the setting's Δ + noise."""
    effect = rng.normal(0, seed_sd, p.max)
    return [
        (s, seed, "completed", 10 + effect[seed] + d + rng.normal(0, noise))
        for s, d in deltas.items()
        for seed in range(p.max)
    ]


def simulate(rng, deltas: dict[str, float], p: Plan = PLAN, seed_sd: float = 1.0, noise: float = 0.1):
    """One adaptive sweep as the sweeper runs it: launch what each look asks for, replay, repeat."""
    names = list(deltas)
    everything = {row[:2]: row for row in draw(rng, deltas, p, seed_sd, noise)}
    rows: list[tuple] = []
    while True:
        state = replay(frame(rows), names, names[0], p)
        if state.done:
            return state, len(rows)
        rows += [everything[key] for key in state.pending]


def false_rate(rng, sweeps: int, seed_sd: float, noise: float, p: Plan = PLAN) -> float:
    """The share of sweeps with five equal settings in which any setting is called better or worse."""
    names = list("rabcd")
    false = 0
    for _ in range(sweeps):
        state = replay(frame(draw(rng, dict.fromkeys(names, 0.0), p, seed_sd, noise)), names, "r", p)
        false += any(d.verdict in ("better", "worse") for d in state.decisions.values())
    return false / sweeps


# ----------------------------------------------------------------------------- the plan and its boundaries
def test_plan_looks_and_levels():
    assert PLAN.looks == (3, 5, 7, 9, 10)
    assert Plan(min=4, max=8, batch=4).looks == (4, 8)
    assert Plan(min=5, max=5, batch=1).looks == (5,)
    # look 1 spends α(t₁) alone, so its level is the spending function's value: α/m·ln(1 + (e − 1)·3/10)
    assert PLAN.efficacy(4)[0] == pytest.approx(0.05 / 4 * math.log(1 + (math.e - 1) * 0.3), rel=1e-9)
    assert PLAN.test_level(4) == PLAN.efficacy(4)[0]
    assert PLAN.equivalence[0] == pytest.approx(0.05 * 0.3**2, rel=1e-9)  # α·t²
    assert PLAN.confidence == pytest.approx(0.95)
    # Holm: with fewer comparisons left open every look's level is higher; a single look is a plain test at α
    assert all(a < b for a, b in zip(PLAN.efficacy(4), PLAN.efficacy(3), strict=True))
    assert Plan(min=5, max=5).efficacy(2) == pytest.approx((0.025,))


@pytest.mark.parametrize(
    "spending, published",
    [
        ("pocock", [2.4380, 2.4268, 2.4101, 2.3966, 2.3859]),
        ("obrien-fleming", [4.8769, 3.3569, 2.6803, 2.2898, 2.0310]),
    ],
)
def test_boundaries_match_the_published_lan_demets_values(spending, published):
    # five equally spaced looks, α = 0.05 two-sided (0.025 a side): the tabulated critical values (as gsDesign
    # gives them for sfLDPocock and sfLDOF)
    levels = sequential.boundary((2, 4, 6, 8, 10), 0.05, spending)
    assert [float(sp.norm.isf(a / 2)) for a in levels] == pytest.approx(published, abs=2e-3)


@pytest.mark.parametrize("alpha, spending", [(0.05 / 4, "pocock"), (0.05, "t^2"), (0.05, "obrien-fleming")])
def test_boundaries_spend_alpha_as_scipy_integrates_it(alpha, spending):
    """The chance of crossing at any look up to k, integrated again here, is the α the function spends by k."""
    looks = PLAN.looks
    c = sp.norm.isf(np.array(sequential.boundary(looks, alpha, spending)) / 2)
    n = np.array(looks, dtype=float)
    cov = np.sqrt(np.minimum.outer(n, n) / np.maximum.outer(n, n))
    for k in range(1, len(looks) + 1):
        crossed = (
            1 - sp.multivariate_normal(cov=cov[:k, :k]).cdf(c[:k], lower_limit=-c[:k])
            if k > 1
            else 2 * sp.norm.sf(c[0])
        )
        assert crossed == pytest.approx(sequential.SPENDING[spending](alpha, n[k - 1] / n[-1]), abs=5e-5)


@pytest.mark.parametrize("spending", ["pocock", "t^2"])
def test_boundaries_of_the_default_plan_spend_alpha_on_simulated_paths(spending):
    """Nine looks (2…10 seeds): the share of a million simulated paths of Z first crossing by look k is the α
    spent by k, within Monte Carlo error (SciPy's multivariate normal is too slow in nine dimensions)."""
    looks = DEFAULT.looks
    c = sp.norm.isf(np.array(sequential.boundary(looks, 0.05, spending)) / 2)
    n = np.array(looks, dtype=float)
    rng = np.random.default_rng(0)
    steps = rng.standard_normal((1_000_000, len(n))) * np.sqrt(np.diff(n, prepend=0.0))
    z = np.cumsum(steps, axis=1) / np.sqrt(n)  # Z_k = S_k / √n_k: corr √(n_j/n_k)
    crossed = np.logical_or.accumulate(np.abs(z) >= c, axis=1).mean(axis=0)
    spent = [sequential.SPENDING[spending](0.05, n[k] / n[-1]) for k in range(len(n))]
    assert crossed == pytest.approx(spent, abs=1e-3)  # 4.4 Monte Carlo standard errors at α = 0.05


def test_a_plan_of_a_hundred_looks_is_taken():
    assert len(plan(2, 101, 1, 0.05, 0.2).looks) == 100
    assert len(plan(2, 100000, 1011, 0.05, 0.2).looks) == 100  # the batch the sentence below asks for


@pytest.mark.parametrize(
    "kwargs, sentence",
    [
        ({"min": 5, "max": 3}, "hydra.sweeper.min=5 is more than hydra.sweeper.max=3: give min ≤ max."),
        (
            {"min": 1},
            "hydra.sweeper.min=1 is invalid: give a whole number of at least 2 (a difference needs two runs "
            "of a setting to be judged).",
        ),
        ({"batch": 0}, "hydra.sweeper.batch=0 is invalid: give a whole number of at least 1."),
        # found by hand: hydra.sweeper.max=100000 sat computing 99,999 looks' boundaries (about 25 ms each, and
        # once per Holm share) before the first run, with nothing said
        (
            {"min": 2, "max": 100000, "batch": 1},
            "hydra.sweeper.max=100000 makes 99,999 looks at hydra.sweeper.min=2 and hydra.sweeper.batch=1, more "
            "than the 100 whose boundaries ablate computes: give hydra.sweeper.batch=1011 or more, or a smaller max.",
        ),
        (
            {"min": 2, "max": 102, "batch": 1},
            "hydra.sweeper.max=102 makes 101 looks at hydra.sweeper.min=2 and hydra.sweeper.batch=1, more "
            "than the 100 whose boundaries ablate computes: give hydra.sweeper.batch=2 or more, or a smaller max.",
        ),
        (
            {"alpha": 1.5},
            "hydra.sweeper.alpha=1.5 is invalid: give the error rate as a fraction between 0 and 1, such as 0.05.",
        ),
    ],
)
def test_bad_plans_are_one_sentence(kwargs, sentence):
    args = {"min": 3, "max": 10, "batch": 2, "alpha": 0.05, "resolution": 0.2, **kwargs}
    with pytest.raises(ConfigError) as e:
        plan(**args)
    assert str(e.value) == sentence


# ----------------------------------------------------------------------------- the pooled variance and the test
def test_pooled_variance_is_the_two_way_residual():
    rng = np.random.default_rng(5)
    y = rng.normal(10, 0.3, (4, 5))  # 4 settings × 5 seeds
    errors = {f"s{i}": {j: float(y[i, j]) for j in range(5)} for i in range(4)}
    held = dict.fromkeys(errors, 5)
    residual = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    assert pooled_variance(errors, held) == pytest.approx((float((residual**2).sum() / 12), 12))
    # setting and seed effects are absorbed: adding either changes nothing
    shifted = {s: {j: e + 3 * i + 0.5 * j for j, e in by.items()} for i, (s, by) in enumerate(errors.items())}
    assert pooled_variance(shifted, held) == pytest.approx(pooled_variance(errors, held))
    # a missing run, and seeds past a setting's look, are left out: 18 runs − (4 settings + 5 seeds − 1) = 10
    del errors["s1"][4]
    held["s3"] = 4
    assert pooled_variance(errors, held)[1] == 10


def test_with_two_settings_the_pooled_test_is_the_paired_t():
    ref, other = [10.1, 10.6, 9.8, 10.3, 10.0], [10.0, 10.2, 9.9, 9.9, 9.6]
    rows = [("r", s, "completed", e) for s, e in enumerate(ref)] + [
        ("a", s, "completed", e) for s, e in enumerate(other)
    ]
    one_look = Plan(min=5, max=5, batch=1)  # one look: its level is α, its interval the plain 95% CI
    c = replay(frame(rows), ["r", "a"], "r", one_look).decisions["a"].comparison
    paired = sp.ttest_rel(other, ref)
    ci = paired.confidence_interval(0.95)
    assert (c.test, c.n, c.df) == ("paired", 5, 4)
    assert (c.delta, c.p, c.low, c.high) == pytest.approx(
        (np.mean(other) - np.mean(ref), paired.pvalue, ci.low, ci.high)
    )


# ----------------------------------------------------------------------------- error rates on simulated sweeps
@PLANS
@pytest.mark.parametrize("seed_sd, noise", [(1.0, 0.1), (0.0, 0.2)], ids=["shared-seed-effect", "independent"])
def test_no_true_difference_keeps_false_verdicts_at_or_below_alpha(seed_sd, noise, p):
    rate = false_rate(np.random.default_rng(0), 400, seed_sd, noise, p)
    assert rate <= p.alpha


def test_the_simulation_would_catch_a_rule_that_does_not_adjust(monkeypatch):
    # the same simulation, with every look of every comparison tested at α: far more false verdicts than α
    monkeypatch.setattr(sequential, "boundary", lambda looks, alpha, spending: (PLAN.alpha,) * len(looks))
    assert false_rate(np.random.default_rng(0), 100, 0.0, 0.2) > 2 * PLAN.alpha


@PLANS
def test_a_true_difference_of_two_delta_is_found_with_fewer_runs(p):
    rng = np.random.default_rng(1)
    sweeps, found, runs = 60, 0, 0
    truth = {"r": 0.0, "a": 0.4, "b": -0.4, "c": 0.4, "d": -0.4}  # 2δ either way
    for _ in range(sweeps):
        state, n = simulate(rng, truth, p)
        found += all(state.decisions[s].verdict == ("worse" if truth[s] > 0 else "better") for s in "abcd")
        runs += n
    assert found / sweeps >= 0.95
    assert runs / sweeps <= 0.4 * len(truth) * p.max  # a fixed n = max would run 50 per sweep


@PLANS
def test_two_delta_is_found_when_the_seed_to_seed_std_is_delta(p):
    rng = np.random.default_rng(2)
    sweeps = 100
    found = sum(
        simulate(rng, {"r": 0.0, "a": 0.0, "b": 0.2, "c": 0.4}, p, seed_sd=0.0, noise=0.2)[0].decisions["c"].verdict
        == "worse"
        for _ in range(sweeps)
    )
    assert found / sweeps >= 0.8


def test_the_default_plan_looks_after_every_seed_from_two_and_the_sweeper_starts_with_it():
    from hydra_plugins.ablate_repeats_sweeper._config import AblateRepeatsSweeperConf

    assert DEFAULT.looks == (2, 3, 4, 5, 6, 7, 8, 9, 10)
    conf = AblateRepeatsSweeperConf()
    assert (conf.min, conf.max, conf.batch, conf.alpha) == (DEFAULT.min, DEFAULT.max, DEFAULT.batch, DEFAULT.alpha)


def test_the_sweeper_and_a_replay_of_all_records_decide_alike():
    rng = np.random.default_rng(3)
    truth = {"r": 0.0, "a": 0.0, "b": 0.2, "c": 0.4}
    for _ in range(10):
        rows = draw(rng, truth, seed_sd=0.0, noise=0.2)
        everything = {row[:2]: row for row in rows}
        ran: list[tuple] = []
        while not (state := replay(frame(ran), list(truth), "r", PLAN)).done:
            ran += [everything[key] for key in state.pending]
        whole = replay(frame(rows), list(truth), "r", PLAN)
        assert {s: (d.verdict, d.seeds, d.reason) for s, d in whole.decisions.items()} == {
            s: (d.verdict, d.seeds, d.reason) for s, d in state.decisions.items()
        }


# ----------------------------------------------------------------------------- single decisions
def test_replay_says_what_each_look_needs():
    rows = [("r", s, "completed", 10.0 + s) for s in range(3)] + [("a", s, "completed", 8.0 + s) for s in range(3)]
    state = replay(frame(rows[:5]), ["r", "a"], "r", PLAN)
    assert state.pending == [("a", 2)] and state.look == 1
    state = replay(frame(rows), ["r", "a"], "r", PLAN)  # Δ = −2 on every seed: no residual variation, p = 0
    assert state.done and state.decisions["a"].verdict == "better"
    assert state.decisions["a"].reason == "better at look 1 of 5 (3 seeds)"
    assert state.decisions["r"].reason == "the reference: 3 seeds, until every other setting stopped"
    failed = rows[:3] + [("a", 0, "completed", 8.0), ("a", 1, "completed", 12.0), ("a", 2, "failed", np.nan)]
    # a failed run is not launched again: the next look adds seeds 3 and 4 to the undecided setting and the reference
    assert replay(frame(failed), ["r", "a"], "r", PLAN).pending == [("r", s) for s in range(3, 5)] + [
        ("a", s) for s in range(3, 5)
    ]
    gone = replay(frame(rows[:5]), ["r", "a"], "r", PLAN, launched={("a", 2)})
    assert ("a", 2) not in gone.pending  # launched here, no record: counted as run, not launched forever


def test_holm_passes_the_share_of_a_setting_found_better_on():
    noise = {"r": [0.05, -0.10, 0.02], "a": [-0.04, 0.08, 0.01], "b": [0.03, 0.06, -0.12]}
    sigma2, df = pooled_variance({s: dict(enumerate(e)) for s, e in noise.items()}, dict.fromkeys(noise, 3))
    se = math.sqrt(2 * sigma2 / 3)
    # b's Δ puts its p between the first look's level with both comparisons open and with one
    p = math.sqrt(PLAN.efficacy(2)[0] * PLAN.efficacy(1)[0])
    delta_b = float(sp.t.isf(p / 2, df)) * se - float(np.mean(np.subtract(noise["b"], noise["r"])))

    def sweep(delta_a: float):
        rows = [
            (s, seed, "completed", 10 + {"r": 0, "a": delta_a, "b": delta_b}[s] + e)
            for s, es in noise.items()
            for seed, e in enumerate(es)
        ]
        return replay(frame(rows), list(noise), "r", PLAN)

    assert sweep(0.0).decisions["b"].verdict.startswith("undecided")  # a is not rejected: b faces α/2's boundary
    decided = sweep(-5.0)  # a is far better: rejected first, its share goes to b
    assert [decided.decisions[s].reason for s in "ab"] == [
        "better at look 1 of 5 (3 seeds)",
        "worse at look 1 of 5 (3 seeds)",
    ]
    assert decided.decisions["b"].level == pytest.approx(PLAN.efficacy(1)[0])


def test_a_setting_without_a_chance_of_a_verdict_stops_undecided_before_max():
    rng = np.random.default_rng(3)
    names = list("rabcd")
    state = replay(frame(draw(rng, dict.fromkeys(names, 0.0), seed_sd=0.0, noise=0.3)), names, "r", PLAN)
    stopped = {s: d for s, d in state.decisions.items() if d.reason.startswith("undecided at look")}
    assert stopped and all(
        d.final and d.verdict.startswith("undecided") and d.seeds < PLAN.max for d in stopped.values()
    )
    for d in stopped.values():
        assert re.fullmatch(
            rf"undecided at look {d.look} of 5 \({d.seeds} seeds\): a \d+% chance of a verdict by "
            r"max=10",
            d.reason,
        )
    # with the futility stop off the same records run every undecided setting to max
    kept = replay(
        frame(draw(np.random.default_rng(3), dict.fromkeys(names, 0.0), seed_sd=0.0, noise=0.3)),
        names,
        "r",
        Plan(futility=0.0),
    )
    assert {d.seeds for s, d in kept.decisions.items() if d.verdict.startswith("undecided")} == {PLAN.max}


def test_a_setting_whose_every_run_failed_gets_no_more_seeds():
    # found by hand: at budget.tolerance=0.01, C=2 and C=32 fail the budget with every seed, and the sweeper ran
    # both to max seeds, and the reference with them ("still undecided at max=4 seeds")
    def sweep(rows_of):
        rows: list[tuple] = []
        while True:
            state = replay(frame(rows), ["r", "a", "bad"], "r", DEFAULT)
            if state.done:
                return state, rows
            rows += [rows_of(s, seed) for s, seed in state.pending]

    effect = [0.0, 1.2, -0.5, 0.6, 0.3, -0.9, 0.1, 0.8, -0.2, 0.4]
    state, rows = sweep(lambda s, seed: (s, seed, "failed", np.nan) if s == "bad" else
                        (s, seed, "completed", 10 + effect[seed] - 2.0 * (s == "a")))
    bad = state.decisions["bad"]
    assert bad.final and (bad.look, bad.seeds) == (1, DEFAULT.min) and bad.verdict.startswith("undecided (n=0")
    assert bad.reason == f"none of its {DEFAULT.min} runs completed: stopped without more seeds"
    assert sum(r[0] == "bad" for r in rows) == DEFAULT.min
    assert state.decisions["a"].verdict == "better"  # the others go on as they would without it
    # the reference's runs all failed: nothing can be judged, and nothing more runs
    state, rows = sweep(lambda s, seed: (s, seed, "failed" if s == "r" else "completed", 10.0 + seed))
    assert len(rows) == 3 * DEFAULT.min and all(d.final for d in state.decisions.values())
    assert state.decisions["r"].reason == f"the reference: none of its {DEFAULT.min} runs completed"
    # every other setting's runs failed: the reference's reason said "while any setting was undecided"
    state, rows = sweep(lambda s, seed: (s, seed, "completed", 10.0) if s == "r" else (s, seed, "failed", np.nan))
    assert len(rows) == 3 * DEFAULT.min
    assert state.decisions["r"].reason == f"the reference: {DEFAULT.min} seeds, until every other setting stopped"


def test_settings_expand_as_the_basic_sweeper():
    assert settings({"model.cardinality": "1,2"}, ["+sweep=x", "+variant=a,b"]) == [
        ["model.cardinality=1", "+sweep=x", "+variant=a"],
        ["model.cardinality=1", "+sweep=x", "+variant=b"],
        ["model.cardinality=2", "+sweep=x", "+variant=a"],
        ["model.cardinality=2", "+sweep=x", "+variant=b"],
    ]
    with pytest.raises(ConfigError, match=r"^'seed=0,1,2': hydra/sweeper=ablate_repeats chooses the seeds itself"):
        settings({}, ["seed=0,1,2"])
    # found by hand: one setting ran its min seeds and stopped "until every other setting stopped", comparing nothing
    with pytest.raises(ConfigError) as e:
        settings({}, ["+sweep=x", "model.cardinality=4"])
    assert str(e.value) == (
        "+repeats=auto adds seeds where a setting's verdict against the reference is undecided, and this sweep has "
        "one setting: sweep a field, such as model.cardinality=1,2,4, or run fixed repeats without it: seed=0,1,2.")


def test_a_command_line_value_replaces_the_sweep_configs_as_in_the_basic_sweeper():
    # found by hand: `+sweep=cardinality_vs_width +repeats=auto 'model.cardinality=1,2,32' -m` ran 15 settings such
    # as "model.cardinality=2 model.cardinality=4" (the config's 5 values × the command line's 3) instead of 3
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params, arguments = {"model.cardinality": "1,2,4,8,32", "optim.lr": "0.1"}, ["+sweep=x", "model.cardinality=1,32"]
    expected = [["model.cardinality=1", "optim.lr=0.1", "+sweep=x"], ["model.cardinality=32", "optim.lr=0.1", "+sweep=x"]]
    assert settings(params, arguments) == expected
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()] + arguments)
    assert BasicSweeper.split_arguments(parsed, None) == [expected]  # Hydra's own expansion of the same lines


def test_repeats_auto_writes_the_report_on_any_multirun():
    """`+repeats=auto` on an ad-hoc multirun (no +sweep) ran its looks and wrote no report, though the verdicts and
    why each setting stopped are in the report alone (found by hand). With a sweep, the same callback, once."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    for extra in ([], ["+sweep=cardinality_vs_width"]):
        GlobalHydra.instance().clear()
        with initialize_config_module("ablate.conf", version_base="1.3"):
            cfg = compose("config", overrides=["+repeats=auto", "model.cardinality=2", *extra],
                          return_hydra_config=True)
        assert sorted(cfg.hydra.callbacks) == ["interrupt", "refuse", "report", "status"]
        assert cfg.hydra.callbacks.report._target_ == "ablate.report.callback.ReportCallback"
    GlobalHydra.instance().clear()


# ----------------------------------------------------------------------------- the sweeper, in this process
EFFECT = [0.0, 1.2, -0.5, 0.6, 0.3, -0.9, 0.1, 0.8, -0.2, 0.4]  # per seed, shared by every setting
TRUTH = {1: 0.0, 2: -2.0, 4: 0.0}  # C=2: 2 points better than C=1; C=4: no difference
LAUNCHED: list[list[str]] = []


def fake_run(cfg):
    """Writes the record a run of this setting and seed would: error 10 + seed effect + Δ + small noise."""
    task = list(HydraConfig.get().overrides.task)
    LAUNCHED.append(task)
    c, seed = int(cfg.model.cardinality), int(cfg.seed)
    noise = (zlib.crc32(f"{c},{seed}".encode()) % 1000 - 500) / 5_000  # ±0.1, fixed per run
    out = Path(HydraConfig.get().runtime.output_dir)
    rec = record(task, seed, (20.0, 10.0 + EFFECT[seed] + TRUTH[c] + noise))
    rec["config"] = OmegaConf.to_container(cfg, resolve=True)  # the member's own config, as a real run records it
    rec["config_hash"] = config_hash(rec["config"])
    (out / "result.json").write_text(json.dumps(rec))
    return rec["final"]["val_err"]


def multirun(sweep_dir, *overrides):
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    register()
    ConfigStore.instance().store(
        name="repeats_test",
        node={"model": {"cardinality": 1}, "seed": 0, "report": {"reference": None, "resolution": 0.2}},
    )
    GlobalHydra.instance().clear()
    version.setbase("1.3")
    hydra = Hydra.create_main_hydra2(task_name="repeats_test", config_search_path=create_config_search_path(None))
    try:
        return hydra.multirun(
            config_name="repeats_test",
            task_function=fake_run,
            with_log_configuration=False,
            overrides=[
                "hydra.mode=MULTIRUN",
                "hydra/sweeper=ablate_repeats",
                f"hydra.sweep.dir={sweep_dir}",
                "hydra.sweep.subdir=${hydra.job.override_dirname}",
                "hydra/hydra_logging=none",
                "hydra/job_logging=none",
                *overrides,
            ],
        )
    finally:
        GlobalHydra.instance().clear()


def test_the_sweeper_adds_seeds_only_where_undecided_and_resumes(tmp_path):
    LAUNCHED.clear()
    sweep = tmp_path / "sweep"
    multirun(sweep, "model.cardinality=1,2,4", "hydra.sweeper.min=3", "hydra.sweeper.batch=2", "hydra.sweeper.max=7")
    body = json.loads((sweep / "repeats.json").read_text())
    assert body["plan"]["looks"] == [3, 5, 7]
    planned = Plan(min=3, max=7, batch=2)
    assert body["boundaries"]["better_or_worse_p_below_with_2_open"] == list(planned.efficacy(2))
    decisions = {k: v["verdict"] for k, v in body["decisions"].items()}
    assert decisions == {
        "model.cardinality=2": "better",
        "model.cardinality=4": "equivalent within ±0.2",
        "model.cardinality=1": "reference",
    }
    seeds = {}
    for task in LAUNCHED:
        key = next(o for o in task if o.startswith("model.cardinality="))
        seeds.setdefault(key, []).append(int(next(o for o in task if o.startswith("seed="))[5:]))
    # C=2 is decided after the first look; C=4 needs more seeds to show equivalence; the reference follows C=4
    assert seeds["model.cardinality=2"] == [0, 1, 2]
    assert len(seeds["model.cardinality=4"]) > 3 and seeds["model.cardinality=1"] == sorted(
        seeds["model.cardinality=1"]
    )
    assert len(seeds["model.cardinality=1"]) == len(seeds["model.cardinality=4"])
    runs = len(LAUNCHED)

    multirun(
        sweep, "model.cardinality=1,2,4", "hydra.sweeper.min=3", "hydra.sweeper.batch=2", "hydra.sweeper.max=7"
    )  # resumed: all done
    assert len(LAUNCHED) == runs

    with pytest.raises(ConfigError, match=r"holds an adaptive sweep planned otherwise: hydra.sweeper.max=9 \(was 7\)"):
        multirun(
            sweep, "model.cardinality=1,2,4", "hydra.sweeper.min=3", "hydra.sweeper.batch=2", "hydra.sweeper.max=9"
        )

    out = write_report(sweep, tmp_path / "report")
    table = pd.read_csv(out / "table.csv").set_index("cardinality")
    assert table.verdict.to_dict() == {1: "reference", 2: "better", 4: "equivalent within ±0.2"}
    assert table.stopped[2] == "better at look 1 of 3 (3 seeds)"
    assert table.p_adjusted[2] < 0.05 <= table.p_adjusted[4] and table.delta_ci_level[2] == pytest.approx(0.95)
    assert table.delta_ci_low[4] > -0.2 and table.delta_ci_high[4] < 0.2  # the repeated CI inside ±δ
    md = (out / "table.md").read_text()
    assert "| stopped " in md and "p (adj.)" in md and "Adaptive repeats" in md and "95% CI of Δ" in md
    assert "95% repeated CI of Δ (simultaneous over the looks)" in md and "Holm over the m=2 comparisons" in md
    assert "vs best" not in md and "Best (" not in md  # no MCB: the seeds settings share depend on when they stopped
    with pytest.raises(ConfigError, match=r"^--reference='model.cardinality=2' is not the reference this adaptive"):
        write_report(sweep, tmp_path / "r2", reference="model.cardinality=2")
    assert sequential.read_plan(sweep)[1] == "model.cardinality=1"


def test_another_reference_is_refused_naming_the_planned_one_by_what_sets_it_apart(tmp_path):
    """Found by hand: the sentence named the planned reference with every override of its setting, those shared by
    all settings too (`'+repeats=auto +sweep=… data.train_subset=640 … model.cardinality=1 …'`)."""
    LAUNCHED.clear()
    sweep = tmp_path / "sweep"
    multirun(sweep, "model.cardinality=1,2,4", "+tag=shared", "hydra.sweeper.min=3", "hydra.sweeper.batch=2",
             "hydra.sweeper.max=7")
    assert sequential.read_plan(sweep)[1] == "+tag=shared model.cardinality=1"
    with pytest.raises(ConfigError) as refused:
        write_report(sweep, tmp_path / "report", reference="model.cardinality=2")
    assert str(refused.value) == (
        "--reference='model.cardinality=2' is not the reference this adaptive sweep was planned against "
        "('model.cardinality=1'): its verdicts hold against that one only."
    )


def test_an_adaptive_sweep_into_a_folder_of_earlier_runs_counts_its_own_members(tmp_path):
    """Found by hand: the main job with seed=0,1 into a folder, then `+repeats=auto` into the same folder. The
    adaptive members run the same configs under other names (`+repeats=auto` is in theirs), and the report kept the
    earlier command's rows of each config, whose settings are not the plan's: every row `undecided: outside the
    plan`, and the sweeper stopped at its first look. Of two folders holding one config, the one whose setting is a
    setting of the latest command is kept."""
    LAUNCHED.clear()
    sweep = tmp_path / "sweep"
    for job, (c, seed) in enumerate((c, s) for c in TRUTH for s in range(3)):  # the earlier command's runs
        config = {"model": {"cardinality": c}, "seed": seed, "report": {"reference": None, "resolution": 0.2}}
        noise = (zlib.crc32(f"{c},{seed}".encode()) % 1000 - 500) / 5_000
        rec = record(["+earlier=yes", f"model.cardinality={c}", f"seed={seed}"], seed,
                     (20.0, 10.0 + EFFECT[seed] + TRUTH[c] + noise), job_num=job)
        rec["config"], rec["config_hash"] = config, config_hash(config)
        write_record(sweep, rec)
    multirun(sweep, "model.cardinality=1,2,4", "hydra.sweeper.min=3", "hydra.sweeper.batch=2", "hydra.sweeper.max=7")
    decisions = {k: v["verdict"] for k, v in json.loads((sweep / "repeats.json").read_text())["decisions"].items()}
    assert decisions == {
        "model.cardinality=2": "better",
        "model.cardinality=4": "equivalent within ±0.2",
        "model.cardinality=1": "reference",
    }
    table = pd.read_csv(write_report(sweep, tmp_path / "report") / "table.csv").set_index("cardinality")
    assert table.verdict.to_dict() == {1: "reference", 2: "better", 4: "equivalent within ±0.2"}
    assert table.n[2] == 3 and table.n[4] > 3


def test_the_spending_function_of_better_or_worse_is_part_of_the_plan():
    """α·t spends α/2 by the first of two equal looks: its nominal level there is exactly 0.025 (one comparison).
    A later-spending function keeps more α for the last look, so its last level comes closer to the fixed test's."""
    two_looks = Plan(min=5, max=10, batch=5, spending="linear")
    assert two_looks.looks == (5, 10)
    assert two_looks.efficacy(1)[0] == pytest.approx(0.025, abs=1e-12)
    early, late = DEFAULT.efficacy(1), Plan(spending="obrien-fleming").efficacy(1)
    assert DEFAULT.spending == "pocock" and early == sequential.boundary(DEFAULT.looks, 0.05, "pocock")
    assert late[0] < early[0] and early[-1] < late[-1] < 0.05
    assert DEFAULT.to_dict()["spending"] == "pocock"  # repeats.json says which function the verdicts used
    assert "Lan–DeMets O'Brien–Fleming-type" in sequential.describe(Plan(spending="obrien-fleming"), 4)
    assert set(sequential.SPENDING_NAMES) == set(sequential.SPENDING)  # every function has its name in the notes


def test_the_sweepers_log_names_each_setting_by_what_sets_it_apart(tmp_path, caplog):
    """The log named a setting by all its overrides ("+repeats=auto +sweep=cardinality_vs_width data.… model.cardinality=2
    optim.epochs=1: still undecided"), the shared ones hiding the one that differs (found by hand): now by the
    overrides that tell it from the other settings, as the report's table does."""
    LAUNCHED.clear()
    with caplog.at_level(logging.INFO):
        multirun(tmp_path / "sweep", "model.cardinality=1,2,4", "+tag=shared", "hydra.sweeper.min=3",
                 "hydra.sweeper.batch=2", "hydra.sweeper.max=7")
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("hydra_plugins.ablate_repeats"))
    assert "Adaptive repeats: 3 settings against model.cardinality=1; " in text
    assert "model.cardinality=2: better at look 1 of 3 (3 seeds)" in text
    assert "+tag=shared" not in text


def test_a_reference_by_label_is_found_before_any_run(tmp_path):
    """Found by hand: `+repeats=auto report.reference=2x8d` was refused ('not a setting of this sweep') though the
    report of the same sweep takes labels: the sweeper looked the reference up without them. Before any run, the
    members are composed and solved to know their labels."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from ablate.config.schema import register as register_schema
    from ablate.report.callback import reference_before_runs

    register_schema()
    GlobalHydra.instance().clear()
    members = [["+sweep=cardinality_vs_width", f"model.cardinality={c}"] for c in (1, 2, 4)]  # as Hydra lists them
    with initialize_config_module("ablate.conf", version_base="1.3"):
        config = compose("config", ["+sweep=cardinality_vs_width"], return_hydra_config=True)
        assert reference_before_runs(config, members, "2x8d", "report.reference") == " ".join(members[1])
        assert reference_before_runs(config, members, "4×5d", "report.reference") == " ".join(members[2])
        with pytest.raises(ConfigError) as refused:
            reference_before_runs(config, members, "2x9d", "report.reference")
    assert str(refused.value) == (
        "report.reference='2x9d' is not a setting of this sweep: give one of 'model.cardinality=1' (1×12d), "
        "'model.cardinality=2' (2×8d), 'model.cardinality=4' (4×5d).")
