"""The pruning replay (benchmarks/pruning_replay.py): recorded curves looked up by the project's own sweeper.

The searches here are small (six designs of four epochs, a seeded random sampler, whose proposals do not depend
on the values it sees, so the pruned and the unpruned search try the same designs in the same order) and their
outcomes are known from the curves: every curve is the same shape shifted by its design's final error, so a
design that trails the median at epoch 1 trails it at every epoch, and the best design is never pruned."""

from __future__ import annotations

import json

import pytest
from scipy import stats

from benchmarks import pruning_replay as replay

CARDINALITIES = (1, 2, 4, 8, 16, 32)
FINAL = {1: 24.0, 2: 22.5, 4: 21.0, 8: 23.0, 16: 25.5, 32: 26.0}  # C = 4 is the best design
CURVES = {"sweep": "test", "seed": 0, "designs": 6, "curves": [
    {"params": {"model.cardinality": c, "model.depths": "[1,2,1,1]"}, "val_err": [FINAL[c] + d for d in (9, 5, 2, 0)]}
    for c in CARDINALITIES]}
SWEEP = {"params": {"model.cardinality": "choice(1,2,4,8,16,32)", "model.depths": "choice([1,2,1,1])"},
         "n_trials": 6, "direction": "minimize", "sampler": {"_target_": "optuna.samplers.RandomSampler"},
         "pruner": None}
MEDIAN = {"median": {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 1, "n_warmup_steps": 0}}


def test_a_design_has_one_key_however_its_list_value_comes():
    assert replay.key(["[1,2,1,1]", 4]) == replay.key([[1, 2, 1, 1], 4]) == "[[1, 2, 1, 1], 4]"
    assert replay.lookup(CURVES)[replay.key([4, [1, 2, 1, 1]])] == [30.0, 26.0, 23.0, 21.0]


def test_a_recipe_is_recorded_as_overrides_after_the_grid_sweep(tmp_path):
    """`record --recipe data.train_subset=4000 ...` trains the same grid with another recipe: its overrides come
    last, so they win over the sweep file's."""
    command = replay.record_command(tmp_path, 0, 36, ("data.train_subset=4000", "data.val_subset=4000"))
    assert command[-2:] == ["data.train_subset=4000", "data.val_subset=4000"]
    assert command[:-2] == replay.record_command(tmp_path, 0, 36)
    assert "hydra.sweeper.n_trials=36" in command and "hydra.sweeper.pruner=null" in command


def test_the_interval_is_scipys_t_interval():
    values = [0.1, 0.4, -0.2, 0.9, 0.3]
    mean, low, high = replay.interval(values)
    expected = stats.t.interval(0.95, len(values) - 1, loc=stats.tmean(values), scale=stats.sem(values))
    assert mean == pytest.approx(0.3) and (low, high) == pytest.approx(expected)
    assert replay.interval([0.5]) == (0.5, 0.5, 0.5)


def test_the_summary_counts_the_seeds_meeting_each_target():
    unpruned = {s: {"epochs": 100, "best_val_err": 20.0} for s in range(3)}
    pruned = {0: {"epochs": 40, "best_val_err": 20.2}, 1: {"epochs": 60, "best_val_err": 20.0},
              2: {"epochs": 50, "best_val_err": 21.0}}
    s = replay.summarise(pruned, unpruned)
    assert s["epoch_share"][0] == pytest.approx(0.5) and s["error_difference"][0] == pytest.approx(0.4)
    assert (s["seeds_epochs_met"], s["seeds_error_met"], s["seeds_both_met"]) == (2, 2, 1)
    assert s["mean_met"] is False  # +0.4 on average


def test_the_best_designs_fate_tells_a_pruned_winner_from_one_never_proposed():
    table = replay.lookup(CURVES)
    best = replay.key([4, "[1,2,1,1]"])  # C = 4, 21.0 % (parameter names sorted: cardinality, depths)
    assert replay.best_designs(table) == {best}
    other = replay.key([1, "[1,2,1,1]"])
    assert replay.fate([{"design": other, "status": "completed", "epochs": 4}], {best}) == "not proposed"
    assert replay.fate([{"design": best, "status": "pruned", "epochs": 3}], {best}) == "pruned at epoch 3"
    assert replay.fate([{"design": best, "status": "pruned", "epochs": 1},
                        {"design": best, "status": "completed", "epochs": 4}], {best}) == "completed"
    # designs that tie for the best final error are all the best: training either to the end finds it
    tied = {**table, other: [30.0, 26.0, 23.0, 21.0]}
    assert replay.best_designs(tied) == {best, other}
    assert replay.fate([{"design": other, "status": "completed", "epochs": 4}], replay.best_designs(tied)) == "completed"


def test_unknown_pruner_is_one_sentence_and_exit_2(capsys):
    assert replay.main(["--pruners", "sweep,nope", "--curves", "unused.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--pruners 'nope' is not one of" in err and "hyperband-rf2" in err


def test_the_replayed_searches_have_the_outcomes_the_curves_give():
    result = replay.replay(CURVES, seeds=2, pruners=MEDIAN, jobs=1, sweep=SWEEP)
    for seed in (0, 1):
        unpruned, pruned = result["runs"]["unpruned"][seed], result["runs"]["median"][seed]
        # every design once (copies of a design run already are not run again and do not count), to the end
        assert (unpruned["runs"], unpruned["pruned"], unpruned["epochs"]) == (6, 0, 24)
        assert unpruned["best_val_err"] == 21.0 == pruned["best_val_err"]  # the best design is never pruned
        assert pruned["runs"] == 6 and pruned["pruned"] >= 1
        assert pruned["epochs"] == 4 * (6 - pruned["pruned"]) + pruned["pruned"]  # pruned at epoch 1 or not at all
        assert unpruned["best_design"] == "completed" == pruned["best_design"]
    summary = result["summary"]["median"]
    assert summary["seeds"] == 2 and summary["error_difference"][0] == 0.0 and summary["epoch_share"][0] < 1
    assert summary["best_design"] == {"completed": 2}
    assert json.loads(json.dumps(result, default=str))["designs"] == 6


def test_the_replay_is_a_benchmark_group_and_its_sweep_is_the_pruning_search():
    from benchmarks import GROUPS

    assert "pruning_replay" in GROUPS
    node = replay.sweep_node()
    assert replay.space_size(node["params"]) == 36 and node["n_trials"] == 24
    nodes = replay.pruner_nodes(["sweep", "hyperband-rf2"], node)
    assert nodes["sweep"] == node["pruner"] and nodes["hyperband-rf2"]["max_resource"] == node["pruner"]["max_resource"]
    assert replay.override_value({"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 4}) == (
        "{_target_:optuna.pruners.MedianPruner,n_startup_trials:4}")  # ablate.errors'


def test_tpe_under_hyperband_models_every_trial_not_only_its_brackets():
    # the README's pruning section rests on it (an earlier reading of optuna.pruners._filter_study said otherwise):
    # TPE reads the study's `_get_trials`, which Hyperband's bracket study leaves unfiltered
    import optuna

    def proposals(filtered: bool) -> list:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3, n_startup_trials=4),
                                    pruner=optuna.pruners.HyperbandPruner(1, 8, 3), study_name="s")
        seen = []

        def objective(trial):
            c = trial.suggest_categorical("c", list(FINAL))
            seen.append(c)
            for epoch, value in enumerate([FINAL[c] + d for d in (9, 5, 2, 0)], 1):
                trial.report(value, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            return FINAL[c]

        study.optimize(objective, n_trials=16)
        brackets = {study.pruner._get_bracket_id(study, t) for t in study.trials}
        assert brackets == {0, 1}  # two brackets: a bracket-only model would see fewer trials than the study has
        return seen

    previous = optuna.pruners._filter_study
    try:
        with_filter = proposals(True)
        optuna.pruners._filter_study = lambda study, trial: study  # no brackets anywhere
        assert proposals(False) == with_filter
    finally:
        optuna.pruners._filter_study = previous


def test_the_held_out_error_of_the_picked_design_is_compared_where_the_curves_hold_it(tmp_path):
    """The design a search picks is its completed trial with the lowest final value (the first on a tie); with
    held-out errors in the curves, each search reports its pick's and the summary their differences."""
    for num, (design, status, value) in enumerate([("a", "completed", 22.0), ("b", "pruned", None),
                                                   ("c", "completed", 21.0), ("d", "completed", 21.0)]):
        (tmp_path / str(num)).mkdir()
        job = {"design": design, "status": status, "epochs": 4, **({"value": value} if value else {})}
        (tmp_path / str(num) / "replay.json").write_text(json.dumps(job))
    assert replay.picked(tmp_path) == "c"
    assert replay.picked(tmp_path / "none") is None
    held = {**CURVES, "curves": [{**c, "heldout_err": FINAL[c["params"]["model.cardinality"]] + 0.5}
                                 for c in CURVES["curves"]]}
    result = replay.replay(held, seeds=2, pruners=MEDIAN, jobs=1, sweep=SWEEP)
    for seed in (0, 1):
        assert result["runs"]["unpruned"][seed]["best_heldout_err"] == 21.5 == result["runs"]["median"][seed][
            "best_heldout_err"]  # C = 4's held-out error: both picked it
    summary = result["summary"]["median"]
    assert summary["heldout_difference"] == (0.0, 0.0, 0.0) and summary["seeds_heldout_met"] == 2
    t = replay.table(result)
    assert t["headers"][-2].startswith("held-out error of the picked design") and t["rows"][0][-2].startswith("+0.00")
    assert any("judged on held-out errors" in n for n in replay.notes(result))
    # held out, the space averages mean(FINAL) + 0.5 and both picks score 21.5: the search beats a random pick by that
    space = sum(FINAL.values()) / len(FINAL) + 0.5
    assert result["search_worth"] == pytest.approx({"space_mean": space, "space_best": 21.5,
                                                    "unpruned_pick_mean": 21.5, "gain_over_random": space - 21.5})
    assert any(f"the search beats a random pick by {space - 21.5:+.2f} points" in n for n in replay.notes(result))
    # curves without held-out errors (those recorded before): no held-out columns
    plain = replay.replay(CURVES, seeds=1, pruners=MEDIAN, jobs=1, sweep=SWEEP)
    assert plain["summary"]["median"]["heldout_difference"] is None and len(replay.table(plain)["headers"]) == 5
    assert plain["search_worth"] is None


def test_unpruned_and_pruned_differences_count_only_seeds_where_both_picked():
    unpruned = {0: {"epochs": 100, "best_val_err": 20.0, "best_heldout_err": 21.0},
                1: {"epochs": 100, "best_val_err": 20.0, "best_heldout_err": 21.0}}
    pruned = {0: {"epochs": 40, "best_val_err": 20.5, "best_heldout_err": 21.1},
              1: {"epochs": 60, "best_val_err": None, "best_heldout_err": None}}
    s = replay.summarise(pruned, unpruned)
    assert s["heldout_difference"][0] == pytest.approx(0.1) and s["seeds_heldout_met"] == 1
    assert s["seeds_heldout_both_met"] == 1 and s["seeds_error_met"] == 0 and s["heldout_mean_met"] is True


def test_the_rung_ranks_are_scipys_spearman_of_each_epoch_against_the_final_and_held_out_errors():
    """The shifted curves rank the designs at every epoch as at the last (rho 1); a curve set whose first epoch
    ranks them in reverse gives -1 there; the held-out column is Spearman's rho against the held-out errors."""
    assert [r["final"] for r in replay.rung_ranks(CURVES)] == pytest.approx([1.0, 1.0, 1.0])
    reverse = {**CURVES, "curves": [{**c, "val_err": [100 - c["val_err"][-1], *c["val_err"][1:]],
                                     "heldout_err": h} for c, h in zip(CURVES["curves"], (3, 1, 2, 6, 5, 4), strict=True)]}
    ranks = replay.rung_ranks(reverse)
    assert ranks[0]["final"] == pytest.approx(-1.0) and ranks[1]["final"] == pytest.approx(1.0)
    firsts = [c["val_err"][0] for c in reverse["curves"]]
    assert ranks[0]["heldout"] == pytest.approx(stats.spearmanr(firsts, [3, 1, 2, 6, 5, 4]).statistic)
    assert "heldout" not in replay.rung_ranks(CURVES)[0]


def test_the_default_curve_file_is_named_by_the_sweeps_training_images_and_val_subset():
    """The replay's default curves are those of the sweep file's own recipe: a recipe with another training set
    (the former 1,000 images) or val subset has files of its own, and record never overwrites them by default."""
    from omegaconf import OmegaConf

    data = OmegaConf.load(replay.SWEEP_FILE).data
    assert replay.curves_file(3).name == f"pruning_curves_{data.train_subset}_val{data.val_subset}_seed3.json"
    assert replay.curves_file(0).parent == replay.BENCH
    # the sweep's own recipe has committed curves, for the benchmark group and the README's figures
    for seed in (0, 1):
        recorded = json.loads(replay.curves_file(seed).read_text())
        assert (recorded["seed"], recorded["designs"], recorded["curves"][0]["heldout_images"]) == (
            seed, 36, 10_000 - data.val_subset)


def test_the_default_curve_file_follows_the_recipe_overrides():
    """Found in session 34's second read: `record --recipe data.train_subset=N` without --curves wrote a file named
    for the sweep file's training images, over that recipe's curves. The name follows the recipe's training images
    and val subset; an override the name cannot hold is refused (exit 2) before anything trains."""
    from omegaconf import OmegaConf

    data = OmegaConf.load(replay.SWEEP_FILE).data
    val, images = data.val_subset, data.train_subset
    assert replay.curves_file(0, ("data.train_subset=2000",)).name == f"pruning_curves_2000_val{val}_seed0.json"
    assert replay.curves_file(1, ("data.val_subset=777",)).name == f"pruning_curves_{images}_val777_seed1.json"
    assert replay.curves_file(2, (f"data.val_subset={data.val_subset}",)) == replay.curves_file(2)
    with pytest.raises(ValueError, match="data.augment=true"):
        replay.curves_file(0, ("data.augment=true",))
    assert replay.main(["record", "--recipe", "optim.epochs=3"]) == 2


CARDINALITY = "model.cardinality"


def test_the_replay_reports_the_curve_prune_on_names(tmp_path):
    """With the sweep's `prune_on: train_loss` the replayed trials report the recorded training losses to the pruner
    (and still return the final val error); curves recorded without them are refused in one sentence."""
    import optuna

    losses = {**CURVES, "curves": [{**c, "train_loss": [v / 10 for v in c["val_err"]]} for c in CURVES["curves"]]}
    nop = {"_target_": "optuna.pruners.NopPruner"}  # a pruner, so that each trial reports; one that stops none
    result = replay.search(losses, 0, nop, tmp_path / "s", {**SWEEP, "prune_on": "train_loss", "n_jobs": 1})
    study = optuna.load_study(study_name="replay", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    ran = [t for t in study.trials if t.user_attrs.get("copy_of") is None]  # copies of a design run already: no curve
    assert len(ran) == len({t.params[CARDINALITY] for t in study.trials}) >= 3
    for trial in ran:
        curve = next(c for c in losses["curves"] if c["params"]["model.cardinality"] == trial.params[CARDINALITY])
        assert list(trial.intermediate_values.values()) == pytest.approx(curve["train_loss"])
        assert trial.value == pytest.approx(curve["val_err"][-1])
    assert result["best_val_err"] == min(FINAL.values())
    with pytest.raises(ValueError, match="the curves hold no train_loss of every design"):
        replay.search(CURVES, 0, nop, tmp_path / "t", {**SWEEP, "prune_on": "train_loss"})
    # on the command line: refused in one sentence before any search, exit 2 (the sweep file prunes on train_loss)
    (tmp_path / "old.json").write_text(json.dumps(CURVES))
    assert replay.main(["--curves", str(tmp_path / "old.json"), "--seeds", "1"]) == 2


def test_a_node_without_n_jobs_replays_the_sweepers_default(tmp_path):
    """Noticed in session 34: a sweeper node without n_jobs was replayed one trial at a time, where the sweeper it
    stands for asks its default (2) at once."""
    import yaml

    from hydra_plugins.ablate_optuna_sweeper._config import AblateOptunaSweeperConf

    node = {k: v for k, v in SWEEP.items() if k != "n_jobs"}
    replay.search(CURVES, 0, None, tmp_path / "s", node)
    ran = yaml.safe_load((tmp_path / "s" / "multirun.yaml").read_text())["hydra"]["sweeper"]
    assert ran["n_jobs"] == AblateOptunaSweeperConf.n_jobs == 2


def test_the_replay_asks_as_many_trials_at_once_as_the_sweep_does(tmp_path):
    """Found by comparing a real pair with its replay (session 34): the replay ran the sweeper's default of two trials
    per batch, where conf/sweep/search_pruning.yaml asks one at a time, so TPE proposed trial 10 without trial 9's
    value and the replayed search parted from the real one there. The replayed sweep takes the node's n_jobs."""
    import yaml

    for n_jobs in (1, 3):
        replay.search(CURVES, 0, None, tmp_path / str(n_jobs), {**SWEEP, "n_jobs": n_jobs})
        ran = yaml.safe_load((tmp_path / str(n_jobs) / "multirun.yaml").read_text())["hydra"]["sweeper"]
        assert ran["n_jobs"] == n_jobs
    assert replay.sweep_node()["n_jobs"] == 1


def test_the_sweeps_search_replayed_on_the_third_seeds_curves_is_the_real_pruned_search(tmp_path):
    """The independent check of `prune_on: train_loss` (README, session 36): training seed 2's committed curves,
    the sweep file's search with sampler seed 2, give what the real `python -m ablate -m +sweep=search_pruning
    seed=2` gave on this recipe (its 24 designs, 16 pruned, 96 of 192 epochs, 12.38 % val, 12.42 % held out), and
    what the committed replay says for that seed."""
    curves = json.loads((replay.BENCH / "pruning_curves_4000_val5000_seed2.json").read_text())
    assert curves["seed"] == 2 and curves["designs"] == 36
    node = replay.sweep_node()
    assert node["prune_on"] == "train_loss"
    pruner = node["pruner"]
    result = replay.search(curves, 2, pruner, tmp_path / "s", node)
    real = {"runs": 24, "pruned": 16, "epochs": 96, "best_val_err": 12.38, "best_heldout_err": 12.42}
    assert {k: result[k] for k in real} == real
    committed = json.loads((replay.BENCH / "pruning_replay_4000_val5000_train_loss_seed2.json").read_text())
    assert {k: committed["runs"]["sweep"]["2"][k] for k in real} == real
