"""Exact resume: a re-run continues the study it finds (job numbers, trials), refuses one that searches something
else, and fails and retries the trials a killed sweeper left running; what users read through Optuna's API."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from hydra.core.hydra_config import HydraConfig

from ablate.errors import ConfigError
from tests.test_optuna_sweeper import APP_CONFIG, load, multirun, quadratic

ROOT = Path(__file__).resolve().parents[1]
SPACE = ("x=interval(-4,4)", "y=choice(1,2,3)")


def test_a_rerun_that_searches_something_else_is_refused(tmp_path):
    multirun(quadratic, tmp_path, *SPACE, "hydra.sweeper.n_trials=2")

    def refused(*overrides):
        with pytest.raises(ConfigError) as e:
            multirun(quadratic, tmp_path, "hydra.sweeper.n_trials=4", *overrides)
        return str(e.value)

    ending = ": search the stored space again, or give another hydra.sweeper.study_name."
    differs = "the search space differs from the one stored with study 'sweep_test'"
    assert refused("x=interval(-4,5)", "y=choice(1,2,3)") == (
        "the search space differs from the one stored with study 'sweep_test' (x is interval(-4,5), it was "
        f"interval(-4,4)){ending}")
    assert refused("x=interval(-4,4)") == (
        f"{differs} (y is gone (it was choice(1,2,3))){ending}")
    assert refused(*SPACE, "+model.depth=choice(1,2)") == (
        f"{differs} (+model.depth=choice(1,2) is new){ending}")
    assert refused(*SPACE, "hydra.sweeper.objectives=[model.complexity.flops]") == (
        "hydra.sweeper.objectives=[model.complexity.flops] differs from the [return] stored with study "
        "'sweep_test': use the stored value, or give another hydra.sweeper.study_name.")
    assert refused(*SPACE, "hydra.sweeper.constraints=['model.complexity.flops <= 250']") == (
        "hydra.sweeper.constraints=['model.complexity.flops <= 250'] differs from the [] stored with study "
        "'sweep_test': use the stored value, or give another hydra.sweeper.study_name.")
    assert refused(*SPACE, "hydra.sweeper.direction=maximize").startswith(
        "hydra.sweeper.direction='maximize' does not match the stored study 'sweep_test'")
    assert len(load(tmp_path).get_trials()) == 2  # nothing in the study lost or added
    multirun(quadratic, tmp_path, "y=choice(1,2,3)", "x=interval(-4,4)", "hydra.sweeper.n_trials=3")  # order: no change
    assert len(load(tmp_path).get_trials()) == 3


def test_a_rerun_with_other_fixed_overrides_is_refused(tmp_path):
    """The same search with another fixed value (a recipe: more epochs, another seed) continued the stored study, so
    its trials mixed two recipes and the best of them was no finding (found by hand, a killed search run again with
    another override). The keys Hydra leaves out of a job's folder name (how a job runs, not what it computes:
    `hydra.job.config.override_dirname.exclude_keys`) may change."""
    exclude = "hydra.job.config.override_dirname.exclude_keys=[model.width]"
    multirun(quadratic, tmp_path, *SPACE, "seed=1", "model.width=8", exclude, "hydra.sweeper.n_trials=2")
    with pytest.raises(ConfigError) as e:
        multirun(quadratic, tmp_path, *SPACE, "seed=2", "+model.depth=3", exclude, "hydra.sweeper.n_trials=4")
    assert str(e.value) == (
        "the fixed overrides differ from those stored with study 'sweep_test' (seed=2, it was 1; +model.depth=3 is "
        "new): its trials ran with the stored ones, and a search compares trials of one recipe; give the stored "
        "values again, or start a new study with another hydra.sweep.dir or hydra.sweeper.study_name.")
    assert len(load(tmp_path).get_trials()) == 2  # nothing in the study lost or added
    multirun(quadratic, tmp_path, *SPACE, "seed=1", "model.width=9", exclude, "hydra.sweeper.n_trials=3")
    assert len(load(tmp_path).get_trials()) == 3


def test_the_study_as_optuna_dashboard_reads_it(tmp_path):
    multirun(quadratic, tmp_path, *SPACE, "hydra.sweeper.n_trials=3")
    study = optuna.load_study(study_name="sweep_test", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert study.user_attrs["ablate_sweeper"]["params"]["y"]["sweep"] == "choice(1,2,3)"
    assert study.user_attrs["ablate_sweeper"]["directions"] == ["minimize"]
    for t in study.trials:
        attrs = t.user_attrs
        assert attrs["job_dir"] == str(tmp_path / str(attrs["job_num"]))  # the run directory
        assert attrs["status"] == "completed"
        assert attrs["complexity"] == {"flops": 100 * t.params["y"]}  # from the run's result.json
        assert attrs["overrides"][:2] == [f"x={t.params['x']}", f"y={t.params['y']}"]
        assert attrs["worker"] == f"{socket.gethostname()}:{os.getpid()}"


KILLED_APP = textwrap.dedent("""
    import os
    import time
    from pathlib import Path

    import hydra
    from hydra.core.config_store import ConfigStore
    from hydra.core.hydra_config import HydraConfig

    from hydra_plugins.ablate_optuna_sweeper import register

    register()
    ConfigStore.instance().store(name="killed", node={**CONFIG,
                                 "defaults": [{"override hydra/sweeper": "ablate_optuna"}, "_self_"]})


    @hydra.main(version_base="1.3", config_path=None, config_name="killed")
    def main(cfg):
        (Path(HydraConfig.get().sweep.dir) / "started").write_text(str(os.getpid()))
        time.sleep(300)  # killed long before this ends


    if __name__ == "__main__":
        main()
""")


@pytest.mark.slow
def test_a_trial_left_running_by_a_killed_sweeper_is_failed_and_retried(tmp_path):
    (tmp_path / "killedapp").mkdir()
    (tmp_path / "killedapp" / "__main__.py").write_text(f"CONFIG = {APP_CONFIG!r}\n" + KILLED_APP)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    sweep = tmp_path / "sweep"
    worker = subprocess.Popen([sys.executable, "-m", "killedapp", "-m", *SPACE, "hydra.sweeper.n_trials=2",
                               "hydra.sweeper.n_jobs=1", "hydra.sweeper.study_name=s", f"hydra.sweep.dir={sweep}"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        for _ in range(1200):  # the first job is running (a minute at most)
            if (sweep / "started").exists() or worker.poll() is not None:
                break
            time.sleep(0.05)
        assert (sweep / "started").exists(), "the sweeper never started its first job"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # no chance to tidy up: trial 0 stays RUNNING in study.db
        worker.wait()
    assert [t.state.name for t in load(sweep, "s").get_trials()] == ["RUNNING"]

    multirun(quadratic, sweep, *SPACE, "hydra.sweeper.n_trials=2", "hydra.sweeper.study_name=s")
    trials = load(sweep, "s").get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[0].user_attrs["fail_reason"] == (f"left running by a sweep that stopped ({socket.gethostname()}:"
                                                   f"{worker.pid})")
    assert trials[1].params == trials[0].params  # the retry: the same design, queued by Optuna's retry callback
    assert trials[1].system_attrs["failed_trial"] == 0
    # the retry runs in its original's folder, where it resumes what that one left (found by hand: a retried trial
    # ran in a new folder, and the killed one's, its record still "running", made the finished sweep exit 1); a
    # new trial takes the next unused number
    assert [t.user_attrs["job_num"] for t in trials] == [0, 0, 1]
    record = json.loads((sweep / "study.json").read_text())  # what the report reads: the note of trial 0 says
    assert [t["retry_of"] for t in record["trials"]] == [None, 0, None]  # where it went on
    assert trials[1].value == pytest.approx((trials[1].params["x"] - 2) ** 2 + trials[1].params["y"])


def test_a_trial_running_when_the_sweep_is_interrupted_runs_again_in_its_folder(tmp_path):
    """Found by hand: Ctrl-C in a search told FAIL for the running trials and nothing more, so the next run asked
    new trials in new folders, the interrupted ones' folders (records "interrupted") were never resumed and the
    recovered sweep exited 1. Now they are queued again, and the next run resumes each under its job number."""
    calls = []

    def interrupted(cfg):
        calls.append(HydraConfig.get().job.num)
        raise KeyboardInterrupt  # Ctrl-C while the job ran

    with pytest.raises(KeyboardInterrupt):
        multirun(interrupted, tmp_path, *SPACE, "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1",
                 "hydra.sweeper.study_name=ki")
    assert calls == [0]
    multirun(quadratic, tmp_path, *SPACE, "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1",
             "hydra.sweeper.study_name=ki")
    trials = load(tmp_path, "ki").get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[0].user_attrs["fail_reason"] == (
        "the sweep stopped while the trial ran: KeyboardInterrupt; queued again"
    )
    assert trials[1].params == trials[0].params and trials[1].system_attrs["failed_trial"] == 0
    assert [t.user_attrs["job_num"] for t in trials] == [0, 0, 1]


def test_a_trial_whose_heartbeat_stopped_is_failed_and_retried(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=1)
        study = optuna.create_study(study_name="hb", storage=storage)
        trial = study.ask()  # a worker on another machine, which died while running it
    trial.suggest_float("x", -4, 4)
    trial.suggest_categorical("y", [1, 2, 3])
    trial.set_user_attr("worker", "elsewhere:1")
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("hb"), trial.number))
    time.sleep(3.5)  # longer than the grace period of two heartbeat intervals (stored to the second)

    multirun(quadratic, tmp_path, *SPACE, "hydra.sweeper.n_trials=2", "hydra.sweeper.study_name=hb",
             "hydra.sweeper.heartbeat_interval=1")
    trials = load(tmp_path, "hb").get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].params == trials[0].params and trials[1].system_attrs["failed_trial"] == 0


SLOW_TO_RECORD = """
import sys
from tests.interrupted_member import member
from tests.test_optuna_sweeper import multirun

try:
    multirun(member, sys.argv[1], "x=interval(-4,4)", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
             "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
except KeyboardInterrupt:
    print("interrupted")
"""


@pytest.mark.slow
def test_ctrl_c_lets_every_running_job_of_the_slots_record_its_end(tmp_path):
    """Found by hand: Ctrl-C on a search on the joblib launcher left some jobs' records `running`: the first job
    to end raised out of its worker, on which joblib killed every worker of the pool (SIGKILL), some still writing
    that they were interrupted. Every job now records its end; the trials are queued again."""
    from tests.test_launchers import ctrl_c_once_started

    sweep = tmp_path / "sweep"
    out, err = ctrl_c_once_started(SLOW_TO_RECORD, tmp_path, sweep)
    assert out.strip() == "interrupted", err[-3000:]
    assert sorted(p.name for p in sweep.glob("recorded-*")) == ["recorded-0", "recorded-1"]
    trials = load(sweep).get_trials()
    assert [t.user_attrs["fail_reason"] for t in trials[:2]] == [
        "the sweep stopped while the trial ran: KeyboardInterrupt; queued again"] * 2


def test_a_rerun_of_ablate_that_reports_another_value_each_epoch_is_refused(tmp_path):
    """Found in a second read: a study of ablate's app resumed with another `hydra.sweeper.prune_on` went on, so its
    trials' intermediate values (the pruner's and the dashboard's curves) mixed two measures, val error and training
    loss. The measure is stored with the study; another is refused in one sentence, exit 2, nothing lost. The
    pruner itself may change: it judges the same values differently from then on."""
    sweep = tmp_path / "sweep"
    args = [sys.executable, "-m", "ablate", "-m", "hydra/sweeper=ablate_optuna", "model.cardinality=choice(1,2)",
            "data=synthetic", "data.num_samples=128", "data.val_samples=64", "optim.epochs=2", "optim.batch_size=64",
            "trainer.progress=false", "model.depths=[1,1]", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run([*args, "hydra.sweeper.n_trials=1"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    db = sweep / "study.db"
    before = db.read_bytes()
    (trial,) = load(sweep, "ablate").get_trials()
    assert sorted(trial.intermediate_values) == [1, 2]  # ablate numbers epochs from 1; val_err by default
    proc = subprocess.run([*args, "hydra.sweeper.n_trials=2", "hydra.sweeper.prune_on=train_loss"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "ablate: hydra.sweeper.prune_on='train_loss' differs from the 'val_err' stored with study 'ablate': the "
        "stored trials reported val_err after each epoch, and one study's curves hold one measure; use the stored "
        "value, or give another hydra.sweeper.study_name.")
    assert db.read_bytes() == before
    pruner = "hydra.sweeper.pruner={_target_:optuna.pruners.MedianPruner}"
    proc = subprocess.run([*args, "hydra.sweeper.n_trials=2", pruner], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(load(sweep, "ablate").get_trials()) == 2


def test_a_study_stored_before_fixed_and_prune_on_adopts_both_at_once():
    """Found in a second read: a study stored before both `fixed` and `prune_on` were kept adopted `fixed`, then
    wrote its settings again from the copy it had read, without `fixed`, so the recipe was not held until a later
    re-run."""
    from hydra_plugins.ablate_optuna_sweeper import _storage as storage

    study = optuna.create_study(study_name="old")
    now = {"params": {}, "custom_search_space": None, "objectives": ["return"], "directions": ["minimize"],
           "constraints": [], "fixed": {"seed": 1}, "repeats": None, "prune_on": "val_err"}
    study.set_user_attr(storage.SETTINGS, {k: v for k, v in now.items() if k not in ("fixed", "prune_on")})
    storage.check_settings(study, now)
    assert study.user_attrs[storage.SETTINGS] == now
    with pytest.raises(ConfigError, match="^the fixed overrides differ"):
        storage.check_settings(study, {**now, "fixed": {"seed": 2}})
