"""One run end to end (`ablate.run.app` and `python -m ablate`): the record, failures, resume rules, DDP, devices."""

import logging
import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import asdict

import pytest
import torch

from ablate.config import compose, template_from_cfg
from ablate.engine.complexity import complexity
from ablate.errors import ConfigError
from ablate.run import app, device, processes
from ablate.run import record as runs
from ablate.run.record import RunRecord
from ablate.run.trainer import CHECKPOINT

# a 2-stage template on 256 synthetic 28×28 images: an epoch is 8 steps of 32 images
SMALL = ["data=synthetic", "data.num_samples=256", "data.val_samples=128", "data.noise=16", "model.depths=[1,1]",
         "model.width=16", "model.bottleneck_width=8", "model.stem_width=16", "optim.batch_size=32", "optim.epochs=2",
         "trainer.progress=false", "trainer.peak_flops=1e11"]
SCHEMA = {"schema_version", "status", "reason", "config", "config_hash", "overrides", "job_num", "model", "budget",
          "epochs", "final", "best", "env", "started_at", "finished_at", "wall_seconds", "throughput", "same_as"}


def run(tmp_path, *overrides, name="run"):
    overrides = [*SMALL, *overrides]
    return app.run(compose(overrides), tmp_path / name, overrides=overrides)


def test_a_run_writes_its_record(tmp_path):
    record = run(tmp_path, "seed=3")
    assert record == RunRecord.load(tmp_path / "run")
    written = json.loads((tmp_path / "run" / runs.RESULT).read_text())
    assert set(written) == SCHEMA and record.schema_version == 2 and written == record.to_dict()
    assert record.status == "completed" and record.reason is None
    assert record.config["seed"] == 3 and record.overrides[-1] == "seed=3" and record.job_num is None
    assert record.config_hash == runs.config_hash(record.config)
    assert record.model.counted == "analytic" and record.env.gpu is None and record.env.cuda is None
    template = template_from_cfg(compose([*SMALL, "seed=3"]).model)
    assert record.model.template == template.to_dict() and record.model.form == "c"
    assert asdict(record.model.complexity) == complexity(template).as_dict()
    assert [s.resolution for s in record.model.stages] == [28, 14]
    assert record.budget is None
    assert [e.epoch for e in record.epochs] == [1, 2]
    assert all(math.isfinite(v) for e in record.epochs for v in asdict(e).values())
    last = asdict(record.epochs[-1])
    assert asdict(record.final) == {k: last[k] for k in ("val_err", "val_top5_err", "val_loss", "train_err",
                                                         "train_loss")}
    assert record.best.val_err == min(e.val_err for e in record.epochs)
    assert record.env.device == "cpu" and record.env.seed == 3 and record.env.threads >= 1
    tp = record.throughput
    assert tp.images_per_s > 0
    assert math.isclose(tp.train_flops_per_s, 6 * complexity(template).flops * tp.images_per_s)
    assert math.isclose(tp.machine_fraction, tp.train_flops_per_s / 1e11)  # trainer.peak_flops
    assert tp.precision == ("bf16" if device.cpu_has_bf16() else "fp32") and tp.peak_flops == 1e11
    assert record.wall_seconds > 0 and record.finished_at >= record.started_at
    assert (tmp_path / "run" / CHECKPOINT).exists() and not (tmp_path / "run" / runs.ERROR_LOG).exists()


def test_a_completed_run_returns_at_once(tmp_path, monkeypatch):
    first = run(tmp_path, "optim.epochs=1")
    before = (tmp_path / "run" / runs.RESULT).read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("a completed run must not train again")

    monkeypatch.setattr(processes, "train_process", no_training)
    again = run(tmp_path, "optim.epochs=1", "trainer.device=cpu")  # a runtime key: same config hash
    assert again == first and (tmp_path / "run" / runs.RESULT).read_bytes() == before


def test_a_sweep_member_whose_config_a_sibling_folder_finished_takes_its_record(tmp_path, monkeypatch, caplog):
    """Noticed in session 15: the main job without a seed, then `seed=0,1 -m` into the same sweep folder (what a
    one-seed report says to run), trained seed 0 again under a second folder name: the same config hash, 70-100 s
    of training for the same error to the digit. A multirun member whose folder holds nothing takes a sibling
    folder's finished run of its very config: its record, with this member's overrides and job number and the
    sibling named in `same_as`; nothing is trained. A single run (no job number) and another config train."""
    sweep = tmp_path / "sweep"
    base = [*SMALL, "optim.epochs=1"]
    first = app.run(compose(base), sweep / "model.width=16", overrides=base, job_num=0)
    assert first.status == "completed" and first.same_as is None
    before = (sweep / "model.width=16" / runs.RESULT).read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("a config a sibling folder finished must not train again")

    monkeypatch.setattr(processes, "train_process", no_training)
    seeded = [*base, "seed=0"]  # 0 is the default seed: the same config
    with caplog.at_level("INFO", logger="ablate"):
        again = app.run(compose(seeded), sweep / "model.width=16,seed=0", overrides=seeded, job_num=3)
    assert again.status == "completed" and again.same_as == "model.width=16"
    assert again.overrides == seeded and again.job_num == 3 and again.config_hash == first.config_hash
    assert again.epochs == first.epochs and again.final == first.final and again.throughput == first.throughput
    assert RunRecord.load(sweep / "model.width=16,seed=0") == again
    assert (sweep / "model.width=16" / runs.RESULT).read_bytes() == before  # the sibling is left as it was
    assert not (sweep / "model.width=16,seed=0" / CHECKPOINT).exists()
    assert (f"{sweep / 'model.width=16,seed=0'} runs the config that model.width=16 beside it completed (config "
            f"{first.config_hash}): its record is taken, nothing is trained (a fresh hydra.sweep.dir trains it "
            "again).") in caplog.messages
    relaunched = app.run(compose(seeded), sweep / "model.width=16,seed=0", overrides=seeded, job_num=3)
    assert relaunched == again  # final in its own folder now

    other = [*base, "seed=1"]  # another config: trained (here: the training that fails the test double)
    assert app.run(compose(other), sweep / "model.width=16,seed=1", overrides=other, job_num=4).status == "failed"
    assert app.run(compose(seeded), sweep / "single", overrides=seeded).status == "failed"  # a single run trains


def test_a_bad_config_is_recorded_as_failed_without_raising(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / runs.ERROR_LOG).write_text("Traceback of an earlier launch")  # not this failure's: removed
    record = run(tmp_path, "model.cardinality=0")
    assert record.status == "failed"
    assert record.reason == "model.cardinality=0 is invalid: it must be a whole number of at least 1."
    assert RunRecord.load(tmp_path / "run").reason == record.reason
    record = run(tmp_path, "trainer.device=tpu", name="device")
    assert record.status == "failed" and record.reason.startswith("trainer.device='tpu' is unknown")
    assert not (tmp_path / "run" / runs.ERROR_LOG).exists()  # a user error is its sentence, no traceback


def test_a_bad_config_is_refused_before_torch_is_imported(tmp_path):
    """The config's check comes before the trainer's import: a typo costs no torch import (seconds on a CPU)."""
    code = ("import sys; from ablate.config import compose; from ablate.run import app;"
            f"r = app.run(compose(['model.cardinality=0']), {str(tmp_path / 'run')!r});"
            "print(r.status, 'torch' in sys.modules)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout: ablate importable
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.split()[-2:] == ["failed", "False"]


def test_an_unexpected_error_is_recorded_with_its_traceback(tmp_path, monkeypatch):
    import ablate.run.trainer

    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(ablate.run.trainer, "fit", boom)
    record = run(tmp_path)
    assert record.status == "failed" and record.reason == "RuntimeError: boom second line."
    assert "Traceback" in (tmp_path / "run" / runs.ERROR_LOG).read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_is_recorded_and_raised(tmp_path, monkeypatch, signum):
    import ablate.run.trainer

    real_fit = ablate.run.trainer.fit

    def stopped(*args, on_epoch, **kwargs):
        def after_epoch(entry, epochs):
            on_epoch(entry, epochs)
            os.kill(os.getpid(), signum)  # SIGINT: Python's KeyboardInterrupt; SIGTERM: ablate's handler

        return real_fit(*args, on_epoch=after_epoch, **kwargs)

    monkeypatch.setattr(ablate.run.trainer, "fit", stopped)
    before = signal.getsignal(signal.SIGTERM)
    for overrides, resume in ((["optim.epochs=3"], "resume after epoch 1"),
                              (["optim.epochs=2", "trainer.checkpoint=false"],
                               "start from the first epoch (trainer.checkpoint=false keeps no checkpoint)")):
        with pytest.raises(app.RunInterrupted) as caught:
            run(tmp_path, *overrides, name=overrides[-1])
        assert isinstance(caught.value, KeyboardInterrupt) and caught.value.exit_code == 128 + signum
        by = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else "SIGTERM"
        record = RunRecord.load(tmp_path / overrides[-1])
        assert record.status == "interrupted" and [e.epoch for e in record.epochs] == [1]
        epochs = overrides[0].split("=")[1]
        assert record.reason == (f"interrupted by {by} in epoch 2 of {epochs}: run it again in the same directory to "
                                 f"{resume}.")
        assert signal.getsignal(signal.SIGTERM) == before  # the run's handler is gone with it


def test_a_run_interrupted_after_its_last_epoch_says_so_and_finishes_on_relaunch(tmp_path, monkeypatch):
    """Found by hand: Ctrl-C while a run recorded its end (after its last epoch) said `interrupted by Ctrl-C
    (SIGINT) in epoch 3 of 2: ... to resume after epoch 2`."""
    import ablate.run.trainer

    real_fit = ablate.run.trainer.fit

    def stopped_at_the_end(*args, **kwargs):
        real_fit(*args, **kwargs)
        raise KeyboardInterrupt  # Ctrl-C once the last epoch is done

    monkeypatch.setattr(ablate.run.trainer, "fit", stopped_at_the_end)
    with pytest.raises(app.RunInterrupted) as caught:
        run(tmp_path, "optim.epochs=2")
    assert (caught.value.where, caught.value.resume) == ("after the last epoch (2 of 2)", "finish it")
    assert RunRecord.load(tmp_path / "run").reason == (
        "interrupted by Ctrl-C (SIGINT) after the last epoch (2 of 2): run it again in the same directory to "
        "finish it.")
    monkeypatch.setattr(ablate.run.trainer, "fit", real_fit)
    record = run(tmp_path, "optim.epochs=2")
    assert record.status == "completed" and [e.epoch for e in record.epochs] == [1, 2]


def test_an_interrupted_run_resumes_on_relaunch(tmp_path, monkeypatch):
    import ablate.run.trainer

    real_fit = ablate.run.trainer.fit

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ablate.run.trainer, "fit", ctrl_c)
    with pytest.raises(app.RunInterrupted):
        run(tmp_path, "optim.epochs=1")
    assert RunRecord.load(tmp_path / "run").reason.endswith("in epoch 1 of 1: run it again in the same directory to "
                                                            "start from the first epoch.")
    monkeypatch.setattr(ablate.run.trainer, "fit", real_fit)
    assert run(tmp_path, "optim.epochs=1").status == "completed"  # interrupted is not final: it trains


def test_a_checkpoint_of_another_architecture_leaves_the_directory_alone(tmp_path):
    """A completed run's folder is refused by its record, which names the first difference and trainer.replace=true
    (found by hand: its checkpoint's sentence came first, and deleting the checkpoint as it said only led to the
    record's); a checkpoint alone by its own sentence. Neither touches a file."""
    run(tmp_path, "optim.epochs=1")
    files = {p: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    other = ("optim.epochs=1", "model.cardinality=2", "model.bottleneck_width=4")
    record = run(tmp_path, *other)
    assert record.status == "failed"
    assert "holds a completed run of another config (model.bottleneck_width=8 there, 4 in this run; hash" in (
        record.reason
    )
    assert record.reason.endswith("choose another run directory, or add trainer.replace=true to replace it.")
    assert {p: p.read_bytes() for p in (tmp_path / "run").iterdir()} == files
    (tmp_path / "run" / runs.RESULT).unlink()
    files = {p: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    record = run(tmp_path, *other)
    assert "holds another architecture (model.bottleneck_width=8 there, 4 in this run)" in record.reason
    assert {p: p.read_bytes() for p in (tmp_path / "run").iterdir()} == files


def test_a_budget_is_solved_and_recorded(tmp_path):
    params = complexity(template_from_cfg(compose(SMALL).model)).params
    # this small template's d is coarse: at C=2 the nearest d (5) is 6.8 % under the target
    record = run(tmp_path, "budget=params", f"budget.target={params}", "budget.tolerance=0.1", "model.cardinality=2",
                 "optim.epochs=1")
    assert record.status == "completed", record.reason
    b = record.budget
    assert (b.metric, b.scope, b.vary, b.target, b.tolerance) == ("params", "network",
                                                                  "bottleneck_width", params, 0.1)
    assert record.model.template["cardinality"] == 2
    assert record.model.template["bottleneck_width"] == b.value == 5
    assert b.achieved == record.model.complexity.params
    assert math.isclose(b.deviation, b.achieved / params - 1) and abs(b.deviation) <= 0.1


def test_ddp_on_two_cpu_processes(tmp_path):
    record = run(tmp_path, "trainer.world_size=2", "trainer.num_threads=1")
    assert record.status == "completed", record.reason
    assert record == RunRecord.load(tmp_path / "run")  # rank 0 wrote it
    assert [e.epoch for e in record.epochs] == [1, 2]
    assert all(math.isfinite(v) for e in record.epochs for v in asdict(e).values())
    assert record.epochs[-1].train_loss < record.epochs[0].train_loss
    assert record.env.threads == 1
    # rank 0 alone wrote the record, the checkpoint and metrics.csv (trainer.loggers=[csv], the default)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [CHECKPOINT, "metrics.csv", runs.RESULT]


# ----------------------------------------------------------------------------- devices
def test_device_sentences(monkeypatch):
    assert device.choose("auto") == torch.device("cpu") or torch.cuda.is_available()
    assert device.choose("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^trainer.device='tpu' is unknown: valid devices are auto, cpu, cuda"):
        device.choose("tpu")
    with pytest.raises(ConfigError, match=r"^trainer.precision='fp16' needs a CUDA device, and this run is on cpu: "
                                          r"use trainer.precision=bf16, fp32 or auto.$"):
        device.autocast_dtype("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError, match=r"^trainer.precision='int8' is unknown: valid precisions are auto, fp32, "):
        device.autocast_dtype("int8", torch.device("cpu"))
    cpu = torch.device("cpu")
    assert device.autocast_dtype("bf16", cpu) is torch.bfloat16 and device.autocast_dtype("fp32", cpu) is None
    # auto on the CPU: bf16 exactly where the CPU has native bf16 dot products
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert device.autocast_dtype("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert device.autocast_dtype("auto", cpu) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^trainer.device='cuda:0' asks for CUDA, but this machine has no CUDA"):
        device.choose("cuda:0")


def test_multirun_jobs_spread_over_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert [device.choose("auto", job_num=n).index for n in range(6)] == [0, 1, 2, 3, 0, 1]
    assert device.choose("cuda", job_num=1, rank=1, world_size=2) == torch.device("cuda", 3)  # job 1's 2nd GPU
    assert device.choose("cuda:2") == torch.device("cuda", 2)
    with pytest.raises(ConfigError, match=r"device='cuda:7' is out of range: this machine has CUDA devices 0 to 3"):
        device.choose("cuda:7")


# ----------------------------------------------------------------------------- the command line
def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ablate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HYDRA_FULL_ERROR": "0"})


def test_a_relative_data_root_is_the_launch_folders_under_hydra_job_chdir(tmp_path):
    """Found by hand: with hydra.job.chdir=true (Hydra's old default, which some users keep) a relative data.root
    was looked for inside the run's folder ("Fashion-MNIST is missing: … is not in tv"), or downloaded there. It
    is the folder the command was launched from, as without chdir; the record keeps the absolute path."""
    from PIL import Image

    for split, count in (("train", 4), ("val", 2)):
        for k, name in enumerate(("a", "b")):
            folder = tmp_path / "mine" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (20, 20), (255 * k, 0, 0)).save(folder / f"{i}.png")
    proc = cli("data=imagenet", "data.root=mine", "data.resolution=16", "data.resize=18", "data.workers=0",
               "model.in_channels=3", "model.resolution=16", "model.num_classes=2", "model.depths=[1,1]",
               "optim.batch_size=4", "optim.epochs=1", "trainer.world_size=1", "trainer.progress=false",
               "trainer.peak_flops=1e11", "hydra.job.chdir=true", "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = RunRecord.load(tmp_path / "out")
    assert record.status == "completed" and record.config["data"]["root"] == str(tmp_path / "mine")


@pytest.mark.parametrize("given, expected", [
    ("sqlite:///ml.db", "sqlite:///{cwd}/ml.db"),  # SQLAlchemy's relative form: three slashes
    ("mlruns", "{cwd}/mlruns"),  # a folder: MLflow's file store
    ("./runs/ml", "{cwd}/runs/ml"),
    ("sqlite:////abs/ml.db", "sqlite:////abs/ml.db"),  # absolute already
    ("http://host:5000", "http://host:5000"),
    ("file:///abs/mlruns", "file:///abs/mlruns"),
    (None, None),
])
def test_a_relative_mlflow_store_is_the_launch_folders_under_hydra_job_chdir(given, expected):
    """Found by hand: as data.root, trainer.mlflow_uri=sqlite:///ml.db under hydra.job.chdir=true made one store
    inside every run's folder, so a sweep's members were not in one store; it is the launch folder's, as without
    chdir. Without chdir nothing is changed."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    for chdir in (True, False):
        cfg = OmegaConf.create({"data": {"root": None}, "trainer": {"mlflow_uri": given}})
        hc = SimpleNamespace(job=SimpleNamespace(chdir=chdir), runtime=SimpleNamespace(cwd="/launch/here"))
        app._from_launch_folder(cfg, hc)
        want = expected.format(cwd="/launch/here") if chdir and expected is not None else given
        assert cfg.trainer.mlflow_uri == want


def test_a_relative_mlflow_tracking_uri_from_the_environment_is_the_launch_folders_under_chdir(monkeypatch):
    """Found by hand: $MLFLOW_TRACKING_URI=sqlite:///ml.db (and no trainer.mlflow_uri) under hydra.job.chdir=true
    made one store inside every member's folder, as trainer.mlflow_uri did before; it is the launch folder's too.
    trainer.mlflow_uri, when given, still wins over the environment."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    hc = SimpleNamespace(job=SimpleNamespace(chdir=True), runtime=SimpleNamespace(cwd="/launch/here"))
    for env, given, want in (("sqlite:///ml.db", None, "sqlite:////launch/here/ml.db"),
                             ("mlruns", None, "/launch/here/mlruns"),
                             ("http://host:5000", None, None),
                             ("sqlite:///ml.db", "sqlite:////abs/x.db", "sqlite:////abs/x.db")):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", env)
        cfg = OmegaConf.create({"data": {"root": None}, "trainer": {"mlflow_uri": given}})
        app._from_launch_folder(cfg, hc)
        assert cfg.trainer.mlflow_uri == want, env


def test_cli_single_bad_run_prints_one_sentence_and_exits_2(tmp_path):
    proc = cli("model.cardinality=0", f"hydra.run.dir={tmp_path / 'bad'}", cwd=tmp_path)
    assert proc.returncode == 2
    sentence = "ablate: model.cardinality=0 is invalid: it must be a whole number of at least 1."
    assert proc.stderr == sentence + "\n" and proc.stdout == ""
    assert not (tmp_path / "bad").exists()  # refused before Hydra makes the run's folder (ablate.config.callback)


BROKEN_BLOCK = """
from ablate.engine.blocks import Bottleneck


class Broken(Bottleneck):
    \"\"\"Counts as ablate's bottleneck; its module's forward has a bug (a TypeError).\"\"\"

    def module(self, shape, form):
        from torch import nn

        class Module(nn.Module):
            def forward(self, x):
                return x + "oops"

        return Module()
"""


@pytest.mark.parametrize("multirun", [False, True])
def test_an_unexpected_error_says_where_its_traceback_is(tmp_path, multirun):
    """Found by hand: a block of one's own whose forward raised ended in `ablate: TypeError: … .` alone, and nothing
    said that the run's folder holds the traceback (error.log), the one thing a user needs to find the bug."""
    (tmp_path / "broken_blocks.py").write_text(BROKEN_BLOCK)
    common = [*SMALL, "optim.epochs=1", "model.block=broken_blocks:Broken"]
    if multirun:
        proc = cli("-m", *common, "model.cardinality=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
        logs = sorted((tmp_path / "sweep").glob("*/error.log"))
        assert len(logs) == 2
        tail = "tracebacks in each member's error.log, e.g. " + str(logs[0].parent.parent)
    else:
        proc = cli(*common, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
        tail = "its traceback: " + str(tmp_path / "run" / "error.log")
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "TypeError: unsupported operand type(s) for +" in last and tail in last, last
    if multirun:
        assert any(f"e.g. {log}" in last for log in logs), last


def test_cli_multirun_records_every_member_then_exits_1(tmp_path):
    """A member's failure is recorded and the sweep goes on to the next member; the command then exits 1."""
    proc = cli("-m", *SMALL, "optim.epochs=1", "model.cardinality=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}",
               cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("ablate: 1 of 2 members failed: model.cardinality=0 (")
    # a member's folder is named by its overrides (hydra.job.override_dirname), the same on every re-launch
    # (sorted; trainer.progress and trainer.peak_flops are left out as they do not change results)
    good, bad = (tmp_path / "sweep" / ",".join(sorted([*SMALL[:9], "model.cardinality=" + c, "optim.epochs=1"]))
                 for c in "10")
    good, bad = RunRecord.load(good), RunRecord.load(bad)
    assert good.status == "completed" and good.job_num == 1 and "model.cardinality=1" in good.overrides
    assert good.final.val_err < 90
    assert bad.status == "failed" and bad.job_num == 0 and bad.reason.startswith("model.cardinality=0 is invalid")


def test_a_ddp_run_logs_its_epochs_where_the_job_logs(tmp_path):
    """Spawned DDP processes start with logging unconfigured: rank 0 takes the job's, so the epoch lines are in
    the run's log file (and on stderr) as in a one-process run."""
    proc = cli(*SMALL, "trainer.world_size=2", f"hydra.run.dir={tmp_path / 'ddp'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = (tmp_path / "ddp" / "ablate.log").read_text()
    assert [line.split(" - ")[1].split(":")[0] for line in log.splitlines() if ": train loss " in line] == [
        "epoch 1/2", "epoch 2/2"]
    assert RunRecord.load(tmp_path / "ddp").env.world_size == 2


def test_world_size_auto_is_resolved_and_recorded(tmp_path, monkeypatch):
    """auto on a 2-core CPU with a batch of 64: two processes of 32 images and one thread each, in the record."""
    monkeypatch.setattr("ablate.run.parallel.cpu_count", lambda: 2)
    record = run(tmp_path, "optim.batch_size=64")
    assert record.status == "completed", record.reason
    assert record.config["trainer"]["world_size"] == "auto"
    assert (record.env.world_size, record.env.threads) == (2, 1)


def test_ddp_process_errors_come_back_as_their_sentence(tmp_path):
    record = run(tmp_path, "trainer.world_size=2", "trainer.device=tpu", "trainer.num_threads=1")
    assert record.status == "failed"
    assert record.reason.startswith("trainer.device='tpu' is unknown: valid devices are auto, cpu, cuda")


def test_every_run_activates_its_device_once_with_its_plan(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(device, "activate", lambda *args: calls.append(args))
    record = run(tmp_path, "optim.batch_size=32")
    assert record.status == "completed"
    assert len(calls) == 1
    dev, template, batch, precision, jobs_per_gpu, world_size = calls[0]
    assert (dev, batch, jobs_per_gpu, world_size) == (torch.device("cpu"), 32, 1, 1)
    assert template.to_dict() == record.model.template and precision == record.config["trainer"]["precision"]


def test_a_stale_hydra_config_in_the_process_does_not_fail_a_ddp_run(tmp_path, monkeypatch):
    """A Hydra config left in the process (another job's, whose log-file path no longer resolves) must not fail a
    run: its logging config is taken only where it resolves, else the DDP processes log as Python's default does."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    stale = OmegaConf.create({"job_logging": {"version": 1, "handlers": {"file": {
        "class": "logging.FileHandler", "filename": "${hydra.runtime.output_dir}/ablate.log"}}}})
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: stale))
    assert processes.job_logging() is None
    record = run(tmp_path, "trainer.world_size=2", "trainer.num_threads=1")
    assert record.status == "completed", record.reason


FORK_SERVER_ORDER = """
import multiprocessing.forkserver, runpy, sys
started = []
real = multiprocessing.forkserver.ensure_running
def ensure_running():
    if not started:
        started.append("torch" in sys.modules)
    return real()
multiprocessing.forkserver.ensure_running = ensure_running
sys.argv = ["ablate", *sys.argv[1:]]
try:
    runpy.run_module("ablate", run_name="__main__")
finally:
    print("FORK_SERVER_STARTED_AFTER_TORCH", started, file=sys.stderr)
"""


@pytest.mark.parametrize("world_size, expect", [(2, [False]), (1, [])])
def test_the_fork_server_starts_before_the_job_imports_torch(tmp_path, world_size, expect):
    """A CPU run of two DDP processes starts their fork server before the job process imports torch, so the two
    processes import at once, on two cores (the job's own torch import used to come first). A run of one
    process starts none."""
    args = [*SMALL, "optim.epochs=1", f"trainer.world_size={world_size}", "trainer.device=cpu",
            "trainer.progress=false", "trainer.peak_flops=1e11", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run([sys.executable, "-c", FORK_SERVER_ORDER, *args], cwd=tmp_path, text=True,
                          capture_output=True, timeout=300, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    line = next(x for x in proc.stderr.splitlines() if x.startswith("FORK_SERVER_STARTED_AFTER_TORCH"))
    assert line == f"FORK_SERVER_STARTED_AFTER_TORCH {expect}", proc.stderr


def test_more_threads_than_cores_is_said_in_the_log(caplog, monkeypatch):
    """`trainer.num_threads=64` on a 2-core machine was taken silently: the threads share the cores and the run
    slows down. The log says so (a warning: the run goes on, as asked)."""
    from ablate.run import parallel

    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    with caplog.at_level("WARNING", logger="ablate"):
        assert processes.threads_per_process(64, 1) == 64
        assert processes.threads_per_process(2, 1) == 2 and processes.threads_per_process(None, 2) == 1
    assert caplog.messages == [
        "trainer.num_threads=64 gives 1 process 64 threads on this machine's 2 cores: they will share the cores and "
        "run slower; trainer.num_threads=null gives each process its share."
    ]


def test_threads_past_what_a_machine_can_start_are_refused(monkeypatch):
    """Found by hand: `trainer.num_threads=999999` warned that the threads would share the cores, then the process
    died of a segmentation fault (exit 139) as OpenMP failed to start them. Past 64 threads per core (more only
    share the cores) the run is refused in one sentence."""
    from ablate.run import parallel

    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    assert processes.threads_per_process(128, 1) == 128
    with pytest.raises(ConfigError) as refused:
        processes.threads_per_process(999_999, 1)
    assert str(refused.value) == (
        "trainer.num_threads=999999 is more than 64 threads per core of this machine's 2 cores: give at most 128 "
        "(more threads than cores only share them), or null for each process its share.")
    with pytest.raises(ConfigError):  # per process: two DDP ranks of 65 threads each on 2 cores
        processes.threads_per_process(65, 2)


def test_a_resumed_run_tells_its_trial_the_epochs_of_its_checkpoint_first(tmp_path, monkeypatch):
    """A search's retried trial resumes its original's checkpoint under a new trial number: the new trial has none
    of the checkpoint's epochs, so the run reports them before its own, in order, each once."""
    import ablate.run.trainer

    real_fit = ablate.run.trainer.fit

    def stopped(*args, on_epoch, **kwargs):
        def after_epoch(entry, epochs):
            on_epoch(entry, epochs)
            raise KeyboardInterrupt  # Ctrl-C after epoch 1 (its checkpoint is written)

        return real_fit(*args, on_epoch=after_epoch, **kwargs)

    monkeypatch.setattr(ablate.run.trainer, "fit", stopped)
    with pytest.raises(app.RunInterrupted):
        run(tmp_path, "optim.epochs=3")
    monkeypatch.setattr(ablate.run.trainer, "fit", real_fit)
    told = []
    monkeypatch.setattr(processes, "reporter", lambda: lambda epoch, value: told.append((epoch, value)) and False)
    record = run(tmp_path, "optim.epochs=3")
    assert record.status == "completed"
    assert told == [(e.epoch, e.val_err) for e in record.epochs] and [e for e, _ in told] == [1, 2, 3]


def test_an_allocation_the_machine_cannot_make_is_said_as_out_of_memory():
    """Found by hand: `model.width=100000` ended in `RuntimeError: a DDP process failed with RuntimeError: [enforce
    fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate
    80000000000 bytes. Error code 12 …`: what failed is there, in torch's words. The sentence says it in a user's."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    error = RuntimeError("a DDP process failed with RuntimeError: [enforce fail at alloc_cpu.cpp:127] err == 0. "
                         "DefaultCPUAllocator: can't allocate memory: you tried to allocate 80000000000 bytes. Error "
                         "code 12 (Cannot allocate memory)")
    assert app._reason(error) == (f"out of memory: one tensor of 80.0 GB could not be allocated (this machine has "
                                  f"{ram:.1f} GB in all): give a smaller model, or a smaller optim.batch_size.")
    assert app._reason(RuntimeError("boom")) == "RuntimeError: boom."


def test_a_model_whose_weights_alone_exceed_the_memory_is_refused_before_training(tmp_path, monkeypatch):
    """Found by hand: `model.cardinality=2**70` ended in `RuntimeError: a DDP process failed with "` (the last line
    of torch's many-line overflow error) after the data loaded; a model whose fp32 weights, gradients and momentum
    alone, in each training process, exceed the machine's memory cannot train: refused in one sentence first."""
    from ablate.config import template_from_cfg

    monkeypatch.setattr(processes, "memory_bytes", lambda: 24e9)
    huge = template_from_cfg(compose([*SMALL, "model.cardinality=1180591620717411303424"]).model)
    with pytest.raises(ConfigError) as refused:
        processes.check_memory(huge, 2)
    assert str(refused.value) == (
        "the model has 4.72e+24 params: their fp32 weights, gradients and momentum alone need 1.13e+17 GB in 2 "
        "training processes, more than this machine's 24 GB of memory: give a smaller model (python -m "
        "ablate.describe shows a config's size).")
    tiny = template_from_cfg(compose(SMALL).model)
    processes.check_memory(tiny, 2)
    record = run(tmp_path, "model.cardinality=1180591620717411303424")
    assert record.status == "failed" and record.reason.startswith("the model has 4.72e+24 params: their fp32 ")
    assert record.reason.endswith(" more than this machine's 24 GB of memory: give a smaller model (python -m "
                                  "ablate.describe shows a config's size).")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("error", [ValueError("pixel 3 is negative,\nfar below 0"), KeyError("n07"), OSError()])
def test_an_error_a_dataloader_worker_raised_is_said_as_its_own(error):
    """An error raised in a DataLoader worker comes back as torch's re-raise, whose message is the worker's whole
    traceback ("Caught ValueError in DataLoader worker process 0. Original Traceback …"); the run's sentence is the
    error's own, as without workers, for any error type (the second read of a fix that covered DataError alone)."""
    import multiprocessing

    class Failing(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise error

    loader = torch.utils.data.DataLoader(Failing(), num_workers=1, multiprocessing_context=multiprocessing.get_context("fork"))
    with pytest.raises(type(error)) as raised:
        next(iter(loader))
    assert "DataLoader worker" in str(raised.value)  # torch's re-raise, or this test checks nothing
    own = {ValueError: "ValueError: pixel 3 is negative, far below 0.", KeyError: "KeyError: 'n07'.", OSError: "OSError: no message."}
    assert app._reason(raised.value) == own[type(error)]


def test_a_data_set_too_large_to_hold_in_memory_is_refused_before_it_loads(tmp_path, monkeypatch):
    """Found by hand: `data.pad=1000` (Fashion-MNIST's training images stored zero-padded to 2028×2028, 247 GB)
    and `data=synthetic data.num_samples=100000000000` ended, in the data load, in "out of memory: … give a smaller
    model, or a smaller optim.batch_size", which names neither cause. What each training process holds of an
    in-memory data set is known from the config: one that cannot fit is refused first, naming the field."""
    from ablate.data.base import footprint
    from ablate.data.options import options

    monkeypatch.setattr(processes, "memory_bytes", lambda: 24e9)
    fmnist = options({"name": "fashion_mnist", "pad": 1000, "augment": True})  # the padding is for augmentation
    # the loaded splits, then the kept training images stored padded: 1 byte a pixel, 8 a label
    assert footprint(fmnist).bytes() == 60_000 * (2028 * 2028 + 8) + 10_000 * (28 * 28 + 8)
    assert footprint(fmnist).bytes(pad=0) == 70_000 * (28 * 28 + 8)
    assert footprint(options({"name": "fashion_mnist", "pad": 0})).bytes() == 70_000 * (28 * 28 + 8)
    # a subset keeps fewer images than are loaded: the loaded splits are what is held at least
    assert footprint(options({"name": "fashion_mnist", "pad": 0, "train_subset": 10})).bytes() == 70_000 * 792
    assert footprint(options({"name": "imagenet"})) is None  # its size is known once its folders are read
    with pytest.raises(ConfigError) as refused:
        processes.check_data_memory(fmnist, 2)
    assert str(refused.value) == (
        "data.pad=1000 stores each of the 60,000 training images of Fashion-MNIST zero-padded to 2028×2028: "
        "494 GB in 2 training processes, more than this machine's 24 GB of memory: give a pad below 28, such as 2 "
        "(the default) or 4 (the paper's CIFAR recipe).")
    processes.check_data_memory(options({"name": "fashion_mnist", "pad": 1000, "augment": True, "train_subset": 1000}), 2)
    processes.check_data_memory(options({"name": "fashion_mnist", "pad": 1000, "augment": False}), 2)
    synthetic = options({"name": "synthetic", "num_samples": 100_000_000_000})
    with pytest.raises(ConfigError) as refused:
        processes.check_data_memory(synthetic, 1)
    assert str(refused.value) == (
        "data=synthetic holds 100,000,000,000 training and 512 val images of 1×28×28 in memory: 79,200 GB in 1 "
        "training process, more than this machine's 24 GB of memory: give fewer images (data.num_samples, "
        "data.val_samples).")
    record = run(tmp_path, "data.num_samples=100000000000")
    assert record.status == "failed" and record.reason.startswith("data=synthetic holds 100,000,000,000 training ")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_ddp_process_error_of_several_lines_is_named_by_its_first():
    """Found by hand: torch's overflow error runs over many lines (its C++ frames, then a lone quote), and the
    sentence took the traceback's last line: `a DDP process failed with "`. It takes the exception's header line."""
    text = ('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
            'TypeError: empty(): argument \'size\' failed to unpack the object at pos 1 with error "Overflow when '
            'unpacking long long\nException raised from THPUtils_unpackLong at python_numbers.h:79:\n'
            'frame #0: c10::Error::Error(c10::SourceLocation) + 0x9d (0x7f in libc10.so)\n"\n')
    assert str(processes._child_error(RuntimeError(text))) == (
        'a DDP process failed with TypeError: empty(): argument \'size\' failed to unpack the object at pos 1 with '
        'error "Overflow when unpacking long long')
    one = 'Traceback (most recent call last):\n  File "x.py", line 1\nablate.errors.DataError: data.root is bad.\n'
    assert repr(processes._child_error(RuntimeError(one))) == "DataError('data.root is bad.')"


def test_processes_past_what_a_machine_can_start_are_refused(monkeypatch):
    """The same limit for DDP processes, each of which starts at least one thread: `trainer.world_size=200` with a
    batch that splits (`optim.batch_size=200`) on 2 cores is refused naming the world size, not the threads."""
    from ablate.run import parallel

    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    assert processes.threads_per_process(1, 128) == 1
    with pytest.raises(ConfigError) as refused:
        processes.threads_per_process(1, 200)
    assert str(refused.value) == (
        "trainer.world_size=200 is more than 64 processes per core of this machine's 2 cores: give at most 128 "
        "(more processes than cores only share them), or auto for one per core.")



def _finished_run():
    """A finished run's record as `processes._throughput` reads it: two epochs (500 then 1,000 img/s, the second
    the steady rate) of a model of 10 MFLOPs a forward pass."""
    from types import SimpleNamespace as ns

    return ns(epochs=[ns(images_per_s=500.0), ns(images_per_s=1000.0)], model=ns(complexity=ns(flops=10_000_000)),
              throughput=runs.ThroughputSection())


def test_a_given_peak_below_the_rate_the_run_reached_is_said_and_no_share_is_recorded(caplog):
    """Found by hand: `trainer.peak_flops=1` ended in "1004 img/s (fp32), 5623129584097% of the fp32 matmul peak": a
    peak is the most the machine does, so a run above it shows the given figure is wrong. The share is left out of
    the record (null), and the log says why; a peak above the rate gives the share as before."""
    from types import SimpleNamespace as ns

    record = _finished_run()
    cpu = torch.device("cpu")
    low = processes._throughput(record, ns(peak_flops=1.0, precision="fp32"), cpu, 1)
    assert (low.train_flops_per_s, low.peak_flops) == (6e10, 1.0)  # 6 FLOPs a multiply-add of the forward pass
    assert low.machine_fraction is None and low.fp32_fraction is None
    assert "the run reached 6e+10 FLOP/s, more than trainer.peak_flops=1, the most the machine does: the share of " \
           "the peak is left out; give the machine's peak FLOP/s, or null to measure it" in caplog.text
    high = processes._throughput(record, ns(peak_flops=1.2e11, precision="fp32"), cpu, 1)
    assert (high.machine_fraction, high.fp32_fraction) == (0.5, 0.5)


def test_a_measured_peak_below_the_rate_the_run_reached_is_said_and_no_share_is_recorded(caplog):
    """Found by hand: two Ray members on a machine whose cores another job kept busy ended in "175 img/s (bf16), 334%
    of the fp32 matmul peak": the peak, measured in a fraction of a second beside the run, read low. A rate above
    the measured peak of the run's own precision says the measurement was disturbed: the shares are left out (null)
    and the log says why; a measured peak above the rate gives the shares as before."""
    from types import SimpleNamespace as ns

    record = _finished_run()
    cpu = torch.device("cpu")
    trainer = ns(peak_flops=None, precision="fp32")
    low = processes._throughput(record, trainer, cpu, 1, peaks=(2e10, 2e10))
    assert (low.train_flops_per_s, low.peak_flops) == (6e10, 2e10)
    assert low.machine_fraction is None and low.fp32_fraction is None
    assert "the run reached 6e+10 FLOP/s, more than the 2e+10 FLOP/s matmul peak measured beside it: the machine " \
           "was busy while the peak was measured, so the shares of the peak are left out (trainer.peak_flops sets " \
           "the peak instead)" in caplog.text
    high = processes._throughput(record, trainer, cpu, 1, peaks=(1.2e11, 1.2e11))
    assert (high.machine_fraction, high.fp32_fraction) == (0.5, 0.5)
    bf16 = processes._throughput(record, ns(peak_flops=None, precision="bf16"), cpu, 1, peaks=(1.2e11, 3e10))
    assert bf16.fp32_fraction == 2.0  # bf16 beats the fp32 peak by right: only its own precision's peak bounds it


def test_own_message_reads_a_worker_reraise_of_any_shape():
    """The second read of `own_message`: a re-raise without a traceback (torch's format changed) is kept whole, not
    an error of its own (`max()` of no lines); a chained error's message is the last traceback's; a type alone is
    no message."""
    from ablate.errors import own_message

    head = "Caught ValueError in DataLoader worker process 0.\n"
    assert own_message(head) == "Caught ValueError in DataLoader worker process 0."
    chained = (head + "Original Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n    g()\n"
               "KeyError: 'n07'\n\nThe above exception was the direct cause of the following exception:\n\n"
               "Traceback (most recent call last):\n  File \"b.py\", line 2, in h\n    raise ValueError(x)\n"
               "ValueError: pixel 3: negative")
    assert own_message(chained) == "pixel 3: negative"
    assert own_message(head + "Traceback (most recent call last):\n  File \"c.py\", line 3\nablate.errors.DataError") == ""
    assert own_message("plain words: no worker") == "plain words: no worker"


def test_members_sharing_a_gpu_measure_no_peak_beside_each_other(monkeypatch, caplog):
    """Found on the first GPU lent (H200, `benchmarks/gpu.sh`): five members packed on one GPU
    (`trainer.jobs_per_gpu=5`) each measured the GPU's bf16 matmul peak while the others trained, and read 134–404
    TFLOP/s where one member alone read 682–714: their shares of the peak were up to 6× too high. Members that share
    a GPU by design measure no peak: the shares are left out (null) and the log says why, unless trainer.peak_flops
    gives the peak; one member per GPU measures as before."""
    from types import SimpleNamespace as ns

    from ablate.run import device as devices

    caplog.set_level("INFO")
    measured = []
    monkeypatch.setattr(devices, "peak_flops", lambda device, dtype=None: measured.append(device) or 1e15)
    record = _finished_run()
    gpu = torch.device("cuda", 0)
    packed = processes._throughput(record, ns(peak_flops=None, precision="fp32", jobs_per_gpu=5), gpu, 1)
    assert measured == []
    assert (packed.train_flops_per_s, packed.peak_flops, packed.machine_fraction, packed.fp32_fraction) == (
        6e10, None, None, None)
    assert "the GPU's peak is not measured while trainer.jobs_per_gpu=5 members share cuda:0 (each would read a " \
           "fraction of it): the shares of the peak are left out; trainer.peak_flops gives the GPU's peak" in caplog.text
    given = processes._throughput(record, ns(peak_flops=1.2e11, precision="fp32", jobs_per_gpu=5), gpu, 1)
    assert (given.machine_fraction, given.fp32_fraction) == (0.5, 0.5)
    alone = processes._throughput(record, ns(peak_flops=None, precision="fp32", jobs_per_gpu=1), gpu, 1)
    assert measured == [gpu] and alone.machine_fraction == 6e-5


def test_cpu_members_that_outnumber_the_cores_measure_no_peak(tmp_path, monkeypatch, caplog):
    """Found timing the main job with its five members at once on two cores (hydra.launcher.n_jobs=5): each member
    measured its one-thread matmul peak while the other four trained on the same two cores and recorded shares of
    the peak that were too high. The job's process sees the launcher (Hydra's config) and puts the count in the run's
    plan; members that outnumber the cores measure no peak, as many members as cores measure as before."""
    from types import SimpleNamespace as ns

    from omegaconf import OmegaConf

    from ablate.run import device as devices
    from ablate.run import parallel

    caplog.set_level("INFO")
    measured = []
    monkeypatch.setattr(devices, "peak_flops", lambda device, dtype=None: measured.append(device) or 1e12)
    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    joblib = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    hydra = {n: OmegaConf.create({"mode": "MULTIRUN", "launcher": {"_target_": joblib, "n_jobs": n}, "sweeper": {}})
             for n in (2, 5)}
    plans = {}
    for n, cfg in hydra.items():
        monkeypatch.setattr(parallel, "_running_hydra_cfg", lambda cfg=cfg: cfg)
        for world_size in (1, 2):
            small = [o for o in SMALL if not o.startswith("trainer.peak_flops")]
            config = compose([*small, "trainer.device=cpu", f"trainer.world_size={world_size}"])
            template = template_from_cfg(config.model)
            plans[n, world_size] = processes.plan_for(config, template, {"form": "c"}, tmp_path, 0)
    assert {k: p.sharing for k, p in plans.items()} == {(2, 1): None, (2, 2): None, (5, 1): 5, (5, 2): 5}
    assert plans[5, 2].peaks is None and plans[2, 2].peaks is not None  # the job's process measured only for n=2
    measured.clear()
    cpu, trainer = torch.device("cpu"), ns(peak_flops=None, precision="fp32", jobs_per_gpu=1)
    packed = processes._throughput(_finished_run(), trainer, cpu, 1, sharing=plans[5, 1].sharing)
    assert measured == [] and (packed.peak_flops, packed.machine_fraction, packed.fp32_fraction) == (None, None, None)
    assert packed.train_flops_per_s == 6e10 and packed.images_per_s == 1000.0
    assert "the CPU's peak is not measured while 5 members share its 2 cores (each would read a fraction of it): " \
           "the shares of the peak are left out; trainer.peak_flops gives a peak instead" in caplog.text
    alone = processes._throughput(_finished_run(), trainer, cpu, 1, sharing=plans[2, 1].sharing)
    assert measured == [cpu] and alone.machine_fraction == 0.06


def test_the_end_of_run_line_gives_the_share_in_the_runs_own_precision_and_small_shares_in_digits():
    """Found on the first GPU lent: a bf16 run on an H200 ended in "12910 img/s (bf16), 0% of the fp32 matmul
    peak": a share under 1 % read as none, and only against fp32 while the run trained in bf16. The line gives the
    share of its own precision's peak first, then the fp32 one; shares under 10 % keep two significant digits."""
    from ablate.run.app import _speed

    gpu = runs.ThroughputSection(images_per_s=12910.5, precision="bf16", machine_fraction=0.00054,
                                 fp32_fraction=0.0011)
    assert _speed(gpu) == "; 12910 img/s (bf16), 0.054% of the bf16 matmul peak, 0.11% of the fp32 one"
    cpu = runs.ThroughputSection(images_per_s=1655.0, precision="bf16", machine_fraction=0.21, fp32_fraction=0.48)
    assert _speed(cpu) == "; 1655 img/s (bf16), 21% of the bf16 matmul peak, 48% of the fp32 one"
    fp32 = runs.ThroughputSection(images_per_s=851.0, precision="fp32", machine_fraction=0.28, fp32_fraction=0.28)
    assert _speed(fp32) == "; 851 img/s (fp32), 28% of the fp32 matmul peak"
    given = runs.ThroughputSection(images_per_s=851.0, precision="bf16", machine_fraction=0.05)
    assert _speed(given) == "; 851 img/s (bf16), 5.0% of the bf16 matmul peak"
    assert _speed(runs.ThroughputSection(images_per_s=851.0, precision="bf16")) == "; 851 img/s (bf16)"
    edge = runs.ThroughputSection(images_per_s=851.0, precision="fp32", machine_fraction=0.0996, fp32_fraction=0.0996)
    assert _speed(edge) == "; 851 img/s (fp32), 10% of the fp32 matmul peak"


def test_a_pad_given_without_augmentation_says_it_changes_nothing(tmp_path, caplog):
    """Fashion-MNIST trains unaugmented by default since its short recipes lost accuracy to augmentation, so a
    user who gives the paper's `data.pad=4` alone would get no crops at all, silently. The run says so once,
    naming the override and the way on; with `data.augment=true`, or no pad given, it says nothing."""
    assert app.unused_pad(["data=synthetic", "data.pad=4"], augment=False) == (
        "data.pad=4 changes nothing: the training images are not augmented (data.augment=false); add "
        "data.augment=true to pad and randomly crop them.")
    assert app.unused_pad(["++data.pad=0", "data.pad=3"], augment=False).startswith("data.pad=3 changes nothing")
    assert app.unused_pad(["data.pad=4"], augment=True) is None
    assert app.unused_pad(["data.augment=false", "optim.lr=0.1"], augment=False) is None
    with caplog.at_level(logging.WARNING):
        run(tmp_path, "data.pad=4")
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == [app.unused_pad(["data.pad=4"], augment=False)]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run(tmp_path, "data.pad=4", "data.augment=true", name="augmented")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
