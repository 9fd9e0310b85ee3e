"""Drop-in compatibility with Hydra's official Optuna sweeper, and the three bugs found by running its tests.

The official plugin's config surface (`hydra/sweeper/sampler=...`, `int()` casts, `custom_search_space`,
`optimization_results.yaml`) on `hydra/sweeper=ablate_optuna`, through the in-process `multirun` helper.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from ablate.errors import ConfigError
from hydra_plugins.ablate_optuna_sweeper import _search_space as search_space
from tests.test_optuna_sweeper import load, multirun, quadratic, sweeper_log  # noqa: F401  (a fixture)

RUNNING, FAIL, COMPLETE = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL,
                           optuna.trial.TrialState.COMPLETE)


def echo(cfg):
    """Writes the values it received (with their types) to result.json; returns x + y."""
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "result.json").write_text(json.dumps({"x": cfg.x, "y": cfg.y, "types": [type(cfg.x).__name__,
                                                                                      type(cfg.y).__name__]}))
    return float(cfg.x + cfg.y)


def received(sweep_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("[0-9]*/result.json"))]


# -- bug 1: int() casts ---------------------------------------------------------------------------------------------

def test_int_cast_intervals_are_integer_distributions():
    from optuna.distributions import FloatDistribution, IntDistribution

    space = search_space.parse({"x": "int(interval(-5,5))", "y": "tag(log, int(interval(1,100)))",
                                "z": "interval(1,5)", "w": "tag(log, interval(1,5))"})
    assert space.distributions == {"x": IntDistribution(-5, 5), "y": IntDistribution(1, 100, log=True),
                                   "z": FloatDistribution(1.0, 5.0), "w": FloatDistribution(1.0, 5.0, log=True)}


def test_int_cast_intervals_sample_ints(tmp_path):
    multirun(echo, tmp_path, "x=int(interval(-5,5))", "y=tag(log, int(interval(1,100)))", "hydra.sweeper.n_trials=4")
    trials = load(tmp_path).get_trials()
    assert len(trials) == 4
    for t in trials:
        assert type(t.params["x"]) is int and type(t.params["y"]) is int
        assert -5 <= t.params["x"] <= 5 and 1 <= t.params["y"] <= 100
    assert [r["types"] for r in received(tmp_path)] == [["int", "int"]] * 4  # the job got ints, not 0.513…


# -- bug 2: a sampler node without _target_ --------------------------------------------------------------------------

def test_sampler_node_without_target_is_the_default_sampler_with_those_arguments(tmp_path):
    multirun(quadratic, tmp_path, "x=interval(-4,4)", "y=choice(1,2,3)", "hydra.sweeper.n_trials=4",
             "hydra.sweeper.sampler={seed:123}")
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [COMPLETE] * 4  # none left RUNNING
    expected = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=123))
    expected.optimize(lambda t: t.suggest_float("x", -4, 4) + t.suggest_categorical("y", [1, 2, 3]), n_trials=4)
    assert [t.params for t in trials] == [t.params for t in expected.trials]  # TPE, seeded 123


class BrokenSampler(optuna.samplers.RandomSampler):
    """Raises when it samples: a sampler bug, or one that cannot handle the space."""

    def sample_independent(self, *args, **kwargs):
        raise ValueError("this sampler cannot sample x")


def test_a_sampler_that_raises_leaves_no_trial_running_and_the_rerun_replaces_it(tmp_path):
    args = ("x=interval(-4,4)", "hydra.sweeper.n_trials=3")
    with pytest.raises(ValueError, match="this sampler cannot sample x"):
        multirun(quadratic, tmp_path, *args,
                 "hydra.sweeper.sampler={_target_:tests.test_sweeper_compat.BrokenSampler}")
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [FAIL]  # told FAIL on the way out, not left RUNNING
    assert trials[0].user_attrs["fail_reason"].startswith("the sweep stopped before the trial ran: ValueError")
    multirun(quadratic, tmp_path, *args)
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [FAIL, COMPLETE, COMPLETE, COMPLETE]  # three trials, as asked


def test_a_sampler_that_is_not_a_sampler_is_refused_before_any_trial(tmp_path):
    with pytest.raises(ConfigError) as e:
        multirun(quadratic, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=2",
                 "hydra.sweeper.sampler={_target_:optuna.samplers.NoSuchSampler}")
    assert str(e.value).startswith("hydra.sweeper.sampler={_target_:optuna.samplers.NoSuchSampler} cannot be "
                                   "made into an Optuna sampler (")
    assert str(e.value).endswith("): name a class in optuna.samplers, e.g. hydra/sweeper/sampler=tpe.")
    assert not (tmp_path / "study.db").exists() or load(tmp_path).get_trials() == []


@pytest.mark.parametrize("seed", ["abc", "1.5", "true"])
def test_a_sampler_seed_that_is_not_a_whole_number_is_refused_in_one_sentence(tmp_path, seed):
    """Found by hand: `hydra.sweeper.sampler.seed=abc` ended in a TypeError traceback (exit 1); the sweeper's own
    `hydra.sweeper.seed=abc` is refused by its typed config in one sentence."""
    with pytest.raises(ConfigError) as e:
        multirun(quadratic, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=2", "hydra/sweeper/sampler=tpe",
                 f"hydra.sweeper.sampler.seed={seed}")
    shown = {"abc": "'abc'", "1.5": "1.5", "true": "true"}[seed]
    assert str(e.value) == f"hydra.sweeper.sampler.seed={shown} is invalid: give a whole number, e.g. 123."
    assert not (tmp_path / "study.db").exists() or load(tmp_path).get_trials() == []


def test_a_sampler_option_that_a_config_overrides_is_refused_not_ignored(tmp_path):
    # found by hand: `+sweep=search_budget hydra/sweeper/sampler=grid` ran NSGA-II, the sweep file's sampler node
    # (merged after the option) having replaced the option's _target_, and said so only in the study's log line
    with pytest.raises(ConfigError) as e:
        multirun(quadratic, tmp_path, "x=choice(-1,1)", "hydra/sweeper/sampler=random",
                 "hydra.sweeper.sampler._target_=optuna.samplers.TPESampler")
    assert str(e.value) == (
        "hydra/sweeper/sampler=random is overridden by hydra.sweeper.sampler._target_=optuna.samplers.TPESampler, "
        "set by a config or the command line: to sample with random, replace the whole node instead: "
        "hydra.sweeper.sampler=null 'hydra.sweeper.sampler={_target_: optuna.samplers.RandomSampler}'.")
    assert not (tmp_path / "study.db").exists()
    multirun(quadratic, tmp_path, "x=choice(-1,1)", "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler=null",
             "hydra.sweeper.sampler={_target_: optuna.samplers.RandomSampler}")  # the way the sentence gives
    assert len(load(tmp_path).get_trials()) == 2


def test_a_hydra_app_of_the_users_own_finds_the_sweeper_by_its_name(tmp_path):
    # found by hand: the official plugin's example apps, run from their own folder in the project's editable
    # install, stopped at "Could not find 'hydra/sweeper/ablate_optuna'" (Hydra scans hydra_plugins' folders, and
    # setuptools' default editable mode adds none); `python -m ablate` found it only because ablate registers it
    (tmp_path / "app.py").write_text(
        "import hydra\n\n\n@hydra.main(version_base='1.3', config_path='.', config_name='config')\n"
        "def main(cfg):\n    return float((cfg.x - 1) ** 2)\n\n\nif __name__ == '__main__':\n    main()\n")
    (tmp_path / "config.yaml").write_text(
        "defaults:\n  - _self_\n  - override hydra/sweeper: ablate_optuna\nx: 0\n"
        "hydra:\n  sweeper:\n    n_trials: 2\n    params:\n      x: choice(0,1,2)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "app.py", "-m", "hydra.sweep.dir=out", "hydra/launcher=basic"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(load(tmp_path / "out", "app").get_trials()) == 2


# -- bug 3: GridSampler runs out ------------------------------------------------------------------------------------

def test_grid_sampler_given_its_own_search_space_ends_cleanly_when_the_grid_is_used_up(tmp_path):
    multirun(quadratic, tmp_path, "y=choice(1,2,3)", "hydra.sweeper.n_trials=5",
             "hydra.sweeper.sampler={_target_:optuna.samplers.GridSampler,search_space:{y:[1,2,3]}}")
    trials = load(tmp_path).get_trials()
    assert sorted(t.params["y"] for t in trials) == [1, 2, 3]
    assert all(t.state == COMPLETE for t in trials)


def test_grid_sampler_from_the_search_space(tmp_path, sweeper_log):  # noqa: F811  (the fixture)
    multirun(quadratic, tmp_path, "x=choice(-1,1)", "y=range(1,4)", "hydra.sweeper.n_trials=10",
             "hydra/sweeper/sampler=grid")
    trials = load(tmp_path).get_trials()
    assert sorted((t.params["x"], t.params["y"]) for t in trials) == [(x, y) for x in (-1, 1) for y in (1, 2, 3)]
    assert all(t.state == COMPLETE for t in trials)
    assert "GridSampler: n_trials=10 is more than the 6 points of the grid; the study stops at 6." in sweeper_log
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    best = min(trials, key=lambda t: t.value)
    assert results.best_params == {"x": 1, "y": 1} == best.params and results.best_value == best.value == 2.0


def test_grid_sampler_refuses_a_continuous_parameter(tmp_path):
    with pytest.raises(ConfigError) as e:
        multirun(quadratic, tmp_path, "x=interval(-1,1)", "hydra/sweeper/sampler=grid")
    assert str(e.value) == ("x=interval(-1,1) in the command line cannot be a grid axis: hydra/sweeper/sampler=grid "
                            "takes choice(...), range(...) or int(interval(...)) parameters.")


# -- the rest of the official config surface -------------------------------------------------------------------------

def near_x(cfg, trial) -> None:
    """A custom_search_space function: z within 0.5 of the sampled x, and a new key +w."""
    x = trial.params["x"]
    trial.suggest_float("z", x - 0.5, x + 0.5)
    trial.suggest_float("+w", 0.0, 1.0)


def wxz(cfg):
    return float(cfg.w + cfg.x + cfg.z)


def test_custom_search_space_adds_parameters(tmp_path):
    multirun(wxz, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=3",
             "hydra.sweeper.custom_search_space=tests.test_sweeper_compat.near_x", config={"x": 0.0, "z": 0.0})
    trials = load(tmp_path).get_trials()
    assert len(trials) == 3
    for t in trials:
        assert abs(t.params["z"] - t.params["x"]) <= 0.5 and 0.0 <= t.params["+w"] <= 1.0
        assert t.value == pytest.approx(t.params["+w"] + t.params["x"] + t.params["z"])  # the job got all three
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert set(results.best_params) == {"x", "z", "+w"}
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.custom_search_space='tests.nowhere.f' cannot be imported "
                                          r"\(.*\): give the dotted path of a function f\(cfg, trial\)\.$"):
        multirun(wxz, tmp_path / "bad", "x=interval(-4,4)", "hydra.sweeper.custom_search_space=tests.nowhere.f",
                 config={"x": 0.0, "z": 0.0})


def no_y(cfg):
    assert "y" not in cfg
    return float(cfg.x)


def test_a_deletion_reaches_every_job_and_several_objectives_write_the_pareto_front(tmp_path):
    multirun(no_y, tmp_path / "deleted", "x=interval(-4,4)", "~y", "hydra.sweeper.n_trials=2")
    assert [t.state.name for t in load(tmp_path / "deleted").get_trials()] == ["COMPLETE"] * 2
    multirun(quadratic, tmp_path, "x=interval(-4,4)", "y=choice(1,2,3)", "hydra.sweeper.n_trials=6",
             "hydra.sweeper.direction=[minimize,minimize]", "hydra.sweeper.objectives=[return,model.complexity.flops]")
    study = load(tmp_path)
    results = OmegaConf.to_container(OmegaConf.load(tmp_path / "optimization_results.yaml"))
    front = sorted(study.best_trials, key=lambda t: t.number)
    assert results == {"name": "optuna", "solutions": [{"params": t.params, "values": t.values, "trial": t.number}
                                                       for t in front]}


def test_the_sampler_group_offers_the_official_options():
    from hydra import compose, initialize
    from hydra.core.global_hydra import GlobalHydra

    from hydra_plugins.ablate_optuna_sweeper import register

    register()
    targets = {}
    for name in ("tpe", "random", "cmaes", "nsgaii", "grid", "gp", "qmc"):
        GlobalHydra.instance().clear()
        with initialize(version_base="1.3", config_path=None):
            cfg = compose("sweep_test", overrides=["hydra/sweeper=ablate_optuna", f"hydra/sweeper/sampler={name}"],
                          return_hydra_config=True)
        targets[name] = cfg.hydra.sweeper.sampler._target_
    GlobalHydra.instance().clear()
    assert targets == {"tpe": "optuna.samplers.TPESampler", "random": "optuna.samplers.RandomSampler",
                       "cmaes": "optuna.samplers.CmaEsSampler", "nsgaii": "optuna.samplers.NSGAIISampler",
                       "grid": "optuna.samplers.GridSampler", "gp": "optuna.samplers.GPSampler",
                       "qmc": "optuna.samplers.QMCSampler"}


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes", "nsgaii", "gp", "qmc"])
def test_each_sampler_option_runs_a_sweep(tmp_path, name):
    multirun(quadratic, tmp_path, "x=interval(-4,4)", "y=choice(1,2,3)", "hydra.sweeper.n_trials=2",
             f"hydra/sweeper/sampler={name}", "hydra.sweeper.sampler.seed=3")
    assert [t.state.name for t in load(tmp_path).get_trials()] == ["COMPLETE"] * 2


def test_motpe_is_refused_with_the_way_on(tmp_path):
    with pytest.raises(ConfigError) as e:
        multirun(quadratic, tmp_path, "x=interval(-4,4)", "hydra/sweeper/sampler=motpe")
    assert str(e.value) == ("The 'motpe' sampler was removed in Optuna 4.0 (hydra/sweeper/sampler=motpe): use "
                            "hydra/sweeper/sampler=tpe (TPE handles several objectives) or nsgaii.")


def test_a_large_grid_from_the_search_space_is_not_copied_into_a_config_node(tmp_path, monkeypatch):
    """Found by hand: `hydra/sweeper/sampler=grid model.width=range(16,2000000)` sat for minutes before its first
    trial: the grid's two million values went through Hydra's `instantiate`, which wraps each in an OmegaConf node
    (about 0.2 ms each). The grid built from the search space is handed to GridSampler as it is."""
    import hydra.utils

    given = []
    real = hydra.utils.instantiate

    def spy(config, *args, **kwargs):
        given.append(config)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(hydra.utils, "instantiate", spy)
    multirun(quadratic, tmp_path, "x=choice(-1,1)", "y=range(0,50000)", "hydra.sweeper.n_trials=2",
             "hydra/sweeper/sampler=grid")
    samplers = [c for c in given if isinstance(c, dict) and c.get("_target_") == "optuna.samplers.GridSampler"]
    assert samplers and all("search_space" not in c for c in samplers)
    trials = load(tmp_path).get_trials()
    assert len(trials) == 2 and all(t.params["x"] in (-1, 1) and 0 <= t.params["y"] < 50000 for t in trials)
