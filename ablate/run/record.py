"""The run record: what one training run writes, and how a finished run is recognised.

Every run directory holds `result.json`, one `RunRecord` as JSON: each dataclass field below is
a key, each section a nested object, an absent section `null`. The file is rewritten
atomically at the start, after every epoch and at the end, so a killed run never leaves half a
file and a reader (the report, a sweeper, a user's script) always sees a whole record.
`config_hash` identifies what a run computes: the resolved config minus the keys that change
only how it runs (`RUNTIME_KEYS`), so a run re-launched in the same directory with the same
config is recognised as done.

The layout is versioned (`schema_version`); `RunRecord.from_dict` reads every version up to
`SCHEMA_VERSION` and refuses newer ones. Sweeper objectives and constraints name the JSON's
dotted keys (`model.complexity.flops`, `final.val_err`, `budget.deviation`), which are these
field names. Errors are percentages. No torch import here: the report reads records without it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import platform
import secrets
import socket
import subprocess
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ablate.config.schema import RUNTIME_KEYS  # how a run executes, not what it computes: not hashed

if TYPE_CHECKING:
    from ablate.engine.budget import Solution
    from ablate.engine.template import Template

SCHEMA_VERSION = 2  # 2 added model.counted, budget.scale/reference, env.gpu/gpu_capability/cuda/cudnn; same_as
# came later within 2, as did env.cpu: keys older readers ignore and newer ones read as None where absent
RESULT = "result.json"
ERROR_LOG = "error.log"
STATUSES = ("running", "completed", "diverged", "pruned", "failed", "interrupted")  # running, interrupted: resumed
# final: a seeded re-run of the same config would end the same way (a pruned trial was stopped by its study's pruner)
FINAL_STATUSES = ("completed", "diverged", "pruned")


class RecordError(ValueError):
    """A `result.json` that cannot be read as a run record; the message says why."""


# ----------------------------------------------------------------------------- files
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`. The file gets the mode
    `open` gives a new file (0666 less the umask), not `tempfile.mkstemp`'s private 0600: a sweep's results and
    report are for the people who share its folder as well."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temporary(path)
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


def _new_temporary(path: Path) -> tuple[int, str]:
    """A new file `.NAME.<random>.tmp` beside `path`, created with mode 0666 (the kernel applies the umask), open
    for writing: (its descriptor, its path)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:  # pragma: no cover - 32 random bits taken
            continue
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover


def _finite(obj: Any) -> Any:
    """JSON has no NaN or infinity: non-finite floats become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented, strict JSON (non-finite floats as null), atomically."""
    text = json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode())


# ----------------------------------------------------------------------------- the config hash
def _drop(tree: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = tree
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


def first_difference(theirs: Any, ours: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first dotted key (in sorted order) whose value differs between two nested dicts: (key, theirs, ours);
    None where they are equal. Sentences that refuse or set aside another config's run name it."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in sorted(set(theirs) | set(ours), key=str):
            found = first_difference(theirs.get(key), ours.get(key), f"{prefix}{key}.")
            if found is not None:
                return found
        return None
    return None if theirs == ours else (prefix.rstrip("."), theirs, ours)


def now() -> str:
    """The current time, ISO 8601 with the UTC offset."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def git_commit() -> str | None:
    """The commit of the repository ablate runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# ----------------------------------------------------------------------------- the sections
_S = TypeVar("_S")


def _flat(cls: type[_S], data: Any, where: str) -> _S:
    """A flat section from its JSON object: missing keys are None, unknown keys are ignored."""
    if not isinstance(data, dict):
        raise RecordError(f"its {where} is {type(data).__name__}, not an object")
    return cls(**{f.name: data.get(f.name) for f in fields(cls)})  # type: ignore[arg-type]


def _optional(cls: type[_S], data: Any, where: str) -> _S | None:
    return None if data is None else _flat(cls, data, where)


@dataclass(frozen=True)
class Stage:
    """One stage of the derived network (the template after the paper's two rules)."""

    name: str
    depth: int
    resolution: int
    width: int
    cardinality: int
    bottleneck_width: int
    group_width: int
    stride: int


@dataclass(frozen=True)
class ComplexitySection:
    """Parameters, FLOPs (multiply-adds) and activations of the whole network, one image."""

    params: int
    flops: int
    acts: int


@dataclass(frozen=True)
class ModelSection:
    """What was built: the model config's name, the block form, the template, its stages and complexity."""

    name: str | None
    form: str | None  # None only in a record that lacks it
    template: dict[str, Any]  # `Template.to_dict()`: every template field by name
    stages: list[Stage]
    complexity: ComplexitySection
    counted: str | None = None  # how the blocks were counted: analytic (their layer list) or meta (a meta-device run)

    @classmethod
    def of(cls, name: str | None, form: str, template: Template) -> ModelSection:
        """The section of `template` built in `form`: its derived stages and closed-form complexity."""
        from ablate.engine.complexity import method, totals
        from ablate.engine.template import derive

        stages = [Stage(**s.summary()) for s in derive(template).stages]  # type: ignore[arg-type]
        counts = totals(template)
        return cls(
            name=name,
            form=form,
            template=template.to_dict(),
            stages=stages,
            complexity=ComplexitySection(params=counts.params, flops=counts.flops, acts=counts.acts),
            counted=method(template),
        )

    @classmethod
    def from_dict(cls, data: Any) -> ModelSection:
        if not isinstance(data, dict):
            raise RecordError(f"its model is {type(data).__name__}, not an object")
        stages = data.get("stages") or []
        if not isinstance(stages, list):
            raise RecordError("its model.stages is not a list")
        return cls(
            name=data.get("name"),
            form=data.get("form"),
            template=dict(data.get("template") or {}),
            stages=[_flat(Stage, s, "model.stages entry") for s in stages],
            complexity=_flat(ComplexitySection, data.get("complexity") or {}, "model.complexity"),
            counted=data.get("counted"),
        )


@dataclass(frozen=True)
class BudgetSection:
    """The budget the template was solved for: `vary`=`value` gives `achieved` of `metric`, `deviation`
    (achieved / target − 1) from `target`, within `tolerance`."""

    metric: str
    scope: str
    target: float
    achieved: int
    deviation: float
    vary: str
    value: int
    tolerance: float
    scale: float | None = None  # target = scale × the reference's complexity, for a relative budget
    reference: str | None = None  # the reference model's name, for a relative budget

    @classmethod
    def of(cls, solution: Solution) -> BudgetSection:
        """The section of a solution, which carries its budget."""
        return cls(**solution.as_dict())


@dataclass(frozen=True)
class Epoch:
    """One epoch: training loss and top-1 error (%) over the epoch, validation after it, the learning
    rate at its end, its wall seconds and training images per second."""

    epoch: int
    train_loss: float | None
    train_err: float | None
    val_loss: float | None
    val_err: float | None
    val_top5_err: float | None
    lr: float | None
    seconds: float | None
    images_per_s: float | None


@dataclass(frozen=True)
class FinalSection:
    """The last epoch's metrics."""

    val_err: float | None
    val_top5_err: float | None
    val_loss: float | None
    train_err: float | None
    train_loss: float | None


@dataclass(frozen=True)
class BestSection:
    """The epoch with the lowest finite validation error."""

    val_err: float
    epoch: int


@dataclass(frozen=True)
class EnvSection:
    """Where the run ran."""

    torch: str | None
    python: str
    device: str | None
    threads: int | None  # CPU threads of each training process
    seed: int | None
    git_commit: str | None
    hostname: str
    gpu: str | None = None  # the CUDA device's name, compute capability, and the CUDA and cuDNN versions
    gpu_capability: str | None = None
    cuda: str | None = None
    cudnn: str | None = None
    world_size: int | None = None  # the training processes (trainer.world_size resolved: auto is a count here)
    cpu: str | None = None  # the CPU's kind (ablate.run.cpu.kind): another kind may round differently

    @classmethod
    def current(
        cls, device: str | None, threads: int | None, seed: int | None, world_size: int = 1, **gpu: Any
    ) -> EnvSection:
        """This process's environment. torch's version from its installed metadata (the same string as
        `torch.__version__`), so that a record made before training, or for a run refused, imports no torch."""
        from importlib import metadata

        try:
            torch_version: str | None = metadata.version("torch")
        except metadata.PackageNotFoundError:  # pragma: no cover - torch is a dependency
            torch_version = None
        return cls(
            torch=torch_version,
            python=platform.python_version(),
            device=device,
            threads=threads,
            seed=seed,
            git_commit=git_commit(),
            hostname=socket.gethostname(),
            world_size=world_size,
            **gpu,
        )


@dataclass(frozen=True)
class ThroughputSection:
    """Steady-state training speed: images/s, the FLOP/s they mean (6 × forward multiply-adds per image)
    and their share of the machine: `machine_fraction` of the measured matmul peak in the training
    precision, `fp32_fraction` of the fp32 matmul peak (the fixed yardstick across precisions)."""

    images_per_s: float | None = None
    train_flops_per_s: float | None = None
    precision: str | None = None
    peak_flops: float | None = None
    machine_fraction: float | None = None
    fp32_peak_flops: float | None = None
    fp32_fraction: float | None = None


# ----------------------------------------------------------------------------- the record
@dataclass(kw_only=True)
class RunRecord:
    """One run's `result.json`. Mutable while the run goes on; the sections are replaced whole."""

    schema_version: int = SCHEMA_VERSION
    status: str = "running"  # one of STATUSES
    reason: str | None = None  # one sentence: why it failed or diverged
    config: dict[str, Any] = field(default_factory=dict)  # the resolved config
    config_hash: str = ""
    overrides: list[str] = field(default_factory=list)
    job_num: int | None = None  # the member's number in a multirun
    model: ModelSection | None = None
    budget: BudgetSection | None = None
    epochs: list[Epoch] = field(default_factory=list)
    final: FinalSection | None = None
    best: BestSection | None = None
    env: EnvSection | None = None
    started_at: str | None = None
    finished_at: str | None = None
    wall_seconds: float | None = None
    throughput: ThroughputSection = field(default_factory=ThroughputSection)
    same_as: str | None = None  # a sibling folder whose finished run of this config this one took: nothing trained

    @classmethod
    def new(cls, config: dict, overrides: Any = (), job_num: int | None = None) -> RunRecord:
        """A record in status `running`, started now."""
        return cls(
            config=config,
            config_hash=config_hash(config),
            overrides=list(overrides),
            job_num=job_num,
            env=EnvSection.current(None, None, config.get("seed")),
            started_at=now(),
        )

    # -- reading
    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """A record from its JSON object, of any schema version up to `SCHEMA_VERSION`; RecordError if not one."""
        if not isinstance(data, dict):
            raise RecordError("it is not a JSON object")
        version = data.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise RecordError(f"its schema_version is {version!r}: this ablate reads versions 1 to {SCHEMA_VERSION}")
        status = data.get("status")
        if not isinstance(status, str):
            raise RecordError(f"its status is {status!r}, not a text such as 'completed'")
        epochs = data.get("epochs") or []
        if not isinstance(epochs, list):
            raise RecordError("its epochs are not a list")
        model = data.get("model")
        return cls(
            schema_version=SCHEMA_VERSION,
            status=status,
            reason=data.get("reason"),
            config=data.get("config") or {},
            config_hash=data.get("config_hash") or "",
            overrides=[str(o) for o in data.get("overrides") or []],
            job_num=data.get("job_num"),
            model=None if model is None else ModelSection.from_dict(model),
            budget=_optional(BudgetSection, data.get("budget"), "budget"),
            epochs=[_flat(Epoch, e, "epochs entry") for e in epochs],
            final=_optional(FinalSection, data.get("final"), "final"),
            best=_optional(BestSection, data.get("best"), "best"),
            env=_optional(EnvSection, data.get("env"), "env"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            wall_seconds=data.get("wall_seconds"),
            throughput=_flat(ThroughputSection, data.get("throughput") or {}, "throughput"),
            same_as=data.get("same_as"),
        )

    @classmethod
    def read(cls, path: str | os.PathLike) -> RunRecord:
        """The record in the file `path`; RecordError (one clause: why) when it cannot be read as one."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except RecordError:
            raise
        except (OSError, ValueError) as e:
            raise RecordError(str(e)) from None
        except TypeError as e:  # a section of the wrong shape
            raise RecordError(f"a section does not fit the record ({e})") from None

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> RunRecord | None:
        """The record in `run_dir`, or None when there is none or it cannot be read."""
        try:
            return cls.read(Path(run_dir) / RESULT)
        except RecordError:
            return None

    # -- writing
    def to_dict(self) -> dict[str, Any]:
        """The JSON object: every field, sections as nested objects."""
        return asdict(self)

    def save(self, run_dir: str | os.PathLike) -> Path:
        """Write the record to `run_dir/result.json` atomically; returns the path."""
        path = Path(run_dir) / RESULT
        atomic_write_json(path, self.to_dict())
        return path

    # -- the run's course
    @property
    def is_final(self) -> bool:
        """Completed, diverged or pruned: nothing to train again for this config."""
        return self.status in FINAL_STATUSES

    def is_completed(self, config_hash: str) -> bool:
        """True when this is a completed run of the config with this hash."""
        return self.status == "completed" and self.config_hash == config_hash

    def summarise(self) -> None:
        """Fill `final` and `best` from the record's epochs."""
        if not self.epochs:
            return
        last = self.epochs[-1]
        self.final = FinalSection(
            val_err=last.val_err,
            val_top5_err=last.val_top5_err,
            val_loss=last.val_loss,
            train_err=last.train_err,
            train_loss=last.train_loss,
        )
        finite = [e for e in self.epochs if e.val_err is not None and math.isfinite(e.val_err)]
        if finite:
            best = min(finite, key=lambda e: e.val_err)  # type: ignore[arg-type, return-value]
            self.best = BestSection(val_err=best.val_err, epoch=best.epoch)  # type: ignore[arg-type]

    def set_epochs(self, epochs: list[dict]) -> None:
        """Take the trainer's epoch entries (dicts with the `Epoch` fields) and summarise them."""
        self.epochs = [Epoch(**e) for e in epochs]
        self.summarise()

    def finish(self, status: str, reason: str | None = None, wall_seconds: float | None = None) -> RunRecord:
        """Set the final status (and reason), the end time and the wall time (from the timestamps if not given)."""
        if status not in STATUSES:
            raise ValueError(f"status={status!r} is unknown: valid statuses are {', '.join(STATUSES)}.")
        self.status = status
        self.reason = reason
        self.finished_at = now()
        if wall_seconds is None:
            started = datetime.fromisoformat(self.started_at or self.finished_at)
            wall_seconds = (datetime.fromisoformat(self.finished_at) - started).total_seconds()
        self.wall_seconds = round(wall_seconds, 3)
        self.summarise()
        return self


# ----------------------------------------------------------------------------- the record's numbers by dotted key
def number_keys(config: Any = None) -> list[str]:
    """Every dotted key that names a number of a `result.json` (a sweeper's objectives and constraints name them:
    `model.complexity.flops`, `budget.deviation`), list entries by index 0 (`epochs.0.val_err`), a template field
    by name (`model.template.width`), and `config.KEY` for each number of `config` (a resolved config, as a dict)."""
    import typing

    from ablate.engine.template import Template

    def walk(cls: type, prefix: str) -> list[str]:
        out = []
        for name, hint in typing.get_type_hints(cls).items():
            if prefix == "model." and name == "template":
                out += walk(Template, "model.template.")
            elif name != "config":
                out += leaves(hint, prefix + name)
        return out

    def leaves(hint: Any, key: str) -> list[str]:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        origin = typing.get_origin(hint)
        if origin in (list, tuple) and args:
            return leaves(args[0], f"{key}.0")
        if origin is not None:  # X | None
            return [k for a in args for k in leaves(a, key)]
        if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
            return walk(hint, f"{key}.")
        return [key] if hint in (int, float) else []

    def numbers(node: Any, key: str) -> list[str]:
        if isinstance(node, dict):
            return [k for name, value in node.items() for k in numbers(value, f"{key}.{name}")]
        if isinstance(node, (list, tuple)):
            return [k for i, value in enumerate(node) for k in numbers(value, f"{key}.{i}")]
        return [key] if isinstance(node, (int, float)) and not isinstance(node, bool) else []

    return walk(RunRecord, "") + numbers(config or {}, "config")


def is_number_key(key: str, keys: list[str]) -> bool:
    """Whether `key` is one of `keys` (`number_keys`), a list entry given by any index."""
    parts = key.split(".")
    indexed = ".".join("0" if p.isdigit() and p != "0" else p for p in parts)
    return key in keys or indexed in keys
