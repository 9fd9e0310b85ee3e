"""The run record: what one training run writes, and how a finished run is recognised.

Every run directory holds `result.json` (schema below, version 1), rewritten atomically at
the start, after every epoch and at the end, so a killed run never leaves half a file and a
reader (the report, a sweeper) always sees a consistent record. `config_hash` identifies what
a run computes: the resolved config minus the keys that change only how it runs (device,
threads, progress bar...), so a run re-launched in the same directory with the same config
is recognised as done.

    {"schema_version": 1, "status": "running|completed|diverged|failed", "reason": str|None,
     "config": {...}, "config_hash": "16 hex", "overrides": [...], "job_num": int|None,
     "model": {"name", "form", "template", "stages": [...], "complexity": {"params","flops","acts"}},
     "budget": None|{"metric","scope","target","achieved","deviation","vary","value","tolerance"},
     "epochs": [{"epoch","train_loss","train_err","val_loss","val_err","val_top5_err","lr","seconds",
                 "images_per_s"}],
     "final": None|{"val_err","val_top5_err","val_loss","train_err","train_loss"},
     "best": None|{"val_err","epoch"},
     "env": {"torch","python","device","threads","seed","git_commit","hostname"},
     "started_at", "finished_at", "wall_seconds",
     "throughput": {"images_per_s","train_flops_per_s","precision","peak_flops","machine_fraction",
                    "fp32_peak_flops","fp32_fraction"}}
    (machine_fraction: of the measured matmul peak in the training precision; fp32_fraction: of the
    fp32 matmul peak, the fixed yardstick across precisions)

Errors are percentages. No torch import here: the report reads records without it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import platform
import socket
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 1
RESULT = "result.json"
ERROR_LOG = "error.log"
STATUSES = ("running", "completed", "diverged", "failed")
# Config keys that change how a run executes, not what it computes: left out of the hash.
RUNTIME_KEYS = ("hydra", "trainer.device", "trainer.progress", "trainer.num_threads", "trainer.log_every",
                "trainer.checkpoint", "trainer.compile", "trainer.peak_flops", "trainer.eval_batch_size",
                "trainer.deterministic", "data.root", "data.download", "data.url", "data.workers")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _finite(obj):
    """JSON has no NaN or infinity: non-finite floats become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Write `obj` as indented, strict JSON (non-finite floats as null), atomically."""
    text = json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode())


def read_result(run_dir: str | os.PathLike) -> dict | None:
    """The run record in `run_dir`, or None when there is none or it is not valid JSON."""
    path = Path(run_dir) / RESULT
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_completed(run_dir: str | os.PathLike, config_hash: str) -> bool:
    """True when `run_dir` holds a completed run of the config with this hash."""
    record = read_result(run_dir)
    return bool(record) and record.get("status") == "completed" and record.get("config_hash") == config_hash


def _drop(tree: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    node = tree
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(last, None)


def hashed_config(config: dict) -> dict:
    """The part of a resolved config that decides a run's results (RUNTIME_KEYS removed)."""
    tree = copy.deepcopy(config)
    for key in RUNTIME_KEYS:
        _drop(tree, key)
    return tree


def config_hash(config: dict) -> str:
    """First 16 hex digits of the SHA-256 of the canonical JSON of `hashed_config(config)`."""
    canonical = json.dumps(hashed_config(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def now() -> str:
    """The current time, ISO 8601 with the UTC offset."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def git_commit() -> str | None:
    """The commit of the repository ablate runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(device: str | None, threads: int | None, seed: int | None) -> dict:
    """The `env` section of a record."""
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_version = None
    return {"torch": torch_version, "python": platform.python_version(), "device": device, "threads": threads,
            "seed": seed, "git_commit": git_commit(), "hostname": socket.gethostname()}


def model_section(name: str | None, form: str, template) -> dict:
    """The `model` section of a record: the template, its derived stages and its complexity."""
    from ablate.engine.complexity import totals
    from ablate.engine.template import derive

    net = derive(template)
    stages = [{"name": s.name, "depth": s.depth, "resolution": s.resolution, "width": s.width,
               "cardinality": s.cardinality, "bottleneck_width": s.bottleneck_width,
               "group_width": s.group_width, "stride": s.stride} for s in net.stages]
    return {"name": name, "form": form, "template": template.to_dict(), "stages": stages,
            "complexity": totals(template).as_dict()}


def budget_section(solution, budget) -> dict | None:
    """The `budget` section of a record, or None for a run without a budget."""
    if solution is None or budget is None:
        return None
    return {"metric": budget.metric, "scope": budget.scope, "target": solution.target,
            "achieved": solution.achieved, "deviation": solution.deviation, "vary": solution.vary,
            "value": solution.value, "tolerance": budget.tolerance}


def new_record(config: dict, overrides=(), job_num: int | None = None) -> dict:
    """A record in status `running` with every field of the schema present."""
    return {
        "schema_version": SCHEMA_VERSION, "status": "running", "reason": None,
        "config": config, "config_hash": config_hash(config),
        "overrides": list(overrides), "job_num": job_num,
        "model": None, "budget": None, "epochs": [], "final": None, "best": None,
        "env": environment(None, None, config.get("seed")),
        "started_at": now(), "finished_at": None, "wall_seconds": None,
        "throughput": {"images_per_s": None, "train_flops_per_s": None, "precision": None, "peak_flops": None,
                       "machine_fraction": None, "fp32_peak_flops": None, "fp32_fraction": None},
    }


def summarise(record: dict) -> None:
    """Fill `final`, `best` and `throughput.images_per_s` from the record's epochs."""
    epochs = record["epochs"]
    if not epochs:
        return
    last = epochs[-1]
    record["final"] = {k: last[k] for k in ("val_err", "val_top5_err", "val_loss", "train_err", "train_loss")}
    finite = [e for e in epochs if e["val_err"] is not None and math.isfinite(e["val_err"])]
    if finite:
        best = min(finite, key=lambda e: e["val_err"])
        record["best"] = {"val_err": best["val_err"], "epoch": best["epoch"]}


def finish(record: dict, status: str, reason: str | None = None, wall_seconds: float | None = None) -> dict:
    """Set the final status (and reason), the end time and the wall time (from the timestamps if not given)."""
    if status not in STATUSES:
        raise ValueError(f"status={status!r} is unknown: valid statuses are {', '.join(STATUSES)}.")
    record["status"] = status
    record["reason"] = reason
    record["finished_at"] = now()
    if wall_seconds is None:
        started = datetime.fromisoformat(record["started_at"])
        wall_seconds = (datetime.fromisoformat(record["finished_at"]) - started).total_seconds()
    record["wall_seconds"] = round(wall_seconds, 3)
    summarise(record)
    return record


def write_result(run_dir: str | os.PathLike, record: dict) -> Path:
    """Write the record to `run_dir/result.json` atomically; returns the path."""
    path = Path(run_dir) / RESULT
    atomic_write_json(path, record)
    return path
