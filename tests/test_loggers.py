"""Experiment tracking (`trainer.loggers`, ablate/run/loggers.py): metrics.csv, TensorBoard and MLflow, each read back
through its own library's reader (pandas, TensorBoard's EventAccumulator, MLflow's client), from tiny synthetic runs."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pandas as pd
import pytest

from ablate.config import check, compose
from ablate.errors import ConfigError
from ablate.run import app, loggers
from ablate.run.record import RESULT, RunRecord, config_hash

# a 2-stage template on 128 synthetic 28×28 images: an epoch is 4 steps of 32 images
SMALL = ["data=synthetic", "data.num_samples=128", "data.val_samples=64", "data.noise=16", "model.depths=[1,1]",
         "model.width=16", "model.bottleneck_width=8", "model.stem_width=16", "optim.batch_size=32", "optim.epochs=2",
         "trainer.progress=false", "trainer.num_threads=1", "trainer.peak_flops=1e11"]
FIELDS = ["epoch", "train_loss", "train_err", "val_loss", "val_err", "val_top5_err", "lr", "seconds", "images_per_s"]
SWEEP_YAML = """
hydra:
  runtime:
    choices: {sweep: tracked_sweep, model: tiny}
trainer:
  loggers: [csv, mlflow]
  mlflow_uri: null
"""


def train(run_dir, *overrides, job_num=None):
    overrides = [*SMALL, *overrides]
    record = app.run(compose(overrides), run_dir, overrides=overrides, job_num=job_num)
    assert record.status == "completed", record.reason
    return record


def epochs_of(record: RunRecord) -> pd.DataFrame:
    return pd.DataFrame([{k: getattr(e, k) for k in FIELDS} for e in record.epochs])


# ----------------------------------------------------------------------------- the config
def test_loggers_are_checked_and_csv_is_the_default():
    assert list(compose(SMALL).trainer.loggers) == ["csv"] and compose(SMALL).trainer.mlflow_uri is None
    with pytest.raises(ConfigError) as e:
        check(compose([*SMALL, "trainer.loggers=[csv,wandb]"]))
    assert str(e.value) == ("trainer.loggers=[csv,wandb] is invalid: give a list of distinct loggers from csv, "
                            "tensorboard, mlflow, such as [csv,tensorboard], or [] for none.")
    with pytest.raises(ConfigError, match=r"^trainer\.loggers=\[csv,csv\] is invalid"):
        check(compose([*SMALL, "trainer.loggers=[csv,csv]"]))
    check(compose([*SMALL, "trainer.loggers=[]"]))


def test_a_logger_whose_package_is_missing_is_refused_naming_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError) as e:
        check(compose([*SMALL, "trainer.loggers=[csv,mlflow]"]))
    assert str(e.value) == ("trainer.loggers=[csv,mlflow] needs the mlflow package, which is not installed: "
                            "pip install 'ablate[mlflow]' (or leave mlflow out of trainer.loggers).")
    check(compose([*SMALL, "trainer.loggers=[csv]"]))  # the others need nothing


def test_loggers_change_no_result():
    cfgs = [compose([*SMALL, o]) for o in ("trainer.loggers=[csv]", "trainer.loggers=[]",
                                           "trainer.mlflow_uri=sqlite:///elsewhere.db")]
    from omegaconf import OmegaConf

    hashes = {config_hash(OmegaConf.to_container(c, resolve=True)) for c in cfgs}
    assert len(hashes) == 1


def test_hyperparameters_are_the_hashed_config_flat_with_the_solved_template():
    record = RunRecord.from_dict({"schema_version": 2, "status": "running",
                                  "config": {"model": {"name": "tiny", "depths": [1, 1], "bottleneck_width": 4},
                                             "optim": {"lr": 0.1}, "trainer": {"device": "cpu", "precision": "bf16",
                                                                               "loggers": ["csv"]}, "seed": 3}})
    params = loggers.hyperparameters(record)
    # trainer.device and trainer.loggers are run-time keys: not hyperparameters
    assert params == {"model.name": "tiny", "model.depths": "[1,1]", "model.bottleneck_width": 4, "optim.lr": 0.1,
                      "trainer.precision": "bf16", "seed": 3}


def test_a_failing_logger_is_dropped_with_one_warning_and_the_others_go_on(caplog):
    class Broken(loggers.Logger):
        def epoch(self, entry):
            raise OSError("disk full")

    class Kept(loggers.Logger):
        def __init__(self):
            self.seen, self.closed = [], []

        def epoch(self, entry):
            self.seen.append(entry["epoch"])

        def close(self, failed=None):
            self.closed.append(failed)

    kept = Kept()
    with caplog.at_level(logging.WARNING, logger="ablate.run.loggers"), pytest.raises(KeyboardInterrupt):
        with loggers.Trackers([Broken(), kept]) as trackers:
            trackers.epoch({"epoch": 1})
            trackers.epoch({"epoch": 2})
            raise KeyboardInterrupt
    assert kept.seen == [1, 2] and kept.closed == ["interrupted"]
    assert [r.getMessage() for r in caplog.records] == ["Broken stopped logging: OSError: disk full"]


# ----------------------------------------------------------------------------- csv and TensorBoard
def test_csv_and_tensorboard_hold_every_epoch_and_the_hyperparameters(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata as hparams_metadata
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    run_dir = tmp_path / "run"
    record = train(run_dir, "trainer.loggers=[csv,tensorboard]", "seed=5")
    expected = epochs_of(record)

    csv = pd.read_csv(run_dir / loggers.METRICS_CSV)
    pd.testing.assert_frame_equal(csv, expected, check_dtype=False)

    events = EventAccumulator(str(run_dir))
    events.Reload()
    for field in FIELDS[1:]:
        scalars = events.Scalars(field)
        assert [s.step for s in scalars] == [1, 2], field
        assert [s.value for s in scalars] == pytest.approx(expected[field].tolist(), rel=1e-6), field
    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)[hparams_metadata.SESSION_START_INFO_TAG]
    hparams = HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["seed"].number_value == 5 and hparams["optim.lr"].number_value == record.config["optim"]["lr"]
    assert hparams["model.depths"].string_value == "[1,1]" and hparams["data.name"].string_value == "synthetic"
    assert hparams["complexity.params"].number_value == record.model.complexity.params
    assert "trainer.num_threads" not in hparams  # a run-time key
    experiment = HParamsPluginData.FromString(
        events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)[hparams_metadata.EXPERIMENT_TAG]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == set(FIELDS[1:])


def test_csv_of_a_resumed_run_replaces_the_epochs_trained_again(tmp_path):
    logger = loggers.CsvLogger(tmp_path)
    for epoch, err in ((1, 50.0), (2, 40.0), (3, 30.0), (2, 41.0)):  # killed after epoch 3, resumed from epoch 1
        logger.epoch({"epoch": epoch, "val_err": err})
    csv = pd.read_csv(tmp_path / loggers.METRICS_CSV)
    assert csv.columns.tolist() == FIELDS
    assert csv.epoch.tolist() == [1, 2] and csv.val_err.tolist() == [50.0, 41.0]


# ----------------------------------------------------------------------------- MLflow
def test_mlflow_one_run_per_member_in_the_sweeps_experiment_and_the_report(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    sweep = tmp_path / "sweeps" / "folder_name"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text(SWEEP_YAML)
    records = {c: train(sweep / f"model.cardinality={c}", f"model.cardinality={c}", "trainer.loggers=[csv,mlflow]",
                        job_num=i) for i, c in enumerate((1, 2))}

    client = MlflowClient(f"sqlite:///{sweep / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked_sweep")  # the +sweep= name, not the folder's
    assert experiment is not None and experiment.artifact_location == (sweep / "mlflow" / "artifacts").as_uri()
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["model.cardinality=1", "model.cardinality=2"]
    for c, record in records.items():
        run = runs[f"model.cardinality={c}"]
        assert run.info.status == "FINISHED" and run.data.tags["ablate.status"] == "completed"
        assert run.data.params["model.cardinality"] == str(c)
        assert run.data.params["model.depths"] == "[1,1]" and run.data.params["data.name"] == "synthetic"
        assert run.data.params["complexity.params"] == str(record.model.complexity.params)
        assert "trainer.loggers" not in run.data.params
        history = client.get_metric_history(run.info.run_id, "val_err")
        assert [(m.step, m.value) for m in history] == [(e.epoch, pytest.approx(e.val_err)) for e in record.epochs]
        assert run.data.metrics["train_loss"] == pytest.approx(record.epochs[-1].train_loss)

    # launched again (its record gone, its checkpoint complete): the member goes on in its own MLflow run
    (sweep / "model.cardinality=1" / RESULT).unlink()
    train(sweep / "model.cardinality=1", "model.cardinality=1", "trainer.loggers=[csv,mlflow]", job_num=0)
    assert len(client.search_runs([experiment.experiment_id])) == 2

    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("<html></html>")
    (report / "table.md").write_text("| a |")
    run_id = loggers.log_report(sweep, report)
    assert client.get_run(run_id).info.run_name == "report"
    assert sorted(a.path for a in client.list_artifacts(run_id, "report")) == ["report/index.html", "report/table.md"]
    assert loggers.log_report(sweep, report) == run_id  # reported again: the same run
    assert len(client.search_runs([experiment.experiment_id])) == 3


def test_log_report_does_nothing_for_a_sweep_without_mlflow(tmp_path):
    (tmp_path / "multirun.yaml").write_text("trainer:\n  loggers: [csv]\n")
    assert loggers.log_report(tmp_path, tmp_path) is None
    assert loggers.log_report(tmp_path / "nowhere", tmp_path) is None
    assert not (tmp_path / "mlflow").exists()


def test_csv_is_written_without_pandas(tmp_path):
    """Rank 0 writes metrics.csv after every epoch while the other ranks wait for it: with the standard library's
    csv module, not pandas (whose import the first epoch would wait for). Values read back exactly."""
    import os
    import subprocess
    import sys

    code = ("import sys; from ablate.run import loggers; log = loggers.CsvLogger(sys.argv[1]);"
            "log.epoch({'epoch': 1, 'val_err': 12.345678901234567, 'lr': 0.2, 'seconds': None});"
            "log.epoch({'epoch': 2, 'val_err': 10.5, 'images_per_s': 850});"
            "print('pandas' in sys.modules)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True,
                         cwd=root).stdout
    assert out.split() == ["False"]
    csv = pd.read_csv(tmp_path / loggers.METRICS_CSV)
    assert csv.columns.tolist() == FIELDS
    assert csv.epoch.tolist() == [1, 2] and csv.val_err.tolist() == [12.345678901234567, 10.5]
    assert csv.lr.tolist()[0] == 0.2 and csv.seconds.isna().all() and csv.images_per_s.tolist()[1] == 850


def test_a_first_mlflow_run_prints_nothing_on_stderr(tmp_path):
    """MLflow announced its table creation on stderr ("INFO mlflow.store.db.utils: Creating initial MLflow database
    tables...", two lines) the first time a store was made (noticed by hand): stderr is for what went wrong."""
    pytest.importorskip("mlflow")
    import subprocess
    import sys

    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "ablate", "trainer.loggers=[mlflow]", "data=synthetic", "data.num_samples=128",
         "data.val_samples=64", "optim.epochs=1", "optim.batch_size=64", "trainer.world_size=1",
         "trainer.progress=false", f"hydra.run.dir={run}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run / "mlflow" / "mlflow.db").is_file()
    assert proc.stderr == ""


def test_a_folder_store_is_refused_where_the_installed_mlflow_will_not_open_it(monkeypatch):
    """MLflow 3 raises for a `./mlruns`-style folder store unless MLFLOW_ALLOW_FILE_STORE=true: the config check
    refuses it with the database to give instead, and lets every other URI (and the opt-out) through."""
    from ablate.errors import ConfigError
    from ablate.run.loggers import check_store

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    for uri in ("sqlite:///ml.db", "postgresql://u:p@h/db", "databricks", None):
        assert check_store("trainer.mlflow_uri", uri) == uri
    with pytest.raises(ConfigError) as e:
        check_store("trainer.mlflow_uri", "file:///data/mlruns/")
    assert str(e.value) == (
        "trainer.mlflow_uri='file:///data/mlruns/' is a folder store, which the installed MLflow writes to only with "
        "MLFLOW_ALLOW_FILE_STORE=true: give a database such as trainer.mlflow_uri=sqlite:////data/mlruns/mlflow.db, "
        "or set MLFLOW_ALLOW_FILE_STORE=true.")
    with pytest.raises(ConfigError) as e:
        check_store("trainer.mlflow_uri", "~/mlruns")
    assert f"trainer.mlflow_uri=sqlite:///{Path('~/mlruns').expanduser()}/mlflow.db" in str(e.value)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert check_store("trainer.mlflow_uri", "mlruns") == "mlruns"


def test_a_sqlite_store_whose_file_cannot_be_made_is_refused(tmp_path):
    """Found by hand: `trainer.mlflow_uri=sqlite:////tmp/afile/x.db` (under a file) passed the config check; the run
    trained with the MLflow logger dropped at its start ("MlflowLogger stopped logging: FileExistsError"), so
    nothing was tracked. Where the database file cannot be made (its folder is a file, or it is a folder itself),
    the store is refused when the config is checked; a folder still to be made is made by the run."""
    from ablate.errors import ConfigError
    from ablate.run.loggers import check_store

    (tmp_path / "afile").write_text("")
    for fine in (f"sqlite:///{tmp_path}/new/sub/ml.db", f"sqlite:///{tmp_path}/ml.db", "sqlite:///:memory:"):
        assert check_store("trainer.mlflow_uri", fine) == fine
    with pytest.raises(ConfigError) as e:
        check_store("trainer.mlflow_uri", f"sqlite:///{tmp_path}/afile/sub/x.db")
    assert str(e.value) == (
        f"trainer.mlflow_uri='sqlite:///{tmp_path}/afile/sub/x.db' cannot hold its database: {tmp_path}/afile is a "
        "file, not a folder: give a database file in a folder, such as trainer.mlflow_uri=sqlite:///mlflow.db.")
    with pytest.raises(ConfigError) as e:
        check_store("trainer.mlflow_uri", f"sqlite:///{tmp_path}")
    assert str(e.value) == (
        f"trainer.mlflow_uri='sqlite:///{tmp_path}' cannot hold its database: {tmp_path} is a folder, not a "
        "database file: give a database file in a folder, such as trainer.mlflow_uri=sqlite:///mlflow.db.")


def test_a_store_of_a_scheme_mlflow_has_no_store_for_is_refused(monkeypatch):
    """Found by hand: `trainer.mlflow_uri=ftp://x` passed the config check; the run trained with the MLflow logger
    dropped at its start (a warning: "unsupported URI 'ftp://x'"), so nothing was tracked. The schemes are MLflow's
    own (a test holds them equal to its tracking-store registry); a database driver (`postgresql+psycopg2`) is
    its database's."""
    from ablate.errors import ConfigError
    from ablate.run.loggers import STORE_SCHEMES, check_store

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    for uri in ("postgresql+psycopg2://u:p@h/db", "mssql://h/db", "databricks-uc", "uc", "./mlruns"):
        assert check_store("trainer.mlflow_uri", uri) == uri
    with pytest.raises(ConfigError) as e:
        check_store("trainer.mlflow_uri", "ftp://x")
    assert str(e.value) == (
        "trainer.mlflow_uri='ftp://x' is not a store MLflow tracks to (scheme ftp): give a database such as "
        "trainer.mlflow_uri=sqlite:///mlflow.db, a tracking server such as http://host:5000, or a folder.")
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    assert set(STORE_SCHEMES) == set(_tracking_store_registry._registry)


def test_a_tracking_server_that_cannot_be_reached_is_refused_in_one_sentence():
    """Found by hand: `trainer.mlflow_uri=http://127.0.0.1:1` (no server there) hung the run in MLflow's HTTP retries
    (killed after 100 s, nothing logged). A server URI is now tried once, briefly, when the config is checked."""
    import socket

    from ablate.errors import ConfigError
    from ablate.run.loggers import check_store

    with socket.socket() as server:  # a listening server: reachable
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert check_store("trainer.mlflow_uri", f"http://127.0.0.1:{port}") == f"http://127.0.0.1:{port}"
    with pytest.raises(ConfigError) as e:  # the same port, closed
        check_store("trainer.mlflow_uri", f"http://127.0.0.1:{port}")
    assert str(e.value).startswith(f"trainer.mlflow_uri='http://127.0.0.1:{port}' cannot be reached (")
    assert str(e.value).endswith("): start the MLflow tracking server there, or give a database such as "
                                 "trainer.mlflow_uri=sqlite:///mlflow.db.")


def test_a_folder_store_in_the_environment_is_refused_when_mlflow_logs(monkeypatch):
    """$MLFLOW_TRACKING_URI naming a folder store is the store of a run that logs to MLflow without
    trainer.mlflow_uri: refused the same way, by its variable's name; a run without the mlflow logger, or with its
    own store, is not concerned."""
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "mlruns")
    with pytest.raises(ConfigError) as e:
        check(compose([*SMALL, "trainer.loggers=[mlflow]"]))
    assert str(e.value) == (
        "$MLFLOW_TRACKING_URI='mlruns' is a folder store, which the installed MLflow writes to only with "
        "MLFLOW_ALLOW_FILE_STORE=true: give a database such as $MLFLOW_TRACKING_URI=sqlite:///mlruns/mlflow.db, or "
        "set MLFLOW_ALLOW_FILE_STORE=true.")
    check(compose([*SMALL, "trainer.loggers=[csv]"]))
    check(compose([*SMALL, "trainer.loggers=[mlflow]", "trainer.mlflow_uri=sqlite:///ml.db"]))
