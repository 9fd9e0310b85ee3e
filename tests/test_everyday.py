"""Everyday use (issue 12, items 1–6): honest re-runs, exit codes a script can trust, Hydra's errors in ablate's
voice, the solved budget in the log, a budget table that survives one bad row, corrupt records counted once and a
search's best model usable where it is written.

The sweeps here are real multiruns of tiny synthetic models (one or two epochs of a few hundred images); the rest
reads hand-made records (tests/fake_sweeps.py) or calls the entry points in this process.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from ablate.config import compose
from ablate.report import collect, write_report
from ablate.report.callback import ReportCallback
from ablate.run.record import config_hash
from tests.fake_sweeps import record, write_record

TINY = ["data=synthetic", "data.num_samples=128", "data.val_samples=64", "model.depths=[1,1]", "model.width=16",
        "model.bottleneck_width=8", "model.stem_width=16", "optim.batch_size=32", "trainer.progress=false",
        "trainer.num_threads=1", "trainer.peak_flops=1e11"]
BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def ablate(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, "-m", "ablate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def last_line(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.strip().splitlines()[-1]


def cli(args: list[str], cwd: Path) -> tuple[int, str]:
    """`ablate ARGS` through the console entry `ablate.__main__.cli`, in this process: (exit status, stderr)."""
    import ablate.__main__ as entry

    err = io.StringIO()
    argv, here, handlers = sys.argv, Path.cwd(), logging.root.handlers[:]
    code = 0
    try:
        os.chdir(cwd)
        sys.argv = ["ablate", *args]
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                entry.cli()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
        os.chdir(here)
        for h in logging.root.handlers:
            if h not in handlers:
                h.close()
        logging.root.handlers[:] = handlers
    return code, err.getvalue()


# ----------------------------------------------------------------------------- 1. an edited sweep re-run
SWEEP_FILE = """# @package _global_
defaults:
  - override /data: synthetic
data: {num_samples: 128, val_samples: 64}
model: {depths: [1, 1], width: 16, bottleneck_width: 8, stem_width: 16}
optim: {batch_size: 32, epochs: EPOCHS}
trainer: {progress: false, num_threads: 1, peak_flops: 1.0e11}
hydra:
  sweeper:
    params:
      model.cardinality: 1,2
  callbacks:
    report:
      _target_: ablate.report.callback.ReportCallback
"""


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """A sweep of one's own (`--config-dir DIR +sweep=mine`), launched three times into one folder: as written
    (1 epoch), after an edit of the sweep file (2 epochs), and once more with trainer.replace=true.

    The edit is in the file: `optim.epochs=2` on the command line would name the members' folders after it
    (Hydra's override_dirname), so that launch would write new folders beside the old ones."""
    cwd = tmp_path_factory.mktemp("edited")
    sweep, mine = cwd / "sweep", cwd / "conf" / "sweep" / "mine.yaml"
    mine.parent.mkdir(parents=True)
    base = ["--config-dir", str(cwd / "conf"), "+sweep=mine", f"hydra.sweep.dir={sweep}", "-m"]
    mine.write_text(SWEEP_FILE.replace("EPOCHS", "1"))
    first = ablate(base, cwd)
    assert first.returncode == 0, first.stderr[-3000:]
    folders = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    before = {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file() and ".hydra" not in p.parts
              and p.suffix != ".log" and p.name != "multirun.yaml"}  # but Hydra's own files of each launch
    mine.write_text(SWEEP_FILE.replace("EPOCHS", "2"))
    second = ablate(base, cwd)
    after_second = {p: p.read_bytes() for p in before}
    report_second = pd.read_csv(cwd / "reports" / "sweep" / "runs.csv")
    md_second = (cwd / "reports" / "sweep" / "table.md").read_text()
    table_second = pd.read_csv(cwd / "reports" / "sweep" / "table.csv")
    configs = [OmegaConf.load(p).optim.epochs for p in sweep.glob("*/.hydra/config.yaml")]
    third = ablate([*base, "trainer.replace=true"], cwd)
    return {"cwd": cwd, "sweep": sweep, "first": first, "second": second, "third": third, "before": before,
            "after_second": after_second, "report_second": report_second, "md_second": md_second,
            "configs_second": configs, "folders": folders, "table_second": table_second}


@pytest.mark.slow
def test_an_edited_rerun_exits_2_with_what_to_do(edited):
    second = edited["second"]
    assert second.returncode == 2, second.stderr[-3000:]
    assert last_line(second) == (
        "ablate: 2 of 2 members hold runs of another config (optim.epochs=1 there, 2 in this sweep), which are not "
        "results of this sweep and were left as they are: give a fresh hydra.sweep.dir, or add trainer.replace=true "
        f"to replace them (report: {Path('reports/sweep')}).")


@pytest.mark.slow
def test_an_edited_rerun_deletes_nothing(edited):
    assert edited["after_second"] == edited["before"]  # every record, checkpoint and log of the first launch
    assert edited["configs_second"] == [2, 2]  # Hydra rewrote each member's .hydra/config.yaml: it is the 2nd launch's


@pytest.mark.slow
def test_an_edited_rerun_reports_the_old_runs_apart(edited):
    runs = edited["report_second"]
    assert runs.status.tolist() == ["stale", "stale"]
    assert runs.epochs.tolist() == [1, 1]
    md = edited["md_second"]
    assert "members: 2 stale" in md
    assert md.count("**stale**") == 2 and "optim.epochs=1 there, 2 in this sweep" in md
    assert md.count(" — a completed run of another config (optim.epochs=1 there, 2 in this sweep; its config") == 2
    assert edited["table_second"].n.tolist() == [0, 0]  # no mean of the old numbers


@pytest.mark.slow
def test_trainer_replace_trains_the_edited_sweep(edited):
    third = edited["third"]
    assert third.returncode == 0, third.stderr[-3000:]
    runs = pd.read_csv(edited["cwd"] / "reports" / "sweep" / "runs.csv")
    assert runs.status.tolist() == ["completed", "completed"] and runs.epochs.tolist() == [2, 2]
    for path in edited["sweep"].glob("*/result.json"):
        rec = json.loads(path.read_text())
        assert rec["config"]["optim"]["epochs"] == 2 and len(rec["epochs"]) == 2
        assert "replace" not in rec["config_hash"]
    # replacing is how the run executes, not what it computes: the hash and the folder names ignore it
    hashes = {json.loads(p.read_text())["config_hash"] for p in edited["sweep"].glob("*/result.json")}
    own = [f"hydra.searchpath=[file://{edited['cwd'] / 'conf'}]", "+sweep=mine"]
    cfgs = [compose([*own, f"model.cardinality={c}", f"trainer.replace={r}"])
            for c in (1, 2) for r in ("true", "false")]
    assert hashes == {config_hash(OmegaConf.to_container(c, resolve=True)) for c in cfgs}
    assert sorted(p.name for p in edited["sweep"].iterdir() if p.is_dir()) == edited["folders"]  # the same folders


def test_a_stale_member_is_told_apart_from_a_current_one(tmp_path):
    """From records alone: the member's .hydra/config.yaml (this launch's) against the record's config hash."""
    root = tmp_path / "sweep"
    current = {"model": {"name": "tiny"}, "optim": {"epochs": 2}, "seed": 0}
    for c, old in ((1, False), (2, True)):
        overrides = [f"model.cardinality={c}"]
        config = {**current, "optim": {"epochs": 1}} if old else current
        rec = record(overrides, 0, [30.0] if old else [30.0, 20.0], config=config)
        rec["config_hash"] = config_hash(rec["config"])
        folder = write_record(root, rec)
        (folder / ".hydra").mkdir()
        (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(current))
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    sweep = collect(root)
    runs = sweep.runs.set_index("cardinality")
    assert runs.status.to_dict() == {1: "completed", 2: "stale"}
    old = config_hash({**current, "optim": {"epochs": 1}})
    assert runs.reason[2] == (f"a completed run of another config (optim.epochs=1 there, 2 in this sweep; its config "
                              f"hash {old}): give a fresh hydra.sweep.dir, or add trainer.replace=true to replace it.")
    assert sweep.epochs.run.tolist() == ["model.cardinality=1"] * 2  # the stale run's curve is not drawn


def test_a_config_yaml_caught_while_hydra_rewrites_it_gives_no_stale_verdict(tmp_path):
    """Hydra rewrites a member's .hydra/config.yaml at each launch by truncating it and then writing it: a second
    launch of the same sweep can read it empty at that moment. An empty file is no config, not another config (CI
    once ended a launch with 'hold runs of another config (budget={"metric":null} there, null in this sweep)')."""
    root = tmp_path / "sweep"
    config = {"budget": {"metric": None}, "model": {"name": "tiny"}, "seed": 0}
    rec = record(["model.cardinality=1"], 0, [30.0, 20.0], config=config)
    rec["config_hash"] = config_hash(rec["config"])
    folder = write_record(root, rec)
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text("")  # truncated, not yet written
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["model.cardinality=1"]))
    assert collect(root).runs.status.tolist() == ["completed"]


# ----------------------------------------------------------------------------- 2. exit codes of a sweep
MULTIRUN = f"""
hydra:
  mode: MULTIRUN
  sweeper:
    _target_: {BASIC}
    params:
      model.cardinality: 1,2,4
  overrides:
    hydra: [hydra.mode=MULTIRUN]
    task: []
"""


def _sweep(root: Path, statuses: dict[int, str]) -> Path:
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text(MULTIRUN)
    for job, (c, status) in enumerate(statuses.items()):
        reason = {"failed": f"budget for C={c} is out of reach.", "diverged": "the loss is NaN in epoch 1."}
        if status != "missing":
            write_record(root, record([f"model.cardinality={c}"], 0, [30.0], status=status, reason=reason.get(status),
                                      job_num=job))
    return root


def _callback(sweep_dir: Path, out: Path) -> None:
    ReportCallback(out=str(out)).on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}}))


def test_a_sweep_with_failed_members_exits_1_after_its_report(tmp_path, capsys):
    sweep = _sweep(tmp_path / "s", {1: "completed", 2: "failed", 4: "missing"})
    with pytest.raises(SystemExit) as stop:
        _callback(sweep, tmp_path / "r")
    assert stop.value.code == 1
    assert (tmp_path / "r" / "index.html").is_file()  # written before the exit
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ablate: 2 of 3 members failed: model.cardinality=2 (budget for C=2 is out of reach); "
                   "model.cardinality=4 (missing: the job never started, or its folder was removed) "
                   f"(report: {tmp_path / 'r'})."]


def test_a_sweep_whose_report_was_not_written_exits_non_zero(tmp_path, capsys):
    """Found by hand (session 15): `make run` in a clone whose reports/cardinality_vs_width/ named another sweep folder
    logged that the report was not written on stdout, and exited 0, every member having completed. A command whose
    report is missing has failed: one line on stderr says why and how to write it, exit 2 for a report folder that
    is another sweep's (the user's choice of folder), and that other report is left as it was."""
    other = _sweep(tmp_path / "other", {1: "completed", 2: "completed", 4: "completed"})
    _callback(other, tmp_path / "r")
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    capsys.readouterr()
    sweep = _sweep(tmp_path / "s", {1: "completed", 2: "completed", 4: "completed"})
    with pytest.raises(SystemExit) as stop:
        _callback(sweep, tmp_path / "r")
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ablate: the report of sweep {str(sweep)!r} was not written: the report folder "
                   f"{str(tmp_path / 'r')!r} holds the report of another sweep, {os.path.relpath(other)}: give this "
                   "sweep's report its own folder with +hydra.callbacks.report.out=DIR, or delete "
                   f"{str(tmp_path / 'r')!r} to replace that report (the results stand: python -m ablate.report "
                   f"{sweep} --out {tmp_path / 'r'} writes it)."]
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()} == before


def test_a_report_that_fails_for_another_reason_exits_1(tmp_path, capsys, monkeypatch):
    """Any other error while writing the report (a bug, a full disk) also fails the command, with exit 1."""
    import ablate.report

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(ablate.report, "write_report", broken)
    sweep = _sweep(tmp_path / "s", {1: "completed", 2: "completed", 4: "completed"})
    with pytest.raises(SystemExit) as stop:
        _callback(sweep, tmp_path / "r")
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"ablate: the report of sweep {str(sweep)!r} was not written: No space left on device (the results stand: "
        f"python -m ablate.report {sweep} --out {tmp_path / 'r'} writes it)."]


def test_members_that_failed_for_one_reason_give_it_once(tmp_path, capsys):
    """Found by hand: `+sweep=cardinality_vs_width data.train_subset=64 -m` said the same batch sentence three times
    and `and 2 more`, where one reason was behind every failure."""
    root = tmp_path / "s"
    root.mkdir()
    (root / "multirun.yaml").write_text(MULTIRUN)
    for job, c in enumerate((1, 2, 4, 8)):
        write_record(root, record([f"model.cardinality={c}"], 0, [], status="failed", job_num=job,
                                  reason="optim.batch_size=128 is larger than the 64 training images."))
    with pytest.raises(SystemExit) as stop:
        _callback(root, tmp_path / "r")
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "ablate: 4 of 4 members failed, each with: optim.batch_size=128 is larger than the 64 training images "
        f"(report: {tmp_path / 'r'})."]


def test_a_multirun_without_a_report_says_how_to_write_one(tmp_path, caplog):
    """Found by hand: `python -m ablate 'model.width=16,32' -m` ended without a word on where its report is (a
    multirun typed on the command line has none unless hydra/callbacks=report is given)."""
    from ablate.report.callback import StatusCallback

    sweep = _sweep(tmp_path / "s", {1: "completed", 2: "completed", 4: "completed"})
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}, "callbacks": {"status": {}}}})
    with caplog.at_level("INFO", logger="ablate.report.callback"):
        StatusCallback().on_multirun_end(config)
    # said of every multirun without a report callback: also of a sweep config's whose callback the command
    # removed (`+sweep=search_pruning '~hydra.callbacks.report'` was told it had no sweep config)
    assert caplog.messages == [f"No report is written for a multirun without a report callback (a sweep config adds "
                               f"one): python -m ablate.report {sweep} writes it (or add hydra/callbacks=report to the "
                               "command)."]


def test_a_member_another_launch_is_training_is_not_a_failure(tmp_path, capsys):
    """Two launches of one sweep: the one that ends first finds a member running under the other's lock. That member
    is not failed: the sweep exits 0 and says so in one line."""
    from ablate.run.lock import RunLock

    sweep = _sweep(tmp_path / "s", {1: "completed", 2: "running", 4: "completed"})
    busy = next(p.parent for p in sweep.glob("*/result.json") if "model.cardinality=2" in p.parent.name)
    with RunLock(busy) as lock:  # held by a live process (this one), as the other launch holds it
        assert lock.held
        _callback(sweep, tmp_path / "r")  # no SystemExit: exit status 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ablate: 1 of 3 members are being trained by another process right now: model.cardinality=2 "
                   f"(pid {os.getpid()}); their results will be in their folders (report again afterwards: "
                   f"python -m ablate.report {sweep})."]
    # once that process is gone (its lock released, or it was killed), the same member is a failure again
    with pytest.raises(SystemExit) as stop:
        _callback(sweep, tmp_path / "r")
    assert stop.value.code == 1


def test_a_diverged_member_is_a_result_not_a_failure(tmp_path, capsys):
    sweep = _sweep(tmp_path / "s", {1: "completed", 2: "diverged", 4: "completed"})
    _callback(sweep, tmp_path / "r")  # no SystemExit: exit status 0
    assert capsys.readouterr().err == ""


def test_a_sweep_folder_without_records_exits_1(tmp_path, capsys):
    sweep = _sweep(tmp_path / "s", {1: "missing", 2: "missing", 4: "missing"})
    with pytest.raises(SystemExit) as stop:
        _callback(sweep, tmp_path / "r")
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip() == (f"ablate: no member of the sweep recorded a result: SWEEP_DIR="
                                               f"'{sweep}' holds no runs: no result.json under it; multirun.yaml "
                                               "expects 3 members, none wrote one.")


def test_sweep_without_m_is_refused(tmp_path):
    code, err = cli(["+sweep=cardinality_vs_width", *TINY], tmp_path)
    assert code == 2
    assert err.strip() == ("ablate: +sweep=cardinality_vs_width sets up a sweep, which runs only with -m: add -m to "
                           "run its members, or leave out +sweep= to train one run.")
    assert list(tmp_path.iterdir()) == []  # nothing trained, no folder made


def test_cfg_of_a_sweep_without_m_is_still_printed(tmp_path):
    code, err = cli(["+sweep=cardinality_vs_width", "--cfg", "job"], tmp_path)
    assert code == 0, err


def test_help_says_what_ablate_does_and_lists_the_users_own_configs(tmp_path):
    # found by hand: --help printed Hydra's generic "ablate is powered by Hydra." and no command
    (tmp_path / "myconf" / "model").mkdir(parents=True)
    (tmp_path / "myconf" / "model" / "mine.yaml").write_text("defaults:\n  - tiny\n  - _self_\nname: mine\n")
    proc = subprocess.run([sys.executable, "-m", "ablate", "--config-dir", "myconf", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("ablate: architecture search and ablation for ResNeXt-style networks, compared at equal "
                          "complexity.\n")
    assert "powered by Hydra" not in out
    commands = [line.split("  ")[0].strip() for line in out.splitlines() if line.startswith("python -m ablate")]
    assert "python -m ablate +sweep=cardinality_vs_width -m" in commands and len(commands) == 12
    assert f"model: mine, {MODELS}" in out.splitlines()  # the groups list the user's own configs
    assert out.rstrip().endswith("Hydra's own flags: --hydra-help.")


# ----------------------------------------------------------------------------- 3. Hydra's errors in ablate's voice
MODELS = ("resnet101, resnet200, resnet50, resnext101_32x4d, resnext101_64x4d, resnext29_16x64d, resnext29_8x64d, "
          "resnext50_32x4d, tiny")
MODEL_FIELDS = ("depths, width, cardinality, bottleneck_width, block, stem, stem_width, in_channels, resolution, "
                "num_classes, shortcut, name, form, zero_init_last_bn")
HYDRA_ERRORS = {
    "modle=tiny": "modle=tiny: the config has no group or field modle (did you mean model=tiny?); its groups and "
                  "fields are budget, data, model, optim, report, seed, trainer, +sweep, +variant, +repeats.",
    "model=resnext50_32x4": "model=resnext50_32x4 is unknown (did you mean model=resnext50_32x4d?): available model "
                            f"configs are {MODELS}.",
    "model.cardinalty=8": "model.cardinalty=8: model has no field cardinalty (did you mean model.cardinality=8?); "
                          f"its fields are {MODEL_FIELDS}.",
    "budget=param": "budget=param is unknown (did you mean budget=params?): available budget configs are flops, none, "
                    "params.",
}


@pytest.mark.parametrize("override", list(HYDRA_ERRORS))
def test_hydra_errors_are_one_sentence_and_exit_2(override, tmp_path):
    code, err = cli([override, *TINY], tmp_path)
    assert (code, err.strip()) == (2, f"ablate: {HYDRA_ERRORS[override]}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("override", list(HYDRA_ERRORS))
def test_describe_and_budget_say_the_same_sentences(override, capsys):
    from ablate.cli import budget, describe

    for main in (describe.main, budget.main):
        assert main([override]) == 2
        assert capsys.readouterr().err.strip() == f"error: {HYDRA_ERRORS[override]}"


@pytest.mark.parametrize("override, sentence", [
    ("seed=abc", "seed='abc' is invalid: it must be a whole number such as 0, at least -2**63 and below 2**64 "
                 "(what torch seeds with)."),
    ("+model.cardinality=8", "+model.cardinality=8: model.cardinality is already in the config, so drop the +: "
                             "model.cardinality=8."),
    ("hydra.sweep.dirr=x", "hydra.sweep.dirr=x: hydra.sweep has no field dirr (did you mean hydra.sweep.dir=x?); its "
                           "fields are dir, subdir."),
    ("seed=0,1", "seed=0,1 lists several values: add -m to run one job per value, or write seed=[0,1] for a list."),
    # a node without a schema (a callback's keywords) takes new keys, with + (the report callback's `out`)
    ("hydra.callbacks.status.out=x", "hydra.callbacks.status.out=x: hydra.callbacks.status has no field out; a key "
                                     "the config lacks is added with +: +hydra.callbacks.status.out=x."),
])
def test_more_hydra_errors(override, sentence, tmp_path):
    code, err = cli([override, *TINY, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert (code, err.strip().splitlines()[-1]) == (2, f"ablate: {sentence}")


def test_a_bad_member_of_a_sweep_is_named(tmp_path):
    code, err = cli(["model=tiny,resnxt50_32x4d", *TINY, "-m"], tmp_path)
    assert (code, err.strip()) == (2, "ablate: model=resnxt50_32x4d is unknown (did you mean model=resnext50_32x4d?): "
                                      f"available model configs are {MODELS}.")


# ----------------------------------------------------------------------------- 4. the solved budget in the log
def test_the_log_says_what_was_solved(tmp_path, caplog):
    from ablate.run import app
    from ablate.run.record import RunRecord

    cfg = compose(["budget=params", "model.cardinality=8"])
    config = OmegaConf.to_container(cfg, resolve=True)
    with caplog.at_level(logging.INFO, logger="ablate"):
        app._solve(cfg, config, RunRecord.new(config), tmp_path)
    from ablate.config import load_template
    from ablate.engine.budget import Budget, solve

    tiny = load_template("tiny")
    achieved = solve(tiny.replace(cardinality=8), Budget.relative(tiny)).achieved  # the engine's own count
    assert f"bottleneck_width=3 solved for C=8: params {achieved:,}, −2.51% of tiny's 207,818" in caplog.messages


def test_the_log_says_what_was_solved_at_a_scale(tmp_path, caplog):
    from ablate.config import load_template
    from ablate.engine.budget import Budget, solve
    from ablate.run import app
    from ablate.run.record import RunRecord

    cfg = compose(["budget=flops", "budget.scale=2", "budget.vary=width", "budget.tolerance=0.2"])
    config = OmegaConf.to_container(cfg, resolve=True)
    with caplog.at_level(logging.INFO, logger="ablate"):
        app._solve(cfg, config, RunRecord.new(config), tmp_path)
    tiny = load_template("tiny")
    sol = solve(tiny, Budget.relative(tiny, 2.0, "flops", tolerance=0.2), vary="width")
    dev = f"{sol.deviation:+.2%}".replace("-", "−")
    assert (f"width={sol.value} solved for C=1: flops {sol.achieved:,}, {dev} of 2× tiny's {sol.target:,.0f}"
            in caplog.messages)


# ----------------------------------------------------------------------------- 5. the budget table and a bad row
def test_the_budget_table_keeps_its_feasible_rows(capsys):
    from ablate.cli import budget

    assert budget.main(["model=tiny", "--cardinality", "1,2,4,8,16"]) == 2
    out, err = capsys.readouterr()
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [r[0] for r in rows] == ["1", "2", "4", "8", "16"]
    assert rows[3][:2] == ["8", "3"]  # C=8: d=3
    assert " ".join(rows[4]) == ("16 - infeasible: budget params=207,818 cannot be met within tolerance 0.05 by "
                                 "varying bottleneck_width: the nearest is 229,738 at bottleneck_width=2 (+10.55%), "
                                 "and bottleneck_width=1 gives 126,522 (-39.12%); bottleneck_width moves params in "
                                 "steps coarser than the tolerance here: widen --tolerance, or give another --vary.")
    assert err.strip() == "error: 1 of 5 rows cannot meet the budget: C=16 (its row says why)."


def test_the_budget_table_as_json_marks_the_bad_row(capsys):
    from ablate.cli import budget

    assert budget.main(["model=tiny", "--cardinality", "8,16", "--json"]) == 2
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["cardinality"] for r in rows] == [8, 16]
    assert rows[0]["bottleneck_width"] == 3 and rows[0]["error"] is None
    assert rows[1]["bottleneck_width"] is None and rows[1]["error"].startswith("budget params=207,818 cannot be met")


def test_the_budget_table_follows_a_budget_given_as_config(capsys):
    """`budget=flops budget.vary=width` on the table's command line was composed, checked and then ignored: the
    table showed params at the model's own count, varying d. A budget in the config is the table's budget (the one
    a training run with the same overrides solves); a flag changes one of its fields."""
    from ablate.cli import budget
    from ablate.config import load_template, solve_cfg
    from ablate.engine.complexity import complexity

    assert budget.main(["model=tiny", "budget=flops", "budget.vary=width", "budget.scale=2", "budget.tolerance=0.1",
                        "--cardinality", "1,4", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert (table["metric"], table["vary"]) == ("flops", "width")
    tiny_flops = complexity(load_template("tiny")).flops
    assert table["target"] == 2 * tiny_flops
    for row in table["rows"]:  # each row is what a run with the same overrides solves
        template, _ = solve_cfg(compose(["model=tiny", "budget=flops", "budget.vary=width", "budget.scale=2",
                                         "budget.tolerance=0.1", f"model.cardinality={row['cardinality']}"]))
        assert (row["width"], row["bottleneck_width"]) == (template.width, template.bottleneck_width)
        assert row["width"] != 32  # width moved, d stayed as written
    assert [r["bottleneck_width"] for r in table["rows"]] == [12, 12]
    assert budget.main(["model=tiny", "budget=flops", "--metric", "params", "--cardinality", "1", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert (table["metric"], table["target"]) == ("params", 207818)  # Table-2-style params of tiny


def test_the_budget_table_varying_cardinality_has_one_row(capsys):
    """Found by hand: `--vary cardinality` printed five identical rows, one per default C, each solved back to
    C=1. Varying C gives one row, the C that meets the budget at the model's d; a C list with it is refused."""
    from ablate.cli import budget

    assert budget.main(["model=tiny", "model.bottleneck_width=4", "--vary", "cardinality", "--scale", "2",
                        "--tolerance", "0.1", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["vary"] == "cardinality"
    (row,) = table["rows"]
    assert (row["cardinality"], row["bottleneck_width"], row["error"]) == (4, 4, None)
    assert abs(row["deviation"]) <= 0.1
    assert budget.main(["model=tiny", "--vary", "cardinality", "--cardinality", "1,2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --cardinality='1,2' cannot be combined with --vary cardinality: the solver picks C; drop "
        "--cardinality for the one row that meets the budget, or vary bottleneck_width to get one row per C."
    )


def test_an_unmet_budget_names_its_reference_as_written(capsys):
    """Found by hand: `model.width=48 model.cardinality=8 budget=params` said `budget params=207,818 cannot be
    met …`, not that 207,818 is tiny's as its config file writes it (width 32): the command line's model.width does
    not change the reference, and nothing said so."""
    from ablate.cli import describe

    assert describe.main(["model.width=48", "model.cardinality=8", "budget=params"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: budget params=207,818 (budget.reference=tiny's as its config file gives it, at width=32 where this "
        "model has width=48) cannot be met within tolerance 0.05 by varying bottleneck_width: the nearest is 228,874 "
        "at bottleneck_width=2 (+10.13%), and bottleneck_width=1 gives 161,010 (-22.52%); bottleneck_width moves "
        "params in steps coarser than the tolerance here: widen budget.tolerance, or vary another field."
    )
    # along the solver's own fields (C and d here) the model is the reference's: nothing to add
    assert describe.main(["model.cardinality=64", "budget=params"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: budget params=207,818 is out of reach")
    assert describe.main(["model.width=48", "model.cardinality=8", "budget=params", "budget.scale=0.5"]) == 2
    assert capsys.readouterr().err.strip().startswith(
        "error: budget params=103,909 (budget.scale=0.5 × tiny's 207,818 as its config file gives it, at width=32 "
        "where this model has width=48) is out of reach")


def test_the_budget_table_of_a_sweep_takes_its_cardinalities_and_says_what_it_varies(capsys, tmp_path):
    """Found by hand: `python -m ablate.budget +sweep=complexity_2x` printed C = 1 … 32 at the config's budget and
    exited 2 for C=32, though that sweep's members solve depth, d or C per +variant and never run C=32; and a sweep
    of C = 1, 3 of one's own was shown at C = 1, 2, 4, 8, 32."""
    from ablate.cli import budget

    assert budget.main(["+sweep=complexity_2x"]) == 2  # the table as composed: C=32 cannot meet it
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == (
        "note: +sweep=complexity_2x also sweeps +variant=baseline,deeper,wider,cardinality, which change the model "
        "or its budget per member: this table is the config as composed; add one value of each (+variant=baseline) "
        "for a member's."
    )
    budget.main(["+sweep=search_budget", "--json"])  # an Optuna search space: its C choices are the rows
    table = json.loads(capsys.readouterr().out)
    assert [r["cardinality"] for r in table["rows"]] == [1, 2, 4, 8, 16, 32]
    assert table["note"] == (
        "+sweep=search_budget also sweeps model.depths=choice([1,2,1,1],[2,2,1,1]), which change the model or its "
        "budget per member: this table is the config as composed; add one value of each (model.depths=[1,2,1,1]) for "
        "a member's."
    )
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep/mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /budget: params\nhydra:\n  sweeper:\n    params:\n"
        "      model.cardinality: 1,3\n")
    assert budget.main(["--config-dir", str(tmp_path), "+sweep=mine", "--json"]) == 0
    assert [r["cardinality"] for r in json.loads(capsys.readouterr().out)["rows"]] == [1, 3]


def test_table2_returns_each_rows_error_when_asked():
    from ablate.config import load_template
    from ablate.engine.budget import Budget, Solution, table2
    from ablate.errors import BudgetError

    tiny = load_template("tiny")
    budget = Budget.relative(tiny)
    with pytest.raises(BudgetError):
        table2(tiny, [8, 16], budget)
    rows = table2(tiny, [8, 16], budget, errors=True)
    assert isinstance(rows[0], Solution) and rows[0].value == 3
    assert isinstance(rows[1], BudgetError) and "+10.55%" in str(rows[1])


# ----------------------------------------------------------------------------- 6. corrupt records, the best model
def test_a_corrupt_record_is_counted_once(tmp_path):
    root = tmp_path / "sweep"
    root.mkdir()
    (root / "multirun.yaml").write_text(MULTIRUN)
    for c in (1, 2, 4):
        folder = write_record(root, record([f"model.cardinality={c}"], 0, [30.0]))
        (folder / ".hydra").mkdir()
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"model.cardinality={c}"]))
    (root / "model.cardinality=2" / "result.json").write_text('{"status": "compl')
    runs = collect(root).runs
    assert runs.status.value_counts().to_dict() == {"completed": 2, "failed": 1}
    bad = runs[runs.status == "failed"].iloc[0]
    assert bad.overrides == "model.cardinality=2" and bad.reason.startswith("result.json cannot be read")
    report = write_report(root, tmp_path / "report")
    assert "members: 2 completed, 1 failed" in (report / "table.md").read_text()


def _fake_search(sweep_dir: Path) -> None:
    """A finished search of one completed trial: tiny at C=4, d=9, depths 1-2-1-1."""
    from ablate.config import load_template

    template = load_template("tiny").replace(cardinality=4, bottleneck_width=9, depths=(1, 2, 1, 1))
    job_dir = sweep_dir / "0"
    job_dir.mkdir(parents=True)
    rec = {"schema_version": 2, "status": "completed", "wall_seconds": 10.0, "final": {"val_err": 18.0},
           "config": {"model": {"name": "tiny", "form": "c", "zero_init_last_bn": False}},
           "model": {"form": "c", "template": template.to_dict(), "complexity": {"flops": 3e7, "params": 250_000}},
           "budget": {"metric": "params", "deviation": 0.01, "tolerance": 0.1}}
    (job_dir / "result.json").write_text(json.dumps(rec))
    trial = {"number": 0, "state": "COMPLETE", "values": [18.0, 3e7], "params": {"model.cardinality": 4},
             "constraints": {}, "user_attrs": {"job_dir": str(job_dir)}}
    study = {"study_name": "search_budget", "storage": "sqlite:///x/study.db", "directions": ["minimize", "minimize"],
             "objectives": ["return", "model.complexity.flops"], "constraints": [], "sampler": "NSGAIISampler",
             "n_trials": 1, "n_jobs": 1, "runs": [{"wall_seconds": 11.0, "trials": [0]}], "trials": [trial]}
    (sweep_dir / "study.json").write_text(json.dumps(study))


def test_the_best_model_of_a_search_trains_from_where_it_is(tmp_path):
    from ablate.config import check, searchpath_of
    from ablate.report.search import write_search_report

    _fake_search(tmp_path / "sweep")
    out = tmp_path / "report"
    written = write_search_report(tmp_path / "sweep", out)
    best = out / "model" / "search_budget_best.yaml"
    assert best in written
    command = f"python -m ablate 'hydra.searchpath=[file://{out.resolve()}]' model=search_budget_best"
    assert f"`{command}`" in best.read_text()
    assert f"`{command}`" in (out / "search_trials.md").read_text()
    overrides = [f"hydra.searchpath=[file://{out.resolve()}]", "model=search_budget_best"]
    cfg = compose(overrides)
    check(cfg, searchpath_of(overrides))
    assert (cfg.model.name, cfg.model.cardinality, cfg.model.bottleneck_width) == ("search_budget_best", 4, 9)
    assert list(cfg.model.depths) == [1, 2, 1, 1]


def test_the_best_trials_searched_recipe_is_in_the_command_that_trains_it(tmp_path):
    """A search over the learning rate as well as the model: the command that trains the best model gave the
    model alone (found by hand), so it trained at the default lr, not the one the search found. The searched values
    outside model.* (and outside budget.*, which the written model has solved already) go on the command line."""
    from ablate.report.search import write_search_report

    _fake_search(tmp_path / "sweep")
    study = json.loads((tmp_path / "sweep" / "study.json").read_text())
    study["trials"][0]["params"] = {"model.cardinality": 4, "optim.lr": 0.125128, "budget.scale": 2.0,
                                    "optim.nesterov": False, "trainer.precision": "fp32"}
    (tmp_path / "sweep" / "study.json").write_text(json.dumps(study))
    out = tmp_path / "report"
    write_search_report(tmp_path / "sweep", out)
    command = (f"python -m ablate 'hydra.searchpath=[file://{out.resolve()}]' model=search_budget_best "
               "optim.lr=0.125128 optim.nesterov=false trainer.precision=fp32")
    assert f"`{command}`" in (out / "model" / "search_budget_best.yaml").read_text()
    assert f"`{command}`" in (out / "search_trials.md").read_text()
    cfg = compose([f"hydra.searchpath=[file://{out.resolve()}]", "model=search_budget_best", "optim.lr=0.125128",
                   "optim.nesterov=false", "trainer.precision=fp32"])
    assert (cfg.optim.lr, cfg.optim.nesterov, cfg.model.cardinality) == (0.125128, False, 4)


@pytest.mark.parametrize("module", ["ablate.describe", "ablate.budget"])
def test_output_piped_into_a_reader_that_stops_ends_quietly(module, tmp_path):
    """`python -m ablate.budget --json | head -3` printed a BrokenPipeError traceback (found by hand): a reader
    that stops early is not an error of the tool's; it ends without a traceback, as other command-line tools do."""
    proc = subprocess.Popen([sys.executable, "-m", module, "model=resnet50", "--json"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the tool writes a byte
    _, err = proc.communicate(timeout=300)
    assert err.decode() == ""
    assert proc.returncode == 1  # what Python's documentation advises for EPIPE: not success, not a usage error


def test_the_budget_table_takes_a_sweep_command_lines_own_sweeps(capsys):
    """Found by hand: `python -m ablate.budget +sweep=cardinality_vs_width seed=0,1,2` (the repeats command, copied
    to check its budget) said `seed=0,1,2 lists several values: add -m to run one job per value`, a flag the budget
    table has none of. A seed sweep does not change the table; a C sweep typed on the command line is its rows, as
    a sweep file's; another swept key gets the sweep file's note."""
    from ablate.cli import budget

    assert budget.main(["+sweep=cardinality_vs_width", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert budget.main(["+sweep=cardinality_vs_width", "seed=0,1,2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == plain
    assert budget.main(["budget=params", "budget.scale=2", "model.cardinality=1,2", "--json"]) == 0
    assert [r["cardinality"] for r in json.loads(capsys.readouterr().out)["rows"]] == [1, 2]
    assert budget.main(["budget=params", "budget.scale=2", "model.width=16,32", "--json"]) in (0, 2)
    assert json.loads(capsys.readouterr().out)["note"] == (
        "the command line also sweeps model.width=16,32, which change the model or its budget per member: this "
        "table is the config as composed; add one value of each (model.width=16) for a member's.")


def test_describe_drops_a_seed_sweep_and_names_a_sweep_of_the_model(capsys):
    """Found by hand: `python -m ablate.describe model.cardinality=1,2` said `add -m to run one job per value`, a
    flag describe has none of; it describes one model, and a seed sweep changes nothing it shows."""
    from ablate.cli import describe

    assert describe.main(["model=resnext50_32x4d", "seed=0,1,2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 25028904  # Table 1: ResNeXt-50 (32×4d), 25.0M
    assert describe.main(["model.cardinality=1,2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: model.cardinality=1,2 lists several values, and python -m ablate.describe describes one model: give "
        "one, e.g. model.cardinality=1 (python -m ablate.budget shows a row per C).")


def test_the_main_jobs_report_is_not_tracked_and_the_committed_reference_is_not_in_its_way():
    """Found by hand (session 34): `make run` (the README's first command) wrote the main job's one-seed report over
    the committed three-seed reference report, reports/cardinality_vs_width/, leaving every clone it ran in with
    modified files and the reference gone. The main job's report folder is ignored by git; the reference lies in a
    folder of its own, tracked."""
    root = Path(__file__).resolve().parents[1]
    if subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True).returncode:
        pytest.skip("not a git clone: nothing to check")
    ignored = subprocess.run(["git", "check-ignore", "-q", "reports/cardinality_vs_width/table.md"], cwd=root)
    assert ignored.returncode == 0
    tracked = subprocess.run(["git", "ls-files", "reports/cardinality_vs_width_3_seeds", "reports/cardinality_vs_width"],
                             cwd=root, capture_output=True, text=True).stdout.split()
    assert "reports/cardinality_vs_width_3_seeds/table.md" in tracked
    assert not [p for p in tracked if p.startswith("reports/cardinality_vs_width/")]
