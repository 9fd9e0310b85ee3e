"""No waiting: on every launcher but basic, a new trial starts as soon as a slot frees (each trial its own one-job
launch from one of `n_jobs` threads), and a design that is running is not started again.

These tests run the joblib launcher (processes on this machine); tests/test_launchers.py runs submitit_local and
Ray through the same path. Nothing here times anything: job 0 waits for a file that only a trial started after
job 1 ended can write, which a batch of two never lets happen.
"""

import json
import time
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig

from ablate.errors import ConfigError
from tests.test_optuna_sweeper import load, multirun, quadratic, study_record, sweeper_log  # noqa: F401  (a fixture)

JOBLIB = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
PATIENCE_S = 60  # how long job 0 waits for job 2 before giving up (a batch of two would make it wait in vain)


@pytest.fixture
def loky():
    from joblib.externals.loky import get_reusable_executor

    yield
    get_reusable_executor().shutdown(wait=True)  # leave no worker processes behind


def gated(cfg):
    """Job 0 waits until job 2 has finished (or PATIENCE_S passes) and records whether it saw that; the others end
    at once. Every job leaves `done-<num>` in the sweep folder."""
    hc = HydraConfig.get()
    sweep, num = Path(hc.sweep.dir), hc.job.num
    out = Path(hc.runtime.output_dir)
    if num == 0:
        deadline = time.monotonic() + PATIENCE_S
        while not (sweep / "done-2").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (out / "result.json").write_text(json.dumps({"saw_job_2_finish": (sweep / "done-2").exists()}))
    (sweep / f"done-{num}").write_text("")
    return float(num)


@pytest.mark.slow
def test_a_trial_starts_as_soon_as_a_slot_frees(tmp_path, loky, sweeper_log):  # noqa: F811  (the fixture)
    multirun(gated, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2", *JOBLIB)
    trials = load(tmp_path).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert sorted(t.user_attrs["job_num"] for t in trials) == [0, 1, 2]
    # job 2 started in the slot job 1 freed, and ended, while job 0 was still running
    assert json.loads((tmp_path / "0" / "result.json").read_text()) == {"saw_job_2_finish": True}
    assert study_record(tmp_path)["asynchronous"] is True
    assert any("2 at once, each started as a slot frees (JoblibLauncher)" in m for m in sweeper_log)


@pytest.mark.slow
def test_a_running_design_is_not_started_again(tmp_path, loky, sweeper_log):  # noqa: F811  (the fixture)
    multirun(quadratic, tmp_path, "y=choice(3)", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", *JOBLIB)
    trials = load(tmp_path).get_trials()
    ran = [t for t in trials if t.user_attrs.get("copy_of") is None]
    assert len(ran) == 1 and sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["0"]
    copies = [t for t in trials if t.user_attrs.get("copy_of") is not None]
    assert len(copies) == 50  # the other slot's proposals waited for the running trial, then the space ran out
    assert all(t.state.name == "COMPLETE" and t.values == ran[0].values == [3.0 + 4.0] for t in trials)
    assert {t.user_attrs["copy_of"] for t in copies} == {ran[0].number}
    assert ("The sampler proposed 50 designs in a row that have run already: the search space seems exhausted; "
            "the study stops with 1 of n_trials=2 trials run.") in sweeper_log


def test_the_basic_launcher_runs_batches(tmp_path, sweeper_log):  # noqa: F811  (the fixture)
    multirun(quadratic, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=2")
    assert study_record(tmp_path)["asynchronous"] is False
    assert any("2 at once, in batches (BasicLauncher)" in m for m in sweeper_log)
    with pytest.raises(ConfigError) as e:
        multirun(quadratic, tmp_path, "x=interval(-4,4)", "hydra.sweeper.asynchronous=true")
    assert str(e.value) == (
        "hydra.sweeper.asynchronous=true cannot run on the basic launcher, which runs each job in this process "
        "(Hydra's job config, logging and folder are global to it): use hydra/launcher=joblib, or leave "
        "hydra.sweeper.asynchronous=null.")


@pytest.mark.slow
def test_a_slot_that_fails_leaves_no_trial_running(tmp_path, loky):
    import optuna

    with pytest.raises(ValueError, match="this sampler cannot sample x"):
        multirun(quadratic, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=2", *JOBLIB,
                 "hydra.sweeper.sampler={_target_:tests.test_sweeper_compat.BrokenSampler}")
    trials = load(tmp_path).get_trials()
    assert trials and all(t.state == optuna.trial.TrialState.FAIL for t in trials)
    assert all(t.user_attrs["fail_reason"].startswith("the sweep stopped before the trial ran: ValueError")
               for t in trials)


def test_a_design_another_worker_is_still_suggesting_is_waited_for(monkeypatch):
    """Found in CI: two workers sharing a PostgreSQL study both ran the one design of the space. Optuna writes a
    trial (RUNNING, no parameters) before its parameters, one by one; the second worker looked for an earlier trial
    of its design in between, saw none, and ran it too. An earlier running trial whose parameters so far are a part
    of this trial's is waited for (briefly), then judged."""
    import optuna

    from hydra_plugins.ablate_optuna_sweeper import _loop

    study = optuna.create_study()
    earlier, later = study.ask(), study.ask()  # the other worker's trial, not yet given its parameters
    later.suggest_int("x", 1, 1)
    later.suggest_int("y", 3, 3)
    waits = []

    def other_worker_suggests(seconds):
        waits.append(seconds)
        earlier.suggest_int("x", 1, 1) if len(waits) == 1 else earlier.suggest_int("y", 3, 3)

    monkeypatch.setattr(_loop.time, "sleep", other_worker_suggests)
    assert _loop.source_of(study, later).number == earlier.number and len(waits) == 2
    other = study.ask()  # a trial of another design, or one never given its parameters: not waited for forever
    other.suggest_int("x", 2, 2)
    stuck = study.ask()
    stuck.suggest_int("x", 1, 1)
    monkeypatch.setattr(_loop.time, "sleep", lambda seconds: waits.append(seconds))
    mine = study.ask()
    mine.suggest_int("x", 1, 1)
    mine.suggest_int("y", 4, 4)
    assert _loop.source_of(study, mine, wait_s=0.2) is None and len(waits) > 2


def test_an_older_running_trial_of_fewer_parameters_is_not_waited_for(monkeypatch):
    """An earlier running trial whose parameters are a part of this one's but that started longer ago than the wait
    is a design of a conditional search space (it has fewer parameters for good), not one still being suggested:
    judged at once, at every proposal, rather than waited for each time."""
    import datetime
    import types

    import optuna

    from hydra_plugins.ablate_optuna_sweeper import _loop

    study = optuna.create_study()
    shallow = study.ask()  # a design of one parameter, running
    shallow.suggest_int("x", 1, 1)
    deep = study.ask()
    deep.suggest_int("x", 1, 1)
    deep.suggest_int("y", 3, 3)
    waits = []
    monkeypatch.setattr(_loop.time, "sleep", lambda seconds: waits.append(seconds))

    class Later(datetime.datetime):  # the clock a wait later: the running trial started before the wait
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.now(tz) + datetime.timedelta(seconds=_loop.SETUP_WAIT_S + 1)

    assert _loop.source_of(study, deep) is None and waits  # started within the wait: looked at again
    waits.clear()
    monkeypatch.setattr(_loop, "datetime", types.SimpleNamespace(datetime=Later, timedelta=datetime.timedelta))
    assert _loop.source_of(study, deep) is None and waits == []
