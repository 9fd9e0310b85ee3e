"""Experiment tracking: each run's per-epoch metrics as a CSV file, in TensorBoard and in MLflow (`trainer.loggers`).

`trainer.loggers` lists the trackers a run writes to, in any combination:

- `csv` (on by default): `metrics.csv` in the run directory, one row per epoch with the fields of `result.json`'s
  epochs (`epoch, train_loss, train_err, val_loss, val_err, val_top5_err, lr, seconds, images_per_s`; errors in %);
- `tensorboard` (`pip install 'ablate[tensorboard]'`): event files in the run directory, one scalar per epoch field
  at step = epoch, and the run's hyperparameters for TensorBoard's HParams dashboard
  (`tensorboard --logdir sweeps/NAME` shows every member);
- `mlflow` (`pip install 'ablate[mlflow]'`): one MLflow run per member, the sweep as the experiment (the `+sweep=NAME`
  config, else the sweep folder's name; a single run's experiment is its model's name), the flattened
  hyperparameters as params and the epoch fields as metrics at step = epoch. The store is `trainer.mlflow_uri`,
  else `$MLFLOW_TRACKING_URI`, else a SQLite file in the sweep folder (a single run's folder), `mlflow/mlflow.db`,
  with its artifacts beside it (`mlflow ui --backend-store-uri sqlite:///sweeps/NAME/mlflow/mlflow.db`). A
  member launched again (a resumed run) goes on in the same MLflow run. `log_report(sweep_dir, report_dir)` adds a
  sweep's report to its experiment as the artifacts of a run named `report`.

The hyperparameters are the resolved config that decides a run's results (`ablate.run.record.hashed_config`: the
run-time keys left out), flattened to dotted keys, with the solved template in place of the model fields as written
(a budget solves one of them) and the model's closed-form complexity. Each logger is a class with `start(record)`,
`epoch(entry)` and `end(record)`; rank 0 calls them (`ablate.run.processes`), through `Trackers`, which closes every
logger even when training raises. The libraries are imported when a logger starts: a config naming a logger whose
package is missing is refused when it is checked (`check_installed`), with the extra to install.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import math
import numbers
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any

from ablate.errors import ConfigError
from ablate.run.record import Epoch

log = logging.getLogger(__name__)

LOGGERS = ("csv", "tensorboard", "mlflow")
PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # logger → the module it needs (and the extra's name)
METRICS_CSV = "metrics.csv"
EPOCH_FIELDS = tuple(f.name for f in fields(Epoch))  # metrics.csv's columns: the record's epoch fields
MULTIRUN = "multirun.yaml"
MLFLOW_DIR = "mlflow"  # the default store's folder in the sweep (or run) folder: mlflow.db and artifacts/
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "artifacts"
REPORT_RUN = "report"  # the MLflow run that holds a sweep's report
TAG_RUN_DIR, TAG_HASH, TAG_KIND = "ablate.run_dir", "ablate.config_hash", "ablate.kind"
PARAM_CHUNK = 100  # MLflow's limit of params per log_batch call
PARAM_LENGTH = 6000  # MLflow's limit on a param value's length
SERVER_WAIT_S = 5.0  # how long the config check waits for a tracking server to take a connection


# ----------------------------------------------------------------------------- the config check
def check_installed(key: str, names: Sequence[str]) -> tuple[str, ...]:
    """`names` (a checked `trainer.loggers` list) when every logger's package is installed; else a ConfigError
    naming the first missing one and the extra that installs it."""
    for name in names:
        module = PACKAGES.get(name)
        if module and importlib.util.find_spec(module) is None:
            listed = "[" + ",".join(names) + "]"
            raise ConfigError(
                f"{key}={listed} needs the {module} package, which is not installed: "
                f"pip install 'ablate[{name}]' (or leave {name} out of {key})."
            )
    return tuple(names)


# the URI schemes MLflow keeps a tracking store for ('': a folder); a test holds them equal to MLflow's registry
STORE_SCHEMES = (
    "",
    "file",
    "http",
    "https",
    "sqlite",
    "postgresql",
    "mysql",
    "mssql",
    "databricks",
    "databricks-uc",
    "uc",
)


def check_store(key: str, uri: Any) -> Any:
    """`uri` (a checked `trainer.mlflow_uri`, or None) unless it is a tracking server that takes no connection
    (`_unreachable`), or a folder store that the installed MLflow refuses to open: MLflow 3 raises for
    `./mlruns`-style stores unless `MLFLOW_ALLOW_FILE_STORE=true`, so a run would train and log nothing;
    ConfigError with the database to give instead. Nothing is imported: MLflow's own list of environment variables
    says whether it has that gate."""
    from urllib.parse import urlparse

    scheme = urlparse(uri).scheme.partition("+")[0] if isinstance(uri, str) else ""  # postgresql+psycopg2: a driver
    if scheme not in STORE_SCHEMES:
        raise ConfigError(
            f"{key}={uri!r} is not a store MLflow tracks to (scheme {scheme}): give a database such as "
            f"{key}=sqlite:///{MLFLOW_DB}, a tracking server such as http://host:5000, or a folder."
        )
    if scheme in ("http", "https"):
        unreachable = _unreachable(uri)
        if unreachable is not None:
            raise ConfigError(
                f"{key}={uri!r} cannot be reached ({unreachable}): start the MLflow tracking server there, or give a "
                f"database such as {key}=sqlite:///{MLFLOW_DB}."
            )
        return uri
    if scheme == "sqlite":
        _check_database_file(key, uri)
        return uri
    if not isinstance(uri, str) or not _folder_stores_refused():
        return uri
    if scheme not in ("", "file") or uri in ("databricks", "databricks-uc", "uc"):
        return uri
    folder = os.path.expanduser(urlparse(uri).path if scheme == "file" else uri)  # sqlite:/// does not expand ~
    raise ConfigError(
        f"{key}={uri!r} is a folder store, which the installed MLflow writes to only with "
        f"MLFLOW_ALLOW_FILE_STORE=true: give a database such as {key}=sqlite:///{folder.rstrip('/')}/{MLFLOW_DB}, "
        "or set MLFLOW_ALLOW_FILE_STORE=true."
    )


def _check_database_file(key: str, uri: str) -> None:
    """ConfigError where a SQLite store's file cannot be made: its path is a folder, or a file stands where a folder
    of its path would be (MLflow would fail at the run's start, and the run would train tracking nothing). Folders
    still to be made are made by the run (`store`); nothing is written here."""
    path = uri.partition(":///")[2].partition("?")[0]
    if path in ("", ":memory:"):
        return
    db = Path(path)
    if db.is_dir():
        where, what = db, "a folder, not a database file"
    else:
        where = next(folder for folder in db.parents if folder.exists())
        if where.is_dir():
            return
        what = "a file, not a folder"
    raise ConfigError(
        f"{key}={uri!r} cannot hold its database: {where} is {what}: give a database file in a folder, such as "
        f"{key}=sqlite:///{MLFLOW_DB}."
    )


def _unreachable(uri: str) -> str | None:
    """Why a tracking server's host and port take no connection within `SERVER_WAIT_S`, or None where one does.
    MLflow's own client retries for minutes (with back-off) before it gives up, so a run would hang instead."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        with socket.create_connection((parsed.hostname or "", port), timeout=SERVER_WAIT_S):
            return None
    except (OSError, ValueError) as e:
        return " ".join(str(e).split()) or type(e).__name__


def check_environment_store(loggers: Sequence[str], uri: Any) -> None:
    """With the mlflow logger and no `trainer.mlflow_uri`, the store is `$MLFLOW_TRACKING_URI`: held to
    `check_store`, by the variable's name."""
    given = os.environ.get("MLFLOW_TRACKING_URI")
    if "mlflow" in loggers and uri is None and given:
        check_store("$MLFLOW_TRACKING_URI", given)


def _folder_stores_refused() -> bool:
    if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").strip().lower() in ("true", "1"):
        return False
    spec = importlib.util.find_spec("mlflow")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    try:
        return (
            bool(locations)
            and "MLFLOW_ALLOW_FILE_STORE" in (Path(locations[0]) / "environment_variables.py").read_text()
        )
    except OSError:
        return False


def valid_names(value: Any) -> bool:
    """A list of distinct logger names (empty: no tracking)."""
    return (
        isinstance(value, (list, tuple))
        and all(isinstance(v, str) and v in LOGGERS for v in value)
        and len(set(value)) == len(value)
    )


# ----------------------------------------------------------------------------- what is logged
def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as `{dotted.key: value}`; lists become their compact JSON text (`[1,1]`, as typed in an
    override), so every value is a number, a bool, a string or None."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(list(value), separators=(",", ":"), default=str)
        else:
            out[name] = value
    return out


def hyperparameters(record) -> dict[str, Any]:
    """The run's hyperparameters, flattened: the config that decides its results, the solved template over the
    model fields as written, and the closed-form complexity (`complexity.params`, `.flops`, `.acts`)."""
    from ablate.run.record import hashed_config

    params = flatten(hashed_config(record.config))
    if record.model is not None:
        params.update(flatten(record.model.template, "model."))
        params.update({f"complexity.{k}": getattr(record.model.complexity, k) for k in ("params", "flops", "acts")})
    return dict(sorted(params.items()))


def metrics(entry: Mapping) -> dict[str, float]:
    """An epoch entry's numbers (the epoch is the step, not a metric), the non-finite ones left out."""
    out = {}
    for key in EPOCH_FIELDS[1:]:
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


def sweep_of(run_dir: Path) -> Path | None:
    """The sweep folder a multirun member's directory lies in: its nearest ancestor holding `multirun.yaml`."""
    for folder in Path(run_dir).resolve().parents:
        if (folder / MULTIRUN).is_file():
            return folder
    return None


def sweep_name(sweep_dir: Path) -> str:
    """A sweep's name: its `+sweep=NAME` config (multirun.yaml's `hydra.runtime.choices.sweep`), else its folder's
    name — the title of its report too."""
    try:
        from omegaconf import OmegaConf

        name = OmegaConf.select(OmegaConf.load(Path(sweep_dir) / MULTIRUN), "hydra.runtime.choices.sweep")
    except Exception:  # no multirun.yaml, or a damaged one: the folder names the sweep
        name = None
    return str(name) if name else Path(sweep_dir).resolve().name


# ----------------------------------------------------------------------------- the loggers
class Logger:
    """One tracker of one run: `start` before the first epoch, `epoch` after each, `end` with the final record;
    `close` always, last (`failed`: why training raised, or None)."""

    def start(self, record) -> None:
        pass

    def epoch(self, entry: Mapping) -> None:
        pass

    def end(self, record) -> None:
        pass

    def close(self, failed: str | None = None) -> None:
        pass


class CsvLogger(Logger):
    """`metrics.csv` in the run directory: every epoch so far, rewritten atomically after each one. An epoch
    trained again (a run resumed from an earlier checkpoint) replaces its row and the rows after it."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / METRICS_CSV

    def epoch(self, entry: Mapping) -> None:
        # the standard library's csv, not pandas: rank 0 writes this while the other ranks wait for it
        import csv
        import io

        from ablate.run.record import atomic_write_bytes

        rows = []
        if self.path.is_file():
            with self.path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if _epoch_number(r.get("epoch")) < int(entry["epoch"])]
        rows.append({k: _cell(entry.get(k)) for k in EPOCH_FIELDS})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=EPOCH_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path, text.getvalue().encode())


def _cell(value) -> str:
    """A CSV cell: empty for None, a number in full (the shortest text that reads back to the same float)."""
    if value is None:
        return ""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


def _epoch_number(text: str | None) -> float:
    """A row's epoch as a number; a row without one (a damaged file) sorts after every epoch, so it is dropped."""
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.inf


class TensorBoardLogger(Logger):
    """Event files in the run directory: the hyperparameters (HParams plugin) at the start, one scalar per epoch
    field at step = epoch, flushed after each epoch so a killed run keeps what it logged."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.writer: Any = None

    def start(self, record) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.writer = SummaryWriter(log_dir=str(self.run_dir))
        params = {k: v for k, v in hyperparameters(record).items() if v is not None}
        # the metrics the HParams dashboard shows beside each run: the scalars below, by tag
        for summary in hparams(params, {k: 0.0 for k in EPOCH_FIELDS[1:]}):
            self.writer.file_writer.add_summary(summary)
        self.writer.flush()

    def epoch(self, entry: Mapping) -> None:
        for key, value in metrics(entry).items():
            self.writer.add_scalar(key, value, global_step=int(entry["epoch"]))
        self.writer.flush()

    def close(self, failed: str | None = None) -> None:
        if self.writer is not None:
            self.writer.close()


class MlflowLogger(Logger):
    """One MLflow run per member in the sweep's experiment: params at the start, metrics per epoch, the final
    status at the end (FINISHED; FAILED for a diverged or failed run; KILLED when interrupted)."""

    def __init__(self, run_dir: Path, uri: str | None):
        self.run_dir = Path(run_dir)
        self.uri = uri
        self.client: Any = None
        self.run_id: str | None = None

    def start(self, record) -> None:
        from mlflow.entities import Param

        sweep = sweep_of(self.run_dir) if record.job_num is not None else None
        home = sweep or self.run_dir
        name = sweep_name(sweep) if sweep else str((record.config.get("model") or {}).get("name") or "ablate")
        with store(self.uri, home) as (client, artifacts):
            self.client = client
            experiment = experiment_id(client, name, artifacts)
            run_dir = str(self.run_dir.resolve())
            found = client.search_runs(
                [experiment],
                f"tags.`{TAG_RUN_DIR}` = '{_quoted(run_dir)}' and tags.`{TAG_HASH}` = '{record.config_hash}'",
                max_results=1,
            )
            if found:  # launched again: the same member goes on in its run
                self.run_id = found[0].info.run_id
                client.update_run(self.run_id, status="RUNNING")
            else:
                member = self.run_dir.resolve().relative_to(sweep).as_posix() if sweep else self.run_dir.name
                tags = {
                    "mlflow.runName": member,
                    TAG_RUN_DIR: run_dir,
                    TAG_HASH: record.config_hash,
                    TAG_KIND: "run",
                    "ablate.overrides": " ".join(record.overrides)[:PARAM_LENGTH],
                }
                self.run_id = client.create_run(experiment, tags=tags).info.run_id
                params = [Param(k, _text(v)) for k, v in hyperparameters(record).items()]
                for i in range(0, len(params), PARAM_CHUNK):
                    client.log_batch(self.run_id, params=params[i : i + PARAM_CHUNK])
        log.info("MLflow: run %s in experiment %r at %s", self.run_id, name, client.tracking_uri)

    def epoch(self, entry: Mapping) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        step = int(entry["epoch"])
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics(entry).items()])

    def end(self, record) -> None:
        self.client.set_tag(self.run_id, "ablate.status", record.status)
        self.client.set_terminated(self.run_id, "FINISHED" if record.status == "completed" else "FAILED")
        self.run_id = None

    def close(self, failed: str | None = None) -> None:
        if self.run_id is not None and self.client is not None:  # training raised before `end`
            self.client.set_terminated(self.run_id, "KILLED" if failed == "interrupted" else "FAILED")


def default_uri(home: Path) -> str:
    """The default MLflow store of a sweep (or single run) folder: `sqlite:///HOME/mlflow/mlflow.db`."""
    return f"sqlite:///{(Path(home).resolve() / MLFLOW_DIR / MLFLOW_DB).as_posix()}"


def tracking_uri(uri: str | None, home: Path) -> tuple[str, Path | None]:
    """The store to use (`trainer.mlflow_uri`, else $MLFLOW_TRACKING_URI, else the default) and, for the
    default, the folder for its artifacts (None: the store's own)."""
    given = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if given:
        return given, None
    return default_uri(home), Path(home).resolve() / MLFLOW_DIR / MLFLOW_ARTIFACTS


@contextlib.contextmanager
def store(uri: str | None, home: Path) -> Iterator[tuple[Any, Path | None]]:
    """An `MlflowClient` of the store, and the default store's artifact folder (or None). A SQLite store is
    used under an exclusive lock beside its file while the client is set up: members that start together would
    otherwise create its tables, or the same experiment, at once."""
    from mlflow.tracking import MlflowClient

    uri, artifacts = tracking_uri(uri, home)
    lock = None
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        db.parent.mkdir(parents=True, exist_ok=True)
        lock = open(f"{db}.lock", "a")  # noqa: SIM115 (closed below)
        fcntl.flock(lock, fcntl.LOCK_EX)
    chatty = logging.getLogger("mlflow.store.db.utils")  # announces, on stderr, the tables it creates in a new store
    level = chatty.level
    chatty.setLevel(logging.WARNING)
    try:
        yield MlflowClient(uri), artifacts
    finally:
        chatty.setLevel(level)
        if lock is not None:
            lock.close()  # releases the flock


def experiment_id(client, name: str, artifacts: Path | None) -> str:
    """The id of experiment `name`, created (its artifacts in `artifacts`, when given) if it does not exist."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    location = None if artifacts is None else artifacts.as_uri()
    return client.create_experiment(name, artifact_location=location)


def log_report(sweep_dir: str | os.PathLike, report_dir: str | os.PathLike) -> str | None:
    """Add a sweep's report folder to its MLflow experiment, as the artifacts (under `report/`) of a run named
    `report`, when the sweep logs to MLflow (`trainer.loggers` in its multirun.yaml names mlflow); returns that
    run's id, or None when the sweep does not use MLflow. A sweep reported again replaces nothing: its report run's
    artifacts are written over file by file."""
    from omegaconf import OmegaConf

    sweep = Path(sweep_dir)
    try:
        config = OmegaConf.load(sweep / MULTIRUN)
        names = OmegaConf.select(config, "trainer.loggers", default=None) or []
        uri = OmegaConf.select(config, "trainer.mlflow_uri", default=None)
    except Exception:  # no multirun.yaml (not a Hydra sweep), or a damaged one: nothing says MLflow is used
        return None
    if "mlflow" not in list(names):
        return None
    name = sweep_name(sweep)
    with store(uri, sweep) as (client, artifacts):
        experiment = experiment_id(client, name, artifacts)
        found = client.search_runs([experiment], f"tags.`{TAG_KIND}` = '{REPORT_RUN}'", max_results=1)
        run_id = (
            found[0].info.run_id
            if found
            else client.create_run(experiment, tags={"mlflow.runName": REPORT_RUN, TAG_KIND: REPORT_RUN}).info.run_id
        )
    client.log_artifacts(run_id, str(report_dir), artifact_path=REPORT_RUN)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _text(value: Any) -> str:
    """A param value as MLflow stores it: strings as they are, anything else as JSON (true, null, 0.1)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:PARAM_LENGTH]


def _quoted(text: str) -> str:
    """A string inside an MLflow filter's single quotes."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


# ----------------------------------------------------------------------------- the run's trackers
class Trackers:
    """The loggers of one run (none on DDP ranks other than 0), as one: `start`, `epoch`, `end`; used as a context
    manager it closes each logger on the way out, telling it whether training raised. A logger that fails is
    logged once and dropped: tracking never fails a run."""

    def __init__(self, loggers: Sequence[Logger] = ()):
        self.loggers = list(loggers)

    @classmethod
    def of(cls, cfg, run_dir: Path, record) -> Trackers:
        """The loggers `cfg.trainer.loggers` names, started with `record` (rank 0's)."""
        made: list[Logger] = []
        for name in cfg.trainer.loggers:
            if name == "csv":
                made.append(CsvLogger(run_dir))
            elif name == "tensorboard":
                made.append(TensorBoardLogger(run_dir))
            elif name == "mlflow":
                made.append(MlflowLogger(run_dir, cfg.trainer.mlflow_uri))
        trackers = cls(made)
        trackers._each("start", record)
        return trackers

    def epoch(self, entry: Mapping) -> None:
        self._each("epoch", entry)

    def end(self, record) -> None:
        self._each("end", record)

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        failed = None if kind is None else "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"
        self._each("close", failed)

    def _each(self, method: str, *args: Any) -> None:
        for logger in list(self.loggers):
            try:
                getattr(logger, method)(*args)
            except Exception as e:  # the run's own record is what counts; a tracker's trouble is one line
                log.warning(
                    "%s stopped logging: %s: %s",
                    type(logger).__name__,
                    type(e).__name__,
                    " ".join(str(e).split())[:300],
                )
                self.loggers.remove(logger)
                with contextlib.suppress(Exception):
                    if method != "close":
                        logger.close("failed")


__all__ = [
    "LOGGERS",
    "METRICS_CSV",
    "CsvLogger",
    "Logger",
    "MlflowLogger",
    "TensorBoardLogger",
    "Trackers",
    "check_installed",
    "flatten",
    "hyperparameters",
    "log_report",
    "sweep_name",
]
