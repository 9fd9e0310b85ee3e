"""The config schema: every group's fields and what each accepts, checked once by `check(cfg)` right after composing.

One dataclass per group — `ModelConfig`, `OptimConfig`, `TrainerConfig`, `BudgetConfig`, one per data set (`DATA`) —
and the root `Config` hold each field's type, default and rule. `register()` stores them in Hydra's ConfigStore
(group `schema`), and the YAML files of `conf/` are presets of them: `conf/config.yaml` starts from `/schema/config`,
whose `model` node holds the engine's defaults (ResNet-50's, `Template`'s), so a model file states only what
differs; each data set's file starts from its `/schema/data/...` node and `budget=params|flops` from `/schema/budget`.

`check(cfg)` is the one place that refuses a config: unknown and missing keys, types, ranges and choices, each with
one sentence naming the field as the user typed it (`model.cardinality=0 is invalid: ...`). The app and the CLIs call
it once, right after composing; code below receives valid values and neither re-checks nor re-defaults them. What the
engine checks itself (a `Template`'s fields, a `Budget`'s, the solver's `vary` and `stage`) is not repeated here:
`check` builds those objects and names the field (`model.`, `budget.`) in the engine's sentence. Checks that need
run-time facts stay where the facts are: a batch against the images of a split and the world size (the trainer), a
data set's files (the data modules), the model against the data set's shape (the app), CUDA devices (the device).

To Hydra every field is typed `Any` (`register` stores untyped copies): OmegaConf would refuse a wrong type while
composing, with its own message and before ablate can say its sentence, and would turn `2` given for a float field
into `2.0`, which changes a run's config hash. The annotations below are the types `check` enforces.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, ClassVar, cast

from omegaconf import MISSING

from ablate.engine.blocks import BLOCKS, block_name, block_type
from ablate.engine.blocks import FORMS as BLOCK_FORMS
from ablate.engine.budget import METRICS, Budget, check_vary, figures
from ablate.engine.template import Template
from ablate.errors import AblateError, ConfigError, TemplateError, override_value, shown

# How a run executes, not what it computes: left out of the run's config hash (`ablate.run.record`) and out of a
# multirun member's folder name (Hydra's `override_dirname.exclude_keys`, from the `ablate.runtime_keys` resolver).
RUNTIME_KEYS = (
    "hydra",
    "trainer.device",
    "trainer.progress",
    "trainer.num_threads",
    "trainer.log_every",
    "trainer.checkpoint",
    "trainer.compile",
    "trainer.merge_groups",
    "trainer.peak_flops",
    "trainer.eval_batch_size",
    "trainer.deterministic",
    "trainer.jobs_per_gpu",
    "trainer.loggers",
    "trainer.mlflow_uri",
    "trainer.replace",
    "data.root",
    "data.download",
    "data.url",
    "data.workers",
    "report",
    "report.reference",
    "report.resolution",
)

FORMS = (*BLOCK_FORMS, "auto")  # the paper's three equivalent block forms (Fig. 3); auto picks one per device
SCHEDULES = ("step", "cosine")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = "auto, cpu, cuda or cuda:N"


# ----------------------------------------------------------------------------- rules
def is_whole(value: Any, minimum: int | None = 1) -> bool:
    """The one whole-number test: an int (not a bool) of at least `minimum` (None: any)."""
    return isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)


def is_number(value: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Rule:
    """What one field accepts: `ok(value)`, else the sentence `FIELD=VALUE <tail>.`; `normalize` applies first
    (e.g. lower case), `convert` gives the typed value."""

    ok: Callable[[Any], bool]
    tail: str
    convert: Callable[[Any], Any] | None = None
    normalize: Callable[[Any], Any] | None = None

    def __call__(self, key: str, value: Any) -> Any:
        if self.normalize is not None:
            value = self.normalize(value)
        if not self.ok(value):
            raise ConfigError(f"{key}={shown(value)} {self.tail}.")
        return self.convert(value) if self.convert else value


def optional(rule: Rule, tail: str | None = None) -> Rule:
    """`rule`, or null."""
    convert = rule.convert
    return Rule(
        lambda v: v is None or rule.ok(v),
        tail or f"{rule.tail} or null",
        None if convert is None else (lambda v: None if v is None else convert(v)),
    )


def whole(minimum: int = 1, tail: str | None = None) -> Rule:
    return Rule(lambda v: is_whole(v, minimum), tail or f"is invalid: it must be a whole number of at least {minimum}")


FP32_MAX = 3.4028234663852886e38  # the largest fp32 value: rates above it cannot be held by the optimizer
FP32_MAX_TEXT = "3.4e+38 (the largest fp32 value)"


def real(
    low: float, high: float | None = None, example: str = "0.1", low_open: bool = False, high_open: bool = True
) -> Rule:
    """A number in a range: `at least`/`above` low and `below`/`at most` high."""

    def ok(v: Any) -> bool:
        return (
            is_number(v)
            and (v > low if low_open else v >= low)
            and (high is None or (v < high if high_open else v <= high))
        )

    lo = f"{'above' if low_open else 'at least'} {low:g}"
    hi = ""
    if high is not None:
        hi = f" and {'below' if high_open else 'at most'} {FP32_MAX_TEXT if high == FP32_MAX else f'{high:g}'}"
    return Rule(ok, f"is invalid: it must be a number {lo}{hi}, e.g. {example}")


def choice(values: tuple[str, ...], what: str, normalize: Callable[[Any], Any] | None = None) -> Rule:
    """One of `values` (after `normalize`, e.g. lower case); the sentence lists them."""
    return Rule(lambda v: v in values, f"is unknown: valid {what} are {', '.join(values)}", normalize=normalize)


FLAG = Rule(lambda v: isinstance(v, bool), "is invalid: it must be true or false")
TEXT = Rule(lambda v: isinstance(v, str) and bool(v), "is invalid: it must be a non-empty string")


def _loggers_ok(value: Any) -> bool:
    from ablate.run.loggers import valid_names

    return valid_names(value)


def _loggers_installed(names: Any) -> tuple[str, ...]:
    from ablate.run.loggers import check_installed

    return check_installed("trainer.loggers", list(names))


# distinct names of csv, tensorboard, mlflow; a logger whose package is missing is refused, naming the extra
LOGGERS = Rule(
    _loggers_ok,
    "is invalid: give a list of distinct loggers from csv, tensorboard, mlflow, such as "
    "[csv,tensorboard], or [] for none",
    _loggers_installed,
)


def _store_opened(uri: Any) -> Any:
    from ablate.run.loggers import check_store

    return check_store("trainer.mlflow_uri", uri)


# an MLflow tracking URI, or null; a folder store that the installed MLflow refuses to open is refused here
MLFLOW_URI = optional(
    Rule(TEXT.ok, TEXT.tail, _store_opened),
    "is invalid: give an MLflow tracking URI such as sqlite:///mlflow.db or http://host:5000, or null for the sweep's "
    "own store",
)


def _epochs(v: Any) -> bool:
    return v is None or (isinstance(v, (list, tuple)) and all(is_whole(m, 0) for m in v))


def _device_ok(spec: Any) -> bool:
    if not isinstance(spec, str):
        return False
    if spec in ("auto", "cpu", "cuda"):
        return True
    index = spec[len("cuda:") :] if spec.startswith("cuda:") else ""
    return index.isascii() and index.isdigit()


WORLD_SIZE = Rule(
    lambda v: v == "auto" or is_whole(v),
    "is invalid: give the number of DDP processes, 1 or more, or auto (the CPU: one single-threaded process "
    "per core of this job; CUDA: 1)",
    normalize=lambda v: v.strip().lower() if isinstance(v, str) else v,
)
WORKERS = Rule(
    lambda v: v == "auto" or is_whole(v, 0),
    "is invalid: give the number of DataLoader worker processes, 0 or more (0: decode in the training process), "
    "or auto (one per thread of the training process, at most 8)",
    normalize=lambda v: v.strip().lower() if isinstance(v, str) else v,
)
DEVICE = Rule(
    _device_ok,
    f"is unknown: valid devices are {DEVICES}",
    normalize=lambda v: v.strip().lower() if isinstance(v, str) else v,
)
PRECISION = choice(PRECISIONS, "precisions", normalize=lambda v: v.lower() if isinstance(v, str) else v)


def device_spec(spec: Any) -> tuple[str, int | None]:
    """`trainer.device` parsed: ('auto' | 'cpu' | 'cuda', the CUDA index or None); a ConfigError when unknown."""
    kind, _, index = DEVICE("trainer.device", spec).partition(":")
    return kind, int(index) if index else None


def precision(value: Any) -> str:
    """`trainer.precision` in lower case; a ConfigError when unknown."""
    return PRECISION("trainer.precision", value)


def count(minimum: int = 1) -> Rule:
    """A whole number of at least `minimum` (`data.pad=-1 is invalid: it must be a whole number of at least 0`)."""
    return Rule(lambda v: is_whole(v, minimum), f"is invalid: it must be a whole number of at least {minimum}")


def at_least(minimum: float = 0.0, example: str = "0.1") -> Rule:
    """A number of at least `minimum`, as a float (`real`'s sentence)."""
    return Rule(lambda v: is_number(v) and v >= minimum, real(minimum, example=example).tail, float)


# a budget's tolerance as a user gives it (the engine also takes math.inf: "any deviation", for Table 2's rows)
TOLERANCE = Rule(
    lambda v: is_number(v) and v >= 0,
    "is invalid: it must be a finite relative deviation of 0 or more, e.g. 0.05",
    float,
)


# a relative budget's reference model: a model config's name (null only beside an absolute target)
REFERENCE = optional(
    TEXT, "is invalid: give the name of a model config, such as resnet50, or null with budget.target set"
)


def _pair_ok(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(is_number(x) and x > 0 for x in v) and v[0] <= v[1]


PAIR = Rule(
    _pair_ok,
    "is invalid: it must be a list [low, high] of two positive numbers with low <= high",
    lambda v: (float(v[0]), float(v[1])),
)
PATH = Rule(
    lambda v: v is None or isinstance(v, (str, os.PathLike)),
    "is invalid: it must be a directory path or null",
    lambda v: str(v) if v else None,
)


def channels(n: int, positive: bool = False) -> Rule:
    """A per-channel list of `n` numbers (one number is repeated) or null: typed as a tuple of floats."""

    def ok(v: Any) -> bool:
        if v is None or (is_number(v) and (v > 0 or not positive)):
            return True
        return isinstance(v, (list, tuple)) and len(v) == n and all(is_number(x) and (x > 0 or not positive) for x in v)

    def convert(v: Any) -> tuple[float, ...] | None:
        if v is None:
            return None
        return tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else [v] * n))

    what = f"a list of {n} {'positive ' if positive else ''}number{'s' if n != 1 else ''} (one per channel) or null"
    return Rule(ok, f"is invalid: it must be {what}", convert)


def _rule(rule: Rule | None = None, default: Any = MISSING, factory: Callable[[], Any] | None = None) -> Any:
    """A schema field with its rule (None: checked elsewhere, e.g. by the engine)."""
    meta = {"rule": rule}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# ----------------------------------------------------------------------------- the groups
# the engine's defaults: ResNet-50 on ImageNet (Table 1)
_T: dict[str, Any] = {f.name: f.default for f in fields(Template)}


@dataclass
class ModelConfig:
    """A network template (`ablate.engine.template.Template`, which checks these fields) and how to build it.

    The defaults are the engine's, ResNet-50's: a model file in `conf/model/` states only what differs."""

    depths: list[int] = _rule(factory=lambda: list(_T["depths"]))  # blocks per stage
    width: int = _rule(default=_T["width"])  # output width of the first stage
    cardinality: int = _rule(default=_T["cardinality"])  # C
    bottleneck_width: int = _rule(default=_T["bottleneck_width"])  # d, per group, first stage
    block: str = _rule(default=_T["block"])  # bottleneck | basic | a block of your own, package.module:Class
    stem: str = _rule(default=_T["stem"])  # imagenet | cifar
    stem_width: int = _rule(default=_T["stem_width"])
    in_channels: int = _rule(default=_T["in_channels"])
    resolution: int = _rule(default=_T["resolution"])
    num_classes: int = _rule(default=_T["num_classes"])
    shortcut: bool = _rule(default=_T["shortcut"])
    name: str = _rule(TEXT)  # names the run's folder and is the default budget reference
    form: str = _rule(choice(FORMS, "forms"), default="c")  # a | b | c | auto: the paper's block forms (Fig. 3)
    zero_init_last_bn: bool = _rule(FLAG, default=False)  # zero γ of each block's last BN (Goyal et al., 2017)


@dataclass
class OptimConfig:
    """The training recipe: SGD with momentum, a step or cosine schedule, optional warm-up (`conf/optim/`)."""

    batch_size: int = _rule(whole())  # the global batch, split over trainer.world_size processes
    epochs: int = _rule(whole())
    lr: float = _rule(  # the optimizer holds it in fp32
        Rule(
            lambda v: is_number(v) and 0 < v <= FP32_MAX,
            f"is invalid: it must be a positive number such as 0.1, at most {FP32_MAX_TEXT}",
        )
    )
    momentum: float = _rule(real(0.0, 1.0, "0.9"))
    nesterov: bool = _rule(FLAG)
    weight_decay: float = _rule(real(0.0, FP32_MAX, example="1e-4", high_open=False))
    decay_norm_and_bias: bool = _rule(FLAG)  # false: no weight decay on BN weights and biases
    schedule: str = _rule(choice(SCHEDULES, "schedules"))
    milestones: list[int] | None = _rule(Rule(_epochs, "is invalid: it must be a list of epochs such as [150,225]"))
    gamma: float = _rule(real(0.0, example="0.1", low_open=True))  # lr factor at each milestone
    warmup_epochs: float = _rule(real(0.0, example="0.3"))
    warmup_start: float = _rule(real(0.0, 1.0, "0.1", high_open=False))
    min_lr_factor: float = _rule(real(0.0, 1.0, "0.0", high_open=False))
    label_smoothing: float = _rule(real(0.0, 1.0, "0.1"))


@dataclass
class TrainerConfig:
    """How a run executes (`conf/trainer/default.yaml`)."""

    device: str = _rule(DEVICE)
    precision: str = _rule(PRECISION)
    channels_last: bool = _rule(FLAG)
    compile: bool = _rule(FLAG)
    merge_groups: bool = _rule(FLAG)  # CPU: narrow groups computed merged (ablate.run.kernels)
    world_size: Any = _rule(WORLD_SIZE)  # DDP processes, or auto (ablate.run.parallel.ranks_for_job)
    jobs_per_gpu: int = _rule(whole())  # sweep members at once on one GPU
    deterministic: bool = _rule(FLAG)
    checkpoint: bool = _rule(FLAG)
    progress: bool = _rule(FLAG)
    num_threads: int | None = _rule(
        optional(whole(), "is invalid: give a whole number of at least 1, or null for every core")
    )
    log_every: int = _rule(whole())
    eval_batch_size: int | None = _rule(
        optional(
            whole(), "is invalid: give a whole number of at least 1, or null for twice the per-process training batch"
        )
    )
    peak_flops: float | None = _rule(
        optional(
            Rule(lambda v: is_number(v) and v > 0, ""),
            "is invalid: give the machine's FLOP/s as a positive number, or null to measure it",
        )
    )
    loggers: list[str] = _rule(LOGGERS)  # experiment trackers: csv, tensorboard, mlflow (ablate.run.loggers)
    mlflow_uri: str | None = _rule(MLFLOW_URI)
    # true: a run directory holding a run of another config (an edited sweep re-run into its folder) has that run
    # deleted and this config's trained in its place; false: it is refused and left as it is
    replace: bool = _rule(FLAG, default=False)


@dataclass
class BudgetConfig:
    """A complexity budget the solver meets by varying one field (`conf/budget/`); `ablate.engine.budget.Budget`
    checks metric, scope, target, tolerance and scale, and the solver vary and stage."""

    metric: str | None = _rule()  # params | flops | acts; null: no budget
    target: float | None = _rule(default=None)  # an absolute count; null: the reference's × scale
    reference: str | None = _rule(default="${model.name}")  # a model config name: by default the model as written
    scale: float = _rule(default=1.0)
    scope: str = _rule(default=Budget.scope)  # network | block (the conv2 block of equation 4)
    tolerance: float = _rule(default=Budget.tolerance)  # the largest accepted |value/target − 1|
    vary: str = _rule(default="bottleneck_width")  # bottleneck_width | width | cardinality | depth
    stage: int | None = _rule(default=None)  # with vary=depth: the stage whose depth moves (null: second to last)


@dataclass
class DataConfig:
    """The fields every data set has; each data set's class adds its own (`conf/data/NAME.yaml` gives the values)."""

    channels: ClassVar[int | None] = None  # image channels, which `mean` and `std` must match (None: in_channels)

    name: str = _rule()
    augment: bool = _rule(FLAG)
    mean: tuple[float, ...] | None = _rule()  # per channel, in [0, 1] units; null: measured at load
    std: tuple[float, ...] | None = _rule()
    train_subset: int | None = _rule(optional(count()))  # a seeded class-balanced subset; null: every image
    val_subset: int | None = _rule(optional(count()))

    def fixes(self) -> dict[str, int]:
        """What the model must fit that this config fixes: `in_channels`, `resolution`, `num_classes` (a field
        left out is known only once the data set is loaded), so that a misfit is refused at compose time."""
        return {}

    def sizes(self) -> tuple[str, int, int] | None:
        """The data set's title and the images of its whole train and val splits where the config tells them
        (None: known once loaded), so that a subset or batch too large is refused at compose time."""
        return None


def subset_too_large(field: str, size: int, images: int, what: str) -> ConfigError:
    """The sentence for `data.train_subset` / `data.val_subset` above the images of the split `what` has."""
    return ConfigError(
        f"data.{field}={size} is larger than the {images} images of {what}: use at most {images}, or null for all."
    )


def batch_too_large(batch: int, images: int, where: str, subset: int | None) -> ConfigError:
    """The sentence for a batch above the training images of the split named `where` (one process)."""
    more = f" than data.train_subset={subset}" if subset is not None else ""
    return ConfigError(
        f"optim.batch_size={batch} is larger than the {images} training images of {where}: lower the batch size or "
        f"use more images{more}."
    )


def uneven_batch(batch: int, world_size: int) -> ConfigError | None:
    """The sentence for a global batch that does not split evenly over `world_size` DDP processes, else None."""
    if batch % world_size == 0:
        return None
    return ConfigError(
        f"optim.batch_size={batch} does not split over trainer.world_size={world_size} processes: make it a "
        "multiple of the world size."
    )


def rate_overflow(optim: Mapping) -> ConfigError | None:
    """The sentence for a step schedule whose `gamma` above 1 raises the learning rate, over the milestones the run
    reaches, past the largest fp32 value the optimizer holds it in; else None."""
    if optim["schedule"] != "step" or optim["gamma"] <= 1:
        return None
    reached = [m for m in optim["milestones"] or () if m < optim["epochs"]]
    if not reached:
        return None
    lr, gamma, k = float(optim["lr"]), float(optim["gamma"]), len(reached)
    peak = math.log10(lr) + k * math.log10(gamma)
    if peak <= math.log10(FP32_MAX):
        return None
    most = (math.log10(FP32_MAX) - math.log10(lr)) / k
    milestones = [int(m) for m in optim["milestones"]]
    return ConfigError(
        f"optim.gamma={gamma:g} with optim.lr={lr:g} and optim.milestones={override_value(milestones)} raises the "
        f"learning rate to {figures(peak)} (gamma to the power of {k} milestone{'s' * (k > 1)}), above "
        f"{FP32_MAX_TEXT}: give optim.gamma at most {figures(most, down=True)}."
    )


def check_images(data: DataConfig, batch: int) -> None:
    """Subsets and the batch against the images of a data set whose size its config tells."""
    sizes = data.sizes()
    if sizes is None:
        return
    title, *whole = sizes
    for split, images in zip(("train", "val"), whole, strict=True):
        size = getattr(data, f"{split}_subset")
        if size is not None and size > images:
            raise subset_too_large(f"{split}_subset", size, images, f"the {title} {split} split")
    images = whole[0] if data.train_subset is None else data.train_subset
    if batch > images:  # a world of several processes needs more; the trainer checks that
        raise batch_too_large(batch, images, f"{data.name}/train", data.train_subset)


def misfit(data_name: str, template: Any, have: Mapping[str, int]) -> ConfigError | None:
    """The sentence for the model fields that do not fit the data set's (`have`: field → the data set's value), all
    of them at once so that one command fixes them (at compose time, or once loaded); None where all fit."""
    wrong = [(k, getattr(template, k), v) for k, v in have.items() if getattr(template, k) != v]
    if not wrong:
        return None

    def listed(items: list[str]) -> str:
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"

    ours = listed([f"model.{field}={want}" for field, want, _ in wrong])
    theirs = listed([f"{field} {value}" for field, _, value in wrong])
    fix = " ".join(f"model.{field}={value}" for field, _, value in wrong)
    verb = "does" if len(wrong) == 1 else "do"
    return ConfigError(
        f"{ours} {verb} not fit data={data_name}, which has {theirs}: set {fix} or choose another data set."
    )


@dataclass
class FileData(DataConfig):
    """A data set read from files that ablate can download."""

    root: str | None = _rule(PATH)
    download: bool = _rule(FLAG)
    url: str = _rule(TEXT)
    pad: int = _rule(count(0))


@dataclass
class FashionMNISTData(FileData):
    channels: ClassVar[int] = 1
    side: ClassVar[int] = 28  # every image is side × side pixels
    classes: ClassVar[int] = 10

    def fixes(self) -> dict[str, int]:
        return {"in_channels": self.channels, "resolution": self.side, "num_classes": self.classes}

    def sizes(self) -> tuple[str, int, int]:
        return "Fashion-MNIST", 60_000, 10_000


@dataclass
class CifarData(FileData):
    channels: ClassVar[int] = 3
    side: ClassVar[int] = 32
    classes: ClassVar[dict[str, int]] = {"cifar10": 10, "cifar100": 100}

    def fixes(self) -> dict[str, int]:
        return {"in_channels": self.channels, "resolution": self.side, "num_classes": self.classes[self.name]}

    def sizes(self) -> tuple[str, int, int]:
        return f"CIFAR-{self.classes[self.name]}", 50_000, 10_000


@dataclass
class ImageNetData(DataConfig):
    channels: ClassVar[int] = 3

    root: str | None = _rule(PATH)
    resolution: int = _rule(count())
    resize: int = _rule(count())
    scale: tuple[float, float] = _rule(PAIR)
    ratio: tuple[float, float] = _rule(PAIR)
    workers: Any = _rule(WORKERS)  # DataLoader processes, or auto (`ablate.data.imagenet.worker_count`)

    def fixes(self) -> dict[str, int]:  # its class count is the number of class folders: known once scanned
        return {"in_channels": self.channels, "resolution": self.resolution}


@dataclass
class SyntheticData(DataConfig):
    num_samples: int = _rule(count())
    val_samples: int = _rule(count())
    resolution: int = _rule(count())
    in_channels: int = _rule(count())
    num_classes: int = _rule(count(2))
    noise: float = _rule(at_least(0.0, example="16"))
    pad: int = _rule(count(0))

    def fixes(self) -> dict[str, int]:
        return {"in_channels": self.in_channels, "resolution": self.resolution, "num_classes": self.num_classes}

    def sizes(self) -> tuple[str, int, int]:
        return "synthetic", self.num_samples, self.val_samples


DATA: dict[str, type[DataConfig]] = {
    "cifar10": CifarData,
    "cifar100": CifarData,
    "fashion_mnist": FashionMNISTData,
    "imagenet": ImageNetData,
    "synthetic": SyntheticData,
}


SEED = Rule(  # the range torch.manual_seed takes
    lambda v: is_whole(v, -(2**63)) and v < 2**64,
    "is invalid: it must be a whole number such as 0, at least -2**63 and below 2**64 (what torch seeds with)",
)

# Root keys a sweep member may carry beyond `Config`'s, added by its sweeper with `+KEY=VALUE`: absent from every other
# run, so no other run's config (nor its hash) changes. `design_space`: the design space a member of
# `hydra/sweeper=ablate_design_spaces` was sampled from, which its report groups by.
MEMBER_KEYS: dict[str, Rule] = {
    "design_space": Rule(
        lambda v: isinstance(v, str) and bool(v.strip()),
        "is invalid: it must be the name of a design space, such as resnext",
    ),
}


@dataclass
class Config:
    """The root: one training run of one template."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: Any = MISSING  # one of the DATA classes, by data set
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    budget: Any = MISSING  # a BudgetConfig, or {metric: null} for none
    report: Any = MISSING  # how a sweep's report compares settings (ablate.report.options checks it): no run changes
    seed: int = _rule(SEED, default=0)


GROUPS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "trainer": TrainerConfig,
    "budget": BudgetConfig,
}
MODEL_FIELDS = tuple(f.name for f in fields(ModelConfig))
TEMPLATE_FIELDS = tuple(f.name for f in fields(Template))


# ----------------------------------------------------------------------------- the ConfigStore
class Untyped:
    """Hydra's view of the schema: each class with every field typed Any (`Untyped.ModelConfig`, ...), made once
    at import, so a group's preset and the root's node of that group merge, and a config node pickles by reference
    (into DDP processes, launcher workers)."""


def _untyped(cls: type) -> type:
    """`cls` with every field typed Any, nested schema classes likewise (see `Untyped`)."""
    if cls.__name__ in vars(Untyped):
        return vars(Untyped)[cls.__name__]
    specs = []
    for f in fields(cls):
        if f.default_factory is not NO_DEFAULT and isinstance(f.default_factory, type):
            spec = field(default_factory=_untyped(f.default_factory))
        elif f.default_factory is not NO_DEFAULT:
            spec = field(default_factory=f.default_factory)
        else:
            spec = field(default=f.default)
        specs.append((f.name, Any, spec))
    loose = make_dataclass(cls.__name__, specs)
    loose.__module__ = __name__
    loose.__qualname__ = f"Untyped.{cls.__name__}"
    setattr(Untyped, cls.__name__, loose)
    return loose


def register() -> None:
    """Store the schema in Hydra's ConfigStore (group `schema`): idempotent, called on `import ablate.config`."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(group="schema", name="config", node=_untyped(Config))
    groups: dict[str, type] = {
        "model": ModelConfig,
        "optim": OptimConfig,
        "trainer": TrainerConfig,
        "budget": BudgetConfig,
    }
    for name, cls in groups.items():
        store.store(group="schema", name=name, node=_untyped(cls))
    data: dict[str, type] = {
        "fashion_mnist": FashionMNISTData,
        "cifar": CifarData,
        "imagenet": ImageNetData,
        "synthetic": SyntheticData,
    }  # conf/data/NAME.yaml starts from /schema/data/...
    for name, cls in data.items():
        store.store(group="schema/data", name=name, node=_untyped(cls))


# ----------------------------------------------------------------------------- checking
def plain(node: Any) -> dict:
    """A config node (OmegaConf or mapping) as a plain dict, resolved; a missing value (`???`) stays `MISSING`."""
    if node is None:
        return {}
    if isinstance(node, Mapping) and not hasattr(node, "_metadata"):
        return dict(node)
    from omegaconf import OmegaConf

    return cast(dict, OmegaConf.to_container(node, resolve=True, throw_on_missing=False))


def _an(group: str) -> str:
    return "an" if group[0] in "aeiou" else "a"


def check_keys(group: str, values: Mapping, cls: type, order: tuple[str, ...] | None = None) -> None:
    """Refuse a key `cls` does not have (added with `+group.key=...`) or a field with no value (`???`);
    `group` "" is the root."""
    known = [f.name for f in fields(cls)]
    unknown = [str(k) for k in values if k not in known]
    where, kind = (f"{group}.", group) if group else ("", "config")
    if unknown:
        listed = ", ".join(order or sorted(known))
        raise ConfigError(f"{where}{sorted(unknown)[0]} is not {_an(kind)} {kind} field: valid fields are {listed}.")
    for name in known:
        if name not in values or (isinstance(values[name], str) and values[name] == MISSING):
            raise ConfigError(f"{where}{name} is missing: give it a value, e.g. {where}{name}=VALUE.")


def _apply(group: str, values: Mapping, cls: type) -> dict:
    """Every field's rule on `values`: the typed values (a field without a rule as it is)."""
    out = {}
    for f in fields(cls):
        rule = f.metadata.get("rule")
        out[f.name] = rule(f"{group}.{f.name}", values[f.name]) if rule else values[f.name]
    return out


def template_of(model: Any) -> Template:
    """The `Template` of a `model` node (OmegaConf or mapping), its fields checked; sentences name `model.FIELD`.

    Missing template fields take the engine's defaults (a model config outside the schema may omit them)."""
    values = plain(model)
    unknown = sorted(str(k) for k in set(values) - set(MODEL_FIELDS))
    if unknown:
        raise ConfigError(f"model.{unknown[0]} is not a model field: valid fields are {', '.join(MODEL_FIELDS)}.")
    kwargs = {k: v for k, v in values.items() if k in TEMPLATE_FIELDS}
    if "depths" in kwargs:
        if not isinstance(kwargs["depths"], (list, tuple)):
            raise ConfigError(
                f"model.depths={shown(kwargs['depths'])} is invalid: it must be a list such as [3,4,6,3]."
            )
        kwargs["depths"] = tuple(kwargs["depths"])
    try:
        return Template(**kwargs)
    except TemplateError as e:  # the engine names the field; in a config it is model.<field>
        raise TemplateError(prefixed("model", e, TEMPLATE_FIELDS)) from None


def prefixed(group: str, error: AblateError, names: tuple[str, ...]) -> str:
    """The engine's sentence with its field named as in the config (`cardinality=0` → `model.cardinality=0`)."""
    text = str(error)
    return f"{group}.{text}" if text.split("=", 1)[0].split("[", 1)[0] in names else text


def check_model(model: Any) -> Template:
    """The model node's template, after every field of it is checked (all must be present)."""
    values = plain(model)
    check_keys("model", values, ModelConfig, order=MODEL_FIELDS)
    template = template_of(values)
    for f in fields(ModelConfig):
        if f.metadata["rule"] is not None:
            f.metadata["rule"](f"model.{f.name}", values[f.name])
    if block_name(block_type(template.block)) not in BLOCKS:  # a block of one's own: held to its module, once
        from ablate.models.meta import check_last_bn, check_module  # torch, which such a block's module needs

        try:
            check_module(template)
        except TemplateError as e:
            raise TemplateError(prefixed("model", e, ("block",))) from None
        if values["zero_init_last_bn"] is True:
            check_last_bn(template)
    return template


def no_budget_field(typed: str, field: str) -> str:
    """The sentence for a budget field set while budget=none (its `{metric: null}` matches no budget), whether the
    override was refused by Hydra (`budget.scale=2`) or added with + and found here (`+budget.scale=2`)."""
    return (
        f"{typed}: budget=none (the default) has no field {field}, it matches no budget: choose one with it, "
        f"e.g. budget=params {typed} (or budget=flops)."
    )


def check_budget(budget: Any, template: Template, searchpath: tuple[str, ...] | None = None) -> Budget | None:
    """The budget node's `Budget` (None without one), after every field of it is checked against `template`."""
    from ablate.config.loading import budget_from_cfg

    values = plain(budget)
    if values.get("metric") is None:  # no budget: `conf/budget/none.yaml` or a variant's `metric: null`
        names = [f.name for f in fields(BudgetConfig)]
        check_keys("budget", dict.fromkeys(names) | values, BudgetConfig)
        added = [name for name in names if name in values and name != "metric"]
        if added and len(added) < len(names) - 1:  # fields added to budget=none's {metric: null} (+budget.scale=2)
            # would be ignored; a variant's `metric: null` over a whole budget node (complexity_2x's baseline)
            # keeps its sweep's fields on purpose
            raise ConfigError(no_budget_field(f"budget.{added[0]}={shown(values[added[0]])}", added[0]))
        return None
    if set(values) == {"metric"}:  # budget=none's {metric: null} given a metric: a budget asked for by its field
        metric = values["metric"]
        if metric not in METRICS:
            raise ConfigError(f"budget.metric={shown(metric)} is unknown: valid metrics are {', '.join(METRICS)}.")
        from ablate.config.loading import available

        # a budget config named for the metric (ablate's params and flops, or one of the user's), else params'
        way = (
            f"budget={metric}" if metric in available("budget", searchpath) else f"budget=params budget.metric={metric}"
        )
        raise ConfigError(
            f"budget.metric={shown(metric)} on budget=none (the default) leaves every other field of the budget unset: "
            f"choose the budget's config instead, {way} (its target: the model's own {metric})."
        )
    check_keys("budget", values, BudgetConfig)
    TOLERANCE("budget.tolerance", values["tolerance"])  # finite here; the engine also takes inf (any deviation)
    REFERENCE("budget.reference", values["reference"])
    result = budget_from_cfg(values, searchpath)
    check_vary(template, values["vary"], values["stage"], values["scope"], prefix="budget.")
    return result


def data_config(node: Any) -> DataConfig:
    """The data node as its data set's typed, checked dataclass (every field present: see `ablate.data.options`)."""
    values = plain(node)
    name = values.get("name")
    if not isinstance(name, str) or name not in DATA:
        raise ConfigError(f"data.name={shown(name)} is unknown: available data sets are {', '.join(sorted(DATA))}.")
    cls = DATA[name]
    check_keys("data", values, cls)
    typed = _apply("data", values, cls)
    n = cls.channels or typed["in_channels"]
    for key, positive in (("mean", False), ("std", True)):
        typed[key] = channels(n, positive)(f"data.{key}", values[key])
    if cls is ImageNetData and (typed["mean"] is None or typed["std"] is None):
        raise ConfigError(
            "data.mean and data.std must be lists of 3 numbers for data=imagenet: "
            "it streams its images, so they cannot be measured at load."
        )
    return cls(**typed)


def refusal(cfg: Any, key: str, value: Any, searchpath: tuple[str, ...] | None = None) -> str | None:
    """The sentence `check` refuses `cfg` with once its field `key` (dotted) holds `value`, if that sentence is about
    `key`; None where the config is accepted, is refused for something else, or has no such field. A sweeper tests
    a search space's values with it before any trial is spent on them."""
    import copy

    from omegaconf import DictConfig, OmegaConf

    try:
        if isinstance(cfg, DictConfig):  # without the hydra node, whose run-time fields a sweeper cannot resolve
            kept = OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k != "hydra"])
            values = cast(dict, OmegaConf.to_container(kept, resolve=True))
        else:
            values = copy.deepcopy({k: v for k, v in plain(cfg).items() if k != "hydra"})
    except Exception:  # an interpolation only a job resolves
        return None
    *path, last = key.split(".")
    node: Any = values
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:  # a config group, or a key the config lacks
        return None
    node[last] = value
    try:
        check(values, searchpath)
    except AblateError as e:
        return str(e) if str(e).startswith(f"{key}=") else None
    return None


def check(cfg: Any, searchpath: tuple[str, ...] | None = None, *, training: bool = True) -> None:
    """Check a composed config once: every group's keys, types, ranges and choices, the template and the budget.

    Raises `ConfigError` (or the engine's `TemplateError` / `BudgetError`) with one sentence naming the field.
    `searchpath` finds `budget.reference`'s model config (None: the running Hydra job's search path, else the
    package's configs; see `ablate.config.loading.load_template`). `training`: the config is a training run's,
    so the model must fit the data set as far as its config tells (`DataConfig.fixes`); a command that only
    reads the model (describe, the budget table) passes False.
    """
    try:
        values = plain(cfg)
    except Exception as e:  # an interpolation that does not resolve
        raise ConfigError(f"the config does not resolve: {' '.join(str(e).split())}") from None
    for name in ("model", "budget", "optim", "data", "trainer"):
        if name not in values:
            raise ConfigError(f"{name} is missing: the config has no {name} node; select one with {name}=NAME.")
    template = check_model(values["model"])
    check_budget(values["budget"], template, searchpath)
    check_keys("optim", values["optim"], OptimConfig)
    _apply("optim", values["optim"], OptimConfig)
    overflow = rate_overflow(values["optim"])
    if overflow is not None:
        raise overflow
    data = data_config(values["data"])
    unfit = misfit(data.name, template, data.fixes()) if training else None
    if unfit is not None:
        raise unfit
    if training:
        check_images(data, values["optim"]["batch_size"])
    check_keys("trainer", values["trainer"], TrainerConfig)
    trainer = _apply("trainer", values["trainer"], TrainerConfig)
    if trainer["precision"] == "fp16" and trainer["device"] == "cpu":  # known here; on device=auto only in the job
        raise ConfigError(
            "trainer.precision='fp16' needs a CUDA device, and trainer.device=cpu: use trainer.precision=bf16, fp32 "
            "or auto, or a CUDA device."
        )
    if training:
        if trainer["world_size"] != "auto":  # known at compose time, not only once the processes have started
            uneven = uneven_batch(values["optim"]["batch_size"], trainer["world_size"])
            if uneven is not None:
                raise uneven
        from ablate.run.loggers import check_environment_store

        check_environment_store(trainer["loggers"], trainer["mlflow_uri"])
    check_keys("", {k: v for k, v in values.items() if k != "hydra" and k not in MEMBER_KEYS}, Config)  # last
    SEED("seed", values["seed"])
    for key, rule in MEMBER_KEYS.items():
        if key in values:
            rule(key, values[key])


for _cls in (Config, ModelConfig, OptimConfig, TrainerConfig, BudgetConfig, *DATA.values()):
    _untyped(_cls)
