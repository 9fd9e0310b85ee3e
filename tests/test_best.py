"""Which settings may be the best: Hsu's multiple comparisons with the best (ablate.report.best).

The critical value is checked against an independent two-dimensional integral and against SciPy's own Dunnett
test; the intervals against the paired t test they reduce to with two settings; the error rate on simulated
sweeps with no true difference; and the report's column and note on hand-made sweep folders (no training).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy import stats as sps

from ablate.report import best, collect, stats, write_report
from tests.fake_sweeps import record, write_record, write_sweep
from tests.test_stats import BASE, known_sweep


def direct_integral(d: float, m: int, df: float) -> float:
    """P(max of m t variables with correlation ½ ≤ d) by scipy.integrate.dblquad of the same representation
    best._equicorrelated_t_cdf integrates by fixed quadrature: X_i = (Z_i + Z_0)/√2 over S."""
    chi = sps.chi(df, scale=1 / math.sqrt(df))

    def inner(z: float, s: float) -> float:
        return sps.norm.pdf(z) * sps.norm.cdf(math.sqrt(2) * d * s - z) ** m * chi.pdf(s)

    value, _ = integrate.dblquad(inner, 0, chi.ppf(1 - 1e-12), -9, 9, epsabs=1e-10)
    return value


@pytest.mark.parametrize("m, df", [(2, 10), (4, 8), (11, 22), (4, 1000), (30, 60)])
def test_the_critical_value_leaves_alpha_above_it_by_scipys_multivariate_t(m, df):
    d = best.dunnett_critical(m, df)
    shape = np.full((m, m), 0.5) + 0.5 * np.eye(m)
    p = sps.multivariate_t(shape=shape, df=df).cdf(np.full(m, d), maxpts=20_000 * m, random_state=0)
    assert p == pytest.approx(0.95, abs=5e-4)


@pytest.mark.parametrize("d, m, df", [(2.5, 4, 8), (4.7, 4, 2), (2.2, 2, 30)])
def test_the_quadrature_is_the_direct_integral(d, m, df):
    assert best._equicorrelated_t_cdf(d, m, df) == pytest.approx(direct_integral(d, m, df), abs=1e-6)


def test_one_comparison_is_students_t_and_more_need_more():
    assert best.dunnett_critical(1, 7) == sps.t.ppf(0.95, 7)
    ds = [best.dunnett_critical(m, 20) for m in (1, 2, 4, 8)]
    assert ds == sorted(ds) and ds[-1] < sps.t.ppf(1 - 0.05 / 8, 20)  # below Bonferroni's bound
    assert best.dunnett_critical(4, 1000) == pytest.approx(2.16, abs=0.01)  # Dunnett's table, ∞ df, 4 comparisons


def test_scipys_dunnett_test_gives_alpha_at_the_critical_value():
    """scipy.stats.dunnett's one-sided p-value of a statistic equal to d (k − 1 = 4 treatments, n = 3 each, the
    one-way pooled std of 1 with k(n − 1) = 10 df) is α."""
    n, spread = 3, np.array([-1.0, 0.0, 1.0])  # each sample's own deviations: pooled std 1
    d = best.dunnett_critical(4, 10)
    control = spread + 10.0
    treatments = [spread + 10.0 + d * math.sqrt(2 / n)] + [spread + 10.0] * 3
    result = sps.dunnett(*treatments, control=control, alternative="greater", random_state=0)
    assert result.statistic[0] == pytest.approx(d)
    assert result.pvalue[0] == pytest.approx(0.05, abs=2e-3)


def test_with_two_settings_mcb_is_the_one_sided_paired_t():
    a = {0: 10.1, 1: 10.6, 2: 9.8, 3: 10.3, 4: 10.0}
    b = {0: 9.7, 1: 10.1, 2: 9.5, 3: 9.6, 4: 9.5}
    r = best.compare_with_best({"a": a, "b": b}, resolution=0.2)
    diff = np.array(list(a.values())) - np.array(list(b.values()))
    h = sps.t.ppf(0.95, 4) * diff.std(ddof=1) / math.sqrt(5)
    assert (r.df, r.critical) == (4, pytest.approx(sps.t.ppf(0.95, 4)))
    assert r.half_width == pytest.approx(h)
    assert r.gap["a"] == pytest.approx(diff.mean()) and r.gap["b"] == pytest.approx(-diff.mean())
    assert (r.low["b"], r.high["b"]) == (pytest.approx(-diff.mean() - h), 0.0)
    # b is below a by more than h: the paired one-sided test rejects, so b is the best and a is not
    assert sps.ttest_rel(list(b.values()), list(a.values()), alternative="less").pvalue < 0.05
    assert r.verdict == {"a": "not the best", "b": "the best"}


def test_the_residual_std_removes_each_seeds_effect():
    rng = np.random.default_rng(3)
    y = rng.normal(10, 0.3, (4, 5))
    by_seed = {f"s{i}": {j: float(y[i, j]) for j in range(5)} for i in range(4)}
    shifted = {s: {j: e + 2.0 * j for j, e in runs.items()} for s, runs in by_seed.items()}  # a large seed effect
    r, r2 = best.compare_with_best(by_seed, 0.2), best.compare_with_best(shifted, 0.2)
    residual = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    assert r.std == pytest.approx(math.sqrt((residual**2).sum() / 12)) and r.df == 12
    assert r2.std == pytest.approx(r.std) and r2.gap == pytest.approx(r.gap)


def test_verdicts_on_known_gaps():
    """Four settings on five seeds with tiny noise: a clear winner, one within δ of the best, one not."""
    noise = [0.01, -0.02, 0.015, -0.005, 0.0]
    by_seed = {
        "winner": {j: 9.0 + BASE[j] - 10 + noise[j] for j in range(5)},
        "loser": {j: 11.0 + BASE[j] - 10 - noise[j] for j in range(5)},
        "runner-up": {j: 9.5 + BASE[j] - 10 + noise[::-1][j] for j in range(5)},
    }
    r = best.compare_with_best(by_seed, resolution=0.2)
    assert r.half_width < 0.1
    assert r.verdict == {"winner": "the best", "loser": "not the best", "runner-up": "not the best"}
    near = {**by_seed, "twin": {j: e + 0.02 for j, e in by_seed["winner"].items()}}
    r = best.compare_with_best(near, resolution=0.2)
    assert r.verdict["winner"] == "within ±0.2 of the best" and r.verdict["twin"] == "within ±0.2 of the best"
    r = best.compare_with_best(near, resolution=0.01)  # the twin is 0.02 behind: more than δ, less than h
    assert 0.02 < r.half_width and r.verdict["twin"] == "may be the best"
    assert r.verdict["winner"] == ("within ±0.01 of the best" if r.half_width - 0.02 < 0.01 else "may be the best")


def test_verdicts_are_listed_best_first():
    noise = [0.0, 0.16, -0.15, 0.02]
    means = (("far", 12.0), ("maybe", 10.2), ("near", 10.03), ("top", 10.0), ("far2", 13.0))
    by_seed = {name: {j: e + noise[(j + i) % 4] for j in range(4)} for i, (name, e) in enumerate(means)}
    r = best.compare_with_best(by_seed, resolution=0.35)
    assert list(r.by_verdict().items()) == [("within ±0.35 of the best", ["near", "top"]),
                                            ("may be the best", ["maybe"]), ("not the best", ["far", "far2"])]
    r = best.compare_with_best({**by_seed, "top": {j: 9.0 for j in range(4)}}, resolution=0.35)
    assert list(r.by_verdict())[0] == "the best"


def test_who_is_compared_on_which_seeds():
    full = {j: 10.0 + 0.1 * j for j in range(3)}
    by_seed = {
        "a": dict(full),
        "b": {j: e - 0.5 for j, e in full.items()},
        "c": {0: 10.2, 1: 10.1},  # one seed short: every setting is compared on seeds 0 and 1
        "d": {0: 9.0},  # one run: left out
        "e": {},  # no completed run: not named
    }
    r = best.compare_with_best(by_seed, 0.2)
    assert r.settings == ("a", "b", "c") and r.seeds == (0, 1) and r.left_out == ("d",) and r.extra_runs == 2
    apart = {"a": {0: 1.0, 1: 2.0}, "b": {5: 1.0, 6: 2.0}}
    assert best.compare_with_best(apart, 0.2) == best.NotJudged("no two of the 2 settings with repeats share two seeds")
    assert best.compare_with_best({"a": full, "d": {0: 9.0}}, 0.2) is None  # one setting with repeats
    same = best.compare_with_best({"a": {0: 10.0, 1: 11.0}, "b": {0: 9.0, 1: 10.0}}, 0.2)  # a constant difference
    assert same == best.NotJudged("the 2 settings differ by the same amount on each of their 2 seeds, so their "
                                  "seed-to-seed noise cannot be estimated")
    # a setting on other seeds is left out rather than every setting cut to the seeds it shares
    odd = {**{s: {j: e + 0.1 * i * (j % 2) for j, e in full.items()} for i, s in enumerate("abc")},
           "z": {7: 1.0, 8: 2.0}}
    r = best.compare_with_best(odd, 0.2)
    assert r.settings == ("a", "b", "c") and r.seeds == (0, 1, 2) and r.left_out == ("z",)


def simulate(k: int, n: int, rng, shift: float = 0.0) -> dict:
    seed_effect = rng.normal(0, 1.0, n)
    y = rng.normal(10, 0.2, (k, n)) + seed_effect
    y[-1] += shift
    return {f"s{i}": {j: float(y[i, j]) for j in range(n)} for i in range(k)}


@pytest.mark.parametrize("k, n", [(5, 3), (2, 4), (12, 3)])
def test_the_true_best_is_called_not_the_best_at_most_alpha_of_the_time(k, n):
    """MCB's guarantee: the true best stays among those that may be the best with probability ≥ 1 − α. With every
    setting equal each one is a true best, so the share of settings called `not the best` is that error rate."""
    rng = np.random.default_rng(11)
    sweeps = 1500
    called = [best.compare_with_best(simulate(k, n, rng), 0.2).verdict for _ in range(sweeps)]
    rate = sum(v == "not the best" for verdicts in called for v in verdicts.values()) / (sweeps * k)
    assert rate <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / sweeps)
    assert rate > 0.01  # and not so wide that nothing is ever found


def test_the_simulation_would_catch_intervals_that_ignore_the_multiplicity(monkeypatch):
    """With Student's one-sided t for d instead of Dunnett's, the same check fails: it tests something."""
    monkeypatch.setattr(best, "dunnett_critical", lambda m, df, alpha=0.05: float(sps.t.ppf(1 - alpha, df)))
    rng = np.random.default_rng(11)
    called = [best.compare_with_best(simulate(12, 3, rng), 0.2).verdict for _ in range(400)]
    rate = sum(v == "not the best" for verdicts in called for v in verdicts.values()) / (400 * 12)
    assert rate > 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / 400)


def test_a_setting_worse_by_ten_noise_stds_is_found_not_the_best():
    rng = np.random.default_rng(12)
    found = [best.compare_with_best(simulate(5, 3, rng, shift=2.0), 0.2).verdict["s4"] for _ in range(200)]
    assert found.count("not the best") / len(found) > 0.95


# ----------------------------------------------------------------------------- in the report
def test_the_report_says_which_settings_may_be_the_best(tmp_path):
    out = write_report(known_sweep(tmp_path / "sweep"), tmp_path / "report")
    table = pd.read_csv(out / "table.csv")
    verdicts = dict(zip(table.cardinality, table.best, strict=True))
    # C=2 is 2 points below every other on every seed: the best; C=16 has three seeds, so all are compared on them
    assert verdicts == {1: "not the best", 2: "the best", 4: "not the best", 8: "not the best", 16: "not the best"}
    row = table.set_index("cardinality").loc[2]
    assert row.best_gap_high == 0.0 and row.best_gap_low < row.best_gap < 0
    md = (out / "table.md").read_text()
    assert " vs best (MCB) " in md and "| the best " in md
    assert "Best (column vs best): the best: 2×?d; not the best: 1×?d, 4×?d, 8×?d, 16×?d." in md
    assert "paired by the 3 seeds every compared setting ran" in md
    assert "Best: 8 runs on other seeds not counted." in md  # seeds 3 and 4 of the four settings that ran them
    r = stats.analyse(collect(tmp_path / "sweep").runs).best
    assert f"h = d·s·√(2/3) = {r.half_width:.2f} points" in md and f"d = {r.critical:.3f}" in md
    for name in ("table.tex", "index.html"):
        assert "vs best (MCB)" in (out / name).read_text(), name


def test_a_report_without_repeats_judges_no_best(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0}, "model.cardinality=2": {0: 8.0}})
    out = write_report(sweep, tmp_path / "report")
    md = (out / "table.md").read_text()
    assert "vs best" not in md and "Best (" not in md
    assert pd.read_csv(out / "table.csv").best.isna().all()


def test_a_setting_without_a_completed_run_has_no_mcb_verdict_and_one_with_too_few_is_left_out(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0, 1: 11.0},
                                             "model.cardinality=2": {0: 9.0, 1: 10.5},
                                             "model.cardinality=4": {0: 9.5}})
    write_record(sweep, record(["model.cardinality=8", "seed=0"], 0, status="failed", job_num=9))
    out = write_report(sweep, tmp_path / "report")
    md = (out / "table.md").read_text()
    lines = [line.split("|")[1:-1] for line in md.splitlines() if line.startswith("| ")]
    at = [c.strip() for c in lines[0]].index("vs best (MCB)")
    rows = {cells[0].strip(): cells[at].strip() for cells in lines[1:]}
    assert rows == {"1×?d": "may be the best", "2×?d": "may be the best", "4×?d": "left out", "8×?d": "—"}
    assert "Best: left out, too few runs on those seeds: 4×?d." in md


def test_settings_without_shared_seeds_say_so(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0, 1: 11.0},
                                             "model.cardinality=2": {5: 9.0, 6: 10.5}})
    md = (write_report(sweep, tmp_path / "report") / "table.md").read_text()
    assert "Which setting is the best is not judged: no two of the 2 settings with repeats share two seeds." in md
    assert "vs best" not in md


def test_the_best_figure_draws_each_settings_interval_of_its_gap(tmp_path):
    from matplotlib.collections import LineCollection

    from ablate.report import figures, tables

    sweep = collect(known_sweep(tmp_path / "sweep"))
    analysis = stats.analyse(sweep.runs)
    table = tables.summary(sweep.runs, analysis)
    fig = figures.best(table, tables.labels(table), 0.2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1×?d", "2×?d", "4×?d", "8×?d", "16×?d"]
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]  # errorbar's horizontal bars, in row order
    spans = [tuple(np.round(seg[:, 0], 6)) for c in bars for seg in c.get_segments()]
    expected = [tuple(np.round((lo, hi), 6)) for lo, hi in zip(table.best_gap_low, table.best_gap_high, strict=True)]
    assert spans == expected
    texts = [t.get_text() for t in ax.texts]
    assert texts == list(table.best)  # each setting's verdict beside its interval
    out = write_report(sweep.directory, tmp_path / "r")
    assert (out / "best.png").read_bytes().startswith(b"\x89PNG") and "best.svg" in (out / "index.html").read_text()


def test_no_best_figure_without_repeats(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0}, "model.cardinality=2": {0: 8.0}})
    out = write_report(sweep, tmp_path / "report")
    assert not (out / "best.png").exists() and "best.svg" not in (out / "index.html").read_text()


def test_the_search_report_says_how_many_designs_may_be_the_best(tmp_path):
    from ablate.report import tables

    analysis = stats.analyse(collect(known_sweep(tmp_path / "sweep")).runs)
    assert tables.best_summary(analysis) == (
        "of the 5 designs compared on their 3 seeds (Hsu's MCB, 95% simultaneous; table.md, column `vs best (MCB)`, "
        "and best.png), 1 is the best and 4 are not the best")
    single = stats.analyse(collect(write_sweep(tmp_path / "one", {"model.cardinality=1": {0: 1.0}})).runs)
    assert tables.best_summary(single) is None


@pytest.mark.parametrize("k, std, target", [(11, 0.78, 0.2), (5, 0.21, 0.2), (2, 1.0, 0.5), (3, 0.5, 5.0)])
def test_the_seeds_that_would_bring_h_below_a_target_are_the_fewest_that_do(k, std, target):
    """A planning figure for a sweep whose settings may all still be the best (the finalists' report: 9 of 11 after
    five seeds): how many seeds per setting would make h = d·s·√(2/n) at most the target, d at (k − 1)(n − 1) df."""
    n = best.seeds_for(target, k, std)

    def h(seeds: int) -> float:
        return best.dunnett_critical(k - 1, (k - 1) * (seeds - 1)) * std * math.sqrt(2 / seeds)

    assert n >= 2 and h(n) <= target
    assert n == 2 or h(n - 1) > target


def test_the_report_says_how_many_seeds_would_resolve_the_best_to_delta(tmp_path):
    """Where no setting is the best, the note says what more seeds would buy, at report.resolution."""
    rng = np.random.default_rng(3)
    errors = {f"model.cardinality={c}": {s: 20.0 + rng.normal(0, 0.5) for s in range(4)} for c in (1, 2, 4)}
    out = write_report(write_sweep(tmp_path / "sweep", errors), tmp_path / "report")
    md = (out / "table.md").read_text()
    r = stats.analyse(collect(tmp_path / "sweep").runs).best
    assert "the best" not in set(r.verdict.values())
    n = best.seeds_for(0.2, 3, r.std)
    assert (f"More seeds: at this noise (s = {r.std:.2f}) h would fall to the resolution, 0.2 points, at about {n} "
            "seeds per setting (a planning figure: s is itself an estimate).") in md
