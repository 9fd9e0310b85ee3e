"""The report of a sweep, from hand-made version-1 run records (tests/fake_sweeps.py; no training)."""

from __future__ import annotations

import json
import os
import logging
import math
import shutil

import pandas as pd
import pytest

from ablate.config import load_template
from ablate.report import collect, write_report
from ablate.report.__main__ import main as report_main
from ablate.report.callback import ReportCallback
from ablate.report import tables
from ablate.report.tables import paper_arch, paper_errors, table2
from tests.fake_sweeps import record, write_record

SCRIPT = "<script>alert('x')</script>"
SWEEP = "+sweep=cardinality_vs_width"
# the d that Table 2 gives resnet50 for each C; the C=8 member fails, the C=32 member never ran
MEMBERS = {1: 64, 2: 40, 4: 24}
MULTIRUN = f"""
hydra:
  mode: MULTIRUN
  sweeper:
    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper
    params:
      model.cardinality: 1,2,4,8,32
  overrides:
    hydra: [hydra.mode=MULTIRUN]
    task: ['{SWEEP}', model=resnet50, 'seed=0,1']
  runtime:
    choices: {{sweep: cardinality_vs_width, model: resnet50}}
"""


def write_member(root, overrides, seed, job_num, template=None, val_errs=(), status="completed", reason=None):
    """One member's result.json in the folder Hydra's override_dirname would give it."""
    config = {"data": {"name": SCRIPT},
              "budget": {"metric": "params", "scope": "network", "reference": "resnet50", "scale": 1.0,
                         "vary": "bottleneck_width"}}
    write_record(root, record(overrides, seed, val_errs, status=status, reason=reason, template=template,
                              model="resnet50", config=config, job_num=job_num))


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweeps") / "cardinality_vs_width"
    root.mkdir()
    (root / "multirun.yaml").write_text(MULTIRUN)
    resnet50 = load_template("resnet50")
    job = 0
    for c, d in MEMBERS.items():
        for seed in (0, 1):
            overrides = [f"model.cardinality={c}", SWEEP, "model=resnet50", f"seed={seed}"]
            # final val error: 30 − C + seed, so the mean over seeds is 30.5 − C and the std is √0.5
            write_member(root, overrides, seed, job, resnet50.replace(cardinality=c, bottleneck_width=d),
                         val_errs=(40.0, 30.0 - c + seed))
            job += 1
    for seed in (0, 1):
        write_member(root, ["model.cardinality=8", SWEEP, "model=resnet50", f"seed={seed}"], seed, job,
                     status="failed", reason="budget params=25,557,032 cannot be met within tolerance 0 by varying "
                                             "bottleneck_width.")
        job += 1
    return root


@pytest.fixture(scope="module")
def report(sweep_dir, tmp_path_factory):
    return write_report(sweep_dir, tmp_path_factory.mktemp("report"))


def test_one_row_per_member_from_one_collection(sweep_dir, report):
    sweep = collect(sweep_dir)
    assert sweep.name == "cardinality_vs_width"
    assert len(sweep.runs) == 10  # 5 cardinalities × 2 seeds
    assert sweep.runs.status.value_counts().to_dict() == {"completed": 6, "failed": 2, "missing": 2}
    assert len(sweep.epochs) == 6 * 2  # completed runs × epochs
    assert len(pd.read_csv(report / "runs.csv")) == 10
    assert len(pd.read_csv(report / "epochs.csv")) == 12
    assert sweep.runs.label.tolist() == ["1×64d"] * 2 + ["2×40d"] * 2 + ["4×24d"] * 2 + ["8×?d"] * 2 + ["32×?d"] * 2


def test_mean_and_std_over_seeds(report):
    table = pd.read_csv(report / "table.csv")
    assert table.label.tolist() == ["1×64d", "2×40d", "4×24d", "8×?d", "32×?d"]
    assert table.n.tolist() == [2, 2, 2, 0, 0]
    assert table.top1_mean.iloc[:3].tolist() == [29.5, 28.5, 26.5]
    assert table.top1_std.iloc[:3].tolist() == pytest.approx([math.sqrt(0.5)] * 3)
    assert table.params.iloc[0] == 25_557_032  # Table 1: ResNet-50
    md = (report / "table.md").read_text()
    assert "| 1×64d" in md and "29.50 ± 0.71" in md
    assert r"29.50 $\pm$ 0.71" in (report / "table.tex").read_text()


def test_failed_and_missing_members_are_listed(report):
    md = (report / "table.md").read_text()
    assert md.count("**failed**") == 2 and "cannot be met within tolerance 0" in md
    assert md.count("**missing**") == 2 and "model.cardinality=32" in md
    assert "2 failed" in md and "2 missing" in md
    page = (report / "index.html").read_text()
    assert "cannot be met within tolerance 0" in page and page.count("<b>missing</b>") == 2


def test_a_failed_members_traceback_is_linked_from_the_report(sweep_dir, tmp_path):
    """Noticed in session 23: the terminal named a failed member's error.log, the report did not, so a reader of
    the report had to guess which folder held the traceback. A member with error.log links it, relative to the
    report (Markdown and HTML); a failure without one (the user's, said in its sentence) links nothing."""
    failed = sorted(p.parent for p in sweep_dir.glob("*/result.json") if '"failed"' in p.read_text())
    assert len(failed) == 2
    (failed[0] / "error.log").write_text("Traceback (most recent call last):\nTypeError: boom\n")
    try:
        out = write_report(sweep_dir, tmp_path / "report")
    finally:
        (failed[0] / "error.log").unlink()
    link = os.path.relpath(failed[0] / "error.log", out)
    assert link.startswith("../") and link.endswith(f"{failed[0].name}/error.log")
    md = (out / "table.md").read_text()
    assert md.count("traceback: [error.log](") == 1 and f"[error.log]({link})" in md
    page = (out / "index.html").read_text()
    assert page.count(">error.log</a>") == 1 and f"<a href='{link}'>error.log</a>" in page


def test_header_names_command_and_wall_time(report):
    md = (report / "table.md").read_text()
    assert "- command: `python -m ablate +sweep=cardinality_vs_width model=resnet50 seed=0,1 -m`" in md
    assert "- machine: hostname " in md
    assert "8.0 min summed over runs" in md  # 8 records × 60 s


@pytest.mark.parametrize(("folder", "written"), [("/work/exp/myconf", "myconf"), ("/elsewhere/conf", "/elsewhere/conf")])
def test_the_command_of_a_sweep_of_ones_own_configs_keeps_config_dir(folder, written, tmp_path):
    """The report's command (and the repeats advice built from it) dropped `--config-dir myconf` (found by hand):
    copied, it failed to find the user's model. Hydra records the folder among the config sources; it is given
    relative to the folder the sweep ran in when it lies inside it."""
    from ablate.report.collect import Sweep

    multirun = {"hydra": {"overrides": {"hydra": ["hydra.mode=MULTIRUN"], "task": ["model=rx3_w48", "+sweep=my_depths"]},
                          "runtime": {"cwd": "/work/exp", "config_sources": [
                              {"path": "hydra.conf", "schema": "pkg", "provider": "hydra"},
                              {"path": "ablate.conf", "schema": "pkg", "provider": "main"},
                              {"path": folder, "schema": "file", "provider": "command-line"},
                              {"path": "", "schema": "structured", "provider": "schema"}]}}}
    sweep = Sweep("my_depths", tmp_path, pd.DataFrame(), pd.DataFrame(), multirun)
    assert sweep.command == f"python -m ablate --config-dir {written} model=rx3_w48 +sweep=my_depths -m"


def test_figures_present_and_not_empty(report):
    for stem in ("curves", "error_vs_complexity"):
        png, svg = (report / f"{stem}.png").read_bytes(), (report / f"{stem}.svg").read_text()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        assert "<svg" in svg and svg.count("<path") > 10


def test_html_escapes_config_strings(report):
    page = (report / "index.html").read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img src='curves.svg'" in page


def test_paper_numbers_beside_ours_for_resnet50(report):
    table = pd.read_csv(report / "table.csv")
    assert table.paper_top1.iloc[:3].tolist() == [23.9, 23.0, 22.6]  # Table 3, 50-layer: 1×64d, 2×40d, 4×24d
    assert table.paper_table.iloc[:3].tolist() == ["Table 3"] * 3
    assert "| paper top-1 (%)" in (report / "table.md").read_text()


def test_paper_lookup():
    resnet101 = {**load_template("resnet101").to_dict(), "depths": "3-4-23-3"}
    assert paper_arch(resnet101) == "101-layer"
    assert paper_arch({**resnet101, "cardinality": 64, "bottleneck_width": 4}) == "101-layer"
    assert paper_arch(load_template("tiny").to_dict()) is None
    assert paper_errors("101-layer", 64, 4, True) == {"paper_top1": 20.4, "paper_top5": 5.3, "paper_table": "Table 4"}
    # both tables print ResNeXt-101 32×4d: 21.2 top-1 (Tables 3 and 4), 5.6 top-5 (Table 4)
    assert paper_errors("101-layer", 32, 4, True) == {"paper_top1": 21.2, "paper_top5": 5.6,
                                                      "paper_table": "Table 3, Table 4"}
    assert paper_errors("50-layer", 32, 4, False)["paper_top1"] == 26.1  # §5.1, without shortcuts
    assert paper_errors("50-layer", 3, 4, True) is None


def test_table2_of_resnet50():
    t2 = table2(load_template("resnet50"))
    assert t2.cardinality.tolist() == [1, 2, 4, 8, 32]
    assert t2.bottleneck_width.tolist() == [64, 40, 24, 14, 4]  # Table 2
    assert t2.group_width.tolist() == [64, 80, 96, 112, 128]  # Table 2
    assert t2.params.tolist() == [25_557_032, 25_425_000, 25_292_968, 25_603_016, 25_028_904]  # §3 / Table 2 note


def test_report_writes_table2_of_the_template(report):
    t2 = pd.read_csv(report / "table2.csv")
    assert t2.bottleneck_width.tolist() == [64, 40, 24, 14, 4]  # Table 2
    assert (report / "table2.md").read_text().startswith("# Table 2 of resnet50")


def test_cli_default_out_and_bad_input(sweep_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert report_main([str(sweep_dir)]) == 0
    assert (tmp_path / "reports" / "cardinality_vs_width" / "index.html").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert report_main([str(empty)]) == 2
    assert capsys.readouterr().err.strip() == f"error: SWEEP_DIR='{empty}' holds no runs: no result.json under it."

    assert report_main([str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err

    blocker = tmp_path / "file"
    blocker.write_text("")
    assert report_main([str(sweep_dir), "--out", str(blocker / "report")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: the report directory '{blocker / 'report'}' cannot be written") and err.count("\n") == 0


def test_a_folder_of_sweeps_is_refused_not_pooled(tmp_path, monkeypatch, capsys):
    # Found by hand: `python -m ablate.report sweeps` (the folder that holds every sweep) wrote one report of all
    # their runs, pooling members of different sweeps whose overrides read alike into one setting
    from tests.fake_sweeps import write_sweep

    sweeps = tmp_path / "sweeps"
    for name in ("b_sweep", "a_sweep", "c_sweep"):
        write_sweep(sweeps / name, {"model.cardinality=1": {0: 10.0}}, multirun="hydra: {}\n")
    monkeypatch.chdir(tmp_path)
    assert report_main([str(sweeps)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: SWEEP_DIR='{sweeps}' holds 3 sweeps (a_sweep, b_sweep, c_sweep), not one: give one of them, "
        f"such as {sweeps / 'a_sweep'}."
    )
    assert not (tmp_path / "reports").exists()
    assert report_main([str(sweeps / "a_sweep")]) == 0  # each of them is a sweep
    capsys.readouterr()
    shutil.copytree(sweeps / "a_sweep", tmp_path / "one" / "runs" / "a_sweep")
    assert report_main([str(tmp_path / "one")]) == 2  # a folder above one sweep
    assert capsys.readouterr().err.strip() == (
        f"error: SWEEP_DIR='{tmp_path / 'one'}' holds a sweep, runs/a_sweep, and is not one: "
        f"give {tmp_path / 'one' / 'runs' / 'a_sweep'}."
    )


def test_a_sweep_inside_a_sweep_folder_is_not_pooled_into_it(tmp_path):
    """A sweep started into a folder inside another's (hydra.sweep.dir=sweeps/a/more) has its own multirun.yaml:
    its runs are its own, not members of the outer sweep, whose report leaves them out."""
    from tests.fake_sweeps import write_sweep

    outer = write_sweep(tmp_path / "a", {"model.cardinality=1": {0: 10.0}}, multirun="hydra: {}\n")
    write_sweep(outer / "more", {"model.cardinality=1": {0: 30.0}, "model.cardinality=2": {0: 20.0}},
                multirun="hydra: {}\n")
    (outer / "more" / "model.cardinality=2,seed=0" / ".hydra").mkdir()
    (outer / "more" / "model.cardinality=2,seed=0" / ".hydra" / "overrides.yaml").write_text("- model.cardinality=2\n- seed=0\n")
    runs = collect(outer).runs
    assert runs.setting.tolist() == ["model.cardinality=1"] and runs.final_val_err.tolist() == [10.0]
    assert len(collect(outer / "more").runs) == 2


def test_callback_writes_report_then_exits_with_the_sweeps_status(sweep_dir, tmp_path, caplog):
    from omegaconf import OmegaConf

    with pytest.raises(SystemExit) as stop:  # its failed and missing members: exit 1, after the report is written
        ReportCallback(out=str(tmp_path / "r")).on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}}))
    assert stop.value.code == 1
    assert (tmp_path / "r" / "index.html").is_file()
    with caplog.at_level(logging.INFO):  # nothing launched: no report to miss, and exit 0
        ReportCallback().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "none")}}}))
    assert f"No report of {tmp_path / 'none'}: no member was launched into it." in caplog.messages


def test_unreadable_record_is_a_failed_member(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "result.json").write_text('{"status": "compl')
    sweep = collect(tmp_path)
    assert sweep.runs.status.tolist() == ["failed"]
    assert sweep.runs.reason.iloc[0].startswith("result.json cannot be read")


def test_started_member_without_record_is_missing(sweep_dir, tmp_path):
    import shutil

    shutil.copytree(sweep_dir, tmp_path / "s")
    member = tmp_path / "s" / "extra"
    (member / ".hydra").mkdir(parents=True)
    (member / ".hydra" / "overrides.yaml").write_text(json.dumps(["model.cardinality=16", "seed=0"]))
    runs_frame = collect(tmp_path / "s").runs
    row = runs_frame[runs_frame.run == "extra"].iloc[0]
    assert row.status == "missing" and "started but wrote no result.json" in row.reason


def test_curves_legend_follows_the_table_not_the_folder_names():
    # folders sort as C=1, 32, 4 (strings); the legend must read as the table: 1, 4, 32
    import pandas as pd

    from ablate.report import figures

    rows = [{"setting": s, "epoch": e, "train_err": 20.0 - e, "val_err": 15.0 - e}
            for s in ("model.cardinality=1", "model.cardinality=32", "model.cardinality=4") for e in (1, 2)]
    labels = {"model.cardinality=1": "1×12d", "model.cardinality=4": "4×5d", "model.cardinality=32": "32×1d"}
    fig = figures.curves(pd.DataFrame(rows), labels)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["1×12d", "4×5d", "32×1d"]


def test_the_curves_of_forty_settings_keep_their_plot_and_legend(tmp_path):
    """40 settings (a design-space sweep): the legend goes below the plot, in full, and the figure is laid out
    without matplotlib's warning that the axes collapsed (the legend inside them took all their room)."""
    import warnings

    import pandas as pd

    from ablate.report import figures
    from ablate.report.output import write_figure

    names = [f"model.width={w}" for w in range(40)]
    rows = [{"setting": s, "epoch": e, "train_err": 30.0 - e - i / 10, "val_err": 25.0 - e - i / 10}
            for i, s in enumerate(names) for e in (1, 2)]
    labels = {s: f"1×{i}d · depths=3-3-3-2 · width={i} · design_space=resnet" for i, s in enumerate(names)}
    fig = figures.curves(pd.DataFrame(rows), labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_figure(fig, tmp_path / "curves")
    assert fig.axes[0].get_legend() is None and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(labels.values())
    assert fig.get_figheight() > 4.5 + 40 * 0.1  # grown by the legend's rows


def test_one_epoch_of_settings_with_long_labels_keeps_its_plot(tmp_path):
    """Found by hand: the report of a folder of several sweeps (one epoch each) wrote matplotlib's warning that the
    axes collapsed to zero on stderr: the one-epoch figure's row labels, each setting's label in full, took all of
    its 6-inch width. The figure widens with its longest label."""
    import warnings

    from ablate.report import figures
    from ablate.report.output import write_figure

    names = [f"model.width={w}" for w in range(8)]
    rows = [{"setting": s, "epoch": 1, "train_err": 30.0 - i, "val_err": 25.0 - i} for i, s in enumerate(names)]
    labels = {s: f"1×{i}d · depths=3-3-3-2 · width={i} · design_space=resnet · sweep=design_spaces · "
                 "data.train_subset=640 · data.val_subset=640 · optim.epochs=1" for i, s in enumerate(names)}
    fig = figures.curves(pd.DataFrame(rows), labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_figure(fig, tmp_path / "curves")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(labels.values())


# ----------------------------------------------------------------------------- a report that stands alone
DEPTH_MULTIRUN = """
hydra:
  mode: MULTIRUN
  sweeper:
    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper
    params:
      model.depths: '[1,1],[2,2]'
  overrides:
    hydra: [hydra.mode=MULTIRUN]
    task: ['+sweep=depth_study', 'seed=0,1'{lrs}]
  runtime:
    choices: {sweep: depth_study, model: tiny}
"""
DEPTH_CONFIG = {
    "data": {"name": "fashion_mnist", "train_subset": 1000, "val_subset": None, "augment": True},
    "optim": {"epochs": 2, "batch_size": 64, "lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 1e-4,
              "decay_norm_and_bias": True, "schedule": "step", "milestones": [1], "gamma": 0.1, "warmup_epochs": 0.5,
              "warmup_start": 0.1, "min_lr_factor": 0.0, "label_smoothing": 0.0},
    "trainer": {"precision": "auto"},
    "budget": {"metric": "params", "scope": "network", "reference": "tiny", "scale": 1.0, "target": None,
               "tolerance": 0.1, "vary": "depth"},
}


def depth_sweep(root, epochs: int = 2, lrs=(0.1,)):
    """A depth sweep of tiny (depths [1,1] and [2,2]; the same C×d) × 2 seeds, in a folder named by a timestamp, as
    an ad-hoc `hydra.sweep.dir` gives it. Val error per epoch: 40 + seed, then 30 + seed + depth."""
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text(DEPTH_MULTIRUN.replace("{lrs}", f", 'optim.lr={','.join(map(str, lrs))}'"
                                                                if len(lrs) > 1 else ""))
    tiny = load_template("tiny")
    job = 0
    for lr in lrs:
        for depth in (1, 2):
            for seed in (0, 1):
                config = {**DEPTH_CONFIG, "optim": {**DEPTH_CONFIG["optim"], "epochs": epochs, "lr": lr}}
                overrides = [f"model.depths=[{depth},{depth}]", "+sweep=depth_study", f"seed={seed}"]
                overrides += [f"optim.lr={lr}"] if len(lrs) > 1 else []
                rec = record(overrides, seed, (40.0 + seed, 30.0 + seed + depth)[:epochs], template=tiny.replace(
                    depths=(depth, depth)), model="tiny", config=config, job_num=job,
                    budget={"metric": "params", "scope": "network", "target": 207_818.0, "achieved": 200_000,
                            "deviation": -0.04, "vary": "depth", "value": depth, "tolerance": 0.1})
                rec["throughput"] = {"precision": "bf16", "images_per_s": 100.0}
                write_record(root, rec)
                job += 1
    return root


def test_a_one_epoch_recipe_says_one_epoch(tmp_path):
    md = (write_report(depth_sweep(tmp_path / "sweep", epochs=1), tmp_path / "report") / "table.md").read_text()
    assert "- recipe: 1 epoch, batch 64, SGD lr 0.1," in md


def test_the_report_states_recipe_budget_and_error_bars_under_the_sweeps_name(tmp_path):
    out = write_report(depth_sweep(tmp_path / "sweeps" / "2026-11-30_10-00-00"), tmp_path / "report")
    md = (out / "table.md").read_text()
    assert md.startswith("# depth_study: top-1 error by setting\n")  # the +sweep= name, not the folder's
    lines = md.splitlines()
    assert ("- data: fashion_mnist: 1000 training images (seeded class-balanced subset), all validation images; "
            "augmented: yes") in lines
    assert ("- recipe: 2 epochs, batch 64, SGD lr 0.1, momentum 0.9 (Nesterov: no), weight decay 0.0001 (on norm and "
            "bias: yes), step schedule (lr × 0.1 at epochs 1), linear warm-up over 0.5 epochs from 0.1 × lr, label "
            "smoothing 0.0") in lines
    assert "- precision: trainer.precision=auto, ran as bf16" in lines
    assert "- budget: params of the whole network matched to tiny × 1.0 = 207.8k by solving depth, tolerance ±10%" in lines
    bars = next(line for line in lines if line.startswith("- error bars: "))
    assert "are the 95% confidence interval of the mean over seeds (Student's t, n − 1 degrees of freedom" in bars
    page = (out / "index.html").read_text()
    assert "<title>depth_study</title>" in page and "<h1>depth_study: top-1 error by setting</h1>" in page
    for key in ("data", "recipe", "precision", "budget", "error bars"):
        assert f"<dt>{key}</dt>" in page
    assert "<dd>params of the whole network matched to tiny × 1.0 = 207.8k by solving depth, tolerance ±10%</dd>" in page


def test_a_setting_without_a_budget_is_named_apart_from_the_budgeted_ones(tmp_path):
    # found by hand: +sweep=complexity_2x (its baseline has budget.metric=null) said "budget: null / flops (varies)"
    root = depth_sweep(tmp_path / "sweep")
    for path in root.glob("*depths=[[]1,1[]]*/result.json"):
        rec = json.loads(path.read_text())
        rec["config"]["budget"] = {**rec["config"]["budget"], "metric": None}
        rec["budget"] = None
        path.write_text(json.dumps(rec))
    lines = (write_report(root, tmp_path / "report") / "table.md").read_text().splitlines()
    assert ("- budget: params of the whole network matched to tiny × 1.0 = 207.8k by solving depth, tolerance ±10%; "
            "none for 2 of 4 runs (budget.metric=null: the model config as written)") in lines


def test_labels_show_every_field_that_varies(tmp_path):
    from ablate.report import figures, stats, tables

    sweep = collect(depth_sweep(tmp_path / "s", lrs=(0.1, 0.2)))
    table = tables.summary(sweep.runs, stats.analyse(sweep.runs))
    labels = tables.labels(table)
    assert sorted(labels.values()) == ["1×12d · depths=1-1 · optim.lr=0.1", "1×12d · depths=1-1 · optim.lr=0.2",
                                       "1×12d · depths=2-2 · optim.lr=0.1", "1×12d · depths=2-2 · optim.lr=0.2"]
    shown = tables.display(table)
    assert shown.columns.tolist()[:3] == ["setting", "depths", "optim.lr"]
    assert list(zip(shown.depths, shown["optim.lr"], strict=True)) == [("1-1", "0.1"), ("1-1", "0.2"), ("2-2", "0.1"),
                                                                       ("2-2", "0.2")]  # the sweep's order
    fig = figures.complexity(table, labels)  # each point names its setting in full: no two alike
    for ax in fig.axes:
        assert sorted(t.get_text() for t in ax.texts) == sorted(labels.values())


def test_a_shortcut_column_says_with_and_without(tmp_path):
    """Found by hand: `+sweep=no_shortcut`'s table showed Python's `True` / `False` in its shortcut column."""
    from ablate.engine.template import Template
    from ablate.report import stats, tables
    from tests.fake_sweeps import record, write_record

    for shortcut in (True, False):
        t = Template(depths=(1, 1), width=32, stem="cifar", stem_width=32, resolution=28, shortcut=shortcut)
        write_record(tmp_path / "s", record([f"model.shortcut={str(shortcut).lower()}"], 0, (20.0,), template=t))
    sweep = collect(tmp_path / "s")
    shown = tables.display(tables.summary(sweep.runs, stats.analyse(sweep.runs)))
    assert sorted(shown.shortcut) == ["no", "yes"]


def test_curve_bands_are_95_percent_intervals_and_one_epoch_is_no_curve(tmp_path):
    from ablate.report import figures

    sweep = collect(depth_sweep(tmp_path / "two"))
    labels = {s: s for s in sweep.epochs.setting.unique()}
    ax = figures.curves(sweep.epochs, labels).axes[0]
    assert ax.get_xlim() == (1.0, 2.0) and [t for t in ax.get_xticks() if 1 <= t <= 2] == [1.0, 2.0]
    # depth 1's val error over seeds 0, 1: 40, 41 after epoch 1 and 31, 32 after epoch 2; the 95% CI of a mean of
    # two values 1 apart is ± t(0.975, 1)·0.5 = ±6.3531 (a ±1 std band would be ±0.7071)
    val_band = ax.collections[1].get_paths()[0].vertices[:, 1]
    assert (val_band.min(), val_band.max()) == (pytest.approx(31.5 - 6.3531, abs=1e-3),
                                                pytest.approx(40.5 + 6.3531, abs=1e-3))
    one = collect(depth_sweep(tmp_path / "one", epochs=1))
    ax = figures.curves(one.epochs, {s: s for s in one.epochs.setting.unique()}).axes[0]
    assert ax.get_xlabel() == "top-1 error (%) after epoch 1, mean and 95% CI over seeds"  # not an epoch axis
    assert [t.get_text() for t in ax.get_yticklabels()] == list(one.epochs.setting.unique())
    assert "one epoch" in ax.get_title()


def test_a_report_never_overwrites_another_sweeps_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    first, second = depth_sweep(tmp_path / "a" / "run"), depth_sweep(tmp_path / "b" / "run")
    assert report_main([str(first)]) == 0  # reports/run, named by the folder
    out = tmp_path / "reports" / "run"
    assert json.loads((out / "report.json").read_text()) == {"sweep_dir": os.path.relpath(first.resolve(), out.resolve()),
                                                               "sweep": "depth_study"}
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert report_main([str(second)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: the report folder 'reports/run' holds the report of another sweep, a/run: give this sweep's report "
        "its own folder with --out DIR, or delete 'reports/run' to replace that report.")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written
    assert report_main([str(second), "--out", "reports/b"]) == 0
    assert report_main([str(tmp_path / "a" / "run")]) == 0  # the same sweep: brought up to date
    # a report from before report.json: table.md's sweep line says where it came from
    (out / "report.json").unlink()
    assert report_main([str(first)]) == 0
    (out / "report.json").unlink()
    assert report_main([str(second)]) == 2 and "holds the report of another sweep, a/run" in capsys.readouterr().err


def test_a_folder_of_other_files_is_not_filled_with_a_report(tmp_path):
    """Found by hand: `python -m ablate.report SWEEP --out /` wrote seventeen files into the root folder (and `--out .`
    would scatter them in a project). A folder that holds files but no report is refused; a new or empty folder, or
    a report folder of this sweep (even one whose writing was cut short), is written."""
    from ablate.errors import ConfigError
    from ablate.report.output import check_owner

    sweep = tmp_path / "sweeps" / "x"
    sweep.mkdir(parents=True)
    crowded = tmp_path / "project"
    (crowded / "src").mkdir(parents=True)
    for name in ("setup.py", "notes.md", "data.csv", "zz.txt"):
        (crowded / name).write_text("mine")
    with pytest.raises(ConfigError) as e:
        check_owner(crowded, sweep, "--out DIR")
    assert str(e.value) == (f"the report folder {str(crowded)!r} holds other files and no report (data.csv, notes.md, "
                            "setup.py, src, …): give the report a new or empty folder with --out DIR.")
    assert sorted(p.name for p in crowded.iterdir()) == ["data.csv", "notes.md", "setup.py", "src", "zz.txt"]
    check_owner(tmp_path / "new", sweep)  # no refusal
    (tmp_path / "empty").mkdir()
    check_owner(tmp_path / "empty", sweep)
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "runs.csv").write_text("")  # the first file a report writes; report.json is its last
    check_owner(tmp_path / "cut", sweep)


def test_a_report_moved_with_its_sweep_still_belongs_to_it(tmp_path):
    """A committed report (reports/X beside sweeps/X) cloned to another path is still the same sweep's report:
    report.json keeps the sweep folder relative to the report, not the absolute path where it was written."""
    import shutil

    from ablate.report.output import check_owner, source_of, write_source

    first = tmp_path / "checkout-a"
    (first / "sweeps" / "x").mkdir(parents=True)
    (first / "reports" / "x").mkdir(parents=True)
    write_source(first / "reports" / "x", first / "sweeps" / "x", "x")
    second = tmp_path / "checkout-b"
    shutil.copytree(first, second)
    assert source_of(second / "reports" / "x") == (second / "sweeps" / "x").resolve()
    check_owner(second / "reports" / "x", second / "sweeps" / "x")  # no refusal


def test_a_member_that_finishes_while_the_sweep_is_judged_is_not_a_failure(tmp_path, monkeypatch):
    """The verdict reads the records, then asks whether an unfinished member's lock has a live holder: a member that
    another launch finished in between (lock released, record completed) is a result, not a failure."""
    import json

    from ablate.report.callback import sweep_verdict
    from ablate.run.lock import RunLock
    from tests.fake_sweeps import write_sweep

    sweep = write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 10.0}, "model.cardinality=2": {0: 9.0}})
    path = sorted(sweep.glob("*/result.json"))[1]
    done = path.read_text()
    path.write_text(json.dumps({**json.loads(done), "status": "running"}))

    def finished_meanwhile(self):  # the other launch ends: its record completed, its lock released
        path.write_text(done)
        return None

    monkeypatch.setattr(RunLock, "live_holder", finished_meanwhile)
    assert sweep_verdict(sweep) == (0, [])


def test_the_callbacks_module_loads_neither_pandas_nor_matplotlib():
    """Every Hydra process of every run imports `ablate.report.callback` (the root config's status callback, and a
    joblib, submitit or Ray worker unpickling it): the report's libraries load when a report is written, not there.
    The package's names stay what they were: `from ablate.report import collect` is the function."""
    import subprocess
    import sys

    code = ("import sys; import ablate.report.callback;"
            "print('pandas' in sys.modules, 'matplotlib' in sys.modules);"
            "from ablate.report import collect; import ablate.report.collect;"
            "from ablate.report import collect as again; print(callable(collect), callable(again))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.split() == ["False", "False", "True", "True"]


def test_table2_of_a_sweep_without_a_budget_is_of_the_template_it_ran(tmp_path):
    """`python -m ablate -m model.width=48 model.cardinality=1,4 hydra/callbacks=report`: the report's Table 2 was
    tiny's as written (width 32, 207,818 params), not of the networks the sweep trained (found by hand: a sweep of
    a block of one's own got the bottleneck's Table 2). Without a budget it is the first setting's template's."""
    from ablate.engine.complexity import complexity

    wide = load_template("tiny").replace(width=48)
    for c in (1, 4):
        write_record(tmp_path / "sweep", record([f"model.cardinality={c}", "model.width=48"], 0, (20.0,),
                                                template=wide.replace(cardinality=c)))
    out = write_report(tmp_path / "sweep", tmp_path / "report")
    t2 = pd.read_csv(out / "table2.csv")
    assert t2.params.iloc[0] == complexity(wide).params != complexity(load_template("tiny")).params
    assert (out / "table2.md").read_text().startswith(
        "# Table 2 of tiny as the sweep's first setting ran it (model.cardinality=1 model.width=48): d for each "
        "cardinality C at its params")


def test_no_table2_where_the_template_a_sweep_ran_cannot_be_rebuilt(tmp_path):
    """A block of one's own that does not import where the report is written: no Table 2 rather than the Table 2 of
    the model config as written, which the sweep did not run."""
    path = write_record(tmp_path / "sweep", record(["model.cardinality=1"], 0, (20.0,), template=load_template("tiny")))
    rec = json.loads((path / "result.json").read_text())
    rec["model"]["template"]["block"] = "gonepkg.blocks:Gone"
    (path / "result.json").write_text(json.dumps(rec))
    out = write_report(tmp_path / "sweep", tmp_path / "report")
    assert (out / "table.md").exists() and not (out / "table2.md").exists()


def test_a_sweep_of_five_classes_or_fewer_has_no_top5_column(tmp_path):
    """Found by hand: a 3-class data set's report showed a top-5 error of 0.00 %, true by construction only."""
    from ablate.engine.template import Template

    for c, err in ((1, 20.0), (2, 19.0)):
        for seed in (0, 1):
            t = Template(depths=(1, 1), width=32, stem="cifar", stem_width=32, resolution=28, cardinality=c)
            rec = record([f"model.cardinality={c}", f"seed={seed}"], seed, (30.0, err + seed), template=t)
            for entry in rec["epochs"]:
                entry["val_top5_err"] = None
            rec["final"]["val_top5_err"] = None
            write_record(tmp_path / "s", rec)
    out = write_report(tmp_path / "s", tmp_path / "report")
    md = (out / "table.md").read_text()
    assert "top-1 err (%)" in md and "top-5" not in md
    csv = pd.read_csv(out / "table.csv")  # every number, in the same columns as any sweep's: empty ones here
    assert csv.top5_mean.isna().all() and csv.top1_mean.tolist() == [20.5, 19.5]
    assert "top-5" not in (out / "table.tex").read_text()


def test_the_reference_line_names_its_override_once(report, tmp_path):
    """Found by hand: the report of one run folder said `Reference: 1×12d (`1×12d`)`, the label twice; a sweep's
    reference keeps the override that tells it apart."""
    md = (report / "table.md").read_text()
    assert "- Reference: 1×64d (`model.cardinality=1`), the sweep's first setting" in md
    write_record(tmp_path / "run", record([], 0, (30.0, 20.0), template=load_template("tiny")))
    single = (write_report(tmp_path / "run", tmp_path / "report") / "table.md").read_text()
    line = next(x for x in single.splitlines() if x.startswith("- Reference:"))
    assert line.startswith("- Reference: 1×12d, the sweep's first setting"), line


def test_a_run_repeated_in_another_folder_counts_once(tmp_path):
    """Found by hand: the main job without a seed, then `seed=0,1` into the same sweep folder (what the report's
    first line tells a user to run) trained seed 0 twice under two folder names, and the report counted it twice:
    n=3 for two seeds, a narrower interval, and Welch's test where the seeds pair."""
    root = tmp_path / "sweep"
    for c, errs in ((1, {0: 12.0, 1: 11.0}), (2, {0: 10.0, 1: 10.6})):
        for seed, err in errs.items():
            write_record(root, record([f"model.cardinality={c}", f"seed={seed}"], seed, (20.0, err),
                                      job_num=2 * c + seed))
            if seed == 0:  # the first command's member: no seed override, the config's seed 0, the same config
                rec = record([f"model.cardinality={c}"], 0, (20.0, err), job_num=c)
                write_record(root, rec)
    for path in root.rglob("result.json"):  # one hash per config, as the run computes it
        rec = json.loads(path.read_text())
        rec["config_hash"] = f"{rec['overrides'][0][-1]}{rec['config']['seed']}".ljust(16, "0")
        path.write_text(json.dumps(rec))
    sweep = collect(root)
    assert len(sweep.runs) == 4
    assert {frozenset(pair) for pair in sweep.repeated} == {
        frozenset({"model.cardinality=1", "model.cardinality=1,seed=0"}),
        frozenset({"model.cardinality=2", "model.cardinality=2,seed=0"}),
    }
    out = write_report(root, tmp_path / "report")
    table = pd.read_csv(out / "table.csv")
    assert table.n.tolist() == [2, 2] and table.test.tolist()[1] == "paired"
    md = (out / "table.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("- members:"))
    assert line.startswith("- members: 4 completed; 2 more folders hold a run of the same config as another (")
    assert line.endswith("): each is counted once") and "model.cardinality=2,seed=0" in line
    shutil.rmtree(root / "model.cardinality=2")  # one repeated pair left: its verb agrees (found by hand: 'hold')
    md = (write_report(root, tmp_path / "report1") / "table.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("- members:"))
    assert "; 1 more folder holds a run of the same config as another (" in line


def test_a_failed_run_never_stands_in_for_a_completed_run_of_its_config(tmp_path):
    """Second read of the rule above: a failed run of a config in one folder and its completed run in another — the
    completed run is the one counted; a run that ended without a result is no repeat of anything."""
    root = tmp_path / "sweep"
    failed = record(["model.cardinality=1"], 0, (), status="failed", reason="killed.", job_num=0)
    done = record(["model.cardinality=1", "seed=0"], 0, (20.0, 12.0), job_num=1)
    failed["config_hash"] = done["config_hash"] = "a" * 16
    write_record(root, failed), write_record(root, done)
    sweep = collect(root)
    assert sorted(sweep.runs.status) == ["completed", "failed"] and sweep.repeated == ()


def test_the_committed_reports_belong_to_the_sweep_folders_of_a_clone():
    """Found by `make run` on a clean clone: the committed reference reports, drawn from a sweep folder outside the
    repository, named that folder as their sweep, so the main job's report refused to overwrite them ('holds the report
    of another sweep') and a new user's first command ended without its report."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for report in sorted((root / "reports").glob("*/report.json")):
        sweep_dir = json.loads(report.read_text())["sweep_dir"]
        assert (report.parent / sweep_dir).resolve().parent == root / "sweeps", (report.parent.name, sweep_dir)


def test_a_run_without_an_end_says_whether_its_process_is_alive(tmp_path):
    """Found by hand: after kill -9 of a sweep, its report called the member it was training `running` with "the
    run is still going, or it was killed": the run lock it left says which."""
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holders = {"alive": f"{os.getpid()} {socket.gethostname()}", "killed": f"{dead.pid} {socket.gethostname()}",
               "elsewhere": "123 another-host", "unlocked": None}
    for seed, (name, holder) in enumerate(holders.items()):
        folder = write_record(tmp_path, record([f"+name={name}", f"seed={seed}"], seed, status="running"))
        if holder is not None:
            (folder / ".lock").write_text(holder + "\n")
    runs = collect(tmp_path).runs
    name = runs.overrides.map(lambda o: o.split()[0].split("=")[1])
    reason, status = dict(zip(name, runs.reason, strict=True)), dict(zip(name, runs.status, strict=True))
    assert reason["alive"] == f"a process with the pid that holds its lock ({os.getpid()}) is alive"
    assert reason["killed"] == (
        f"the process that ran it (pid {dead.pid} on this machine) is gone without recording an end; run "
        "the sweep's command again to resume it from its last saved epoch")
    generic = "no end recorded: the run is still going, or it was killed before it could record one"
    assert reason["elsewhere"] == f"{generic} (its lock names pid 123 on another-host)"
    assert reason["unlocked"] == generic
    # noticed in session 21: the killed run was counted `1 running` in the summary's "not completed" column
    assert status == {"alive": "running", "killed": "killed", "elsewhere": "running", "unlocked": "running"}
    table = tables.summary(runs)
    shown = zip(table.setting.map(lambda s: s.split()[0].split("=")[1]), tables.display(table)["not completed"])
    assert dict(shown) == {
        "alive": "1 running", "killed": "1 killed", "elsewhere": "1 running", "unlocked": "1 running"}
    assert "**killed** — the process that ran it" in tables.problems(runs)


def test_a_member_that_never_ran_is_labelled_by_the_model_it_names(tmp_path):
    """Found by hand, reporting the finalists' grid (`model=s_finalist_1,…,s_finalist_11`) while it ran: every member
    not yet started was labelled `?×?d`, eleven rows that could not be told apart. Its `model=` override names it."""
    (tmp_path / "multirun.yaml").write_text("""
hydra:
  mode: MULTIRUN
  sweeper:
    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper
    params:
      model: tiny,finalist_2,finalist_3
  overrides:
    task: ['seed=0']
""")
    write_record(tmp_path, record(["model=tiny", "seed=0"], 0, (30.0, 20.0), template=load_template("tiny")))
    runs = collect(tmp_path).runs
    assert list(runs.label) == ["1×12d", "finalist_2", "finalist_3"]
    assert list(runs.model) == ["tiny", "finalist_2", "finalist_3"]
    assert list(runs.status) == ["completed", "missing", "missing"]


def test_the_machine_line_names_the_gpu_and_the_cpu(tmp_path):
    """Found on the first GPU lent: a report of the main job on an H200 said "machine: hostname vm, device cuda:0,
    processes 1, threads per process 3, …", naming neither the GPU (in every record's env) nor, on any machine,
    the CPU whose kind a CPU run's numbers depend on (#15). It names both, as each record's env gives them."""
    env = {"device": "cuda:0", "gpu": "NVIDIA H200", "cpu": "Intel(R) Xeon(R) Processor (family 6, model 207; AMX)",
           "world_size": 1, "threads": 3}
    for c in (1, 2):
        written = record([f"model.cardinality={c}"], 0, (10.0,))
        written["env"].update(env)
        write_record(tmp_path / "sweep", written)
    md = (write_report(tmp_path / "sweep", tmp_path / "report") / "table.md").read_text()
    assert ("- machine: hostname testhost, device cuda:0, gpu NVIDIA H200, cpu Intel(R) Xeon(R) Processor (family 6, "
            "model 207; AMX), processes 1, threads per process 3, torch 2.13.0+cpu, python 3.11.7") in md
    assert "- hardware:" not in md  # one kind: the machine line says it


def test_runs_on_several_kinds_of_hardware_are_said(tmp_path):
    """A sweep whose members ran on machines of two CPU kinds (a cluster, or a sweep resumed elsewhere) compares
    numbers that differ by kernels as well as by seeds: the report's head says how many runs ran on which kind."""
    zen4, xeon = "AMD EPYC (family 25, model 17; AVX-512 BF16)", "Intel(R) Xeon(R) Processor (family 6, model 207; AMX)"
    for c, cpu in ((1, zen4), (2, zen4), (4, xeon)):
        written = record([f"model.cardinality={c}"], 0, (10.0,))
        written["env"]["cpu"] = cpu
        write_record(tmp_path / "sweep", written)
    md = (write_report(tmp_path / "sweep", tmp_path / "report") / "table.md").read_text()
    assert (f"- hardware: the runs ran on 2 kinds (2 on {zen4}; 1 on {xeon}): their numbers may differ by the kernels "
            "of each, beside the seeds") in md
