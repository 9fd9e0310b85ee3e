"""Adaptive repeats (ablate.report.sequential, hydra/sweeper=ablate_repeats) on synthetic records: no training.

The simulation tests replay many sweeps whose errors are drawn from a known model (a per-seed effect
shared by every setting, as runs with one seed see the same data order, plus run noise): with no true
difference the rate of any false `better`/`worse` stays at or below α; a true difference of 2δ is found.
The sweeper runs in this process on a task function that writes such a record instead of training.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
import pandas as pd
import pytest
from hydra.core.hydra_config import HydraConfig

from ablate.errors import ConfigError
from ablate.report import sequential, write_report
from ablate.report.sequential import Plan, plan, replay
from ablate.run.record import config_hash
from hydra_plugins.ablate_repeats_sweeper import register
from hydra_plugins.ablate_repeats_sweeper.sweeper import settings
from tests.fake_sweeps import record

COLUMNS = ["setting", "seed", "status", "final_val_err"]
PLAN = Plan(min=3, max=10, batch=2, alpha=0.05, resolution=0.2)


def simulate(rng, deltas: dict[str, float], p: Plan = PLAN, seed_sd: float = 1.0, noise: float = 0.1):
    """One adaptive sweep: each run's error is 10 + seed effect + the setting's true Δ + noise."""
    names = list(deltas)
    effect = rng.normal(0, seed_sd, p.max)
    rows: list[tuple] = []
    while True:
        state = replay(pd.DataFrame(rows, columns=COLUMNS), names, names[0], p)
        if state.done:
            return state, len(rows)
        rows += [(s, seed, "completed", 10 + effect[seed] + deltas[s] + rng.normal(0, noise))
                 for s, seed in state.pending]


def test_plan_looks_and_levels():
    assert PLAN.looks == (3, 5, 7, 9, 10)
    assert Plan(min=4, max=8, batch=4).looks == (4, 8)
    assert Plan(min=5, max=5, batch=1).looks == (5,)
    assert PLAN.test_level(4) == pytest.approx(0.05 / (5 * 4))
    assert PLAN.confidence == pytest.approx(0.99)


@pytest.mark.parametrize("kwargs, sentence", [
    ({"min": 5, "max": 3}, "hydra.sweeper.min=5 is more than hydra.sweeper.max=3: give min ≤ max."),
    ({"min": 1}, "hydra.sweeper.min=1 is invalid: give a whole number of at least 2 (a difference needs two runs "
                 "of a setting to be judged)."),
    ({"batch": 0}, "hydra.sweeper.batch=0 is invalid: give a whole number of at least 1."),
    ({"alpha": 1.5}, "hydra.sweeper.alpha=1.5 is invalid: give the error rate as a fraction between 0 and 1, such "
                     "as 0.05."),
])
def test_bad_plans_are_one_sentence(kwargs, sentence):
    args = {"min": 3, "max": 10, "batch": 2, "alpha": 0.05, "resolution": 0.2, **kwargs}
    with pytest.raises(ConfigError) as e:
        plan(**args)
    assert str(e.value) == sentence


def test_no_true_difference_keeps_false_verdicts_at_or_below_alpha():
    rng = np.random.default_rng(0)
    sweeps = 150
    false = sum(any(d.verdict in ("better", "worse") for d in simulate(rng, dict.fromkeys("rabcd", 0.0))[0]
                    .decisions.values()) for _ in range(sweeps))
    assert false / sweeps <= PLAN.alpha


def test_a_true_difference_of_two_delta_is_found_with_fewer_runs():
    rng = np.random.default_rng(1)
    sweeps, found, runs = 60, 0, 0
    truth = {"r": 0.0, "a": 0.4, "b": -0.4, "c": 0.4, "d": -0.4}  # 2δ either way
    for _ in range(sweeps):
        state, n = simulate(rng, truth)
        found += all(state.decisions[s].verdict == ("worse" if truth[s] > 0 else "better") for s in "abcd")
        runs += n
    assert found / sweeps >= 0.95
    assert runs / sweeps <= 0.7 * len(truth) * PLAN.max  # a fixed n = max would run 50 per sweep


def test_replay_says_what_each_look_needs():
    rows = [("r", s, "completed", 10.0 + s) for s in range(3)] + [("a", s, "completed", 8.0 + s) for s in range(3)]
    state = replay(pd.DataFrame(rows[:5], columns=COLUMNS), ["r", "a"], "r", PLAN)
    assert state.pending == [("a", 2)] and state.look == 1
    state = replay(pd.DataFrame(rows, columns=COLUMNS), ["r", "a"], "r", PLAN)  # Δ = −2 exactly: p = 0
    assert state.done and state.decisions["a"].verdict == "better"
    assert state.decisions["a"].reason == "better at look 1 of 5 (3 seeds)"
    assert state.decisions["r"].reason == "the reference: 3 seeds, while any setting was undecided"
    failed = rows[:3] + [("a", 0, "completed", 8.0), ("a", 1, "completed", 12.0), ("a", 2, "failed", np.nan)]
    # a failed run is not launched again: the next look adds seeds 3 and 4 to the undecided setting and the reference
    assert replay(pd.DataFrame(failed, columns=COLUMNS), ["r", "a"], "r", PLAN).pending == \
        [("r", s) for s in range(3, 5)] + [("a", s) for s in range(3, 5)]
    gone = replay(pd.DataFrame(rows[:5], columns=COLUMNS), ["r", "a"], "r", PLAN, launched={("a", 2)})
    assert ("a", 2) not in gone.pending  # launched here, no record: counted as run, not launched forever


def test_settings_expand_as_the_basic_sweeper():
    assert settings({"model.cardinality": "1,2"}, ["+sweep=x", "+variant=a,b"]) == [
        ["model.cardinality=1", "+sweep=x", "+variant=a"], ["model.cardinality=1", "+sweep=x", "+variant=b"],
        ["model.cardinality=2", "+sweep=x", "+variant=a"], ["model.cardinality=2", "+sweep=x", "+variant=b"]]
    with pytest.raises(ConfigError, match=r"^'seed=0,1,2': hydra/sweeper=ablate_repeats chooses the seeds itself"):
        settings({}, ["seed=0,1,2"])


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
    ConfigStore.instance().store(name="repeats_test", node={"model": {"cardinality": 1}, "seed": 0,
                                                            "report": {"reference": None, "resolution": 0.2}})
    GlobalHydra.instance().clear()
    version.setbase("1.3")
    hydra = Hydra.create_main_hydra2(task_name="repeats_test", config_search_path=create_config_search_path(None))
    try:
        return hydra.multirun(config_name="repeats_test", task_function=fake_run, with_log_configuration=False,
                              overrides=["hydra.mode=MULTIRUN", "hydra/sweeper=ablate_repeats",
                                         f"hydra.sweep.dir={sweep_dir}",
                                         "hydra.sweep.subdir=${hydra.job.override_dirname}",
                                         "hydra/hydra_logging=none", "hydra/job_logging=none", *overrides])
    finally:
        GlobalHydra.instance().clear()


def test_the_sweeper_adds_seeds_only_where_undecided_and_resumes(tmp_path):
    LAUNCHED.clear()
    sweep = tmp_path / "sweep"
    multirun(sweep, "model.cardinality=1,2,4", "hydra.sweeper.min=3", "hydra.sweeper.max=7")
    body = json.loads((sweep / "repeats.json").read_text())
    assert body["plan"]["looks"] == [3, 5, 7]
    decisions = {k: v["verdict"] for k, v in body["decisions"].items()}
    assert decisions == {"model.cardinality=2": "better", "model.cardinality=4": "equivalent within ±0.2",
                         "model.cardinality=1": "reference"}
    seeds = {}
    for task in LAUNCHED:
        key = next(o for o in task if o.startswith("model.cardinality="))
        seeds.setdefault(key, []).append(int(next(o for o in task if o.startswith("seed="))[5:]))
    # C=2 is decided after the first look; C=4 needs more seeds to show equivalence; the reference follows C=4
    assert seeds["model.cardinality=2"] == [0, 1, 2]
    assert len(seeds["model.cardinality=4"]) > 3 and seeds["model.cardinality=1"] == sorted(seeds["model.cardinality=1"])
    assert len(seeds["model.cardinality=1"]) == len(seeds["model.cardinality=4"])
    runs = len(LAUNCHED)

    multirun(sweep, "model.cardinality=1,2,4", "hydra.sweeper.min=3", "hydra.sweeper.max=7")  # resumed: all done
    assert len(LAUNCHED) == runs

    with pytest.raises(ConfigError, match=r"holds an adaptive sweep planned otherwise: hydra.sweeper.max=9 \(was 7\)"):
        multirun(sweep, "model.cardinality=1,2,4", "hydra.sweeper.min=3", "hydra.sweeper.max=9")

    out = write_report(sweep, tmp_path / "report")
    table = pd.read_csv(out / "table.csv")
    assert dict(zip(table.cardinality, table.verdict, strict=True)) == {1: "reference", 2: "better",
                                                                       4: "equivalent within ±0.2"}
    assert table.set_index("cardinality").stopped[2] == "better at look 1 of 3 (3 seeds)"
    md = (out / "table.md").read_text()
    assert "| stopped " in md and "p (adj.)" in md and "Adaptive repeats" in md and "98.33% CI of Δ" in md
    with pytest.raises(ConfigError, match=r"^--reference='model.cardinality=2' is not the reference this adaptive"):
        write_report(sweep, tmp_path / "r2", reference="model.cardinality=2")
    assert sequential.read_plan(sweep)[1] == "model.cardinality=1"
