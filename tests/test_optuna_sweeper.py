"""The Optuna sweeper (hydra/sweeper=ablate_optuna) on a tiny in-process Hydra app, and the search report.

The app's task functions are cheap formulas, so every value a trial is told can be checked
exactly; `multirun` runs Hydra's multirun in this process (basic launcher unless overridden).
"""

import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from ablate.errors import AblateError, ConfigError
from hydra_plugins.ablate_optuna_sweeper import _search_space as search_space
from hydra_plugins.ablate_optuna_sweeper import register

ROOT = Path(__file__).resolve().parents[1]
APP_CONFIG = {"x": 0.0, "y": 1, "model": {"cardinality": 1, "width": 8}, "seed": 0}
SWEEPER_LOG = "hydra_plugins.ablate_optuna_sweeper.sweeper"


def multirun(task, sweep_dir, *overrides, config=None):
    """Run `task` as a Hydra multirun with the Optuna sweeper, in this process; returns the job returns."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    register()
    ConfigStore.instance().store(name="sweep_test", node=config or APP_CONFIG)
    GlobalHydra.instance().clear()
    version.setbase("1.3")
    hydra = Hydra.create_main_hydra2(task_name="sweep_test", config_search_path=create_config_search_path(None))
    try:
        return hydra.multirun(config_name="sweep_test", task_function=task, with_log_configuration=False,
                              overrides=["hydra.mode=MULTIRUN", "hydra/sweeper=ablate_optuna",  # as `-m` does
                                         f"hydra.sweep.dir={sweep_dir}", "hydra.sweeper.n_jobs=2",
                                         "hydra/hydra_logging=none", "hydra/job_logging=none", *overrides])
    finally:
        GlobalHydra.instance().clear()


def load(sweep_dir, name="sweep_test"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{Path(sweep_dir) / 'study.db'}")


def study_record(sweep_dir) -> dict:
    return json.loads((Path(sweep_dir) / "study.json").read_text())


def f(x, y):
    return (x - 2.0) ** 2 + y


def quadratic(cfg):
    """Returns f(x, y); its result.json holds flops = 100·y and a budget deviation of 0.02·y (tolerance 0.05)."""
    out = Path(HydraConfig.get().runtime.output_dir)
    record = {"model": {"complexity": {"flops": 100 * cfg.y}}, "budget": {"deviation": 0.02 * cfg.y, "tolerance": 0.05}}
    (out / "result.json").write_text(json.dumps(record))
    return f(cfg.x, cfg.y)


FLAKY = {1: None, 2: "raise", 3: math.nan, 4: "abc"}  # job number -> what the job does; others return 10 + n


def flaky(cfg):
    outcome = FLAKY.get(HydraConfig.get().job.num, 10.0 + HydraConfig.get().job.num)
    if outcome == "raise":
        raise RuntimeError("CUDA out of memory")
    return outcome


def only_first(cfg):
    return 1.0 if HydraConfig.get().job.num == 0 else None


class Collect(logging.Handler):
    """The sweeper's log messages (Hydra reconfigures the root logger, so caplog cannot be relied on)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def sweeper_log():
    handler = Collect()
    logger = logging.getLogger(SWEEPER_LOG)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)


# -- search space ------------------------------------------------------------------------------------------------------

def test_search_space_from_hydra_grammar():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = search_space.parse(
        {"a": "choice(1,2,4)", "b": "range(1,5)", "c": "range(0,10,2)", "lr": "tag(log, interval(1e-4, 1e-1))",
         "w": "tag(int, log, interval(1, 64))", "p": "interval(0.5, 1.5)", "model.depths": "choice([1,1,1],[1,2,1])",
         "s": "choice(tiny,'a,b')", "fixed": "3", "a2": "choice(1,2)"},
        ["a2=7", "q=shuffle(range(1,4))"])
    d = space.distributions
    assert d["a"] == CategoricalDistribution((1, 2, 4))
    assert d["b"] == IntDistribution(1, 4)  # range's stop is excluded, as in Python
    assert d["c"] == IntDistribution(0, 8, step=2)
    assert d["lr"] == FloatDistribution(1e-4, 0.1, log=True)
    assert d["w"] == IntDistribution(1, 64, log=True)
    assert d["p"] == FloatDistribution(0.5, 1.5)
    assert d["model.depths"] == CategoricalDistribution(("[1,1,1]", "[1,2,1]"))
    assert d["s"] == CategoricalDistribution(("tiny", "'a,b'"))
    assert d["q"] == CategoricalDistribution((1, 2, 3))
    assert space.fixed == {"fixed": "3", "a2": "7"}  # the command line beats hydra.sweeper.params
    params = {"a": 4, "b": 2, "c": 6, "lr": 0.01, "w": 8, "p": 1.0, "model.depths": "[1,2,1]", "s": "'a,b'", "q": 2}
    overrides = space.trial_overrides(params)
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(list(overrides))}
    assert parsed == {"a": 4, "b": 2, "c": 6, "lr": 0.01, "w": 8, "p": 1.0, "model.depths": [1, 2, 1], "s": "a,b",
                      "q": 2, "fixed": 3, "a2": 7}


def test_bad_search_spaces_one_sentence_each():
    with pytest.raises(ConfigError) as e:
        search_space.parse({"model.cardinality": "choice()"})
    assert str(e.value) == ("model.cardinality=choice() in hydra.sweeper.params.model.cardinality is an empty choice: "
                            "give at least one value, e.g. model.cardinality=choice(1,2,4).")
    with pytest.raises(ConfigError, match=r"^b=range\(5,1\) in hydra.sweeper.params.b is an empty range"):
        search_space.parse({"b": "range(5,1)"})
    with pytest.raises(ConfigError, match=r"cannot be log-scaled: a log interval needs a low end above 0\.$"):
        search_space.parse({"lr": "tag(log, interval(0, 1))"})


def test_a_choice_giving_a_value_twice_is_refused():
    """Found by hand: `model.cardinality=choice(1,1,2)` ran, its TPE proposing C = 1 twice as often as C = 2 (and a
    GridSampler would run it twice), while a grid sweep's `model.cardinality=1,2,1` is refused. The values compare as
    the override text they become, so `choice([1,2],[1, 2])` is the same list twice."""
    from optuna.distributions import CategoricalDistribution

    with pytest.raises(ConfigError) as e:
        search_space.check_distinct(search_space.parse({}, ["model.cardinality=choice(1,1,2)"]))
    assert str(e.value) == (
        "model.cardinality=choice(1,1,2) in the command line gives model.cardinality=1 twice: each choice is one "
        "design, which the sampler would propose twice as often, so give it once.")
    with pytest.raises(ConfigError, match=r"gives model.depths=\[1,2\] twice: each choice is one design"):
        search_space.check_distinct(search_space.parse({"model.depths": "choice([1,2],[1, 2])"}))
    space = search_space.parse({"model.depths": "choice([1,2],[2,1])"})
    search_space.check_distinct(space)
    assert space.distributions["model.depths"] == CategoricalDistribution(("[1,2]", "[2,1]"))


# -- one objective -----------------------------------------------------------------------------------------------------

def test_single_objective_tells_each_jobs_value(tmp_path):
    multirun(quadratic, tmp_path, "x=interval(-4,4)", "y=choice(1,2,3)", "hydra.sweeper.n_trials=6")
    study = load(tmp_path)
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3, 4, 5]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    for t in trials:
        assert t.value == pytest.approx(f(t.params["x"], t.params["y"]))
        assert t.user_attrs["job_num"] == t.number
        assert Path(t.user_attrs["job_dir"]) == tmp_path / str(t.number)
        assert (tmp_path / str(t.number) / "result.json").is_file()
    assert study_record(tmp_path)["sampler"] == "TPESampler"  # the default for one objective
    best = min(trials, key=lambda t: t.value)
    assert study.best_trial.number == best.number
    record = study_record(tmp_path)
    assert record["best_trials"] == [best.number]
    assert record["directions"] == ["minimize"] and record["storage"] == f"sqlite:///{tmp_path.resolve()}/study.db"
    assert [r["trials"] for r in record["runs"]] == [[0, 1, 2, 3, 4, 5]]
    assert (tmp_path / "multirun.yaml").is_file()


def test_seeded_sampler_repeats_its_trials(tmp_path):
    args = ("x=interval(-4,4)", "y=choice(1,2,3)", "hydra.sweeper.n_trials=4", "hydra.sweeper.seed=7")
    multirun(quadratic, tmp_path / "a", *args)
    multirun(quadratic, tmp_path / "b", *args)
    assert [t.params for t in load(tmp_path / "a").trials] == [t.params for t in load(tmp_path / "b").trials]
    multirun(quadratic, tmp_path / "c", *args, "hydra.sweeper.sampler={_target_:optuna.samplers.RandomSampler}")
    assert study_record(tmp_path / "c")["sampler"] == "RandomSampler"  # any Optuna sampler, seeded the same way
    expected = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    expected.optimize(lambda t: t.suggest_float("x", -4, 4) + t.suggest_categorical("y", [1, 2, 3]), n_trials=4)
    assert [t.params for t in load(tmp_path / "c").trials] == [t.params for t in expected.trials]


def test_rerun_resumes_the_study(tmp_path):
    args = ("x=interval(-4,4)", "y=choice(1,2,3)")
    multirun(quadratic, tmp_path, *args, "hydra.sweeper.n_trials=4")
    first = [(t.number, t.params, t.value) for t in load(tmp_path).trials]
    multirun(quadratic, tmp_path, *args, "hydra.sweeper.n_trials=6")
    trials = load(tmp_path).trials
    assert [(t.number, t.params, t.value) for t in trials[:4]] == first  # kept, not re-run
    assert [t.number for t in trials] == [0, 1, 2, 3, 4, 5]
    assert [t.user_attrs["job_num"] for t in trials[4:]] == [4, 5]  # new folders, the old ones untouched
    assert [r["trials"] for r in study_record(tmp_path)["runs"]] == [[0, 1, 2, 3], [4, 5]]
    multirun(quadratic, tmp_path, *args, "hydra.sweeper.n_trials=6")  # nothing left to do
    assert len(load(tmp_path).trials) == 6


def test_a_design_already_run_is_not_run_again(tmp_path, sweeper_log):
    multirun(quadratic, tmp_path / "copies", "y=choice(1,2,3)", "hydra.sweeper.n_trials=3")
    trials = load(tmp_path / "copies").get_trials()
    assert all(t.state.name == "COMPLETE" for t in trials)
    run = [t for t in trials if "copy_of" not in t.user_attrs]
    assert sorted(t.params["y"] for t in run) == [1, 2, 3]  # n_trials counts runs: three distinct designs
    assert sorted(p.name for p in (tmp_path / "copies").iterdir() if p.name.isdigit()) == ["0", "1", "2"]
    for t in trials:
        source = trials[t.user_attrs.get("copy_of", t.number)]
        assert source.params == t.params and t.values == source.values == [f(0.0, t.params["y"])]
        assert t.user_attrs["job_dir"] == source.user_attrs["job_dir"]
    # a fourth run is asked for, but the space has three designs: the sweep ends with a warning
    multirun(quadratic, tmp_path / "copies", "y=choice(1,2,3)", "hydra.sweeper.n_trials=4")
    assert len(list((tmp_path / "copies").glob("[0-9]*"))) == 3
    assert ("The sampler proposed 50 designs in a row that have run already: the search space seems exhausted; "
            "the study stops with 3 of n_trials=4 trials run.") in sweeper_log
    multirun(quadratic, tmp_path / "reruns", "y=choice(1,2)", "hydra.sweeper.n_trials=5",
             "hydra.sweeper.rerun_duplicates=true")
    assert len(load(tmp_path / "reruns").get_trials()) == 5
    assert len(list((tmp_path / "reruns").glob("[0-9]*"))) == 5


# -- several objectives, constraints --------------------------------------------------------------------------------

def test_two_objectives_from_the_result_file_with_constraints(tmp_path):
    multirun(quadratic, tmp_path, "x=interval(-4,4)", "y=choice(1,2,3)", "hydra.sweeper.n_trials=6",
             "hydra.sweeper.direction=[minimize,minimize]", "hydra.sweeper.objectives=[return,model.complexity.flops]",
             "hydra.sweeper.constraints=['model.complexity.flops <= 250','abs(budget.deviation) <= budget.tolerance']")
    study = load(tmp_path)
    assert study_record(tmp_path)["sampler"] == "NSGAIISampler"  # the default for several objectives
    trials = study.get_trials()
    assert len(trials) == 6
    for t in trials:
        x, y = t.params["x"], t.params["y"]
        assert t.values == pytest.approx([f(x, y), 100 * y])
        assert t.constraints == pytest.approx({"model.complexity.flops <= 250": 100 * y - 250,
                                               "abs(budget.deviation) <= budget.tolerance": 0.02 * y - 0.05})
    feasible = [t for t in trials if t.params["y"] <= 2]  # y=3: 300 FLOPs and deviation 0.06, both violated
    front = {t.number for t in feasible
             if not any(o.values[0] <= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
                        for o in feasible)}
    assert set(study_record(tmp_path)["best_trials"]) == front


# -- failures ----------------------------------------------------------------------------------------------------------

def test_failed_trials_are_recorded_and_the_study_goes_on(tmp_path, sweeper_log):
    multirun(flaky, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=4", "hydra.sweeper.max_failure_rate=1.0")
    trials = load(tmp_path).get_trials()
    states = [t.state.name for t in trials]
    assert states == ["COMPLETE"] + ["FAIL"] * 4 + ["COMPLETE"] * 3  # new trials replace the failed ones
    assert [t.value for t in trials if t.state.name == "COMPLETE"] == [10.0, 15.0, 16.0, 17.0]
    reasons = [t.user_attrs.get("fail_reason") for t in trials[1:5]]
    assert reasons == ["the job returned no value (None)", "the job raised RuntimeError: CUDA out of memory",
                       "the job's return value is nan, not a finite number",
                       "the job's return value is 'abc', which is not a number"]
    assert ("Trial 1 failed: the job returned no value (None); it is recorded as failed and the study goes on."
            in sweeper_log)


def test_too_many_failures_stop_the_study_and_keep_its_trials(tmp_path):
    with pytest.raises(AblateError) as e:
        multirun(only_first, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=8",
                 "hydra.sweeper.max_failure_rate=0.25")
    url = f"sqlite:///{tmp_path.resolve()}/study.db"
    assert str(e.value) == (f"3 of this run's 4 trials failed, more than hydra.sweeper.max_failure_rate=0.25 of "
                            f"n_trials=8: the study stops; its finished trials stay in {url} (see the job logs in "
                            f"{tmp_path}); the last failure, trial 3: the job returned no value (None).")
    trials = load(tmp_path).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "FAIL", "FAIL"]
    assert trials[0].value == 1.0


def never_returns(cfg):
    return None


def test_the_failure_stop_counts_every_failure_of_the_run(tmp_path):
    """Both trials of the first batch fail: the sentence counts both (it said '1 of this run's 1 trials', written
    when the first failure crossed the rate and never brought up to date)."""
    with pytest.raises(AblateError) as e:
        multirun(never_returns, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=3",
                 "hydra.sweeper.max_failure_rate=0.25")
    assert [t.state.name for t in load(tmp_path).get_trials()] == ["FAIL", "FAIL"]
    assert str(e.value).startswith("2 of this run's 2 trials failed, more than hydra.sweeper.max_failure_rate=0.25 "
                                   "of n_trials=3: the study stops;")
    assert str(e.value).endswith("the last failure, trial 1: the job returned no value (None).")


# -- bad input: one sentence each, the stored trials stay ---------------------------------------------------------

def test_bad_input_sentences_keep_the_stored_trials(tmp_path):
    args = ("x=interval(-4,4)", "y=choice(1,2,3)")
    multirun(quadratic, tmp_path, *args, "hydra.sweeper.n_trials=3")

    def refused(*overrides):
        with pytest.raises(ConfigError) as e:
            multirun(quadratic, tmp_path, *args, "hydra.sweeper.n_trials=5", *overrides)
        return str(e.value)

    assert refused("model.cardinalty=choice(1,2)") == (
        "model.cardinalty in the command line is not in the config: valid keys under model are cardinality, width; "
        "add a new key with +model.cardinalty.")
    assert refused("+hydra.sweeper.params.z='choice()'") == (
        "z=choice() in hydra.sweeper.params.z is an empty choice: give at least one value, e.g. z=choice(1,2,4).")
    assert refused("hydra.sweeper.direction=minimise") == (
        "hydra.sweeper.direction='minimise' is invalid: valid directions are minimize and maximize.")
    assert refused("hydra.sweeper.direction=maximize") == (
        "hydra.sweeper.direction='maximize' does not match the stored study 'sweep_test', whose direction is "
        "'minimize': use those directions or another hydra.sweeper.study_name.")
    message = refused("hydra.sweeper.storage=postgresql://ablate:s3cret@127.0.0.1:9/nodb")
    assert message.startswith("hydra.sweeper.storage='postgresql://ablate:***@127.0.0.1:9/nodb' cannot be reached (")
    assert message.endswith("): give a reachable SQLAlchemy URL, or null for a SQLite file in the sweep folder.")
    assert "s3cret" not in message
    trials = load(tmp_path).get_trials()
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]


def test_unknown_objective_key_fails_the_trial_with_its_name(tmp_path, sweeper_log):
    # max_failure_rate=1.0: failures are no error (as in the official plugin); the sweep ends once more than
    # n_trials have failed, with a warning
    multirun(quadratic, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=1",
             "hydra.sweeper.max_failure_rate=1.0", "hydra.sweeper.direction=[minimize,minimize]",
             "hydra.sweeper.objectives=[return,model.flops]")
    trials = load(tmp_path).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert trials[0].user_attrs["fail_reason"] == f"result.json of job {tmp_path / '0'} has no model.flops"
    assert ("2 trials failed in this run, more than n_trials=1: the sweep ends (hydra.sweeper.max_failure_rate=1.0 "
            "makes failures no error).") in sweeper_log
    assert OmegaConf.load(tmp_path / "optimization_results.yaml") == {"name": "optuna", "solutions": []}


def test_plugin_import_is_cheap_and_registers_its_config():
    code = ("import sys; import hydra_plugins.ablate_optuna_sweeper.sweeper;"
            "from hydra.core.config_store import ConfigStore;"
            "print('optuna' in sys.modules, 'torch' in sys.modules,"
            " 'ablate_optuna.yaml' in ConfigStore.instance().list('hydra/sweeper'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == ["False", "False", "True"]


def test_hydras_plugin_scan_runs_only_the_plugin_modules_of_ablate():
    """Hydra scans plugins again before every job of the joblib, submitit and Ray launchers, running every module
    under `hydra_plugins` whose name has no leading `_`: ablate's work lives in private modules, so the scan runs
    each package and its sweeper module only, and still finds the three sweepers and their config nodes."""
    code = ("from hydra.core.plugins import Plugins; from hydra.core.config_store import ConfigStore;"
            "from hydra.plugins.sweeper import Sweeper; p = Plugins.instance();"
            "print(sorted(m for m in p.get_stats().modules_import_time if m.startswith('hydra_plugins.ablate')));"
            "print(sorted(c.__name__ for c in p.discover(Sweeper) if c.__module__.startswith('hydra_plugins.ablate')));"
            "print(sorted(n for n in ConfigStore.instance().list('hydra/sweeper') if n.startswith('ablate')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    scanned, sweepers, nodes = out.splitlines()
    assert eval(scanned) == [f"hydra_plugins.{p}{m}" for p in ("ablate_design_space_sweeper",
                                                             "ablate_optuna_sweeper", "ablate_repeats_sweeper")
                             for m in ("", ".sweeper")]
    assert eval(sweepers) == ["AblateDesignSpacesSweeper", "AblateOptunaSweeper", "AblateRepeatsSweeper"]
    assert eval(nodes) == ["ablate_design_spaces.yaml", "ablate_optuna.yaml", "ablate_repeats.yaml"]


# -- conf/sweep/search_budget.yaml ---------------------------------------------------------------------------------

def test_search_budget_config_and_every_design_meets_the_budget():
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from ablate.config.loading import solve_cfg

    GlobalHydra.instance().clear()
    with initialize_config_module("ablate.conf", version_base="1.3"):
        cfg = compose("config", overrides=["+sweep=search_budget"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.ablate_optuna_sweeper.sweeper.AblateOptunaSweeper"
    assert (sweeper.n_trials, sweeper.n_jobs) == (12, 2)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert (cfg.budget.metric, cfg.budget.scale, cfg.model.name) == ("params", 2.0, "tiny")
    space = search_space.parse(OmegaConf.to_container(sweeper.params))
    search_space.check_keys(space, cfg)  # every parameter path exists in the composed config
    cardinalities = space.distributions["model.cardinality"].choices
    depths = space.distributions["model.depths"].choices
    assert cardinalities == (1, 2, 4, 8, 16, 32)
    deviations = []
    for c in cardinalities:
        for d in depths:
            with initialize_config_module("ablate.conf", version_base="1.3"):
                member = compose("config", overrides=["+sweep=search_budget", f"model.cardinality={c}",
                                                      f"model.depths={d}"])
            template, solution = solve_cfg(member)
            assert template.cardinality == c and solution.vary == "bottleneck_width"
            deviations.append(abs(solution.deviation))
    assert len(deviations) == len(cardinalities) * len(depths) and max(deviations) <= cfg.budget.tolerance


# -- the search report ---------------------------------------------------------------------------------------------

def _fake_search(sweep_dir: Path) -> None:
    """A finished two-objective search of five trials: 0, 1 and 3 completed, 2 failed, 3 infeasible, and
    4 sampled trial 1's design again (told its values, not run)."""
    designs = {0: (1, 25, 20.0, 41_500_000, 0.016), 1: (4, 9, 18.0, 37_200_000, -0.054),
               3: (16, 4, 15.0, 51_000_000, 0.089)}
    trials = []
    for n in range(4):
        job_dir = sweep_dir / str(n)
        job_dir.mkdir(parents=True)
        if n in designs:
            c, d, err, flops, dev = designs[n]
            template = {"depths": [1, 2, 1], "width": 64, "cardinality": c, "bottleneck_width": d,
                        "block": "bottleneck", "stem": "cifar", "stem_width": 32, "in_channels": 1,
                        "resolution": 28, "num_classes": 10, "shortcut": True}
            record = {"schema_version": 1, "status": "completed", "wall_seconds": 10.0 + n, "final": {"val_err": err},
                      "config": {"model": {"name": "tiny", "form": "c", "zero_init_last_bn": True}},
                      "model": {"form": "c", "template": template, "complexity": {"flops": flops, "params": 250_000}},
                      "budget": {"metric": "params", "deviation": dev, "tolerance": 0.1}}
            (job_dir / "result.json").write_text(json.dumps(record))
        trials.append({"number": n, "state": "FAIL" if n == 2 else "COMPLETE",
                       "values": None if n == 2 else [designs[n][2], designs[n][3]],
                       "params": {"model.cardinality": designs.get(n, (8,))[0]},
                       "constraints": {"model.complexity.flops <= 5.0e7": (designs.get(n, (0, 0, 0, 0))[3] - 5e7)},
                       "user_attrs": {"job_dir": str(job_dir), **({"fail_reason": "the job returned no value (None)"}
                                                                  if n == 2 else {})}})
    trials.append({**trials[1], "number": 4, "user_attrs": {**trials[1]["user_attrs"], "copy_of": 1}})  # a repeat
    study = {"study_name": "search_budget", "storage": "sqlite:///x/study.db", "directions": ["minimize", "minimize"],
             "objectives": ["return", "model.complexity.flops"], "constraints": ["model.complexity.flops <= 5.0e7"],
             "sampler": "NSGAIISampler", "n_trials": 4, "n_jobs": 2, "best_trials": [0, 1],
             "runs": [{"wall_seconds": 22.0, "trials": [0, 1, 2, 3, 4]}], "trials": trials}
    (sweep_dir / "study.json").write_text(json.dumps(study))


def test_search_report(tmp_path):
    from ablate.report.search import write_search_report

    _fake_search(tmp_path / "sweep")
    written = write_search_report(tmp_path / "sweep", tmp_path / "report")
    assert sorted(p.relative_to(tmp_path / "report").as_posix() for p in written) == [
        "model/search_budget_best.yaml", "search_pareto.png", "search_pareto.svg", "search_trials.csv",
        "search_trials.md"]
    import pandas as pd

    table = pd.read_csv(tmp_path / "report" / "search_trials.csv")
    assert table["trial"].tolist() == [0, 1, 2, 3, 4]
    assert table["pareto"].tolist() == [False, True, False, False, False]  # 3 infeasible; 1 beats 0; 4 repeats 1
    assert table["copies"].tolist() == [0, 1, 0, 0, 0]
    assert table["budget_deviation"].round(3).tolist()[:2] == [0.016, -0.054]
    md = (tmp_path / "report" / "search_trials.md").read_text()
    assert "wall time 22 s against 34 s of trial run time: 0.65×" in md  # 10 + 11 + 13 s of trials
    assert "3 of 3 trials within tolerance (largest |deviation| 8.90%)" in md
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in md.splitlines() if line.startswith("|")]
    assert ["2", "failed", "8", "", "", "", "", "", "", "", "", "", "0", "", "the job returned no value (None)"] in rows
    assert ["1", "completed", "4", "9", "18.00", "", "37.2", "250,000", "-5.40%", "yes", "yes", "*", "1", "11",
            ""] in rows
    assert [r[0] for r in rows[2:]] == ["0", "1", "2", "3"]  # a repeat (4) is counted in `copies`, not listed
    assert "- trials run: 4 for n_trials=4: 3 completed, 1 failed; 2 at once; 1 more sampled a design" in md
    best = (tmp_path / "report" / "model" / "search_budget_best.yaml").read_text()
    from omegaconf import OmegaConf

    from ablate.config.loading import template_from_cfg

    model = OmegaConf.create(best)
    assert model.name == "search_budget_best" and model.form == "c"
    template = template_from_cfg(model)  # a valid model config
    assert (template.cardinality, template.bottleneck_width, template.depths) == (4, 9, (1, 2, 1))


def test_search_report_needs_a_study(tmp_path):
    from ablate.errors import DataError
    from ablate.report.search import write_search_report

    with pytest.raises(DataError, match=r"study.json does not exist: the search report needs a sweep run by "
                                        r"hydra/sweeper=ablate_optuna\.$"):
        write_search_report(tmp_path, tmp_path / "out")


def test_an_interval_is_made_whole_inside_its_tags():
    assert search_space._as_int("interval(16,48)") == "int(interval(16,48))"
    assert search_space._as_int("tag(log, interval(1, 64))") == "tag(log, int(interval(1, 64)))"
    assert search_space._fraction(16.0, 48.0) == 32.5 and search_space._fraction(0.0, 1.0) == 0.5
    assert search_space._fraction(3.0, 3.0) is None and search_space._fraction(2.0, 2.5) == 2.25


def test_params_set_to_null_are_replaced_by_the_node_given_next(tmp_path):
    """The way on that the sentence for a node in braces gives: `hydra.sweeper.params=null` was refused (the
    field took no null), so a sweep's own space could not be replaced from the command line."""
    multirun(quadratic, tmp_path, "+hydra.sweeper.params={y: 'choice(1,2)'}", "hydra.sweeper.params=null",
             "hydra.sweeper.params={x: 'choice(3.0)'}", "hydra.sweeper.n_trials=1")
    assert [t.params for t in load(tmp_path).get_trials()] == [{"x": 3.0}]


def test_params_that_are_not_a_node_are_one_sentence(tmp_path):
    with pytest.raises(ConfigError) as e:
        multirun(quadratic, tmp_path, "hydra.sweeper.params=null", "hydra.sweeper.params=[1,2]")
    assert str(e.value) == ("hydra.sweeper.params=[1,2] is invalid: give a node of sweeps, e.g. "
                            "{model.cardinality: 'choice(1,2,4)'}, or null.")
