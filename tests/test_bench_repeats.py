"""The repeats benchmark's logic (benchmarks/repeats.py): adaptive against fixed n = max on known records.

No timing is asserted and nothing trains: the records are made here, with differences the rules decide
at once, so the runs each design spends and their verdicts are known answers.
"""

from __future__ import annotations

import numpy as np
import pytest

from ablate.errors import DataError
from ablate.report.sequential import Plan
from benchmarks import GROUPS, repeats
from tests.fake_sweeps import write_sweep

EFFECT = [0.0, 1.2, -0.5, 0.6, 0.3, -0.9, 0.1, 0.8, -0.2, 0.4]  # per seed, shared by every setting
PLAN = Plan(min=3, max=10, batch=2)  # looks at 3, 5, 7, 9, 10: the runs below are counted on these looks
NOISE = [0.01, -0.01, 0.02, -0.02, 0.0, 0.01, -0.01, 0.0, 0.02, -0.02]


def known_rows() -> list[tuple[str, int, float]]:
    """r: the reference; a: exactly 2 points better on every seed; b: the same as r within ±0.02."""
    rows = [("r", s, 10 + EFFECT[s]) for s in range(10)]
    rows += [("a", s, 8 + EFFECT[s]) for s in range(10)]
    rows += [("b", s, 10 + EFFECT[s] + NOISE[s]) for s in range(10)]
    return rows


def test_decided_at_the_first_look_spends_min_seeds_and_agrees_with_the_fixed_report():
    plan = PLAN
    result = repeats.compare(repeats.runs_frame(known_rows()), ["r", "a", "b"], "r", plan, 0.2)
    assert result == {
        "r": {"fixed": "reference", "adaptive": "reference", "runs": 3, "fixed_runs": 10},
        "a": {"fixed": "better", "adaptive": "better", "runs": 3, "fixed_runs": 10},
        "b": {"fixed": "equivalent", "adaptive": "equivalent", "runs": 3, "fixed_runs": 10},
    }
    summary = repeats.summarise([(["r", "a", "b"], result)], plan)
    assert summary["run_fraction"] == pytest.approx(9 / 30) and summary["agreement"] == 1.0


def test_a_setting_without_a_chance_of_a_verdict_stops_early_with_the_reference():
    rows = [r for r in known_rows() if r[0] != "b"]
    rows += [("c", s, 10 + EFFECT[s] + (0.3 if s % 2 else -0.3)) for s in range(10)]  # Δ 0 ± 0.3: never decided
    result = repeats.compare(repeats.runs_frame(rows), ["r", "a", "c"], "r", PLAN, 0.2)
    # the fixed n = max leaves it undecided too; the adaptive rule sees that at look 2 and stops it, with the reference
    assert (result["c"]["fixed"], result["c"]["adaptive"], result["c"]["runs"], result["r"]["runs"]) == (
        "undecided",
        "undecided",
        5,
        5,
    )
    assert result["a"]["runs"] == 3
    # without the futility stop it runs to max, and so does the reference
    result = repeats.compare(repeats.runs_frame(rows), ["r", "a", "c"], "r", Plan(min=3, batch=2, futility=0.0), 0.2)
    assert (result["c"]["adaptive"], result["c"]["runs"], result["r"]["runs"]) == ("undecided", 10, 10)


def test_a_real_sweep_folder_gives_the_same_comparison(tmp_path):
    errors = {}
    for setting, seed, err in known_rows():
        errors.setdefault(
            {"r": "model.cardinality=1", "a": "model.cardinality=2", "b": "model.cardinality=4"}[setting], {}
        )[seed] = err
    write_sweep(tmp_path / "sweep", errors)
    result = repeats.from_sweep(tmp_path / "sweep", base=PLAN)
    assert result["run_fraction"] == pytest.approx(9 / 30) and result["agreement"] == 1.0
    assert {s: (r["fixed"], r["adaptive"]) for s, r in result["settings"].items()} == {
        "model.cardinality=1": ("reference", "reference"),
        "model.cardinality=2": ("better", "better"),
        "model.cardinality=4": ("equivalent", "equivalent"),
    }
    assert result["pooled_std"] == pytest.approx(np.std(EFFECT, ddof=1), rel=0.02)


def test_a_sweep_without_a_fixed_n_is_refused(tmp_path):
    write_sweep(
        tmp_path / "sweep", {"model.cardinality=1": {0: 10.0, 1: 10.5, 2: 9.8}, "model.cardinality=2": {0: 9.0, 1: 9.4}}
    )
    with pytest.raises(
        DataError,
        match=r"is not a sweep with a fixed n = max: every setting needs seeds 0…2 "
        r"completed \(it has \{'model.cardinality=1': 3, 'model.cardinality=2': 2\}\)",
    ):
        repeats.from_sweep(tmp_path / "sweep")


def test_the_simulation_is_seeded_and_its_figures_are_fractions():
    one = repeats.simulated(std=0.1, sweeps=4, seed=7)
    assert one == repeats.simulated(std=0.1, sweeps=4, seed=7)
    assert 0 < one["run_fraction"] <= 1 and 0 <= one["agreement"] <= 1 and 0 <= one["contradictions"] <= 1
    assert [r["setting"] for r in one["rows"]] == ["reference", "Δ=0δ", "Δ=1δ", "Δ=2δ", "Δ=3δ"]
    # the rows' mean seeds add up to the run fraction: runs spent / (settings × max)
    assert sum(r["mean_runs"] for r in one["rows"]) / (5 * 10) == pytest.approx(one["run_fraction"])
    assert one["found_2δ"]["adaptive"] == one["rows"][3]["adaptive"].get("worse", 0.0)
    assert repeats.simulated(std=0.1, sweeps=4, seed=7, futility=0.0)["plan"]["futility"] == 0.0


def test_the_false_rate_counts_sweeps_with_any_false_verdict():
    out = repeats.null(sweeps=20, std=0.2, settings=3)
    assert (out["sweeps"], out["settings"], out["alpha"]) == (20, 3, 0.05)
    assert all(round(k * 20, 9).is_integer() and 0 <= k <= 1 for k in (out["adaptive"], out["fixed"]))
    # with no noise at all (std 0: every difference exactly 0) neither design calls anything better or worse
    zero = repeats.null(sweeps=3, std=0.0)
    assert (zero["adaptive"], zero["fixed"]) == (0.0, 0.0)


def test_the_group_is_registered_and_reports_its_tables():
    assert "repeats" in GROUPS
    out = repeats.run(quick=True, results={})
    assert out["title"] == repeats.TITLE and len(out["table"]["rows"]) == 5
    default, stds, gammas, plans, spendings, designs = out["tables"]
    assert "0.14" in default["caption"] and len(default["rows"]) == 5
    assert [row[0] for row in stds["rows"]] == ["0.05", "0.1", "0.14", "0.2", "0.3"]
    assert [row[:2] for row in gammas["rows"]][:2] == [["0", "0.2"], ["0", "0.14"]]
    # each (min, batch) plan at both stds, with its number of looks and its false rate over equal settings
    assert [row[:3] for row in plans["rows"]] == [
        [m, b, looks]
        for m, b, looks in (("2", "1", "9"), ("3", "1", "8"), ("2", "2", "5"), ("3", "2", "5"))
        for _ in "ab"
    ]
    assert all(row[3].endswith("%") for row in plans["rows"])
    # each α-spending function for better/worse at both stds, the default named in the caption
    assert [row[0] for row in spendings["rows"]] == [s for s in ("pocock", "linear", "t^2", "obrien-fleming")
                                                     for _ in "ab"]
    assert "the default is pocock" in spendings["caption"] and all(r[1].endswith("%") for r in spendings["rows"])
    # each stopping rule of benchmarks/repeats_designs.py at both stds, with its false rate over equal settings
    assert [row[:3] for row in designs["rows"]][:3] == [
        ["ablate", "futility 0.3", "0.2"],
        ["ablate", "futility 0.1", "0.2"],
        ["anchored", "γ (ε = 0.02) 0.7", "0.2"],
    ]
    assert len(designs["rows"]) == 12 and all(r[-1].endswith("%") for r in designs["rows"])
    assert sum("target ≤ 60%" in n for n in out["notes"]) == 2
    assert any(n.startswith("No true difference (5 equal settings") for n in out["notes"])


def test_reordered_seeds_keep_every_pair_and_cover_each_seed_once():
    frame = repeats.runs_frame(known_rows())
    copies = list(repeats.reorder(frame, 10, count=5, seed=3))
    assert len(copies) == 5 and any(list(c.seed[:10]) != list(range(10)) for c in copies)
    for copy in copies:
        # every setting holds seeds 0…9 once, and the seed a run of r got is the seed a's run of the same data got
        for s in "rab":
            assert sorted(copy.seed[copy.setting == s]) == list(range(10))
        by = {
            s: dict(zip(copy.seed[copy.setting == s], copy.final_val_err[copy.setting == s], strict=True)) for s in "ra"
        }
        assert all(by["a"][k] == pytest.approx(by["r"][k] - 2) for k in range(10))  # a is 2 points better per seed
    assert [list(c.seed) for c in copies] == [list(c.seed) for c in repeats.reorder(frame, 10, count=5, seed=3)]
