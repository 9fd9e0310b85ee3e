"""Hydra's sweep grammar as Optuna distributions, and back to overrides.

`choice(a,b,...)` -> categorical; `range(start,stop[,step])` (stop excluded, as in Python and
Hydra's basic sweeper) -> integer or stepped float distribution; `interval(low,high)` -> float
distribution, integer with `int(interval(...))` (Hydra's cast, as the official Optuna sweeper
reads it) or `tag(int, ...)`, log-scaled with `tag(log, ...)`. A plain `key=value` is fixed: every
trial gets it; a deletion `~key` is passed on as typed. Keys are checked against the composed
config before any trial is asked.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ablate.config.callback import first_repeat
from hydra_plugins.ablate_optuna_sweeper._errors import SweepConfigError as ConfigError

_PLAIN = re.compile(r"[\w\-+./:@%*?|]+")  # a string Hydra reads back unchanged without quotes


@dataclass
class SearchSpace:
    """The distributions to sample, the fixed overrides, and how a sampled value is written."""

    distributions: dict = field(default_factory=dict)  # key -> optuna BaseDistribution
    fixed: dict = field(default_factory=dict)  # key -> value text
    deletions: dict = field(default_factory=dict)  # key -> `~key` or `~key=value`, as typed
    overrides: dict = field(default_factory=dict)  # key -> parsed hydra Override (for checks)
    sources: dict = field(default_factory=dict)  # key -> where it was given, for error sentences
    lines: dict = field(default_factory=dict)  # key -> the sweep as typed, e.g. `choice(1,2,4)`
    repeat_key: str | None = None  # the key whose values are every trial's repeats (`take_repeats`)
    repeats: list = field(default_factory=list)  # its values, as override text: one job of each trial per value

    def trial_overrides(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The Hydra overrides of one trial: its sampled parameters (those of the search space, then any
        a `custom_search_space` function added), the fixed values and the deletions."""
        keys = [k for k in self.distributions if k in params] + [k for k in params if k not in self.distributions]
        sampled = tuple(f"{key}={value_text(params[key])}" for key in keys)
        return sampled + tuple(f"{key}={value}" for key, value in self.fixed.items()) + tuple(self.deletions.values())

    def job_overrides(self, params: Mapping[str, Any]) -> list[tuple[str, ...]]:
        """The overrides of each job of one trial: one per repeat (`seed=0`, `seed=1`, ...) after the trial's own,
        or the trial's alone when there are no repeats."""
        base = self.trial_overrides(params)
        if self.repeat_key is None:
            return [base]
        return [(*base, f"{self.repeat_key}={value}") for value in self.repeats]

    def description(self) -> dict:
        """The search space as stored with the study (a resumed study must search the same one): each
        parameter's Optuna distribution as JSON and the sweep as typed."""
        from optuna.distributions import distribution_to_json

        return {
            key: {"distribution": distribution_to_json(d), "sweep": self.lines.get(key, "")}
            for key, d in self.distributions.items()
        }


def value_text(value: Any) -> str:
    """A sampled value in override syntax (strings arrive already in that form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def parse(params: Mapping[str, str] | None, arguments: Iterable[str] = (), config_loader=None) -> SearchSpace:
    """The search space of `hydra.sweeper.params` and the command-line overrides (which win)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create(config_loader=config_loader)
    lines = [(f"hydra.sweeper.params.{k}", f"{k}={v}") for k, v in (params or {}).items()]
    lines += [("the command line", a) for a in arguments]
    space = SearchSpace()
    for where, line in lines:
        try:
            override = parser.parse_override(line)
        except HydraException as e:
            raise ConfigError(_parse_sentence(where, line, e)) from None
        key = override.get_key_element()
        for known in (space.distributions, space.fixed, space.deletions):
            known.pop(key, None)
        space.overrides[key] = override
        space.sources[key] = where
        if override.is_delete():
            space.deletions[key] = override.input_line or line
        elif override.is_sweep_override():
            space.distributions[key] = distribution(override, f"{line} in {where}")
            space.lines[key] = line.partition("=")[2]
        else:
            space.fixed[key] = override.get_value_element_as_str()
    return space


def _parse_sentence(where: str, line: str, error: Exception) -> str:
    key, _, value = line.partition("=")
    msg = " ".join(str(error).split())
    if "empty choice" in msg:
        return f"{key}={value} in {where} is an empty choice: give at least one value, e.g. {key}=choice(1,2,4)."
    return f"{key}={value} in {where} cannot be parsed as a Hydra override: {msg.rstrip('.')}."


def distribution(override, line: str = ""):
    """The Optuna distribution of one sweep override (choice, range or interval)."""
    from hydra.core.override_parser.types import Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key = override.get_key_element()
    line = line or override.input_line or key
    value = override.value()
    tags = set(getattr(value, "tags", ()) or ())
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        raw = list(override.sweep_iterator())
        encoded = list(override.sweep_iterator(transformer=Transformer.encode))
        if override.is_range_sweep():  # shuffle(range(...)): the order means nothing to a sampler
            raw = encoded = sorted(raw)
        if not raw:
            raise ConfigError(f"{line} is an empty choice: give at least one value, e.g. {key}=choice(1,2,4).")
        return CategoricalDistribution([_choice(r, e) for r, e in zip(raw, encoded, strict=True)])
    if override.is_range_sweep():
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(f"{line} is an empty range: its start must be below its stop, e.g. {key}=range(1,5).")
        if "log" in tags:
            raise ConfigError(f"{line} cannot be log-scaled: use tag(log, interval(low, high)) instead of a range.")
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(value.start, values[-1], step=value.step)
        return FloatDistribution(value.start, values[-1], step=value.step)
    if override.is_interval_sweep():
        low, high = value.start, value.end
        if not low <= high:
            raise ConfigError(f"{line} is an empty interval: its low end must not exceed its high end.")
        log = "log" in tags
        if log and low <= 0:
            raise ConfigError(f"{line} cannot be log-scaled: a log interval needs a low end above 0.")
        if "int" in tags or (isinstance(low, int) and isinstance(high, int)):  # tag(int, ...) or int(interval(...))
            return IntDistribution(int(low), int(high), log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise ConfigError(
        f"{line} is a sweep this sweeper cannot sample: use choice(...), range(...) or "
        "interval(...), with tag(log, ...) or int(...)."
    )


def grid_axes(space: SearchSpace) -> dict[str, list]:
    """The search space as GridSampler's axes: every value of each choice, range and int(interval(...)).
    A continuous interval has no grid: ConfigError naming it."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    axes: dict[str, list] = {}
    for key, d in space.distributions.items():
        if isinstance(d, CategoricalDistribution):
            axes[key] = list(d.choices)
        elif isinstance(d, IntDistribution):
            axes[key] = list(range(d.low, d.high + 1, d.step))
        elif isinstance(d, FloatDistribution) and d.step is not None:
            n = int(round((d.high - d.low) / d.step))
            axes[key] = [d.low + i * d.step for i in range(n + 1)]
        else:
            raise ConfigError(
                f"{key}={space.lines.get(key, '')} in {space.sources.get(key, 'the sweep')} cannot be a "
                "grid axis: hydra/sweeper/sampler=grid takes choice(...), range(...) or "
                "int(interval(...)) parameters."
            )
    return axes


def _choice(raw: Any, encoded: Any) -> Any:
    """A categorical choice as Optuna stores it: numbers and booleans as they are, the rest
    as override text (lists and dicts in Hydra syntax, strings quoted where needed)."""
    if isinstance(raw, (bool, int, float)) or raw is None:
        return raw
    if isinstance(raw, str):
        if _PLAIN.fullmatch(raw) and raw.lower() not in ("true", "false", "null"):
            return raw
        return "'" + raw.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(encoded)


def check_fractions(space: SearchSpace, config) -> None:
    """On ablate's config: refuse a float interval or range for a field that takes whole numbers (a width, C, d),
    which would fail every trial, with the form that samples whole numbers instead."""
    from optuna.distributions import FloatDistribution

    from ablate.config.loading import is_ablate_config, job_searchpath
    from ablate.config.schema import refusal

    if not is_ablate_config(config):
        return
    searchpath = job_searchpath(config)
    for key, dist in space.distributions.items():
        typed = space.lines.get(key, "")
        if not isinstance(dist, FloatDistribution):
            continue
        if dist.step is None:
            probe = _fraction(dist.low, dist.high) if "interval(" in typed else None
        else:  # a range of floats: its first value with a fractional part, else its first (16.0)
            values = [dist.low + i * dist.step for i in range(int(round((dist.high - dist.low) / dist.step)) + 1)]
            probe = next((v for v in values if v != int(v)), dist.low)
        if probe is None:
            continue
        sentence = refusal(config, key, probe, searchpath)
        if sentence is None or refusal(config, key, round(probe), searchpath) is not None:
            continue  # floats are fine, or whole numbers are refused too: not a matter of the sweep's form
        kind, shown = ("fractions", f"{probe:g}") if probe != int(probe) else ("floats", f"{probe:.1f}")
        raise ConfigError(
            f"{key}={typed} in {space.sources.get(key, 'the sweep')} samples {kind} such as {shown}, but "
            f"{sentence.rstrip('.')}; {_whole(key, typed, space.overrides[key])}."
        )


def take_repeats(space: SearchSpace, key: str | None) -> None:
    """Move the sweep of `key` (the repeat key: `seed` on ablate's app) out of the distributions into
    `space.repeats`: sampled like a design choice, a seed would make the search's best trial partly the luckiest
    seed; as repeats, every trial trains its design with each value. A continuous interval has no values to
    repeat over: ConfigError."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dist = space.distributions.get(key) if key is not None else None
    if dist is None:
        return
    if isinstance(dist, CategoricalDistribution):
        values = list(dist.choices)
    elif isinstance(dist, IntDistribution) and not dist.log:
        values = list(range(dist.low, dist.high + 1, dist.step))
    elif isinstance(dist, FloatDistribution) and dist.step is not None and not dist.log:
        values = [dist.low + i * dist.step for i in range(int(round((dist.high - dist.low) / dist.step)) + 1)]
    else:
        raise ConfigError(
            f"{key}={space.lines.get(key, '')} in {space.sources.get(key, 'the sweep')} has no list of values to "
            f"repeat every trial with ({key} is hydra.sweeper.repeat_key): give them as {key}=0,1,2 or "
            f"{key}=range(3)."
        )
    texts = [value_text(v) for v in values]
    twice = first_repeat(texts)
    if twice is not None:
        raise ConfigError(
            f"{key}={space.lines.get(key, '')} in {space.sources.get(key, 'the sweep')} gives {key}={twice} twice: "
            f"each of every trial's repeats needs its own {key}, e.g. {key}=0,1,2."
        )
    del space.distributions[key]
    space.repeat_key, space.repeats = key, texts


def check_distinct(space: SearchSpace) -> None:
    """A `choice` that gives a value twice (`choice(1,1,2)`, `choice([1,2],[1, 2])`: the values compared as the
    override text each becomes): ConfigError. The sampler would propose that value twice as often, and a grid sweep's
    repeated value is refused too. After `take_repeats`, whose own sentence says it for the repeat key."""
    from hydra.core.override_parser.types import Transformer

    for key, override in space.overrides.items():
        if key not in space.distributions or not override.is_choice_sweep():
            continue
        repeat = first_repeat([str(e) for e in override.sweep_iterator(transformer=Transformer.encode)])
        if repeat is not None:
            raise ConfigError(
                f"{key}={space.lines.get(key, '')} in {space.sources.get(key, 'the sweep')} gives {key}={repeat} "
                "twice: each choice is one design, which the sampler would propose twice as often, so give it once."
            )


def check_constant(space: SearchSpace, config, loader) -> None:
    """On ablate's config: refuse a search whose constant part no trial can take (`optim.lr=-1`, `+budget.bogus=1`)
    before the study is touched, rather than fail trial after trial until the failure rate stops it: the base config
    and one design of the space (each parameter's first value) refused with one and the same sentence. Refused
    differently, or the design accepted, the sampled values decide, and each trial records its own failure."""
    from ablate.config.callback import refusal
    from ablate.config.loading import is_ablate_config

    if not is_ablate_config(config):
        return
    base = refusal(config)
    if base is None:
        return
    probe = {key: _first(d) for key, d in space.distributions.items()}
    try:
        design = loader.load_sweep_config(config, list(space.job_overrides(probe)[0]))
    except Exception:  # a design Hydra cannot compose: the first trial says so in its own words
        return
    if refusal(design) == base:
        raise ConfigError(f"{base.rstrip('.')} (in every trial of the search).")


def _first(d) -> Any:
    from optuna.distributions import CategoricalDistribution

    return d.choices[0] if isinstance(d, CategoricalDistribution) else d.low


def _whole(key: str, typed: str, override) -> str:
    """How to sample whole numbers instead: `int(...)` around an interval; a range in whole numbers."""
    if "interval(" in typed:
        return f"write {key}={_as_int(typed)} to sample whole numbers"
    value = override.value()
    ends = (value.start, value.stop, value.step)
    if all(float(v).is_integer() for v in ends) and typed.strip().startswith("range("):
        start, stop, step = (int(v) for v in ends)
        return f"write {key}=range({start},{stop}{'' if step == 1 else f',{step}'}) to sample whole numbers"
    return "give the range's start, stop and step as whole numbers"


def _fraction(low: float, high: float) -> float | None:
    """A value with a fractional part inside [low, high], near its middle; None if there is none."""
    middle = (low + high) / 2
    if middle != int(middle):
        return middle
    step = min(0.5, (high - middle) / 2)
    return middle + step if step > 0 else None


def _as_int(typed: str) -> str:
    """`interval(16,48)` as `int(interval(16,48))`, inside any tag: `tag(log, int(interval(1,64)))`."""
    start = typed.index("interval(")
    depth, end = 0, len(typed) - 1
    for i in range(start + len("interval"), len(typed)):
        depth += {"(": 1, ")": -1}.get(typed[i], 0)
        if depth == 0:
            end = i
            break
    return f"{typed[:start]}int({typed[start : end + 1]}){typed[end + 1 :]}"


def check_keys(space: SearchSpace, config) -> None:
    """Refuse a key that is neither a config group nor a node of the composed config.

    Keys added with `+` or `++` and deletions with `~` are left to Hydra.
    """
    from hydra.core.override_parser.types import OverrideType
    from omegaconf import DictConfig, OmegaConf

    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    missing = object()
    for name, override in space.overrides.items():
        if override.type is not OverrideType.CHANGE or override.package:
            continue
        key = override.key_or_group
        if key in choices or key.startswith("hydra."):
            continue
        if OmegaConf.select(config, key, default=missing, throw_on_missing=False) is not missing:
            continue
        parent_key, _, last = key.rpartition(".")
        parent = OmegaConf.select(config, parent_key, default=None) if parent_key else config
        if isinstance(parent, DictConfig) and last in parent.keys():  # present, value '???'
            continue
        where = space.sources.get(name, "the sweep")
        if isinstance(parent, DictConfig):
            keys = [k for k in parent.keys() if k != "hydra"]
            valid = f"valid keys under {parent_key or 'the root'} are {', '.join(map(str, keys))}"
        else:
            valid = f"{parent_key} is not a config node"
        raise ConfigError(f"{name} in {where} is not in the config: {valid}; add a new key with +{key}.")
