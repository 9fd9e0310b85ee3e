"""The report's evidence: intervals, paired and Welch differences, Holm, verdicts (ablate.report.stats).

Known answers come from SciPy itself on fixed samples, and a few are pinned as literals worked
out by hand (the t quantiles from SciPy). The report-level tests write sweep folders of
hand-made result.json files (tests/fake_sweeps.py): no training.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ablate.errors import ConfigError
from ablate.report import collect, stats, write_report
from ablate.report.__main__ import main as report_main
from ablate.report.options import ReportConfig, check, from_sweep
from tests.fake_sweeps import record, write_record, write_sweep

A = np.array([9.8, 10.4, 10.1, 9.6])  # a setting's top-1 errors (%), seeds 0..3
B = np.array([10.9, 11.2, 11.4, 10.5])  # another's, same seeds
C = np.array([9.1, 10.7, 9.9])
D = np.array([11.0, 11.6, 10.2, 12.1, 11.3])


def series(values, seeds=None) -> pd.Series:
    return pd.Series(np.asarray(values, float), index=pd.Index(list(seeds if seeds is not None else range(len(values))),
                                                              dtype="object"))


# ----------------------------------------------------------------------------- known answers
def test_interval_of_the_mean_is_scipys_t_interval():
    x = np.array([10.0, 11.0, 12.5])
    iv = stats.interval(x)
    low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert (iv.n, iv.mean, iv.std) == (3, pytest.approx(x.mean()), pytest.approx(x.std(ddof=1)))
    assert (iv.low, iv.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    # by hand: 11.1667 ± t(0.975, 2 df) = 4.3027 × s/√3 = 1.2583/√3
    assert (iv.low, iv.high) == (pytest.approx(8.040861926978778, abs=1e-9), pytest.approx(14.292471406354554,
                                                                                          abs=1e-9))


def test_interval_edge_cases():
    assert stats.interval([]).n == 0 and math.isnan(stats.interval([]).mean)
    one = stats.interval([12.0])
    assert (one.n, one.mean) == (1, 12.0) and math.isnan(one.std) and math.isnan(one.low) and math.isnan(one.high)
    flat = stats.interval([5.0, 5.0])  # no spread: the interval is the point
    assert (flat.low, flat.high, flat.std) == (5.0, 5.0, 0.0)


def test_an_interval_of_errors_stays_inside_0_to_100():
    """Found by hand: two 1-epoch runs at 80.85 and 86.81 % error gave a 95% CI of the mean of [57.03, 110.63]: the
    t interval cut to the values an error can take (which keeps its coverage)."""
    x = [80.85, 86.81]
    low, high = sps.t.interval(0.95, 1, loc=np.mean(x), scale=sps.sem(x))
    assert high > 100
    iv = stats.interval(x, bounds=stats.PERCENT)
    assert (iv.low, iv.high) == (pytest.approx(low, rel=1e-12), 100.0)
    assert stats.interval([1.0, 3.0], bounds=stats.PERCENT).low == 0.0
    assert stats.interval(x).high == pytest.approx(high)  # unbounded by default (a Δ, a loss)


def test_a_reports_error_intervals_are_cut_to_0_to_100(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 80.85, 1: 86.81},
                                             "model.cardinality=2": {0: 85.0, 1: 86.0}})
    frame = stats.analyse(collect(sweep).runs).frame
    assert frame.top1_ci_high.tolist() == [100.0, pytest.approx(91.853102, abs=1e-6)]


def test_a_rows_interval_of_the_mean_is_95_percent_whatever_the_level_of_its_difference():
    """Second read of the 0–100 % cut: row_of took the Δ CI's level (an adaptive sweep's adjusted level) for the
    setting's own interval too, which the table heads '95% CI'."""
    sample = series([10.0, 11.0, 12.5])
    c = stats.compare(series([9.0, 10.5, 12.0]), sample)
    row = stats.row_of("s", series([9.0, 10.5, 12.0]), c, 0.99)
    iv = stats.interval([9.0, 10.5, 12.0])
    assert (row["top1_ci_low"], row["top1_ci_high"]) == (iv.low, iv.high)
    assert row["delta_ci_level"] == 0.99


def test_paired_difference_is_scipys_ttest_rel():
    c = stats.compare(series(A), series(B))
    ref = sps.ttest_rel(A, B)
    ci = ref.confidence_interval(0.95)
    assert c.test == stats.PAIRED and (c.n, c.reference_n, c.left_out, c.df) == (4, 4, 0, 3)
    assert c.delta == pytest.approx((A - B).mean()) == pytest.approx(-1.025)
    assert (c.low, c.high, c.p) == (pytest.approx(ci.low), pytest.approx(ci.high), pytest.approx(ref.pvalue))
    # by hand: differences −1.1, −0.8, −1.3, −0.9: mean −1.025, s 0.22174, t = −9.245 on 3 df
    assert c.p == pytest.approx(0.002677439936391676, rel=1e-9)


def test_unpaired_difference_is_welchs_t():
    c = stats.compare(series(C, [10, 11, 12]), series(D))  # no shared seed
    ref = sps.ttest_ind(C, D, equal_var=False)
    ci = ref.confidence_interval(0.95)
    v1, v2 = C.var(ddof=1) / len(C), D.var(ddof=1) / len(D)
    welch_df = (v1 + v2) ** 2 / (v1**2 / (len(C) - 1) + v2**2 / (len(D) - 1))  # Welch–Satterthwaite
    assert c.test == stats.WELCH and (c.n, c.reference_n) == (3, 5)
    assert c.df == pytest.approx(welch_df) == pytest.approx(3.8976318623640718)
    assert c.delta == pytest.approx(C.mean() - D.mean())
    half = sps.t.ppf(0.975, welch_df) * math.sqrt(v1 + v2)
    assert (c.low, c.high) == (pytest.approx(c.delta - half), pytest.approx(c.delta + half))
    assert (c.low, c.high, c.p) == (pytest.approx(ci.low), pytest.approx(ci.high), pytest.approx(ref.pvalue))
    assert c.p == pytest.approx(0.07672983172827183, rel=1e-9)


def test_holm():
    # m = 4: sorted 0.01·4, 0.03·3, 0.04·2 (raised to the running max 0.09), 0.20·1
    assert stats.holm([0.01, 0.04, 0.03, 0.20]).tolist() == pytest.approx([0.04, 0.09, 0.09, 0.20])
    out = stats.holm([0.5, math.nan, 0.4])  # NaN is not a test: a family of two
    assert out[0] == pytest.approx(0.8) and math.isnan(out[1]) and out[2] == pytest.approx(0.8)
    assert stats.holm([0.6, 0.7]).tolist() == [1.0, 1.0]
    assert stats.holm([]).tolist() == []


def test_pooled_std():
    std, df, k = stats.pooled_std([[1.0, 3.0], [10.0, 10.0, 13.0], [7.0]])
    # sums of squares 2 and 6 over 1 + 2 degrees of freedom
    assert (df, k) == (3, 2) and std == pytest.approx(math.sqrt(8 / 3))
    assert math.isnan(stats.pooled_std([[1.0], [2.0]])[0])


@pytest.mark.parametrize("delta, low, high, p, verdict", [
    (-1.0, -1.5, -0.5, 0.01, "better"),
    (1.0, 0.5, 1.5, 0.01, "worse"),
    (0.05, -0.1, 0.15, 0.3, "equivalent within ±0.2"),
    (0.05, -0.1, 0.25, 0.3, "undecided (n=3)"),
    (-1.0, -2.5, 0.5, 0.06, "undecided (n=3)"),
])
def test_verdict_rules(delta, low, high, p, verdict):
    c = stats.Comparison(stats.PAIRED, 3, 3, 0, delta, low, high, 2.0, p)
    assert stats.verdict(c, p, 0.2) == verdict


def test_verdict_without_a_test():
    assert stats.verdict(stats.Comparison(stats.NONE, 1, 1, 0, -3.0, math.nan, math.nan, math.nan, math.nan),
                         math.nan, 0.2) == "undecided (n=1): no difference can be judged"
    assert stats.verdict(stats.Comparison(stats.NONE, 3, 1, 0, -3.0, math.nan, math.nan, math.nan, math.nan),
                         math.nan, 0.2) == "undecided (n=3, reference n=1): no difference can be judged"


# ----------------------------------------------------------------------------- pairing by seed
def test_n2_paired_uses_one_degree_of_freedom():
    c = stats.compare(series([10.0, 12.0]), series([11.0, 12.5]))
    ref = sps.ttest_rel([10.0, 12.0], [11.0, 12.5])
    assert c.test == stats.PAIRED and c.df == 1 and c.p == pytest.approx(ref.pvalue)
    assert (c.low, c.high) == (pytest.approx(ref.confidence_interval().low), pytest.approx(ref.confidence_interval().high))


def test_missing_seeds_pair_where_possible():
    ref = series([10.0, 11.0, 12.0], [0, 1, 2])
    paired = stats.compare(series([9.0, 10.5], [0, 1]), ref)  # seeds 0 and 1 shared, seed 2 of the reference alone
    assert (paired.test, paired.n, paired.left_out) == (stats.PAIRED, 2, 1)
    assert paired.delta == pytest.approx(((9.0 - 10.0) + (10.5 - 11.0)) / 2)
    welch = stats.compare(series([9.0, 10.5, 9.5], [0, 5, 6]), ref)  # one shared seed: not enough to pair
    assert (welch.test, welch.n, welch.reference_n) == (stats.WELCH, 3, 3)
    assert welch.p == pytest.approx(sps.ttest_ind([9.0, 10.5, 9.5], [10.0, 11.0, 12.0], equal_var=False).pvalue)
    none = stats.compare(series([9.0], [7]), ref)
    assert none.test == stats.NONE and none.delta == pytest.approx(-2.0) and math.isnan(none.p)
    dup = stats.compare(series([9.0, 9.2, 9.4], [0, 0, 1]), ref)  # seed 0 twice: only seed 1 pairs → Welch
    assert dup.test == stats.WELCH


# ----------------------------------------------------------------------------- reports of synthetic sweeps
BASE = {0: 10.0, 1: 11.2, 2: 9.5, 3: 10.6, 4: 10.3}  # per-seed error of the reference: shared seed effects
NOISE = {0: 0.03, 1: -0.05, 2: 0.02, 3: -0.01, 4: 0.04}  # small per-seed noise of a difference


def known_sweep(root):
    """The true differences: C=2 is 2 points better, C=4 is 2 points worse, C=8 the same (±0.05),
    C=16 the same on average but with 1-point noise (3 seeds: cannot be told)."""
    errors = {"model.cardinality=1": dict(BASE),
              "model.cardinality=2": {s: e - 2.0 + NOISE[s] for s, e in BASE.items()},
              "model.cardinality=4": {s: e + 2.0 - NOISE[s] for s, e in BASE.items()},
              "model.cardinality=8": {s: e + NOISE[s] for s, e in BASE.items()},
              "model.cardinality=16": {0: BASE[0] + 1.0, 1: BASE[1] - 1.2, 2: BASE[2] + 0.4}}
    return write_sweep(root, errors)


def test_known_differences_get_their_verdicts(tmp_path):
    out = write_report(known_sweep(tmp_path / "sweep"), tmp_path / "report")
    table = pd.read_csv(out / "table.csv")
    verdicts = dict(zip(table.cardinality, table.verdict))
    assert verdicts == {1: "reference", 2: "better", 4: "worse", 8: "equivalent within ±0.2", 16: "undecided (n=3)"}
    assert table.test.tolist() == ["reference", "paired", "paired", "paired", "paired"]
    row = table.set_index("cardinality").loc[2]
    x = np.array([BASE[s] - 2.0 + NOISE[s] for s in range(5)])
    y = np.array(list(BASE.values()))
    ref = sps.ttest_rel(x, y)
    assert row.delta == pytest.approx(-2.0 + np.mean(list(NOISE.values())))
    assert (row.delta_ci_low, row.delta_ci_high) == (pytest.approx(ref.confidence_interval().low),
                                                     pytest.approx(ref.confidence_interval().high))
    ps = table.p.iloc[1:].to_numpy(float)
    assert table.p_holm.iloc[1:].tolist() == pytest.approx(stats.holm(ps).tolist())
    assert row.top1_ci_low == pytest.approx(sps.t.interval(0.95, 4, loc=x.mean(), scale=sps.sem(x))[0])
    md = (out / "table.md").read_text()
    for heading in ("95% CI", "Δ top-1 vs ref. (pts)", "95% CI of Δ", "test", "p (Holm)", "verdict"):
        assert f" {heading} " in md
    assert "paired t, 5 seeds" in md and "| better " in md and "equivalent within ±0.2" in md
    assert "No difference can be judged" not in md
    # pooled over the five settings' own spreads: stated under the table
    samples = [list(BASE.values()), x, [BASE[s] + 2.0 - NOISE[s] for s in range(5)],
               [BASE[s] + NOISE[s] for s in range(5)], [BASE[0] + 1.0, BASE[1] - 1.2, BASE[2] + 0.4]]
    pooled = math.sqrt(sum(((np.array(v) - np.mean(v)) ** 2).sum() for v in samples) / (4 * 4 + 2))
    assert f"with repeats: {pooled:.2f} points (18 degrees of freedom)" in md
    tex = (out / "table.tex").read_text()
    assert r"$\Delta$ top-1 vs ref. (pts)" in tex and "equivalent within $\\pm$0.2" in tex
    page = (out / "index.html").read_text()
    assert "<th>verdict</th>" in page and "<td>better</td>" in page and "Seed-to-seed std" in page


def test_every_output_carries_the_columns(tmp_path):
    out = write_report(known_sweep(tmp_path / "sweep"), tmp_path / "report")
    csv = pd.read_csv(out / "table.csv")
    for column in ("top1_ci_low", "top1_ci_high", "delta", "delta_ci_low", "delta_ci_high", "test", "p", "p_holm",
                   "verdict"):
        assert column in csv.columns
    for name in ("table.md", "table.tex", "index.html"):
        text = (out / name).read_text()
        assert "p (Holm)" in text and "CI of" in text and "worse" in text and "paired t" in text, name


def test_single_runs_say_no_difference_can_be_judged(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0}, "model.cardinality=2": {0: 8.0}},
                        extra=[SWEEP], multirun=MULTIRUN.format(seeds="0"))
    out = write_report(sweep, tmp_path / "report")
    table = pd.read_csv(out / "table.csv")
    assert table.verdict.tolist() == ["reference", "undecided (n=1): no difference can be judged"]
    assert table.delta.tolist() == [0.0, -2.0] and table.test.tolist() == ["reference", "none"]
    md = (out / "table.md").read_text()
    first = md.splitlines()[:3]
    assert first[2].startswith("**No difference can be judged: no setting has two completed runs**")
    assert "`python -m ablate +sweep=cardinality_vs_width seed=0,1,2 -m`" in first[2]
    assert "Seed-to-seed std: unknown" in md
    assert "(column test); no p-value here: a test needs two completed runs of both settings." in md
    assert "Holm-corrected over the table's 0" not in md  # it said so
    page = (out / "index.html").read_text()
    assert "<p class='warning'><b>No difference can be judged" in page and "<code>python -m ablate" in page


@pytest.mark.parametrize("launched", ["moved", "timestamped", "here"])
def test_the_repeats_command_names_the_folder_it_must_add_to(tmp_path, launched):
    """Found by hand: a sweep run on a GPU machine into /tmp/g/main/packed, copied here and reported, said "Add
    repeats with `python -m ablate … hydra.sweep.dir=/tmp/g/main/packed seed=0,1,2 -m`": new seeds into the old place,
    not beside the runs reported. A sweep without a sweep config, whose folder is named by its launch time
    (`sweeps/config/${now:…}`), was told a command that makes a new folder. The command names the reported folder
    wherever the one launched would write elsewhere, and stays as launched where it writes here."""
    sweep = tmp_path / "sweep"
    where = {"moved": "/elsewhere/packed", "timestamped": "sweeps/${hydra.job.config_name}/${now:%Y-%m-%d_%H-%M-%S}",
             "here": "sweep"}[launched]
    multirun = MULTIRUN.format(seeds="0").replace(
        "  overrides:", f"  sweep:\n    dir: '{where}'\n  runtime:\n    cwd: {tmp_path}\n  overrides:")
    write_sweep(sweep, {"model.cardinality=1": {0: 10.0}, "model.cardinality=2": {0: 8.0}}, extra=[SWEEP],
                multirun=multirun)
    md = (write_report(sweep, tmp_path / "report") / "table.md").read_text()
    pinned = f" hydra.sweep.dir={sweep.resolve()}" if launched != "here" else ""
    assert f"`python -m ablate +sweep=cardinality_vs_width{pinned} seed=0,1,2 -m`" in md.splitlines()[2]


def test_two_seeds_each(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0, 1: 11.0},
                                             "model.cardinality=2": {0: 9.0, 1: 10.5}})
    table = pd.read_csv(write_report(sweep, tmp_path / "report") / "table.csv")
    ref = sps.ttest_rel([9.0, 10.5], [10.0, 11.0])
    row = table.iloc[1]
    assert (row.test, row.test_n, row.test_df) == ("paired", 2, 1)
    assert row.p == pytest.approx(ref.pvalue) and row.p_holm == pytest.approx(ref.pvalue)  # a family of one
    assert row.verdict == "undecided (n=2)"


def test_missing_seeds_are_said(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0, 1: 11.0, 2: 10.4},
                                             "model.cardinality=2": {0: 9.0, 1: 10.5},
                                             "model.cardinality=4": {5: 9.0, 6: 10.5, 7: 9.9}})
    out = write_report(sweep, tmp_path / "report")
    table = pd.read_csv(out / "table.csv")
    assert table.test.tolist() == ["reference", "paired", "Welch"]
    assert table.unpaired_left_out.tolist()[1] == 1
    md = (out / "table.md").read_text()
    assert "paired t, 2 seeds, 1 unpaired run left out" in md and "Welch t, n=3 vs 3" in md


# ----------------------------------------------------------------------------- choosing the reference
SWEEP = "+sweep=cardinality_vs_width"
MULTIRUN = """
hydra:
  sweeper:
    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper
    params: {{model.cardinality: '1,2'}}
  overrides:
    hydra: [hydra.mode=MULTIRUN]
    task: ['+sweep=cardinality_vs_width', 'seed={seeds}']
report:
  reference: null
  resolution: 0.2
"""


def test_reference_by_override_value_or_label(tmp_path):
    sweep = known_sweep(tmp_path / "sweep")
    for ref in ("model.cardinality=4", "+model.cardinality=4"):
        table = pd.read_csv(write_report(sweep, tmp_path / "r", reference=ref) / "table.csv")
        assert dict(zip(table.cardinality, table.verdict))[4] == "reference"
        assert dict(zip(table.cardinality, table.verdict))[1] == "better"  # 2 points fewer errors than C=4
    md = (tmp_path / "r" / "table.md").read_text()
    assert "chosen by `--reference=+model.cardinality=4`" in md
    variants = write_sweep(tmp_path / "variants", {"+variant=wider": {0: 9.0, 1: 10.5},
                                                   "+variant=baseline": {0: 10.0, 1: 10.4}})
    table = pd.read_csv(write_report(variants, tmp_path / "v", reference="baseline") / "table.csv")
    assert table.verdict.tolist() == ["undecided (n=2)", "reference"]
    runs = collect(variants).runs
    assert stats.find_reference(list(dict.fromkeys(runs.setting)), "?×?d", {"+variant=wider": "?×?d"}, "x") \
        == "+variant=wider"


def test_reference_from_the_sweep_config(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0, 1: 11.0},
                                             "model.cardinality=2": {0: 9.0, 1: 10.5}}, extra=[SWEEP],
                        multirun=MULTIRUN.format(seeds="0,1").replace("reference: null", "reference: model.cardinality=2")
                        .replace("resolution: 0.2", "resolution: 2.5"))
    out = write_report(sweep, tmp_path / "report")
    table = pd.read_csv(out / "table.csv")
    assert table.verdict.tolist() == ["undecided (n=2)", "reference"]
    assert "chosen by `report.reference=model.cardinality=2`" in (out / "table.md").read_text()
    # --reference beats the config's
    table = pd.read_csv(write_report(sweep, tmp_path / "r2", reference="model.cardinality=1") / "table.csv")
    assert table.verdict.tolist() == ["reference", "undecided (n=2)"]


def test_a_setting_outside_the_sweep_is_one_sentence(tmp_path, capsys):
    sweep = known_sweep(tmp_path / "sweep")
    assert report_main([str(sweep), "--out", str(tmp_path / "r"), "--reference", "model.cardinality=3"]) == 2
    err = capsys.readouterr().err
    # each setting as overrides and by the label --reference also takes (noticed in session 14: labels were left out)
    assert err == ("error: --reference='model.cardinality=3' is not a setting of this sweep: give one of "
                   "'model.cardinality=1' (1×?d), 'model.cardinality=2' (2×?d), 'model.cardinality=4' (4×?d), "
                   "'model.cardinality=8' (8×?d), 'model.cardinality=16' (16×?d).\n")
    assert not (tmp_path / "r").exists()  # nothing written
    with pytest.raises(ConfigError, match=r"^report.reference='seed=0' is not a setting of this sweep"):
        stats.analyse(collect(sweep).runs, check({"reference": "seed=0"}))


def test_a_list_reference_in_the_config_is_its_value_as_typed(tmp_path):
    """Found by hand: report.reference=[a] (a list, as Hydra parses it) was said as "['a']", Python's text of the
    list; a list is the value as typed, so a sweep over lists (model.depths=[1,1],[2,2]) takes one as its reference."""
    assert check({"reference": ["a"]}).reference == "[a]"
    sweep = write_sweep(tmp_path / "sweep", {"model.depths=[1,1]": {0: 10.0, 1: 11.0},
                                             "model.depths=[2,2]": {0: 9.0, 1: 10.5}})
    table = pd.read_csv(write_report(sweep, tmp_path / "r", reference=check({"reference": [2, 2]}).reference)
                        / "table.csv")
    assert table.verdict.tolist() == ["undecided (n=2)", "reference"]
    with pytest.raises(ConfigError, match=r"^report.reference='\[a\]' is not a setting of this sweep"):
        stats.analyse(collect(sweep).runs, check({"reference": ["a"]}))


def test_a_damaged_multirun_yaml_is_said_in_the_report(tmp_path):
    """Found by hand: a sweep folder whose multirun.yaml is not valid YAML got a report that said nothing of it,
    silently without the command line and the sweep's options; the report keeps being written, and says why those
    are missing."""
    sweep = known_sweep(tmp_path / "sweep")
    (sweep / "multirun.yaml").write_text("hydra: [unclosed\n")
    md = (write_report(sweep, tmp_path / "r") / "table.md").read_text()
    line = next(line for line in md.splitlines() if line.startswith("- multirun.yaml:"))
    assert line.startswith("- multirun.yaml: cannot be read (")
    assert line.endswith("): the sweep's command line, its report options and the members that never wrote a result "
                         "are not known, so the report is written without them")


def test_an_ambiguous_reference_is_one_sentence(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1 model.shortcut=true": {0: 10.0},
                                             "model.cardinality=1 model.shortcut=false": {0: 11.0}})
    with pytest.raises(ConfigError, match=r"^--reference='model.cardinality=1' matches 2 settings of this sweep "
                                          r"\('model.shortcut=true', 'model.shortcut=false'\): give one of"):
        write_report(sweep, tmp_path / "r", reference="model.cardinality=1")


@pytest.mark.parametrize("value", ["0", "-0.1", "nan", "abc"])
def test_resolution_must_be_positive(tmp_path, capsys, value):
    sweep = known_sweep(tmp_path / "sweep")
    assert report_main([str(sweep), "--out", str(tmp_path / "r"), f"--resolution={value}"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --resolution={value} is invalid: the resolution δ must be a positive number of "
                   "top-1 error points, such as 0.2.\n")


def test_resolution_from_config_is_named_as_typed():
    with pytest.raises(ConfigError, match=r"^report.resolution=0 is invalid: the resolution δ must be a positive number"):
        check(ReportConfig(resolution=0))
    assert check(ReportConfig()).resolution == 0.2
    assert from_sweep({"report": {"reference": None, "resolution": 0.5}}, resolution="0.3").resolution == 0.3
    assert from_sweep(None).reference is None


def test_resolution_changes_equivalence(tmp_path):
    sweep = known_sweep(tmp_path / "sweep")
    table = pd.read_csv(write_report(sweep, tmp_path / "r", resolution=0.01) / "table.csv")
    assert dict(zip(table.cardinality, table.verdict))[8] == "undecided (n=5)"
    md = (tmp_path / "r" / "table.md").read_text()
    assert "`report.resolution=0.01`" in md


def test_report_config_is_a_structured_schema():
    from omegaconf import OmegaConf

    cfg = OmegaConf.structured(ReportConfig)
    cfg.reference = "model.cardinality=1"
    assert OmegaConf.to_container(cfg) == {"reference": "model.cardinality=1", "resolution": 0.2}
    conf = OmegaConf.load("conf/config.yaml")
    assert OmegaConf.to_container(conf.report) == {"reference": None, "resolution": 0.2}


def test_report_options_do_not_split_settings(tmp_path):
    """`report.reference=…` typed on a sweep's command line reaches every member's overrides: not a setting."""
    root = tmp_path / "sweep"
    for seed, extra in ((0, ["report.reference=model.cardinality=1"]), (1, [])):
        write_record(root, record(["model.cardinality=1", *extra, f"seed={seed}"], seed, (10.0 + seed,)))
    runs = collect(root).runs
    assert runs.setting.nunique() == 1


# ----------------------------------------------------------------------------- figures
def test_difference_figure_has_one_row_per_setting(tmp_path):
    from ablate.report import figures, tables

    sweep = collect(known_sweep(tmp_path / "sweep"))
    analysis = stats.analyse(sweep.runs)
    table = tables.summary(sweep.runs, analysis)
    labels = tables.labels(table)
    fig = figures.difference(table, labels, 0.2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1×?d (reference)", "2×?d", "4×?d", "8×?d", "16×?d"]
    out = write_report(sweep.directory, tmp_path / "r")
    png, svg = (out / "difference.png").read_bytes(), (out / "difference.svg").read_text()
    assert png.startswith(b"\x89PNG") and "<svg" in svg
    assert "difference.svg" in (out / "index.html").read_text()


def test_the_difference_figure_keeps_its_axes_beside_long_labels(tmp_path):
    """Found by hand: a design-space sweep's labels (`1×6d · depths=3-3-3-2 · width=40 · budget ×=1.08 ·
    design_space=resnet`) left the difference figure no room: matplotlib warned that its axes collapsed to zero."""
    import warnings

    from ablate.report import figures, tables
    from ablate.report.output import write_figure

    sweep = collect(known_sweep(tmp_path / "sweep"))
    table = tables.summary(sweep.runs, stats.analyse(sweep.runs))
    labels = {s: f"{i}×9d · depths=3-3-3-2 · width=40 · budget ×=1.08 · design_space=resnext_of_my_own"
              for i, s in enumerate(table.setting)}
    fig = figures.difference(table, labels, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_figure(fig, tmp_path / "difference")
    box = fig.axes[0].get_position()
    assert box.width * fig.get_figwidth() > 3  # inches of plot, not of labels only


def test_a_verdict_every_setting_shares_is_said_once_in_the_difference_figure(tmp_path):
    """Found by hand: a design-space sweep's difference figure wrote `undecided (n=1): no difference can be judged`
    beside each of its 39 points; one verdict shared by every setting is said once, under the title."""
    from ablate.report import figures, tables

    sweep = collect(known_sweep(tmp_path / "sweep"))
    table = tables.summary(sweep.runs, stats.analyse(sweep.runs))
    labels = tables.labels(table)
    shared = "undecided (n=1): no difference can be judged"
    table["verdict"] = ["reference", *[shared] * (len(table) - 1)]
    ax = figures.difference(table, labels, 0.2).axes[0]
    assert [t.get_text() for t in ax.texts] == []
    assert ax.get_title().endswith(f"every setting: {shared}")
    table["verdict"] = ["reference", "better", *[shared] * (len(table) - 2)]  # mixed verdicts: each beside its point
    ax = figures.difference(table, labels, 0.2).axes[0]
    assert [t.get_text() for t in ax.texts] == ["better", *[shared] * (len(table) - 2)]
    assert "every setting" not in ax.get_title()


def test_complexity_figure_bars_are_confidence_intervals():
    from ablate.report import figures

    table = pd.DataFrame({"setting": ["a", "b"], "n": [3, 3], "params": [1e6, 2e6], "flops": [1e8, 2e8],
                          "top1_mean": [10.0, 9.0], "top1_ci_low": [9.0, 8.5], "top1_ci_high": [11.0, 9.5],
                          "top1_std": [0.1, 0.1], "variant": [None, None], "budget_vary": [None, None],
                          "shortcut": [True, True]})
    ax = figures.complexity(table, {"a": "a", "b": "b"}).axes[0]
    segments = [c for c in ax.collections if c.get_segments()][0].get_segments()
    assert [(s[0][1], s[1][1]) for s in segments] == [(9.0, 11.0), (8.5, 9.5)]


def test_the_complexity_figure_of_design_spaces_shows_spaces_not_labels():
    """Found by hand: a design-space sweep's error-vs-complexity figure wrote each design's long label beside its
    point, over one another and past the axes; its points now take their space's colour, without lines (designs
    are no series), and points are labelled only where there are a few: by their C×d where the label is long."""
    from ablate.report import figures

    def table_of(n):
        settings = [f"+design_space={'resnet' if i < n // 2 else 'resnext'} model.width={16 + i}" for i in range(n)]
        return pd.DataFrame({"setting": settings, "n": [1] * n, "params": np.linspace(1e5, 3e5, n),
                             "flops": np.linspace(1e7, 3e7, n), "top1_mean": np.linspace(80, 90, n),
                             "top1_ci_low": [np.nan] * n, "top1_ci_high": [np.nan] * n, "top1_std": [np.nan] * n,
                             "variant": [None] * n, "budget_vary": ["bottleneck_width"] * n, "shortcut": [True] * n})

    def labels_of(table):
        return {s: f"{i}×9d · depths=3-3-3-2 · width={16 + i} · design_space=..." for i, s in enumerate(table.setting)}

    few, many = table_of(8), table_of(40)
    ax = figures.complexity(few, labels_of(few)).axes[0]
    assert [t.get_text() for t in ax.texts] == [f"{i}×9d" for i in range(8)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["design_space=resnet", "design_space=resnext"]
    assert all(line.get_linestyle() == "None" for line in ax.get_lines())
    assert len(figures.complexity(many, labels_of(many)).axes[0].texts) == 0
    short = {s: f"{i}×9d · C=2" for i, s in enumerate(few.setting)}
    assert [t.get_text() for t in figures.complexity(few, short).axes[0].texts] == list(short.values())


@pytest.mark.parametrize("typed", ["2×40d", "2x40d"])
def test_a_label_typed_with_the_letter_x_names_its_setting(typed):
    """Labels are written `2×40d`, with the multiplication sign a keyboard lacks: `report.reference=2x40d` was not a
    setting of the sweep (found by hand). A letter x between a cardinality and a width reads as ×."""
    settings = ["model.cardinality=1", "model.cardinality=2"]
    labels = {"model.cardinality=1": "1×64d", "model.cardinality=2": "2×40d"}
    assert stats.find_reference(settings, typed, labels, "report.reference") == "model.cardinality=2"
    with pytest.raises(ConfigError, match=r"^report.reference='4x24d' is not a setting of this sweep"):
        stats.find_reference(settings, "4x24d", labels, "report.reference")


@pytest.mark.parametrize("typed", ["model.depths=[1, 2]", "[1, 2]", "model.depths=[ 1,2 ]", "model.depths=[1,2]"])
def test_a_list_typed_with_spaces_names_its_setting(typed):
    """Found by hand: `--reference 'model.depths=[1, 2]'` was not a setting of a sweep whose member is
    `model.depths=[1,2]`: the reference was split at every space, `[1,` and `2]`. Spaces inside brackets are no
    separators and no part of the value (Hydra's grammar reads `[1, 2]` as `[1,2]`); inside quotes they are."""
    settings = ["model.depths=[1,1]", "model.depths=[1,2]", "model.name='a b'"]
    labels = {s: "1×12d" for s in settings}
    assert stats.find_reference(settings, typed, labels, "report.reference") == "model.depths=[1,2]"
    assert stats.find_reference(settings, "model.name='a b'", labels, "report.reference") == "model.name='a b'"
    with pytest.raises(ConfigError, match=r"is not a setting of this sweep"):
        stats.find_reference(settings, "model.depths=[1, 3]", labels, "report.reference")


def test_a_setting_without_a_completed_run_says_what_its_runs_ended_as(tmp_path):
    """Found by hand (a pruned search's report): a setting whose one run was pruned read `undecided (n=0): no
    completed run`, as if it had never run."""
    for seed in (0, 1):
        write_record(tmp_path / "sweep", record(["model.cardinality=1", f"seed={seed}"], seed, (30.0, 20.0 + seed)))
    write_record(tmp_path / "sweep", record(["model.cardinality=2", "seed=0"], 0, (60.0,), status="pruned",
                                            reason="pruned after epoch 1 of 2: …"))
    write_record(tmp_path / "sweep", record(["model.cardinality=4", "seed=0"], 0, status="failed", reason="x"))
    write_record(tmp_path / "sweep", record(["model.cardinality=4", "seed=1"], 1, status="failed", reason="x"))
    table = pd.read_csv(write_report(tmp_path / "sweep", tmp_path / "report") / "table.csv")
    assert table.verdict.tolist() == ["reference", "undecided (n=0): no completed run (1 pruned)",
                                      "undecided (n=0): no completed run (2 failed)"]


def test_a_sweep_whose_every_member_failed_says_so_and_names_no_reference(tmp_path):
    """Found by hand (a block of one's own that every run refused): the table called its one setting '?×?d' and
    'the sweep's first setting with a completed run' when none had completed."""
    for width in (16, 32):
        write_record(tmp_path / "sweep", record(["model=tiny", f"model.width={width}"], 0, status="failed",
                                                reason="block='mypkg.blocks:X' gives 33×28×28 …"))
    out = write_report(tmp_path / "sweep", tmp_path / "report")
    md = (out / "table.md").read_text()
    assert "?×?d" not in md and "| tiny " in md  # the model's name where C and d were never solved
    assert "first setting with a completed run" not in md
    assert "- No setting has a completed run: nothing is compared; the members that did not complete say why." in md
    # found by hand as well: the first lines said that seeds were missing and to add `seed=0,1,2`, which would
    # only fail three times as often
    assert md.splitlines()[2] == ("**Nothing can be compared: no member completed**; the members that did not "
                                  "complete say why (below).")
    assert "seed=0,1,2" not in md and "No difference can be judged" not in md
    assert "<b>Nothing can be compared: no member completed</b>" in (out / "index.html").read_text()
    table = pd.read_csv(out / "table.csv")
    assert table.verdict.tolist() == ["no completed run (1 failed)", "no completed run (1 failed)"]
    assert table.width.tolist() == [16, 32]  # from the overrides: what tells the settings apart
