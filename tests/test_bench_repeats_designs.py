"""The stopping rules the repeats benchmark compares with `+repeats=auto` (benchmarks/repeats_designs.py).

Nothing trains and no timing is asserted. The vectorised fixed report must give the verdicts of ablate's own
report on the same records, and each rule must reduce to that report where its thresholds never let it stop early:
the known answers that make its figures mean what they say.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ablate.report import stats
from ablate.report.options import Options
from ablate.report.sequential import Plan
from benchmarks import repeats
from benchmarks import repeats_designs as designs

NAMES = ["reference", "a", "b", "c", "d"]
TRUTH = dict(zip(NAMES, [0.0, 0.0, 0.2, 0.4, -0.6], strict=True))


def sweep(seed: int, std: float = 0.2) -> tuple[np.ndarray, dict[str, str]]:
    """A simulated sweep's errors (settings × 10 seeds) and ablate's fixed report's verdict kind per setting."""
    rows = repeats.draw(np.random.default_rng(seed), NAMES, TRUTH, 10, std, 0.0)
    fixed = stats.analyse(repeats.runs_frame(rows), Options(reference="reference", resolution=0.2))
    kinds = {s: repeats.kind(v) for s, v in zip(fixed.frame.setting, fixed.frame.verdict, strict=True)}
    errors = np.array([[e for s, _, e in rows if s == name] for name in NAMES])
    return errors, kinds


def test_the_vectorised_report_gives_the_verdicts_of_ablates_report():
    seen = set()
    for std in (0.1, 0.2, 0.3):
        for seed in range(40):
            errors, kinds = sweep(seed, std)
            got = designs.report_verdicts(errors[1:] - errors[0], 0.05, 0.2)
            assert [designs.CODES[v] for v in got] == [kinds[s] for s in NAMES[1:]]
            seen |= set(kinds.values())
    assert {"better", "worse", "equivalent", "undecided"} <= seen  # every branch was compared


def test_holm_matches_ablates_on_ties_and_nan():
    p = np.array([0.01, 0.04, 0.01, np.nan, 0.3])
    expected = stats.holm([0.01, 0.04, 0.01, 1.0, 0.3])
    assert designs._holm(p) == pytest.approx(expected)


def test_curtailment_that_never_trusts_a_prediction_is_the_fixed_report():
    plan = Plan()
    for seed in range(5):
        errors, kinds = sweep(seed)
        got = designs.curtailed(errors, 1.01, plan, np.random.default_rng(seed), draws=200)
        assert [designs.CODES[v] for v, _ in got[:-1]] == [kinds[s] for s in NAMES[1:]]
        assert [n for _, n in got] == [10] * 5


def test_anchored_without_early_alpha_or_predictions_is_the_fixed_report_at_alpha():
    plan = Plan()
    for seed in range(5):
        errors, kinds = sweep(seed)
        got = designs.anchored(errors, 1.01, plan, np.random.default_rng(seed), epsilon=1e-12, draws=200)
        assert [designs.CODES[v] for v, _ in got[:-1]] == [kinds[s] for s in NAMES[1:]]
        assert [n for _, n in got] == [10] * 5


def test_a_clear_difference_stops_at_the_first_look_in_every_rule():
    plan = Plan()
    errors = np.array(
        [[10.0 + 0.01 * (-1) ** i for i in range(10)], [7.0 + 0.01 * (-1) ** (i // 2) for i in range(10)]]
    )
    for rule in (designs.curtailed, designs.anchored):
        assert rule(errors, 0.9, plan, np.random.default_rng(0), draws=200) == [(designs.BETTER, 2), (-1, 2)]


def test_the_frontier_reports_every_design_on_the_same_sweeps():
    rows = designs.frontier(stds=(0.2,), sweeps=3, null_sweeps=3)
    assert [(r["rule"], r["parameter"]) for r in rows] == list(designs.DESIGNS)
    for r in rows:
        assert 0 < r["run_fraction"] <= 1 and 0 <= r["agreement"] <= 1 and 0 <= r["false"] <= 1
    ablate = designs.simulated(0.2, 3, designs=(("ablate", 0.3),))[("ablate", 0.3)]
    same = repeats.summarise(ablate, Plan())
    assert rows[0]["run_fraction"] == pytest.approx(same["run_fraction"])  # the same sweeps (seed 0) for each design


ROOT = Path(__file__).resolve().parents[1]
REAL = str(ROOT / "reports/cardinality_vs_width_10_seeds/runs.csv")  # the built-in default's main job, seed=range(10)


def test_on_the_real_records_ablates_rule_replays_the_committed_orders():
    import json

    rows = designs.on_records(REAL, designs=(("ablate", 0.3),))
    committed = json.loads((ROOT / "reports/bench/repeats_default.json").read_text())["orders"]
    # the same 100 seed orders as benchmarks.repeats.reorder, so the same figures as its committed replay
    assert rows[0]["run_fraction"] == pytest.approx(committed["run_fraction"])
    assert rows[0]["agreement"] == pytest.approx(committed["agreement"])
    assert rows[0]["fixed"] == dict.fromkeys(rows[0]["fixed"], "better") and len(rows[0]["fixed"]) == 4


def test_records_without_a_fixed_n_are_refused_in_one_sentence(tmp_path, capsys):
    import pandas as pd

    frame = pd.read_csv(REAL)
    frame.drop(index=frame.index[(frame.seed == 7)][:1]).to_csv(tmp_path / "runs.csv", index=False)
    assert designs.main(["--runs", str(tmp_path / "runs.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "every seed 0…9 completed" in err and "seed=range(10)" in err


def test_a_file_that_is_not_a_runs_csv_is_refused_in_one_sentence(tmp_path, capsys):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert designs.main(["--runs", str(tmp_path / "other.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no column setting, seed, status, final_val_err" in err
