"""Pruning: the sweeper hands each job its trial (`hydra.sweeper.trial`), the job reports per-epoch values through
`ablate.run.pruning.reporter` and stops when the pruner says so; the sweeper tells Optuna PRUNED."""

import json
import pickle
import re
from pathlib import Path

import optuna
import pytest
from hydra.core.hydra_config import HydraConfig

from ablate.errors import ConfigError
from ablate.run import pruning
from tests.test_optuna_sweeper import load, multirun, sweeper_log  # noqa: F401  (a fixture)

THRESHOLD = "hydra.sweeper.pruner={_target_:optuna.pruners.ThresholdPruner,upper:4.0}"
EPOCHS = 3


def curve(x: float, epoch: int) -> float:
    return (x - 2.0) ** 2 - 0.5 * epoch


def learner(cfg):
    """EPOCHS epochs of a falling value; reports each and stops when told, recording status pruned."""
    report = pruning.reporter()
    out = Path(HydraConfig.get().runtime.output_dir)
    assert "trial" not in HydraConfig.get().job.override_dirname  # the trial does not name the run's folder
    for epoch in range(EPOCHS):
        value = curve(cfg.x, epoch)
        if report(epoch, value):
            (out / "result.json").write_text(json.dumps({"status": "pruned", "epochs": epoch + 1,
                                                         "model": {"complexity": {"flops": 7}}}))
            return value
    (out / "result.json").write_text(json.dumps({"status": "completed", "model": {"complexity": {"flops": 7}}}))
    return value


def raises_pruned(cfg):
    if cfg.x < 0:
        raise optuna.TrialPruned()
    return float(cfg.x)


def test_a_trial_the_pruner_stops_is_pruned_and_counts(tmp_path):
    multirun(learner, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=8", THRESHOLD)
    trials = load(tmp_path).get_trials()
    assert len(trials) == 8  # pruned trials count toward n_trials, as completed ones do
    pruned = [t for t in trials if (t.params["x"] - 2.0) ** 2 > 4.0]
    assert pruned and len(pruned) < 8  # the seeded sampler gives both kinds
    for t in trials:
        if t in pruned:  # above the threshold at epoch 0: stopped there
            assert t.state == optuna.trial.TrialState.PRUNED
            assert t.intermediate_values == {0: pytest.approx(curve(t.params["x"], 0))}
            assert t.value == pytest.approx(curve(t.params["x"], 0))  # Optuna's value of a pruned trial: its last
            assert t.user_attrs["status"] == "pruned"
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE
            assert t.intermediate_values == {e: pytest.approx(curve(t.params["x"], e)) for e in range(EPOCHS)}
            assert t.user_attrs["status"] == "completed"
        assert t.user_attrs["complexity"] == {"flops": 7}


def test_a_copy_of_a_pruned_design_is_pruned_with_its_curve_and_says_so(tmp_path, sweeper_log):  # noqa: F811
    """Found by hand: a trial that sampled a pruned trial's design was told PRUNED without a word in the log and
    without a value (a copy of a completed design is logged and carries its values). Its last value is written
    in 4 significant digits (found by hand: `at 55.00000000000001`)."""
    multirun(learner, tmp_path, "x=choice(-3.1,3)", "hydra.sweeper.n_trials=3", THRESHOLD)
    trials = load(tmp_path).get_trials()
    (source,) = [t for t in trials if t.params["x"] == -3.1 and "copy_of" not in t.user_attrs]
    copies = [t for t in trials if t.user_attrs.get("copy_of") == source.number]
    assert source.state.name == "PRUNED" and copies  # the seeded sampler proposes -3.1 again
    assert curve(-3.1, 0) == 26.009999999999998  # a float with a long tail
    for t in copies:
        assert t.state.name == "PRUNED"
        assert t.intermediate_values == source.intermediate_values and t.value == source.value == curve(-3.1, 0)
        assert (f"Trial {t.number} {{'x': -3.1}}: the same design as trial {source.number}, not run again: pruned "
                "after step 0 at 26.01") in sweeper_log  # a message of the log, whole


def test_without_a_pruner_the_epochs_are_reported_and_nothing_is_pruned(tmp_path):
    multirun(learner, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=3")
    for t in load(tmp_path).get_trials():
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert sorted(t.intermediate_values) == list(range(EPOCHS))  # the dashboard draws each trial's curve


def test_a_job_that_raises_trial_pruned_is_pruned(tmp_path):
    multirun(raises_pruned, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=6")
    for t in load(tmp_path).get_trials():
        expected = "PRUNED" if t.params["x"] < 0 else "COMPLETE"
        assert t.state.name == expected


def test_prune_on_names_the_epoch_value_the_trainer_reports(tmp_path):
    """`hydra.sweeper.prune_on` picks which value of ablate's epoch entries goes to the pruner (val_err by default);
    anything else is refused in one sentence before any trial runs."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    from omegaconf import OmegaConf

    entry = {"epoch": 1, "val_err": 31.0, "val_loss": 0.9, "train_err": 40.0, "train_loss": 1.5}
    node = {"trial": {"study_name": "s", "storage": storage, "trial_number": trial.number}, "pruner": None}
    assert pruning.reporter(OmegaConf.create({"hydra": {"sweeper": node}})).on == "val_err"
    report = pruning.reporter(OmegaConf.create({"hydra": {"sweeper": {**node, "prune_on": "train_loss"}}}))
    assert report.on == "train_loss" and pruning.report_epoch(report, entry) is False
    assert study.trials[0].intermediate_values == {1: 1.5}
    assert pruning.report_epoch(pruning.never, entry) is False  # outside a sweep: nothing told
    with pytest.raises(ConfigError) as e:
        multirun(learner, tmp_path / "bad", "x=interval(-4,4)", THRESHOLD, "hydra.sweeper.prune_on=val_acc")
    assert str(e.value) == ("hydra.sweeper.prune_on='val_acc' is not a value a run reports after each epoch: valid "
                            "are val_err, val_loss, train_err, train_loss.")
    assert not (tmp_path / "bad" / "study.db").exists()


def test_several_objectives_prune_on_the_named_one(tmp_path):
    two = ("hydra.sweeper.direction=[minimize,minimize]", "hydra.sweeper.objectives=[return,model.complexity.flops]")
    with pytest.raises(ConfigError) as e:
        multirun(learner, tmp_path / "unnamed", "x=interval(-4,4)", "hydra.sweeper.n_trials=4", THRESHOLD, *two)
    assert str(e.value) == (
        "hydra.sweeper.pruner is set on a study with 2 objectives ['return', 'model.complexity.flops'], and Optuna's "
        "pruners judge one: name the objective the jobs report each epoch, e.g. hydra.sweeper.prune_objective=return.")
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.prune_objective='flops' is not an objective of this "
                                          r"study: valid names are return, model.complexity.flops\.$"):
        multirun(learner, tmp_path / "wrong", "x=interval(-4,4)", THRESHOLD, *two,
                 "hydra.sweeper.prune_objective=flops")

    multirun(learner, tmp_path, "x=interval(-4,4)", "hydra.sweeper.n_trials=6", THRESHOLD, *two,
             "hydra.sweeper.prune_objective=return")
    trials = load(tmp_path).get_trials()
    shadow = {t.number: t for t in load(tmp_path, "sweep_test:return").get_trials()}  # the objective pruned on
    assert len(trials) == 6
    for t in trials:
        over = (t.params["x"] - 2.0) ** 2 > 4.0
        assert t.state.name == ("PRUNED" if over else "COMPLETE")
        twin = shadow[t.user_attrs["prune_trial"]]
        assert twin.state == t.state and twin.intermediate_values[0] == pytest.approx(curve(t.params["x"], 0))
        if not over:
            assert t.values == pytest.approx([curve(t.params["x"], EPOCHS - 1), 7]) and twin.value == t.values[0]


def test_an_unknown_pruner_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError) as e:
        multirun(learner, tmp_path, "x=interval(-4,4)", "hydra.sweeper.pruner={_target_:optuna.pruners.NoSuch}")
    assert str(e.value).startswith("hydra.sweeper.pruner={_target_:optuna.pruners.NoSuch} cannot be made into "
                                   "an Optuna pruner (")
    assert str(e.value).endswith("): name a class in optuna.pruners, e.g. {_target_: optuna.pruners.MedianPruner}.")
    assert not (tmp_path / "study.db").exists()  # refused before the study was touched


class OwnPruner(optuna.pruners.BasePruner):
    """A pruner class of the user's own: an Optuna pruner, but not one of optuna.pruners' classes."""

    def prune(self, study, trial):
        return True


def test_a_pruner_outside_optuna_pruners_is_refused_before_any_trial(tmp_path):
    # found by hand: the sweeper built it, then every job refused it (the jobs build only optuna.pruners' classes),
    # so each trial failed until the failure limit stopped the study
    calls = []

    def task(cfg):
        calls.append(cfg.x)
        return learner(cfg)

    with pytest.raises(ConfigError) as e:
        multirun(task, tmp_path, "x=interval(-4,4)", f"hydra.sweeper.pruner={{_target_:{__name__}.OwnPruner}}")
    assert str(e.value) == (
        f"hydra.sweeper.pruner._target_='{__name__}.OwnPruner' is not one of optuna.pruners' classes, the only "
        "pruners a job builds: give one, e.g. optuna.pruners.HyperbandPruner."
    )
    assert calls == [] and not (tmp_path / "study.db").exists()


def test_a_pruner_that_cannot_judge_a_trial_is_refused_before_any_trial(tmp_path):
    """HyperbandPruner(min_resource=0) constructs, then divides by zero when asked about a trial: in every job,
    so a search ran trial after trial into its failure limit. It is asked once, on a trial in memory, first."""
    calls = []

    def task(cfg):
        calls.append(cfg.x)
        return learner(cfg)

    with pytest.raises(ConfigError) as e:
        multirun(task, tmp_path, "x=interval(-4,4)",
                 "hydra.sweeper.pruner={_target_:optuna.pruners.HyperbandPruner,min_resource:0}")
    assert str(e.value) == (
        "hydra.sweeper.pruner={_target_:optuna.pruners.HyperbandPruner,min_resource:0} fails when it judges "
        "a trial (ZeroDivisionError: division by zero): check its arguments against optuna.pruners.HyperbandPruner."
    )
    assert calls == [] and not (tmp_path / "study.db").exists()


def test_a_pruner_keyword_its_class_lacks_is_named(tmp_path):
    with pytest.raises(ConfigError) as e:
        multirun(learner, tmp_path, "x=interval(-4,4)",
                 "hydra.sweeper.pruner={_target_:optuna.pruners.MedianPruner,min_resource:1}")
    assert "(TypeError: MedianPruner.__init__() got an unexpected keyword argument 'min_resource')" in str(e.value)


def test_reporter_outside_a_sweep_never_prunes_and_pickles(tmp_path):
    assert pruning.reporter() is pruning.never and pruning.never(0, 1.0) is False
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    trial = study.ask()
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"hydra": {"sweeper": {
        "trial": {"study_name": "s", "storage": storage, "trial_number": trial.number},
        "pruner": {"_target_": "optuna.pruners.ThresholdPruner", "upper": 1.0}}}})
    report = pruning.reporter(cfg)
    assert report(0, 0.5) is False
    report = pickle.loads(pickle.dumps(report))  # as a spawned training process receives it
    assert report(1, 2.0) is True
    assert study.trials[0].intermediate_values == {0: 0.5, 1: 2.0}


@pytest.mark.slow
def test_the_app_reports_each_epoch_and_stops_where_the_pruner_says(tmp_path):
    """`python -m ablate` under the Optuna sweeper: a pruner that stops every trial above 1% val error after its
    first epoch ends each real run `pruned` after epoch 1, and the study holds PRUNED trials with their epoch-1
    value."""
    import subprocess
    import sys

    sweep = tmp_path / "sweep"
    args = [sys.executable, "-m", "ablate", "-m", "hydra/sweeper=ablate_optuna", "hydra.sweeper.n_trials=2",
            "model.cardinality=choice(1,2)",
            "hydra.sweeper.pruner={_target_:optuna.pruners.ThresholdPruner,upper:1.0}",
            "data=synthetic", "data.num_samples=256", "data.val_samples=64", "optim.epochs=3", "optim.batch_size=64",
            "trainer.progress=false", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sweep.glob("*/result.json")]
    assert len(records) == 2
    for record in records:
        assert record["status"] == "pruned" and len(record["epochs"]) == 1
        assert record["reason"].startswith("pruned after epoch 1 of 3: the Optuna study's pruner stopped this trial")
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{sweep / 'study.db'}")
    assert sorted(t.state.name for t in study.trials) == ["PRUNED", "PRUNED"]
    assert all(list(t.intermediate_values) == [1] for t in study.trials)
    # found by hand: the run's last line said the reason again in parentheses, `pruned: val error 90.00% (pruned
    # after epoch 1 of 2: … at val error 90.00%.); 169 img/s`; the line above it gives the reason once
    logged = (proc.stdout + proc.stderr).splitlines()
    ends = [line.split(" - ", 1)[1] for line in logged if "[ablate][INFO] - pruned: " in line]
    assert len(ends) == 2 and all(re.fullmatch(r"pruned: val error \d+\.\d\d% in \d+ s; .*", e) for e in ends), ends
