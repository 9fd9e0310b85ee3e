"""The search report (ablate/report/search.py) of a search with pruned trials: counted apart from completed and
failed ones, with the epoch each reached, and never the best design. Hand-made records and study.json; no
training, no Optuna."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ablate.report import search, write_report
from tests.fake_sweeps import record

EPOCHS = 8
CONSTRAINT = "abs(budget.deviation) <= budget.tolerance"
# trial: (state, record status, val error per epoch, cardinality); trial 2 stopped at epoch 3 with the lowest error
TRIALS = {
    0: ("COMPLETE", "completed", [30, 25, 22, 20, 19, 18.5, 18.2, 18.0], 1),
    1: ("PRUNED", "pruned", [40.0], 2),
    2: ("PRUNED", "pruned", [20.0, 15.0, 12.0], 4),
    3: ("COMPLETE", "completed", [28, 24, 21, 19, 18, 17, 16.7, 16.5], 8),
    4: ("FAIL", "failed", [31.0, 27.0], 16),
    5: ("PRUNED", "pruned", [35.0], 32),
}


def _template(cardinality: int):
    from ablate.config import load_template

    return load_template("tiny").replace(cardinality=cardinality, bottleneck_width=4, depths=(1, 2, 1, 1))


def write_search(sweep_dir: Path, trials=TRIALS, *, pruner: str | None = "HyperbandPruner", copy: bool = True) -> Path:
    """A finished single-objective search: each trial's record in `<sweep_dir>/<n>/`; with `copy`, one more trial
    that sampled trial 2's design again (told PRUNED without running)."""
    rows = []
    for n, (state, status, errs, c) in trials.items():
        job_dir = sweep_dir / str(n)
        job_dir.mkdir(parents=True)
        rec = record(
            [f"model.cardinality={c}"],
            0,
            errs,
            status=status,
            template=_template(c),
            config={"optim": {"epochs": EPOCHS}},
            job_num=n,
            wall_seconds=10.0 * len(errs),
            reason="the loss was NaN" if status == "failed" else None,
            budget={"metric": "params", "deviation": 0.02, "tolerance": 0.1},
        )
        (job_dir / "result.json").write_text(json.dumps(rec))
        rows.append(
            {
                "number": n,
                "state": state,
                "values": None if state == "FAIL" else [errs[-1]],
                "params": {"model.cardinality": c},
                "constraints": {CONSTRAINT: -0.08} if state == "COMPLETE" else {},
                "user_attrs": {"job_dir": str(job_dir), "status": status},
            }
        )
    if copy:
        rows.append({**rows[2], "number": len(rows), "user_attrs": {**rows[2]["user_attrs"], "copy_of": 2}})
    study = {
        "study_name": "search_pruning",
        "storage": "sqlite:///x/study.db",
        "directions": ["minimize"],
        "objectives": ["return"],
        "constraints": [CONSTRAINT],
        "sampler": "TPESampler",
        "pruner": pruner,
        "n_trials": len(trials),
        "n_jobs": 1,
        "runs": [{"wall_seconds": 300.0, "trials": [r["number"] for r in rows]}],
        "trials": rows,
    }
    (sweep_dir / "study.json").write_text(json.dumps(study))
    return sweep_dir


@pytest.fixture
def pruned_search(tmp_path):
    return write_search(tmp_path / "sweep")


def test_pruned_trials_are_counted_apart_with_the_epochs_they_reached(pruned_search):
    study = search.read_study(pruned_search)
    trials = search.trials_frame(study, pruned_search)
    assert trials["epoch"].tolist() == [8, 1, 3, 8, 2, 1, 3]  # the copy (6) shows its source's record
    assert trials["epochs"].tolist() == [EPOCHS] * 7
    assert search.status_counts(trials) == {"completed": 2, "pruned": 3, "failed": 1}  # the copy is not a run
    assert search.pruned_at(trials) == {1: 2, 3: 1}
    assert search.epochs_trained(trials) == {
        "trials": 6,
        "trained": 8 + 1 + 3 + 8 + 2 + 1,
        "planned": 6 * EPOCHS,
        "share": pytest.approx(23 / 48),
    }


def test_a_pruned_trial_is_never_the_best(pruned_search, tmp_path):
    trials = search.trials_frame(search.read_study(pruned_search), pruned_search)
    best = search.best_row(trials)
    assert (best["trial"], best["val_err"]) == (3, 16.5)  # not trial 2: its 12.0 % is from epoch 3 of 8
    assert trials.loc[trials["trial"] == 2, "pareto"].item() is False
    assert trials["pareto"].tolist() == [True, False, False, True, False, False, False]  # 0: fewer FLOPs
    written = search.write_search_report(pruned_search, tmp_path / "report")
    assert tmp_path / "report" / "model" / "search_pruning_best.yaml" in written
    assert "model.cardinality" not in (tmp_path / "report" / "model" / "search_pruning_best.yaml").read_text()
    assert "cardinality: 8" in (tmp_path / "report" / "model" / "search_pruning_best.yaml").read_text()


def test_the_summary_and_table_show_each_status_and_epoch(pruned_search, tmp_path):
    search.write_search_report(pruned_search, tmp_path / "report")
    md = (tmp_path / "report" / "search_trials.md").read_text()
    assert "; sampler: TPESampler; pruner: HyperbandPruner\n" in md
    assert (
        "- trials run: 6 for n_trials=6: 2 completed, 3 pruned (2 at epoch 1, 1 at epoch 3 of 8), 1 failed; "
        "1 at once; 1 more sampled a design already run"
    ) in md
    assert "- epochs trained: 23 of the 48 these trials would train unpruned (48%)" in md
    assert "- best: trial 3, val error 16.50%" in md
    # the lowest of several noisy errors is biased low (the 3-seed search's best rose 0.97 points on fresh seeds)
    assert ("- best: trial 3, val error 16.50% (the lowest of 2 completed designs, so likely below what it scores on "
            "fresh seeds)") in md
    lines = [line for line in md.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {
        r["trial"]: r
        for r in (dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:])
    }
    assert sorted(rows) == ["0", "1", "2", "3", "4", "5"]  # the copy is counted in `copies`, not listed
    assert {n: (r["status"], r["epochs"], r["val err %"]) for n, r in rows.items()} == {
        "0": ("completed", "8/8", "18.00"),
        "1": ("pruned", "1/8", "40.00"),
        "2": ("pruned", "3/8", "12.00"),
        "3": ("completed", "8/8", "16.50"),
        "4": ("failed", "2/8", "27.00"),
        "5": ("pruned", "1/8", "35.00"),
    }
    assert rows["2"]["copies"] == "1" and rows["2"]["Pareto"] == ""
    table = pd.read_csv(tmp_path / "report" / "search_trials.csv")
    assert table[["trial", "state", "status", "epoch"]].values.tolist()[:3] == [
        [0, "COMPLETE", "completed", 8],
        [1, "PRUNED", "pruned", 1],
        [2, "PRUNED", "pruned", 3],
    ]


def test_a_search_without_pruning_says_nothing_of_epochs(tmp_path):
    done = {n: t for n, t in TRIALS.items() if t[0] == "COMPLETE"}
    sweep = write_search(tmp_path / "sweep", {0: done[0], 1: done[3]}, pruner=None, copy=False)
    search.write_search_report(sweep, tmp_path / "report")
    md = (tmp_path / "report" / "search_trials.md").read_text()
    assert "- trials run: 2 for n_trials=2: 2 completed; 1 at once; 0 more" in md
    assert "epochs trained" not in md and "pruner" not in md


def test_a_record_that_says_pruned_is_not_the_best_even_where_the_study_says_complete(tmp_path):
    # a job that returned a value after its pruner stopped it: the record's status decides
    trials = {0: TRIALS[0], 1: ("COMPLETE", "pruned", [20.0, 15.0, 12.0], 4)}
    sweep = write_search(tmp_path / "sweep", trials, copy=False)
    best = search.best_row(search.trials_frame(search.read_study(sweep), sweep))
    assert (best["trial"], best["val_err"]) == (0, 18.0)


def test_a_search_without_repeats_is_told_to_add_seeds_to_its_own_command(tmp_path):
    """A search takes `seed=0,1,2` as every trial's repeats: its report gives its command with them."""
    from types import SimpleNamespace

    from ablate.report import tables

    sweep = SimpleNamespace(directory=write_search(tmp_path / "sweep"),
                            command="python -m ablate +sweep=search_budget seed=3 -m")
    completed = SimpleNamespace(repeats=False, frame=pd.DataFrame({"n": [1, 1]}))  # one completed run per design
    assert tables.head_notes(sweep, completed) == [
        "**No difference can be judged: a search runs each design once**, so seed-to-seed noise is unknown; "
        "`search_trials.md` ranks its trials. To judge differences, search with repeats: "
        "`python -m ablate +sweep=search_budget seed=0,1,2 -m` trains every trial's design with each seed and "
        "tells the trial their mean (in a new sweep folder: a study keeps the repeats it started with)."]


def test_a_failed_trial_that_was_retried_says_which_trial_ran_it_again(tmp_path):
    # found by hand: a killed sweep's trials read "left running by a sweep that stopped" beside their retries'
    # completed rows, with nothing to tie the two together
    trials = {0: ("FAIL", "running", [30.0], 1), 1: TRIALS[0]}
    sweep = write_search(tmp_path / "sweep", trials, copy=False)
    study = json.loads((sweep / "study.json").read_text())
    study["trials"][0]["user_attrs"]["fail_reason"] = "left running by a sweep that stopped (vm:1)"
    study["trials"][1]["retry_of"] = 0
    (sweep / "study.json").write_text(json.dumps(study))
    frame = search.trials_frame(search.read_study(sweep), sweep)
    assert frame.reason[0] == "left running by a sweep that stopped (vm:1); retried as trial 1"
    assert pd.isna(frame.reason[1])


def test_a_search_with_repeats_shows_each_trials_mean_runs_and_the_epochs_its_repeats_trained(tmp_path):
    """seed=0,1 in a search: a completed trial ran both repeats (its error and time are their mean and sum), a
    pruned one only its first; the epochs an unpruned search would train count every repeat."""
    sweep = tmp_path / "sweep"
    rows, curves = [], {0: ([30.0, 20.0], [30.0, 22.0]), 1: ([45.0],)}  # trial -> each repeat's val errors
    for n, errors in curves.items():
        dirs = []
        for i, errs in enumerate(errors):
            job_dir = sweep / str(2 * n + i)
            job_dir.mkdir(parents=True)
            status = "completed" if n == 0 else "pruned"
            rec = record([f"model.cardinality={n + 1}", f"seed={i}"], i, errs, status=status,
                         template=_template(n + 1), config={"optim": {"epochs": 2}}, wall_seconds=5.0 + i)
            (job_dir / "result.json").write_text(json.dumps(rec))
            dirs.append(str(job_dir))
        rows.append({"number": n, "state": "COMPLETE" if n == 0 else "PRUNED",
                     "values": [21.0] if n == 0 else None, "params": {"model.cardinality": n + 1}, "constraints": {},
                     "user_attrs": {"job_dir": dirs[0], "job_dirs": dirs, "repeats": ["0", "1"], "job_num": 2 * n}})
    study = {"study_name": "s", "directions": ["minimize"], "objectives": ["return"], "constraints": [],
             "sampler": "TPESampler", "pruner": "HyperbandPruner", "n_trials": 2, "n_jobs": 1,
             "repeats": {"key": "seed", "values": ["0", "1"]},
             "runs": [{"wall_seconds": 20.0, "trials": [0, 1]}], "trials": rows}
    (sweep / "study.json").write_text(json.dumps(study))
    trials = search.trials_frame(study, sweep)
    assert trials["val_err"].tolist() == [21.0, 45.0]  # trial 0: the mean of 20 and 22
    assert trials["runs"].tolist() == [2, 1] and trials["seconds"].tolist() == [11.0, 5.0]
    assert search.epochs_trained(trials) == {"trials": 2, "trained": 2 + 2 + 1, "planned": 2 * 2 * 2,
                                             "share": pytest.approx(5 / 8)}
    md = search.markdown(study, trials, sweep)
    assert ("- repeats: each trial trained its design with seed=0,1 (column `runs`) and was told the mean; "
            "`val err %` is that mean, and the report's table by setting gives each design's 95% CI, verdict and "
            "whether it may be the best (column `vs best (MCB)`)") in md
    assert "- epochs trained: 5 of the 8 these trials would train unpruned (62%)" in md
    assert "- the best of all?" not in md  # one completed design: nothing to compare (no MCB)
    said = "of the 12 designs compared on their 3 seeds, 11 may be the best and 1 is not the best"
    md = search.markdown(study, trials, sweep, notes=[f"the best of all? {said}"])
    assert f"- the best of all? {said}" in md


def write_search_with_repeats(sweep: Path, designs: dict, params=("model.cardinality",)) -> Path:
    """A finished search with seed=0,1,2: trial n trains design C = designs' n-th key with each seed, errors as given."""
    rows = []
    for n, (c, errors) in enumerate(designs.items()):
        dirs = []
        for seed, err in enumerate(errors):
            job_dir = sweep / str(3 * n + seed)
            job_dir.mkdir(parents=True)
            extra = [f"optim.lr={0.1 * (n + 1):g}"] if "optim.lr" in params else []
            rec = record([f"model.cardinality={c}", *extra, f"seed={seed}"], seed, [err + 5, err], template=_template(c),
                         config={"optim": {"epochs": 4}}, job_num=3 * n + seed)
            (job_dir / "result.json").write_text(json.dumps(rec))
            dirs.append(str(job_dir))
        trial_params = {"model.cardinality": c} | ({"optim.lr": 0.1 * (n + 1)} if "optim.lr" in params else {})
        rows.append({"number": n, "state": "COMPLETE", "values": [sum(errors) / 3], "params": trial_params,
                     "constraints": {}, "user_attrs": {"job_dir": dirs[0], "job_dirs": dirs, "repeats": ["0", "1", "2"],
                                                       "job_num": 3 * n}})
    study = {"study_name": "s", "directions": ["minimize"], "objectives": ["return"], "constraints": [],
             "sampler": "TPESampler", "pruner": None, "n_trials": len(designs), "n_jobs": 1,
             "repeats": {"key": "seed", "values": ["0", "1", "2"]},
             "runs": [{"wall_seconds": 20.0, "trials": list(range(len(designs)))}], "trials": rows}
    (sweep / "study.json").write_text(json.dumps(study))
    return sweep


FINALIST_DESIGNS = {1: [20.0, 21.0, 20.4], 2: [19.9, 21.2, 20.1], 4: [25.0, 26.1, 25.3], 8: [20.2, 20.8, 20.6]}


def test_a_search_with_repeats_writes_its_finalists_and_the_command_that_decides_between_them(tmp_path):
    """The designs that may be the best (C = 1, 2, 8; C = 4 is not) are written as model configs, best mean first,
    with one grid command that trains them on fresh seeds."""
    from omegaconf import OmegaConf

    from ablate.report import write_report

    out = write_report(write_search_with_repeats(tmp_path / "sweep", FINALIST_DESIGNS), tmp_path / "report")
    table = pd.read_csv(out / "table.csv").set_index("cardinality")
    assert table.best.to_dict() == {1: "may be the best", 2: "may be the best", 4: "not the best", 8: "may be the best"}
    written = sorted(p.name for p in (out / "model").glob("s_finalist_*.yaml"))
    assert written == ["s_finalist_1.yaml", "s_finalist_2.yaml", "s_finalist_3.yaml"]
    # best mean first: C=8 (20.53), C=1 (20.47)... by mean: 1 → 20.47, 2 → 20.40, 8 → 20.53
    cs = [OmegaConf.load(out / "model" / name).cardinality for name in written]
    assert cs == [2, 1, 8]
    assert OmegaConf.load(out / "model" / "s_finalist_1.yaml").name == "s_finalist_1"
    md = (out / "search_trials.md").read_text()
    command = (f"python -m ablate -m 'hydra.searchpath=[file://{out.resolve()}]' "
               "model=s_finalist_1,s_finalist_2,s_finalist_3 optim.epochs=4 seed=3,4,5,6,7 hydra/callbacks=report "
               "hydra.sweep.dir=sweeps/s_finalists")
    # what five seeds can tell apart at the search's noise: h at n = 5 for the 3 finalists (found running the
    # finalists of the committed search: five seeds left 9 of 11 undecided)
    from ablate.report import best, collect, stats

    s = stats.analyse(collect(tmp_path / "sweep").runs).best.std
    h = best.dunnett_critical(2, 2 * 4) * s * (2 / 5) ** 0.5
    assert ("- finalists: the 3 designs that may be the best are `model/s_finalist_1.yaml` to "
            f"`model/s_finalist_3.yaml`, best mean first; to decide between them, train them with the search's recipe "
            f"on five fresh seeds (at the search's noise, s = {s:.2f}, five seeds tell apart designs about {h:.2f} "
            f"points apart): `{command}`") in md


def test_no_finalists_where_the_search_also_varied_the_recipe_or_the_best_is_decided(tmp_path):
    out = write_report(write_search_with_repeats(tmp_path / "a", FINALIST_DESIGNS, params=("model.cardinality", "optim.lr")),
                       tmp_path / "ra")
    md = (out / "search_trials.md").read_text()
    assert not list((out / "model").glob("s_finalist_*.yaml"))
    assert ("- finalists: the 3 designs that may be the best differ in optim.lr too, so no one grid trains them: "
            "train each with its own command") in md
    decided = {1: [20.0, 21.0, 20.4], 4: [25.0, 26.1, 25.3]}
    out = write_report(write_search_with_repeats(tmp_path / "b", decided), tmp_path / "rb")
    assert "- finalists:" not in (out / "search_trials.md").read_text() and not list((out / "model").glob("*finalist*"))


def test_the_finalists_command_carries_the_searchs_recipe():
    """The grid runs without the search's sweep config, so the recipe that config set is said as overrides: the
    data and optim fields that differ from the default config's (a data set other than the default's first)."""
    from ablate.config.loading import compose
    from ablate.report.finalists import recipe_overrides
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(compose(["optim.epochs=4", "data.train_subset=10000", "trainer.num_threads=1"]),
                                    resolve=True)
    assert recipe_overrides(config) == ["data.train_subset=10000", "optim.epochs=4"]  # trainer: how, not what
    cifar = OmegaConf.to_container(compose(["data=cifar10", "optim.lr=0.05"]), resolve=True)
    assert recipe_overrides(cifar) == ["data=cifar10", "optim.lr=0.05"]
    assert recipe_overrides(OmegaConf.to_container(compose([]), resolve=True)) == []


def test_finalists_of_a_search_on_a_data_config_of_ones_own_still_write_the_report(tmp_path):
    """Second read: the recipe is read by composing the default config with the search's data set, and a data config
    from the user's own folder is not on ablate's path; the report must still be written (no command then)."""
    sweep = write_search_with_repeats(tmp_path / "sweep", FINALIST_DESIGNS)
    for path in sweep.glob("*/result.json"):
        rec = json.loads(path.read_text())
        rec["config"]["data"] = {"name": "mydata", "train_subset": 500}
        path.write_text(json.dumps(rec))
    out = write_report(sweep, tmp_path / "report")
    md = (out / "search_trials.md").read_text()
    assert len(list((out / "model").glob("s_finalist_*.yaml"))) == 3
    assert ("- finalists: the 3 designs that may be the best are `model/s_finalist_1.yaml` to "
            "`model/s_finalist_3.yaml`, best mean first; to decide between them, train them with the search's recipe "
            "on five fresh seeds (at the search's noise, s = ") in md
    assert ("points apart) (its data set mydata is not one of ablate's configs: give its folder with "
            "--config-dir and the search's data and optim settings)") in md
    assert ("model=s_best` (the search's data set mydata is not one of ablate's configs: give its folder with "
            "--config-dir and the search's data and optim settings)") in md


def test_the_commands_of_a_report_inside_the_working_folder_name_it_relative_to_it(tmp_path, monkeypatch):
    """Found in the committed reports: their commands named the report folder as `file:///work/main/reports/…`, the
    path of the clone they were drawn in, so they failed in any other clone. A report folder under the folder the
    report is written from (where the sweep ran, and where the command is typed) is named relative to it; Hydra
    reads a relative `file://` search path from the working folder."""
    from ablate.config import check, compose, searchpath_of

    monkeypatch.chdir(tmp_path)
    out = write_report(write_search_with_repeats(Path("sweep"), FINALIST_DESIGNS), Path("reports") / "r")
    md = (out / "search_trials.md").read_text()
    assert "python -m ablate -m 'hydra.searchpath=[file://reports/r]' model=s_finalist_1," in md
    assert "python -m ablate 'hydra.searchpath=[file://reports/r]' model=s_best" in md
    assert str(tmp_path) not in md
    overrides = ["hydra.searchpath=[file://reports/r]", "model=s_finalist_1"]
    cfg = compose(overrides)
    check(cfg, searchpath_of(overrides))
    assert (cfg.model.name, cfg.model.cardinality) == ("s_finalist_1", 2)
    elsewhere = write_report(Path("sweep"), tmp_path.parent / f"{tmp_path.name}_out")  # outside: absolute, as before
    assert f"'hydra.searchpath=[file://{elsewhere.resolve()}]' model=s_best" in (elsewhere / "search_trials.md").read_text()


def test_the_best_line_says_which_recipe_its_command_trains_with(tmp_path, monkeypatch):
    """Noticed in session 21: the best trial's command trains the design with ablate's default recipe while the
    finalists' command keeps the search's, and the line did not say so; it now says both."""
    monkeypatch.chdir(tmp_path)
    out = write_report(write_search_with_repeats(Path("sweep"), FINALIST_DESIGNS), Path("r"))
    md = (out / "search_trials.md").read_text()
    assert ("; train it with ablate's default recipe: `python -m ablate 'hydra.searchpath=[file://r]' model=s_best` "
            "(add `optim.epochs=4` for the search's)") in md
