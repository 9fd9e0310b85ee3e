"""Repeats inside a search: `seed=0,1,2` with the Optuna sweeper runs every trial's design once per seed, as jobs
with consecutive numbers, and tells the trial the mean of their values (`hydra.sweeper.repeat_key`; `seed` on
ablate's app). The seed is never searched like a design choice, whose best trial would partly be the luckiest seed.

The tiny app of tests/test_optuna_sweeper.py, whose value depends on the seed exactly; one test runs ablate's app.
"""

import json
from pathlib import Path

import optuna
import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from ablate.errors import ConfigError
from ablate.run import pruning
from tests.test_optuna_sweeper import f, load, multirun, study_record, sweeper_log  # noqa: F401  (a fixture)
from tests.test_sweeper_pruning import EPOCHS, THRESHOLD, curve

REPEATS = ("seed=0,1,2", "hydra.sweeper.repeat_key=seed")


def seeded(cfg):
    """f(x, y) + seed; its result.json holds a budget deviation of 0.01 · seed."""
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "result.json").write_text(json.dumps({"budget": {"deviation": 0.01 * cfg.seed}}))
    return f(cfg.x, cfg.y) + cfg.seed


def fails_on_seed_1(cfg):
    if cfg.seed == 1:
        raise RuntimeError("CUDA out of memory")
    return float(cfg.x)


def seeded_learner(cfg):
    """The pruning tests' learner: reports each epoch, stops when told, records its status."""
    report = pruning.reporter()
    out = Path(HydraConfig.get().runtime.output_dir)
    for epoch in range(EPOCHS):
        value = curve(cfg.x, epoch)
        if report(epoch, value):
            (out / "result.json").write_text(json.dumps({"status": "pruned"}))
            return value
    (out / "result.json").write_text(json.dumps({"status": "completed"}))
    return value + cfg.seed


def job_overrides(sweep_dir: Path, num: int) -> tuple[list, list]:
    """(task overrides, hydra overrides) of job `num`, as Hydra saved them in its folder."""
    hydra = OmegaConf.load(sweep_dir / str(num) / ".hydra" / "hydra.yaml").hydra
    return list(hydra.overrides.task), list(hydra.overrides.hydra)


def ran(study) -> list:
    return [t for t in study.get_trials() if "copy_of" not in t.user_attrs]


def test_each_trial_runs_its_design_once_per_seed_and_is_told_their_mean(tmp_path, sweeper_log):  # noqa: F811
    multirun(seeded, tmp_path, "x=choice(0.0,1.0,3.0)", *REPEATS, "hydra.sweeper.n_trials=3",
             "hydra.sweeper.constraints=['budget.deviation <= 0.015']")
    trials = ran(load(tmp_path))
    assert sorted(t.params["x"] for t in trials) == [0.0, 1.0, 3.0]  # the seed is not a parameter
    assert sorted(t.user_attrs["job_num"] for t in trials) == [0, 3, 6]  # three job numbers each
    for t in trials:
        value = f(t.params["x"], 1)
        assert t.state.name == "COMPLETE"
        assert t.value == pytest.approx(value + 1.0)  # the mean of value + 0, + 1, + 2
        assert t.user_attrs["repeat_values"] == [[value], [value + 1.0], [value + 2.0]]
        assert t.user_attrs["repeats"] == ["0", "1", "2"]
        first = t.user_attrs["job_num"]
        assert t.user_attrs["job_dirs"] == [str(tmp_path / str(first + i)) for i in range(3)]
        for i in range(3):
            task, _ = job_overrides(tmp_path, first + i)
            assert task == [f"x={t.params['x']}", f"seed={i}"]
        # the largest deviation, 0.02 (seed 2), against 0.015: infeasible although seeds 0 and 1 meet it
        assert t.constraints == {"budget.deviation <= 0.015": pytest.approx(0.005)}
    (t0,) = [t for t in trials if t.number == 0]
    assert f"Trial 0 starts as jobs 0-2 (seed=0,1,2): {t0.params}" not in sweeper_log  # batches: not a slot's line
    value = f(t0.params["x"], 1)
    assert (f"Trial 0 {t0.params}: [{value + 1.0}] (the mean of seed=0: [{value}], seed=1: [{value + 1.0}], "
            f"seed=2: [{value + 2.0}])") in sweeper_log
    assert study_record(tmp_path)["trials"][0]["user_attrs"]["repeats"] == ["0", "1", "2"]
    # optimization_results.yaml, as the official sweeper writes it, says that its values are means over these seeds
    results = OmegaConf.to_container(OmegaConf.load(tmp_path / "optimization_results.yaml"))
    assert results["repeats"] == {"key": "seed", "values": ["0", "1", "2"]}


def test_a_resumed_search_goes_on_after_the_last_repeat_and_keeps_its_seeds(tmp_path):
    multirun(seeded, tmp_path, "x=interval(-4,4)", "seed=0,1", "hydra.sweeper.repeat_key=seed",
             "hydra.sweeper.n_trials=2")
    multirun(seeded, tmp_path, "x=interval(-4,4)", "seed=0,1", "hydra.sweeper.repeat_key=seed",
             "hydra.sweeper.n_trials=3")
    assert [t.user_attrs["job_num"] for t in load(tmp_path).get_trials()] == [0, 2, 4]
    assert sorted(int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()) == [0, 1, 2, 3, 4, 5]
    for seeds, now in (("seed=0,1,2", "seed=0,1,2"), ("seed=1", "none")):
        with pytest.raises(ConfigError) as e:
            multirun(seeded, tmp_path, "x=interval(-4,4)", seeds, "hydra.sweeper.repeat_key=seed",
                     "hydra.sweeper.n_trials=4")
        if seeds == "seed=1":  # one seed, fixed: the fixed overrides are checked first and differ too
            assert str(e.value).startswith("the fixed overrides differ from those stored with study 'sweep_test' "
                                           "(seed=1 is new)")
            continue
        assert str(e.value) == (
            f"the repeats differ from those stored with study 'sweep_test' ({now} now, seed=0,1 stored): its trials' "
            "values are means over the stored repeats, and a search compares designs on one set of them; give the "
            "stored ones again, or start a new study with another hydra.sweep.dir or hydra.sweeper.study_name.")
    assert len(load(tmp_path).get_trials()) == 3  # nothing was run or lost


def test_a_repeat_that_fails_fails_the_trial_and_the_next_repeats_do_not_run(tmp_path):
    multirun(fails_on_seed_1, tmp_path, "x=choice(5.0)", *REPEATS, "hydra.sweeper.n_trials=1",
             "hydra.sweeper.max_failure_rate=1.0", "hydra.sweeper.n_jobs=1")
    first = load(tmp_path).get_trials()[0]
    assert first.state.name == "FAIL"
    assert first.user_attrs["fail_reason"] == "seed=1: the job raised RuntimeError: CUDA out of memory"
    assert first.user_attrs["job_dirs"] == [str(tmp_path / "0"), str(tmp_path / "1")]
    assert not (tmp_path / "2").exists()  # seed 2 of the failed trial never ran
    assert first.user_attrs["job_num"] == 0 and load(tmp_path).get_trials()[1].user_attrs["job_num"] == 3


def test_the_pruner_judges_the_first_repeat_and_a_pruned_trial_runs_no_more(tmp_path):
    multirun(seeded_learner, tmp_path, "x=choice(-3.0,2.0)", "seed=0,1", "hydra.sweeper.repeat_key=seed",
             "hydra.sweeper.n_trials=2", THRESHOLD)
    by_x = {t.params["x"]: t for t in ran(load(tmp_path))}
    pruned, kept = by_x[-3.0], by_x[2.0]
    assert pruned.state.name == "PRUNED" and "job_dirs" in pruned.user_attrs
    assert len(pruned.user_attrs["job_dirs"]) == 1 and not (tmp_path / str(pruned.user_attrs["job_num"] + 1)).exists()
    assert kept.state.name == "COMPLETE"
    last = curve(2.0, EPOCHS - 1)
    assert kept.value == pytest.approx(last + 0.5)  # the mean over seeds 0 and 1
    assert kept.intermediate_values == {e: pytest.approx(curve(2.0, e)) for e in range(EPOCHS)}  # the first's
    first, second = kept.user_attrs["job_num"], kept.user_attrs["job_num"] + 1
    assert any(o.startswith("hydra.sweeper.trial=") for o in job_overrides(tmp_path, first)[1])
    assert not any(o.startswith("hydra.sweeper.trial=") for o in job_overrides(tmp_path, second)[1])


@pytest.mark.parametrize("sweep, sentence", [
    ("seed=interval(0,2)", "seed=interval(0,2) in the command line has no list of values to repeat every trial with "
                           "(seed is hydra.sweeper.repeat_key): give them as seed=0,1,2 or seed=range(3)."),
    ("seed=0,1,0", "seed=0,1,0 in the command line gives seed=0 twice: each of every trial's repeats needs its own "
                   "seed, e.g. seed=0,1,2."),
])
def test_repeats_that_are_not_a_list_of_distinct_values_are_one_sentence(tmp_path, sweep, sentence):
    with pytest.raises(ConfigError) as e:
        multirun(seeded, tmp_path, "x=interval(-4,4)", sweep, "hydra.sweeper.repeat_key=seed")
    assert str(e.value) == sentence
    assert not (tmp_path / "study.db").exists()


def test_without_a_repeat_key_another_app_searches_its_seed_like_any_parameter(tmp_path):
    multirun(seeded, tmp_path, "x=choice(1.0)", "seed=0,1,2", "hydra.sweeper.n_trials=2")
    trials = ran(load(tmp_path))
    assert all("seed" in t.params and "repeats" not in t.user_attrs for t in trials)  # the official sweeper's way
    assert [t.user_attrs["job_num"] for t in trials] == [0, 1]


@pytest.mark.slow
def test_a_slot_runs_its_trials_repeats_one_after_another(tmp_path, sweeper_log):  # noqa: F811
    from tests.test_sweeper_async import JOBLIB

    try:
        multirun(seeded, tmp_path, "x=choice(0.0,3.0)", "seed=0,1", "hydra.sweeper.repeat_key=seed",
                 "hydra.sweeper.n_trials=2", *JOBLIB)
    finally:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    trials = ran(load(tmp_path))
    assert sorted(t.user_attrs["job_num"] for t in trials) == [0, 2]
    for t in trials:
        value = f(t.params["x"], 1)
        assert t.value == pytest.approx(value + 0.5)
        assert f"Trial {t.number} starts as jobs {t.user_attrs['job_num']}-{t.user_attrs['job_num'] + 1} (seed=0,1): " \
               f"{t.params}" in sweeper_log


@pytest.mark.slow
def test_ablate_searches_designs_with_repeats_and_reports_verdicts(tmp_path):
    """`python -m ablate` under the Optuna sweeper with seed=0,1: `seed` is ablate's repeat key without being
    named; the report groups each design's two runs as one setting, with its mean, CI and a verdict."""
    import subprocess
    import sys

    import pandas as pd

    sweep = tmp_path / "sweep"
    args = [sys.executable, "-m", "ablate", "-m", "hydra/sweeper=ablate_optuna", "hydra.sweeper.n_trials=2",
            "model.cardinality=choice(1,2)", "seed=0,1",
            "data=synthetic", "data.num_samples=256", "data.val_samples=64", "optim.epochs=1", "optim.batch_size=64",
            "trainer.progress=false", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{sweep / 'study.db'}")
    trials = ran(study)
    assert sorted(t.params["model.cardinality"] for t in trials) == [1, 2]
    assert len(list(sweep.glob("*/result.json"))) == 4
    for t in trials:
        records = [json.loads((Path(d) / "result.json").read_text()) for d in t.user_attrs["job_dirs"]]
        assert [r["config"]["seed"] for r in records] == [0, 1]
        assert t.value == pytest.approx(sum(r["final"]["val_err"] for r in records) / 2)
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "ablate.report", str(sweep), "--out", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "table.csv")
    assert sorted(table["n"]) == [2, 2]
    assert "No difference can be judged" not in (out / "table.md").read_text()


def test_jobs_are_named_by_their_numbers_and_repeats():
    from hydra_plugins.ablate_optuna_sweeper._loop import _jobs_text
    from hydra_plugins.ablate_optuna_sweeper._search_space import SearchSpace

    plain, one, three = SearchSpace(), SearchSpace(repeat_key="seed", repeats=["1"]), SearchSpace(
        repeat_key="seed", repeats=["0", "1", "2"])
    assert _jobs_text([((), 4)], plain) == "job 4"
    assert _jobs_text([((), 4)], one) == "job 4 (seed=1)"
    assert _jobs_text([((), 4), ((), 5), ((), 6)], three) == "jobs 4-6 (seed=0,1,2)"
