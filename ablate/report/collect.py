"""Runs → DataFrames: one pass over a sweep directory's run records.

A sweep directory holds one folder per member (Hydra's `hydra.sweep.subdir`), each with the
`result.json` its run wrote, and Hydra's `multirun.yaml`. `collect` reads every record once
and returns two frames: `runs`, one row per member — completed, diverged, failed, and the
expected members that never wrote a record (status "missing") — and `epochs`, one row per
run and epoch. Every table, figure and page of a report is drawn from these two frames.

A member whose record belongs to another config is "stale": not a result of this sweep. Hydra
rewrites a member's `.hydra/config.yaml` at every launch, before the run starts, so it holds the
config the newest launch composed for that member; when its config hash (`ablate.run.record`)
differs from the record's — the sweep was edited and re-run into the same folder, and the run
refused to write over the old record — the row keeps the old record's numbers for reference but
has status "stale" and a reason naming the first difference, and its epochs are left out of the
`epochs` frame (no curve is drawn from it). The statistics use completed runs only, so no table
or figure averages a stale run.

Members are matched by their override list: the set of `key=value` strings Hydra gave the
job. The expected set comes from `multirun.yaml` the way Hydra's basic sweeper builds it:
the sweep file's `hydra.sweeper.params` first, the command line's overrides over them.
"""

from __future__ import annotations

import json
import math
import shlex
import socket
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from ablate.config.schema import RUNTIME_KEYS
from ablate.errors import DataError, override_key
from ablate.run.record import ERROR_LOG, RESULT, Epoch, RecordError, RunRecord

if TYPE_CHECKING:  # pandas loads on the first collect(): the callbacks' module imports this one in every Hydra process
    import pandas as pd

MULTIRUN = "multirun.yaml"
RUNNING = "no end recorded: the run is still going, or it was killed before it could record one"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
REPEATS_SWEEPER = "hydra_plugins.ablate_repeats_sweeper.sweeper.AblateRepeatsSweeper"
# a record's status, and the report's own: missing (no record), stale (a record of another config), killed (no
# end recorded and its process gone); pruned is the Optuna sweeper's early stop, a result of the search
STATUSES = ("completed", "diverged", "pruned", "failed", "running", "killed", "stale", "missing")
RESULTS = ("completed", "diverged", "pruned")  # a member that ended with a result; any other status is a failure
STALE_HINT = "give a fresh hydra.sweep.dir, or add trainer.replace=true to replace it"
SEED_KEYS = ("seed",)
REPORT_PREFIX = "report."  # `report.reference=…` on a sweep's command line: how to read it, not what ran
EPOCH_FIELDS = tuple(f.name for f in fields(Epoch))  # one row per run and epoch: the record's epoch fields
FINAL_FIELDS = ("val_err", "val_top5_err", "val_loss", "train_err", "train_loss")
INT_COLUMNS = (
    "job_num",
    "seed",
    "cardinality",
    "bottleneck_width",
    "group_width",
    "width",
    "stem_width",
    "in_channels",
    "resolution",
    "num_classes",
    "params",
    "flops",
    "acts",
    "best_epoch",
    "epochs",
    "budget_value",
    "order",
)


@dataclass(frozen=True)
class Sweep:
    """A collected sweep: its name, folder, the two frames and Hydra's multirun config."""

    name: str
    directory: Path
    runs: pd.DataFrame  # one row per member
    epochs: pd.DataFrame  # one row per run and epoch
    multirun: dict | None  # multirun.yaml as plain containers (unresolved), None when absent
    repeated: tuple[tuple[str, str], ...] = ()  # (folder left out, folder kept): one config's result in two folders
    unread: str | None = None  # why multirun.yaml could not be read, when it is there and damaged

    @property
    def sweep_config(self) -> str | None:
        """The `+sweep=NAME` config the multirun used, when multirun.yaml records it."""
        return nested(self.multirun, "hydra", "runtime", "choices", "sweep")

    @property
    def title(self) -> str:
        """A report's title: the sweep's name (its `+sweep=NAME` config), else the name of its folder."""
        return str(self.sweep_config or self.name)

    @property
    def command(self) -> str | None:
        """The command line that launched the sweep, rebuilt from multirun.yaml."""
        task = nested(self.multirun, "hydra", "overrides", "task")
        if task is None:
            return None
        hydra = [o for o in nested(self.multirun, "hydra", "overrides", "hydra") or [] if o != "hydra.mode=MULTIRUN"]
        return " ".join(["python -m ablate", *self._config_dir(), *(shlex.quote(o) for o in [*task, *hydra]), "-m"])

    @property
    def command_into_folder(self) -> str | None:
        """The sweep's command, naming this folder (`hydra.sweep.dir=…`) wherever the command as launched would write
        elsewhere: the folder was moved or copied since, or its name held the launch's time (`${now:…}`). As
        launched where it writes here, or where multirun.yaml does not say where it wrote."""
        command = self.command
        launched = nested(self.multirun, "hydra", "sweep", "dir")
        if command is None or launched is None:
            return command
        if "${" not in str(launched):
            cwd = nested(self.multirun, "hydra", "runtime", "cwd")
            where = Path(str(launched))
            if not where.is_absolute() and cwd is None:
                return command
            if (Path(str(cwd or "")) / where).resolve() == self.directory.resolve():
                return command
        words = [w for w in shlex.split(command) if not ("=" in w and override_key(w) == "hydra.sweep.dir")]
        at = len(words) - 1 if words[-1] in ("-m", "--multirun") else len(words)
        return shlex.join([*words[:at], f"hydra.sweep.dir={self.directory.resolve()}", *words[at:]])

    def _config_dir(self) -> list[str]:
        """`--config-dir DIR` where the sweep was launched with one (Hydra records it among the config sources);
        DIR relative to the folder the sweep ran in when it lies inside it, as the user most likely typed it."""
        sources = nested(self.multirun, "hydra", "runtime", "config_sources") or []
        folder = next((s.get("path") for s in sources if s.get("provider") == "command-line"), None)
        if not folder:
            return []
        cwd = nested(self.multirun, "hydra", "runtime", "cwd")
        if cwd and Path(folder).is_relative_to(cwd):
            folder = str(Path(folder).relative_to(cwd))
        return ["--config-dir", shlex.quote(folder)]


def is_runtime(key: str) -> bool:
    """Whether an override's key changes only how a run executes (`RUNTIME_KEYS`: `trainer.device`, `report.…`,
    `trainer.replace`): not part of a member's identity, as not of its folder name nor its config hash."""
    return any(key == k or key.startswith(k + ".") for k in RUNTIME_KEYS)


def member_key(overrides) -> frozenset:
    """A member's identity: its overrides but the run-time ones, so that a relaunch that adds one
    (`trainer.replace=true`, `trainer.device=cpu`) finds the records of the same members."""
    return frozenset(str(o) for o in overrides if not is_runtime(override_key(str(o))))


def setting_of(overrides) -> str:
    """A member's setting: its overrides without the seed and the run-time ones (the report's own options
    among them), sorted — repeats share one."""
    return " ".join(
        sorted(
            o
            for o in overrides
            if override_key(o) not in SEED_KEYS
            and not is_runtime(override_key(o))
            and not override_key(o).startswith(REPORT_PREFIX)
        )
    )


def tracebacks(directory: Path, runs: pd.DataFrame) -> dict:
    """{row: path} of the failed members among `runs` whose folder holds the traceback of an unexpected error
    (error.log); a failure that is the user's says all in its sentence and has none."""
    logs = {}
    for i, row in runs.iterrows():
        if (
            row.status == "failed"
            and isinstance(row.run, str)
            and (log := Path(directory) / row.run / ERROR_LOG).exists()
        ):
            logs[i] = log
    return logs


def expected_members(multirun: dict | None) -> list[list[str]]:
    """Every member's override list Hydra's basic sweeper launches for this multirun.yaml."""
    if nested(multirun, "hydra", "sweeper", "_target_") != BASIC_SWEEPER:
        return []  # another sweeper (Optuna) picks its members as it goes: the expected ones are those that ran
    return _grid(multirun)


def sweep_overrides(multirun: dict | None) -> list | None:
    """The parsed overrides (Hydra's `Override`s) of multirun.yaml's sweeper params and command line, in that order,
    or None where Hydra's parser refuses them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = nested(multirun, "hydra", "sweeper", "params") or {}
    task = nested(multirun, "hydra", "overrides", "task") or []
    try:
        return OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()] + list(task))
    except Exception:
        return None


def _grid(multirun: dict | None) -> list[list[str]]:
    """The override lists of the grid that multirun.yaml's sweeper params and command line span."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    overrides = sweep_overrides(multirun)
    try:
        return BasicSweeper.split_arguments(overrides, None)[0] if overrides is not None else []
    except Exception:  # a sweep the parser cannot expand (glob, range): the expected ones are those that ran
        return []


def collect(sweep_dir) -> Sweep:
    """Read every member of a sweep directory into a `Sweep` (runs and epochs frames).

    Raises `DataError` when the folder does not exist or holds no run record at all.
    """
    directory = Path(sweep_dir)
    if not directory.is_dir():
        raise DataError(
            f"SWEEP_DIR={str(directory)!r} is not a directory: give a sweep folder such as sweeps/cardinality_vs_width."
        )
    inner = _inner_sweeps(directory)
    _refuse_folder_of_sweeps(directory, inner)
    multirun, unread = _read_multirun(directory / MULTIRUN)
    sweeper = nested(multirun, "hydra", "sweeper", "_target_")
    grid = _grid(multirun) if sweeper in (BASIC_SWEEPER, REPEATS_SWEEPER) else []  # another sweeper picks as it goes
    expected = grid if sweeper == BASIC_SWEEPER else []  # the basic sweeper launches the whole grid
    latest = {setting_of(m) for m in grid}  # the settings of the latest command into the folder (adaptive: its plan)
    records = sorted(p for p in directory.rglob(RESULT) if _ours(p, directory, inner))
    if not records:
        hint = f"; multirun.yaml expects {len(expected)} members, none wrote one" if expected else ""
        raise DataError(f"SWEEP_DIR={str(directory)!r} holds no runs: no {RESULT} under it{hint}.")

    order = {member_key(o): i for i, o in enumerate(expected)}
    started = _started_members(directory, inner)
    rows, epochs, seen = [], [], set()
    for path in records:
        run = path.parent.relative_to(directory).as_posix()
        record = _read_record(path, started.get(run))
        stale = _stale(record, path.parent)
        if stale is not None:
            record.status, record.reason = "stale", stale
        row = run_row(run, record, order)
        if record.status == "running":  # no end recorded: its run lock says whether its process lives
            row["status"], row["reason"] = _without_end(path.parent)
        seen.add(member_key(row["_overrides"]))
        rows.append(row)
        if stale is not None:
            continue
        for e in record.epochs:
            epochs.append(
                {
                    "run": run,
                    "setting": row["setting"],
                    "label": row["label"],
                    "seed": row["seed"],
                    **{k: getattr(e, k) for k in EPOCH_FIELDS},
                }
            )
    for overrides in expected + [o for o in started.values() if member_key(o) not in order]:
        key = member_key(overrides)
        if key in seen:
            continue
        seen.add(key)
        folder = next((r for r, o in started.items() if member_key(o) == key), None)
        reason = (
            "the job started but wrote no result.json (it crashed or was killed before its first record)"
            if folder
            else "the job never started, or its folder was removed"
        )
        # a report status, not a record's: the row of a member that has no record
        rows.append(run_row(folder, RunRecord(status="missing", reason=reason, overrides=overrides), order))

    import pandas as pd

    runs = pd.DataFrame(rows).drop(columns="_overrides")
    runs = runs.sort_values(["order", "job_num", "run"], na_position="last", kind="stable").reset_index(drop=True)
    runs, repeated = _once_per_config(runs, latest)
    for c in INT_COLUMNS:
        runs[c] = pd.to_numeric(runs[c], errors="coerce").astype("Int64")
    epochs_frame = pd.DataFrame(epochs, columns=["run", "setting", "label", "seed", *EPOCH_FIELDS])
    epochs_frame = epochs_frame[~epochs_frame.run.isin([left for left, _ in repeated])].reset_index(drop=True)
    return Sweep(
        name=directory.resolve().name,
        directory=directory,
        runs=runs,
        epochs=epochs_frame,
        multirun=multirun,
        repeated=repeated,
        unread=unread,
    )


def _once_per_config(runs: pd.DataFrame, latest: set[str]) -> tuple[pd.DataFrame, tuple[tuple[str, str], ...]]:
    """One row per config that ended with a result: a second folder holding a result of the same config (hash) is
    left out. Two commands into one sweep folder make such pairs — the main job without a seed, then `seed=0,1,2`,
    trains seed 0 again under another name; `+repeats=auto` after a grid names every config anew — and counting
    both would give a setting a repeat it does not have. Kept: the row whose setting is one of the `latest`
    command's (so that its settings, the adaptive plan's among them, hold their runs), then the first in the
    sweep's order (a member of the latest multirun before one it no longer lists)."""
    result = runs.status.isin(RESULTS) & runs.config_hash.notna()  # a run without a result repeats nothing
    ranked = runs[result].assign(_older=~runs[result].setting.isin(latest)).sort_values("_older", kind="stable")
    first = ranked.drop_duplicates("config_hash")
    kept = first.set_index("config_hash").run
    twice = result & ~runs.index.isin(first.index)
    repeated = tuple((str(r.run), str(kept[r.config_hash])) for r in runs[twice].itertuples())
    return runs[~twice].reset_index(drop=True), repeated


def _without_end(run_dir: Path) -> tuple[str, str]:
    """Report status and reason of a run whose record has no end, from the lock its process holds while it runs
    (`ablate.run.lock`): `killed` where the lock file names a dead process of this machine (kill -9 leaves it),
    else `running` — alive, or unknowable (no lock file, or one of another machine)."""
    from ablate.run.lock import RunLock, running

    lock = RunLock(run_dir)
    if not lock.path.exists():
        return "running", RUNNING
    signed = lock.signature(wait=True)
    if signed is None:
        return "running", f"{RUNNING} (its lock names unknown)"
    pid, host = signed
    if host != socket.gethostname():
        return "running", f"{RUNNING} (its lock names pid {pid} on {host})"
    if running(pid):
        return "running", f"a process with the pid that holds its lock ({pid}) is alive"
    return "killed", (
        f"the process that ran it (pid {pid} on this machine) is gone without recording an end; run the "
        "sweep's command again to resume it from its last saved epoch"
    )


def _label(c, d, model: str | None) -> str:
    """C×d; the model's name for a run that failed before its template was solved (neither is known)."""
    if c is None and d is None and model:
        return str(model)
    return f"{c if c is not None else '?'}×{d if d is not None else '?'}d"


def run_row(run: str | None, record: RunRecord, order: dict) -> dict:
    """One member's row: identity, status, the solved template, complexity, budget, errors."""
    overrides = [str(o) for o in record.overrides]
    config = record.config  # the resolved config, as the run saw it: plain containers
    model, budget, final, best, tp = record.model, record.budget, record.final, record.best, record.throughput
    template = model.template if model else {}
    keyed = {override_key(o): o.split("=", 1)[1] if "=" in o else "" for o in overrides}
    seed = config.get("seed", keyed.get("seed"))
    c = template.get("cardinality", keyed.get("model.cardinality"))
    d = template.get("bottleneck_width", keyed.get("model.bottleneck_width"))
    depths = template.get("depths")
    # a member without a record is known by its overrides alone: `model=NAME` names it
    name = (model.name if model else None) or (config.get("model") or {}).get("name") or keyed.get("model")
    # an interrupted run is unfinished, as a running one: relaunched, it resumes (its reason says where it stopped)
    status = "running" if record.status == "interrupted" else record.status if record.status in STATUSES else "failed"
    budget_cfg = config.get("budget") or {}
    return {
        "run": run,
        "status": status,
        "reason": record.reason or (RUNNING if status == "running" else None),
        "job_num": record.job_num,
        "order": order.get(member_key(overrides)),
        "setting": setting_of(overrides) if overrides else run,  # a record without overrides stands alone
        "label": _label(c, d, name),
        "variant": keyed.get("variant"),
        "overrides": " ".join(overrides),
        "_overrides": overrides,
        "seed": seed,
        "model": name,
        "data": (config.get("data") or {}).get("name"),
        "cardinality": c,
        "bottleneck_width": d,
        "group_width": _product(c, d),
        "width": template.get("width", keyed.get("model.width")),
        "depths": "-".join(str(x) for x in depths) if depths else None,
        "block": template.get("block"),
        "stem": template.get("stem"),
        "stem_width": template.get("stem_width"),
        "in_channels": template.get("in_channels"),
        "resolution": template.get("resolution"),
        "num_classes": template.get("num_classes"),
        "shortcut": template.get("shortcut"),
        "params": model.complexity.params if model else None,
        "flops": model.complexity.flops if model else None,
        "acts": model.complexity.acts if model else None,
        "budget_metric": budget.metric if budget else budget_cfg.get("metric"),
        "budget_scope": budget.scope if budget else budget_cfg.get("scope"),
        "budget_scale": budget_cfg.get("scale") if budget_cfg.get("metric") else None,
        "budget_vary": budget.vary if budget else budget_cfg.get("vary") if budget_cfg.get("metric") else None,
        "budget_value": budget.value if budget else None,
        "budget_target": budget.target if budget else None,
        "budget_achieved": budget.achieved if budget else None,
        "budget_deviation": budget.deviation if budget else None,
        "epochs": len(record.epochs) if status != "missing" else None,
        **{f"final_{k}": _number(getattr(final, k) if final else None) for k in FINAL_FIELDS},
        "best_val_err": _number(best.val_err if best else None),
        "best_epoch": best.epoch if best else None,
        "wall_seconds": _number(record.wall_seconds),
        "images_per_s": _number(tp.images_per_s),
        "precision": tp.precision,
        "fp32_fraction": _number(tp.fp32_fraction),
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "config_hash": record.config_hash or None,
        "budget_reference": budget_cfg.get("reference"),
        "env": json.dumps(asdict(record.env), sort_keys=True, default=str) if record.env else None,
    }


def wall_time(runs: pd.DataFrame) -> dict:
    """Total run seconds and the sweep's elapsed span (first start to last finish), when known."""
    import pandas as pd

    total = pd.to_numeric(runs["wall_seconds"], errors="coerce").sum(min_count=1)
    starts = pd.to_datetime(runs["started_at"], errors="coerce", utc=True, format="ISO8601").dropna()
    ends = pd.to_datetime(runs["finished_at"], errors="coerce", utc=True, format="ISO8601").dropna()
    span = (ends.max() - starts.min()).total_seconds() if len(starts) and len(ends) else None
    return {"run_seconds": None if pd.isna(total) else float(total), "elapsed_seconds": span}


def _product(c, d):
    try:
        return int(c) * int(d)
    except (TypeError, ValueError):
        return None


def _number(x):
    """A finite float, or NaN for a missing or non-numeric value (a diverged loss may be inf)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _read_record(path: Path, overrides: list[str] | None = None) -> RunRecord:
    """The record in `path`; one that cannot be read is a failed run that says why, with the `overrides` Hydra
    gave its member (`.hydra/overrides.yaml`), so that the member is counted once, as failed."""
    try:
        return RunRecord.read(path)
    except RecordError as e:
        return RunRecord(status="failed", reason=f"{path.name} cannot be read: {e}", overrides=list(overrides or []))


def member_config(member: Path) -> dict | None:
    """The config the newest launch composed for a member (`.hydra/config.yaml`, which Hydra rewrites at each
    launch), resolved; None when there is none, it does not resolve here, or it is empty: Hydra truncates the file
    and then writes it, so another launch of the same sweep can catch it empty, and an empty file is no config."""
    path = member / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    from omegaconf import OmegaConf

    import ablate.config  # noqa: F401  the resolvers a config may use

    try:
        config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception:  # an interpolation that needs the running job (or a damaged file): no verdict
        return None
    return config or None  # type: ignore[return-value]


def _stale(record: RunRecord, member: Path) -> str | None:
    """Why `record` is not a result of the member's newest launch (another config's), or None when it is or when
    that cannot be told (no `.hydra/config.yaml`, no hash in the record)."""
    from ablate.run.record import config_hash, first_difference, hashed_config

    if not record.config_hash or record.status == "missing":
        return None
    current = member_config(member)
    if current is None:
        return None
    ours = config_hash(current)
    if ours == record.config_hash:
        return None
    diff = first_difference(hashed_config(record.config), hashed_config(current))
    what = f"{diff[0]}={_text(diff[1])} there, {_text(diff[2])} in this sweep; " if diff else ""
    return f"a {record.status} run of another config ({what}its config hash {record.config_hash}): {STALE_HINT}."


def _text(value) -> str:
    """A config value as it is written in an override (`null`, `true`, `[1,2]`)."""
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value


def _inner_sweeps(directory: Path) -> list[Path]:
    """The folders below `directory` that hold a `multirun.yaml` of their own: other sweeps, whose runs are theirs
    (a sweep started into a folder inside another's, or the sweeps of a folder that keeps them)."""
    return sorted(
        p.parent for p in directory.rglob(MULTIRUN) if p.parent != directory and not _hidden(p.relative_to(directory))
    )


def _ours(path: Path, directory: Path, inner: list[Path]) -> bool:
    """Whether the file `path` below `directory` belongs to its sweep: not hidden, nor inside an inner sweep."""
    return not _hidden(path.relative_to(directory)) and not any(path.is_relative_to(d) for d in inner)


def _refuse_folder_of_sweeps(directory: Path, folders: list[Path]) -> None:
    """A folder without `multirun.yaml` whose subfolders hold sweeps is where sweeps are kept, not one sweep: its
    records are of different configs whose overrides may read alike, so pooling them would average unlike runs."""
    if (directory / MULTIRUN).is_file():
        return
    inner = [d.relative_to(directory).as_posix() for d in folders]
    if len(inner) == 1:
        raise DataError(
            f"SWEEP_DIR={str(directory)!r} holds a sweep, {inner[0]}, and is not one: give {directory / inner[0]}."
        )
    if inner:
        shown = ", ".join(inner[:4]) + (", …" if len(inner) > 4 else "")
        raise DataError(
            f"SWEEP_DIR={str(directory)!r} holds {len(inner)} sweeps ({shown}), not one: give one of them, "
            f"such as {directory / inner[0]}."
        )


def _read_multirun(path: Path) -> tuple[dict | None, str | None]:
    """multirun.yaml as plain containers (None when absent or damaged) and why a damaged one could not be read: it
    costs the report its command line, options and missing members, not the report itself."""
    if not path.is_file():
        return None, None
    from omegaconf import OmegaConf

    try:
        tree = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as e:
        return None, " ".join(str(e).split()) or type(e).__name__
    if not isinstance(tree, dict):
        return None, "it holds no mapping"
    return tree, None


def _started_members(directory: Path, inner: list[Path]) -> dict[str, list[str]]:
    """Member folders Hydra created (`.hydra/overrides.yaml`) → their overrides (not those of `inner` sweeps)."""
    import yaml

    out = {}
    for path in sorted(directory.rglob("overrides.yaml")):
        member = path.parent.parent
        if path.parent.name != ".hydra" or member == directory or not _ours(member, directory, inner):
            continue
        try:
            overrides = yaml.safe_load(path.read_text()) or []
        except (OSError, yaml.YAMLError):
            continue
        out[member.relative_to(directory).as_posix()] = [str(o) for o in overrides]
    return out


def nested(tree, *keys):
    """`tree[k1][k2]...`, or None where a level is missing or not a dict (records may be partial)."""
    for k in keys:
        if not isinstance(tree, dict) or k not in tree:
            return None
        tree = tree[k]
    return tree
