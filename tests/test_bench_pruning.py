"""The pruning benchmark (benchmarks/pruning.py) on hand-made sweep folders, its sweep config
(conf/sweep/search_pruning.yaml), and the search_slots group's figures. Nothing trains or sleeps here: the
benchmark's searches take minutes even at its quick size, so its reading and comparing are tested on known
records, and the config by composing it."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from benchmarks import GROUPS, pruning, search_slots
from benchmarks import report as bench_report
from hydra_plugins.ablate_optuna_sweeper import _search_space as search_space
from hydra_plugins.ablate_optuna_sweeper import register
from tests.test_search_report import EPOCHS, TRIALS, write_search

UNPRUNED = {  # the same six designs, each trained to the end: trial 2's design is the best at 16.3
    0: TRIALS[0],
    1: ("COMPLETE", "completed", [40, 35, 30, 28, 27, 26, 25.5, 25.0], 2),
    2: ("COMPLETE", "completed", [20, 15, 12, 17, 16.6, 16.5, 16.4, 16.3], 4),
    3: TRIALS[3],
    4: ("COMPLETE", "completed", [31, 27, 26, 24, 23, 22, 21.5, 21.0], 16),
    5: ("COMPLETE", "completed", [35, 30, 28, 26, 25, 24, 23.5, 23.0], 32),
}


@pytest.fixture
def arms(tmp_path):
    pruned = pruning.summarise(write_search(tmp_path / "pruned", TRIALS))
    unpruned = pruning.summarise(write_search(tmp_path / "unpruned", UNPRUNED, pruner=None, copy=False))
    return {"pruned": pruned, "unpruned": unpruned}


def test_each_search_is_read_from_its_records(arms):
    pruned, unpruned = arms["pruned"], arms["unpruned"]
    assert (pruned["trials"], pruned["epochs"], pruned["planned_epochs"]) == (6, 23, 6 * EPOCHS)
    assert pruned["statuses"] == {"completed": 2, "pruned": 3, "failed": 1}
    assert pruned["pruned_at"] == {"1": 2, "3": 1}
    assert (pruned["best_trial"], pruned["best_val_err"]) == (3, 16.5)  # not trial 2's 12.0 at epoch 3
    assert pruned["best_params"] == {"model.cardinality": 8}
    assert (pruned["pruner"], unpruned["pruner"]) == ("HyperbandPruner", None)
    assert (unpruned["trials"], unpruned["epochs"], unpruned["statuses"]) == (6, 48, {"completed": 6})
    assert (unpruned["best_trial"], unpruned["best_val_err"]) == (2, 16.3)
    assert pruned["wall_seconds"] == unpruned["wall_seconds"] == 300.0


def test_the_comparison_and_its_targets(arms):
    c = pruning.compare(arms["pruned"], arms["unpruned"])
    assert c["epoch_share"] == pytest.approx(23 / 48) and c["error_difference"] == pytest.approx(0.2)
    assert (c["epochs_met"], c["error_met"], c["met"]) == (True, True, True)
    worse = {**arms["pruned"], "best_val_err": 16.7, "epochs": 30}
    c = pruning.compare(worse, arms["unpruned"])
    assert c["error_difference"] == pytest.approx(0.4) and c["epoch_share"] == pytest.approx(30 / 48)
    assert (c["epochs_met"], c["error_met"], c["met"]) == (False, False, False)
    exactly = pruning.compare({**arms["pruned"], "best_val_err": 16.6, "epochs": 24}, arms["unpruned"])
    assert (exactly["epochs_met"], exactly["error_met"]) == (True, True)  # 0.3 points and 50% are within
    nothing = pruning.compare({**arms["pruned"], "best_val_err": None}, arms["unpruned"])
    assert (nothing["error_difference"], nothing["error_met"], nothing["met"]) == (None, None, None)


def test_the_group_result_renders_a_table_notes_and_a_target(arms):
    result = pruning.result_of(arms, seed=0, quick=False)
    assert result["title"] == pruning.TITLE
    assert result["table"]["rows"] == [
        [
            "pruned",
            "6: 2 completed, 3 pruned, 1 failed",
            "2 at 1, 1 at 3",
            "23 of 48",
            "16.50% (trial 3: cardinality=8)",
            "300",
        ],
        ["unpruned", "6: 6 completed", "–", "48 of 48", "16.30% (trial 2: cardinality=4)", "300"],
    ]
    assert any("trained 48% of the unpruned search's epochs (target ≤ 50%: met)" in n for n in result["notes"])
    assert any("+0.20 points (target ≤ +0.3 points: met)" in n for n in result["notes"])
    target = bench_report.targets({"pruning": result})[-1]
    assert (target["measured"], target["status"]) == ("48% of the epochs, best +0.20 points", "met")
    quick = pruning.result_of(arms, seed=0, quick=True, overrides=pruning.QUICK)
    assert bench_report.targets({"pruning": quick})[-1]["status"] == "– (quick: smoke size)"
    assert any(n.startswith("--quick: a smoke size") for n in quick["notes"])
    assert "## " + pruning.TITLE in bench_report.markdown(
        {
            "command": "x",
            "finished_at": "now",
            "seconds": 1.0,
            "group_seconds": {"pruning": 1.0},
            "machine": {
                "cpu": "c",
                "cpu_flags": [],
                "cores": 2,
                "threads": 2,
                "torch": "t",
                "mkldnn": True,
                "python": "3.11",
            },
            "targets": bench_report.targets({"pruning": result}),
            "groups": {"pruning": result},
        }
    )


def test_both_searches_run_the_sweep_config_with_and_without_its_pruner(tmp_path):
    cmd = pruning.command(tmp_path / "unpruned", 3, pruning.ARMS["unpruned"])
    assert cmd[1:] == [
        "-m",
        "ablate",
        "-m",
        "+sweep=search_pruning",
        f"hydra.sweep.dir={tmp_path / 'unpruned'}",
        "seed=3",
        "~hydra.callbacks.report",
        "hydra.sweeper.pruner=null",
    ]
    assert pruning.ARMS["pruned"] == ()
    assert "search_slots" in GROUPS and "pruning" in GROUPS


def _compose(*overrides: str):
    register()
    GlobalHydra.instance().clear()
    with initialize_config_module("ablate.conf", version_base="1.3"):
        return compose("config", overrides=["+sweep=search_pruning", *overrides], return_hydra_config=True)


def test_search_pruning_config():
    cfg = _compose()
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.ablate_optuna_sweeper.sweeper.AblateOptunaSweeper"
    assert (sweeper.direction, sweeper.objectives, sweeper.n_trials, sweeper.n_jobs) == ("minimize", None, 24, 1)
    assert cfg.hydra.launcher._target_.endswith("BasicLauncher")
    assert (sweeper.sampler._target_, sweeper.sampler.seed) == ("optuna.samplers.TPESampler", cfg.seed)
    assert OmegaConf.to_container(sweeper.pruner) == {
        "_target_": "optuna.pruners.HyperbandPruner",
        "min_resource": 1,
        "max_resource": cfg.optim.epochs,
        "reduction_factor": 3,
    }
    assert (cfg.budget.metric, cfg.budget.scale, cfg.budget.tolerance, cfg.model.name) == ("params", 2.0, 0.1, "tiny")
    assert _compose("hydra.sweeper.pruner=null").hydra.sweeper.pruner is None
    quick = _compose(*pruning.QUICK)  # the benchmark's quick size keeps the pruner's last rung at the last epoch
    assert quick.hydra.sweeper.pruner.max_resource == quick.optim.epochs == 2


def test_search_pruning_space_is_larger_than_its_trials_and_every_design_meets_the_budget():
    from ablate.config.loading import solve_cfg

    cfg = _compose()
    space = search_space.parse(OmegaConf.to_container(cfg.hydra.sweeper.params))
    search_space.check_keys(space, cfg)
    axes = {k: d.choices for k, d in space.distributions.items()}
    assert axes["model.cardinality"] == (1, 2, 4, 8, 16, 32)
    designs = [
        (c, depths, width)
        for c in axes["model.cardinality"]
        for depths in axes["model.depths"]
        for width in axes["model.width"]
    ]
    assert len(designs) == 36 > cfg.hydra.sweeper.n_trials
    deviations = []
    for c, depths, width in designs:
        member = _compose(f"model.cardinality={c}", f"model.depths={depths}", f"model.width={width}")
        template, solution = solve_cfg(member)
        assert (template.cardinality, template.width, solution.vary) == (c, width, "bottleneck_width")
        deviations.append(abs(solution.deviation))
    assert max(deviations) <= cfg.budget.tolerance


# -- benchmarks/search_slots.py --------------------------------------------------------------------------------------

ROWS = [
    {
        "mode": "batches",
        "lengths": [2.0, 12.0],
        "trials": 24,
        "slots": 4,
        "job_seconds": 170.0,
        "span_seconds": 70.0,
        "wall_seconds": 75.0,
        "occupancy_while_left": 0.55,
        "occupancy": 0.61,
        "occupancy_of_wall": 0.57,
    },
    {
        "mode": "asynchronous",
        "lengths": [2.0, 12.0],
        "trials": 24,
        "slots": 4,
        "job_seconds": 170.0,
        "span_seconds": 50.0,
        "wall_seconds": 53.0,
        "occupancy_while_left": 0.97,
        "occupancy": 0.85,
        "occupancy_of_wall": 0.8,
    },
    {
        "mode": "batches",
        "lengths": [0.5, 3.0],
        "trials": 24,
        "slots": 4,
        "job_seconds": 42.0,
        "span_seconds": 18.0,
        "wall_seconds": 21.0,
        "occupancy_while_left": 0.6,
        "occupancy": 0.58,
        "occupancy_of_wall": 0.5,
    },
    {
        "mode": "asynchronous",
        "lengths": [0.5, 3.0],
        "trials": 24,
        "slots": 4,
        "job_seconds": 42.0,
        "span_seconds": 12.5,
        "wall_seconds": 15.0,
        "occupancy_while_left": 0.91,
        "occupancy": 0.84,
        "occupancy_of_wall": 0.7,
    },
]


def test_search_slots_fits_the_group_protocol_and_reports_its_target():
    assert search_slots.parse_lengths("2-12,0.5-3") == [(2.0, 12.0), (0.5, 3.0)]
    assert (search_slots.busy(ROWS), search_slots.busy(ROWS, "batches")) == (0.91, 0.55)  # the lowest of each mode
    rows = search_slots.table(ROWS)["rows"]
    assert rows[1] == ["2-12", "asynchronous", "170", "50", "53", "97%", "85%", "80%"]
    result = {
        "title": search_slots.TITLE,
        "quick": False,
        "trials": 24,
        "slots": 4,
        "rows": ROWS,
        "busy": search_slots.busy(ROWS),
        "baseline": search_slots.busy(ROWS, "batches"),
    }
    assert any(
        "slots 91% busy while trials are left to start" in n
        and "target ≥ 90%: met" in n
        and "batches (the loop before, the baseline): 55%" in n
        for n in search_slots.notes(result)
    )
    target = bench_report.targets({"search_slots": result})[-1]
    assert target["status"] == "met" and target["measured"].startswith("91% while trials are left to start")
    assert callable(search_slots.run)


def test_the_launcher_floor_is_reported_beside_the_target():
    floor = {**ROWS[3], "mode": search_slots.LAUNCHER, "occupancy_while_left": 0.94}
    result = {"title": search_slots.TITLE, "quick": False, "trials": 24, "slots": 4, "rows": [*ROWS, floor]}
    assert search_slots.busy(result["rows"], search_slots.LAUNCHER) == 0.94
    assert search_slots.busy(result["rows"]) == 0.91  # the target's figure is still the sweeper's
    assert [n for n in search_slots.notes(result) if n.startswith(search_slots.LAUNCHER)] == [
        "launcher alone (the same jobs from the same slots through Hydra's joblib launcher, no sweeper): 94%: what the "
        "launcher's own per-job work leaves idle, whatever the sweeper does."]


def test_the_launcher_floor_runs_every_job_once_with_its_number(tmp_path):
    """`launcher_slots` launches each job through Hydra's joblib launcher, numbered as given, from its slots."""
    from joblib.externals.loky import get_reusable_executor

    from benchmarks.sweeper_app import launcher_slots

    try:
        launcher_slots("launcher_floor_test", search_slots.CONFIG, search_slots.sleeper,
                       ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}"],
                       [["x=0.5", "shortest=0.01", "longest=0.02"]] * 3, slots=2)
    finally:
        get_reusable_executor().shutdown(wait=True)
    jobs = sorted((json.loads(p.read_text()) for p in tmp_path.glob("[0-9]*/result.json")),
                  key=lambda job: job["job_num"])
    assert [j["job_num"] for j in jobs] == [0, 1, 2]
    assert all(0.01 <= j["end"] - j["start"] < 0.5 for j in jobs)  # each job composed with its own overrides


def test_the_error_target_is_judged_on_held_out_scores_where_both_searches_have_them(arms):
    """A search's own best score is the lowest of its completed trials' noisy scores: with held-out scores of the
    two picked designs, the target is judged on their paired difference, and the table and notes show both."""
    import torch

    n = 1000
    pruned = torch.ones(n, dtype=torch.bool)
    pruned[:200] = False  # 20.0 % held out
    unpruned = torch.ones(n, dtype=torch.bool)
    unpruned[:195] = False  # 19.5 % held out
    scores = {"pruned": {"err": 20.0, "images": n, "correct": pruned},
              "unpruned": {"err": 19.5, "images": n, "correct": unpruned}}
    result = pruning.result_of({k: dict(v) for k, v in arms.items()}, seed=0, quick=False, heldout=scores)
    c = result["comparison"]
    assert c["error_difference"] == pytest.approx(0.2) and c["error_met"] is True  # own scores: +0.2, met
    assert c["heldout_difference"][0] == pytest.approx(0.5) and c["heldout_met"] is False
    assert c["met"] is False  # judged held out
    assert c["heldout_difference"][1] < 0.5 < c["heldout_difference"][2]
    assert result["table"]["rows"][0][4] == "16.50%, held out 20.00% (trial 3: cardinality=8)"
    assert any("on the 1,000 validation images neither search selected on" in note and "+0.50 points" in note
               and "missed" in note for note in result["notes"])
    assert any("(target ≤ +0.3 points: met, on the searches' own scores)" in note for note in result["notes"])
    target = bench_report.targets({"pruning": result})[-1]
    assert (target["measured"], target["status"]) == ("48% of the epochs, best +0.20 points (+0.50 held out)",
                                                      "missed")
    better = pruning.compare(arms["pruned"], arms["unpruned"], (-0.4, -0.9, 0.1))
    assert (better["heldout_met"], better["met"]) == (True, True)
