"""Designs drawn from named design spaces, each landed on the budget by the solver: no rejection sampling.

A design space says, per template field, what a design may take (`hydra.sweeper.spaces.NAME`):
`cardinality` and `width` a list of choices, `depths` one `[fewest, most]` range of blocks per stage
(a single number fixes that stage); a field left out keeps the model's own value. The bottleneck
width d is never sampled: the budget solver sets it (`ablate.engine.budget.solve`, the config's
`budget.vary`), as it does at run time, so every design meets the same budget — the paper's
comparison at equal complexity (Radosavovic et al., 2019, §3) without training designs that miss it.

Sampling is seeded. Space NAME draws from numpy's `Generator` seeded with `(seed, crc32(NAME))`, and
every draw takes the same numbers from that stream, so the same seed gives the same designs, a space's
designs do not depend on which other spaces it is compared with, and asking for more samples keeps
the first ones (a resumed sweep with a larger `samples` adds designs, it does not replace them). A
draw the solver cannot land on the budget within `budget.tolerance` (or that gives an invalid
template), or that repeats an earlier design of its space, is passed over and the stream's next
draw taken: the designs are the first N distinct on-budget draws. A space none of whose draws meets
the budget, or with fewer than N distinct designs that do, is refused with one sentence.
"""

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ablate.engine.budget import Budget, solve
from ablate.engine.template import Template
from ablate.errors import BudgetError, ConfigError, TemplateError, shown

FIELDS = ("cardinality", "width", "depths")
PREFIX = "hydra.sweeper."
SPACE_KEY = "design_space"  # the root key each member carries (`+design_space=NAME`): the report groups by it


@dataclass(frozen=True)
class Space:
    """One design space: the choices of each field (None: the model's own value)."""

    name: str
    cardinality: tuple[int, ...] | None = None
    width: tuple[int, ...] | None = None
    depths: tuple[tuple[int, int], ...] | None = None  # per stage: (fewest, most) blocks

    def to_dict(self) -> dict:
        return {
            "cardinality": None if self.cardinality is None else list(self.cardinality),
            "width": None if self.width is None else list(self.width),
            "depths": None if self.depths is None else [list(r) for r in self.depths],
        }

    def size(self) -> int:
        """How many distinct designs (C, width, depths) the space holds; a field left out counts once."""
        count = len(self.cardinality or (0,)) * len(self.width or (0,))
        for lo, hi in self.depths or ():
            count *= hi - lo + 1
        return count

    def describe(self) -> str:
        """`C ∈ {2, 4}, width ∈ {16, 32}, depths ∈ [1–3]×[1–2]` (fields left out: the model's own)."""
        parts = []
        for name, values in (("C", self.cardinality), ("width", self.width)):
            if values is not None:
                parts.append(f"{name} ∈ {{{', '.join(map(str, values))}}}")
        if self.depths is not None:
            parts.append("depths ∈ " + "×".join(f"[{lo}–{hi}]" if lo < hi else f"[{lo}]" for lo, hi in self.depths))
        return ", ".join(parts) or "the model as written"


@dataclass(frozen=True)
class Design:
    """One sampled design of a space, with the d the solver gives it and how near the budget that lands."""

    space: str
    sample: int  # its index among the space's designs, 0…N−1
    draw: int  # the draw of the space's stream it came from (draws passed over come before it)
    cardinality: int
    depths: tuple[int, ...]
    width: int
    scale: float | None  # its budget.scale (None: the config's budget, one value for every design)
    bottleneck_width: int  # d, from the solver
    achieved: int
    target: float
    deviation: float

    @property
    def overrides(self) -> list[str]:
        """The member's overrides: its fields, its budget scale where the budget is a range, and its space."""
        out = [
            f"model.cardinality={self.cardinality}",
            f"model.depths=[{','.join(map(str, self.depths))}]",
            f"model.width={self.width}",
        ]
        if self.scale is not None:
            out.append(f"budget.scale={self.scale!r}")
        return [*out, f"+{SPACE_KEY}={self.space}"]

    def to_dict(self) -> dict:
        return {
            "space": self.space,
            "sample": self.sample,
            "draw": self.draw,
            "cardinality": self.cardinality,
            "depths": list(self.depths),
            "width": self.width,
            "scale": self.scale,
            "bottleneck_width": self.bottleneck_width,
            "achieved": self.achieved,
            "target": self.target,
            "deviation": self.deviation,
            "overrides": self.overrides,
        }


@dataclass(frozen=True)
class Sample:
    """A space's designs and what the draws that were passed over were."""

    space: Space
    designs: tuple[Design, ...]
    draws: int  # draws taken
    off_budget: int  # draws the solver could not land on the budget
    repeats: int  # on-budget draws that repeated an earlier design
    first_refusal: str | None  # the solver's sentence for the first draw off the budget

    def to_dict(self) -> dict:
        return {
            "draws": self.draws,
            "off_budget": self.off_budget,
            "repeats": self.repeats,
            "first_refusal": self.first_refusal,
        }


# ----------------------------------------------------------------------------- checking the config
def _whole(value: Any, least: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _choices(name: str, field: str, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or not all(_whole(v) for v in values):
        example = "[2,4,8,16,32]" if field == "cardinality" else "[16,32]"
        raise ConfigError(
            f"{PREFIX}spaces.{name}.{field}={shown(value)} is invalid: give a list of whole numbers of at "
            f"least 1 to choose from, such as {example}."
        )
    return tuple(dict.fromkeys(values))  # a repeated choice would weigh double: once each


def _depths(name: str, value: Any) -> tuple[tuple[int, int], ...] | None:
    if value is None:
        return None
    ranges: list[tuple[int, int]] = []
    for stage in value if isinstance(value, (list, tuple)) else [None]:
        pair: list[Any] = list(stage) if isinstance(stage, (list, tuple)) else [stage, stage]
        if len(pair) != 2 or not all(_whole(v) for v in pair) or pair[0] > pair[1]:
            ranges = []
            break
        ranges.append((int(pair[0]), int(pair[1])))
    if not ranges:
        raise ConfigError(
            f"{PREFIX}spaces.{name}.depths={shown(value)} is invalid: give one [fewest, most] range of "
            "blocks per stage (a number fixes a stage), such as [[1,3],[1,3],[1,3],[1,2]]."
        )
    return tuple(ranges)


def spaces_of(node: Any) -> dict[str, Space]:
    """`hydra.sweeper.spaces` as checked `Space`s, in the config's order; `ConfigError` (one sentence) otherwise."""
    example = f"{PREFIX}spaces.resnet={{cardinality:[1]}}"
    if not isinstance(node, Mapping) or not node:
        raise ConfigError(
            f"{PREFIX}spaces={shown(node)} defines no design space: give two or more, each a mapping of "
            f"{', '.join(FIELDS)}, such as {example}."
        )
    out = {}
    for name, fields in node.items():
        name = str(name)
        if not isinstance(fields, Mapping):
            raise ConfigError(
                f"{PREFIX}spaces.{name}={shown(fields)} is invalid: a design space is a mapping of "
                f"{', '.join(FIELDS)}, such as {example}."
            )
        unknown = sorted(str(k) for k in fields if k not in FIELDS)
        if unknown:
            raise ConfigError(
                f"{PREFIX}spaces.{name}.{unknown[0]} is not a design-space field: valid fields are "
                f"{', '.join(FIELDS)} (d is solved for the budget)."
            )
        out[name] = Space(
            name,
            _choices(name, "cardinality", fields.get("cardinality")),
            _choices(name, "width", fields.get("width")),
            _depths(name, fields.get("depths")),
        )
    return out


def chosen(spaces: Mapping[str, Space], compare: Sequence[str] | None) -> list[Space]:
    """The spaces `hydra.sweeper.compare` names (None: every space defined), two or more, each defined once."""
    defined = ", ".join(spaces)
    if compare is not None and (isinstance(compare, (str, Mapping)) or not isinstance(compare, Sequence)):
        raise ConfigError(  # a text or a mapping would be read for its letters or its keys
            f"{PREFIX}compare={shown(compare)} is invalid: give a list of the spaces to compare, such as "
            f"{PREFIX}compare=[{','.join(list(spaces)[:2])}], or null for every space defined ({defined})."
        )
    names = list(spaces) if compare is None else [str(c) for c in compare]
    for name in names:
        if name not in spaces:
            raise ConfigError(
                f"{PREFIX}compare={shown(names)} names {name!r}, which is not a design space: the spaces "
                f"defined in {PREFIX}spaces are {defined}."
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"{PREFIX}compare={shown(names)} names a space twice: give each space once.")
    if len(names) < 2 and len(spaces) >= 2:  # more are defined: compare them
        raise ConfigError(
            f"{PREFIX}compare={shown(names)} gives {len(names)} design space{'s' * (len(names) != 1)}: a comparison "
            f"needs two or more, such as {PREFIX}compare=[{','.join(list(spaces)[:2])}]."
        )
    if len(names) < 2:  # too few defined: define another
        beside = f"another beside {', '.join(spaces)}" if spaces else "two"
        raise ConfigError(
            f"{PREFIX}spaces gives {len(names)} design space{'s' * (len(names) != 1)}: a comparison needs two or "
            f"more: define {beside}, e.g. '+{PREFIX}spaces.other={{cardinality:[2,4],width:[32],"
            "depths:[[1,3],[1,3],[1,3],[1,2]]}'."
        )
    return [spaces[n] for n in names]


def check_samples(samples: Any) -> int:
    if not _whole(samples, 2):
        raise ConfigError(
            f"{PREFIX}samples={shown(samples)} is invalid: give a whole number of at least 2 designs per "
            "space (an error distribution and a test between spaces need two or more)."
        )
    return samples


def check_draws(draws: Any, samples: int) -> int:
    """The most draws per space: a whole number, no fewer than the designs sampled per space (either field may be
    the one typed, so a shortfall names both)."""
    if _whole(draws, 1) and draws < samples:
        raise ConfigError(
            f"{PREFIX}draws={draws} is fewer than {PREFIX}samples={samples}: a space needs at least one draw per "
            f"design sampled; raise {PREFIX}draws to {samples} or more, or lower {PREFIX}samples."
        )
    if not _whole(draws, samples):
        raise ConfigError(
            f"{PREFIX}draws={shown(draws)} is invalid: give a whole number of draws per space, at least "
            f"{PREFIX}samples={samples}."
        )
    return draws


def check_seed(seed: Any) -> int:
    if not _whole(seed, 0):
        raise ConfigError(f"{PREFIX}seed={shown(seed)} is invalid: give a whole number of at least 0, such as 0.")
    return seed


def check_scale_range(value: Any, absolute_target: bool) -> tuple[float, float] | None:
    """None (every design at the config's budget) or a checked [low, high] of budget scales."""
    if value is None:
        return None
    pair = list(value) if isinstance(value, (list, tuple)) else []
    ok = (
        len(pair) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in pair)
        and pair[0] <= pair[1]
    )
    if not ok:
        raise ConfigError(
            f"{PREFIX}scale_range={shown(value)} is invalid: give [low, high], two positive budget scales "
            "with low ≤ high, such as [0.5,2.0], or null for one budget."
        )
    if absolute_target:
        raise ConfigError(
            f"{PREFIX}scale_range={shown(pair)} needs a budget relative to a model (budget.target=null): "
            "an absolute budget.target does not scale."
        )
    return float(pair[0]), float(pair[1])


# ----------------------------------------------------------------------------- sampling
def _seed_of(seed: int, name: str) -> list[int]:
    return [seed, zlib.crc32(name.encode())]


def sample(
    space: Space,
    base: Template,
    budget: Callable[[float | None], Budget],
    n: int,
    seed: int = 0,
    scale_range: tuple[float, float] | None = None,
    draws: int = 1000,
    vary: str = "bottleneck_width",
    stage: int | None = None,
) -> Sample:
    """The first `n` distinct designs of `space` the solver lands on `budget(scale)`, in at most `draws` draws.

    `base` is the model as configured (the fields a space leaves out keep its values); `budget(scale)`
    is the budget a design with that `budget.scale` meets (scale None: the config's own). Raises
    `ConfigError` when no draw meets the budget, or fewer than `n` distinct designs do.
    """
    import numpy as np

    size = space.size()
    if scale_range is None and n > size:  # no draw can give more designs than the space holds
        raise ConfigError(
            f"{PREFIX}samples={n} is more than the {size} designs design space {space.name!r} ({space.describe()}) "
            "holds: give fewer samples, or widen the space."
        )
    rng = np.random.default_rng(_seed_of(seed, space.name))
    designs: list[Design] = []
    seen: set[tuple] = set()
    refused: set[tuple] = set()  # designs off the budget: drawn again, they are passed over without solving
    off = repeats = taken = 0
    first: str | None = None
    budget_text = None
    for k in range(draws):
        if scale_range is None and len(seen) + len(refused) == size:  # every design was drawn: no new one can come
            break
        taken = k + 1
        c = (
            base.cardinality
            if space.cardinality is None
            else space.cardinality[int(rng.integers(len(space.cardinality)))]
        )
        w = base.width if space.width is None else space.width[int(rng.integers(len(space.width)))]
        depths = (
            tuple(base.depths)
            if space.depths is None
            else tuple(int(rng.integers(lo, hi, endpoint=True)) for lo, hi in space.depths)
        )
        scale = None
        if scale_range is not None:
            lo, hi = scale_range
            scale = float(f"{math.exp(rng.uniform(math.log(lo), math.log(hi))):.3g}")
        key = (int(c), depths, int(w), scale)
        if key in refused:
            off += 1
            continue
        if key in seen:
            repeats += 1
            continue
        try:
            b = budget(scale)
            budget_text = budget_text or _budget_text(b, scale_range)
            solution = solve(base.replace(cardinality=int(c), width=int(w), depths=depths), b, vary=vary, stage=stage)
        except (BudgetError, TemplateError) as e:
            off += 1
            refused.add(key)
            first = first or str(e)
            continue
        seen.add(key)
        t = solution.template
        designs.append(
            Design(
                space.name,
                len(designs),
                k,
                t.cardinality,
                tuple(t.depths),
                t.width,
                scale,
                t.bottleneck_width,
                solution.achieved,
                solution.target,
                solution.deviation,
            )
        )
        if len(designs) == n:
            break
    result = Sample(space, tuple(designs), taken, off, repeats, first)
    if not designs:
        every = scale_range is None and len(refused) == size  # every design of the space was drawn
        what = (
            (f"its {size} designs are all" if size > 1 else "its one design is") if every else f"all {taken} draws were"
        )
        raise ConfigError(
            f"design space {space.name!r} ({space.describe()}) has no design on the budget: {what} off it "
            f"({budget_text or 'the budget'}; the first: {str(first).rstrip('.')}): widen the space or loosen "
            "budget.tolerance."
        )
    if len(designs) < n:
        raise ConfigError(
            f"{PREFIX}samples={n} is more than the {len(designs)} distinct on-budget designs design "
            f"space {space.name!r} gave in {taken} draws ({off} off the budget, {repeats} repeats): "
            f"give fewer samples, widen the space, or raise {PREFIX}draws."
        )
    return result


def _budget_text(b: Budget, scale_range: tuple[float, float] | None) -> str:
    if scale_range is not None:
        return f"{b.metric} at {scale_range[0]:g}–{scale_range[1]:g}× {b.reference or 'the reference'} ±{b.tolerance:g}"
    return f"{b.metric}={b.target:,.0f} ±{b.tolerance:g}"


def sample_all(spaces: Sequence[Space], *args: Any, **kwargs: Any) -> list[Sample]:
    """`sample(space, *args, **kwargs)` for each space, in order."""
    return [sample(s, *args, **kwargs) for s in spaces]
