"""A finished job as the numbers Optuna is told: objective values and constraint values.

A value comes from the job's return value or from its result file (`result.json` in the
job's output folder), by a dotted key such as `model.complexity.flops`: the training app
returns only the validation error, and its record holds the complexity. Anything missing,
non-numeric or NaN makes the trial fail with one sentence saying why.
"""

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra_plugins.ablate_optuna_sweeper._errors import SweepConfigError as ConfigError

RETURN = "return"
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_KEY = re.compile(r"[A-Za-z_][\w]*(\.[\w]+)*")
_CONSTRAINT = re.compile(r"^\s*(?P<lhs>.+?)\s*(?P<op><=|>=)\s*(?P<rhs>.+?)\s*$")


class TrialFailed(Exception):
    """A job whose values cannot be told: the message is the reason, one clause."""


@dataclass(frozen=True)
class Term:
    """One side of a constraint: a number, or a key in the result file, maybe inside abs()."""

    key: str | None = None
    number: float | None = None
    absolute: bool = False

    @classmethod
    def parse(cls, text: str, where: str) -> "Term":
        text = text.strip()
        absolute = text.startswith("abs(") and text.endswith(")")
        inner = text[4:-1].strip() if absolute else text
        if _NUMBER.fullmatch(inner):
            return cls(number=float(inner), absolute=absolute)
        if _KEY.fullmatch(inner):
            return cls(key=inner, absolute=absolute)
        raise ConfigError(
            f"{where} has the term {text!r}, which is neither a number nor a dotted key "
            "such as model.complexity.flops, optionally inside abs()."
        )

    def value(self, record: dict | None, where: str) -> float:
        if self.key is None:  # a number term (`parse` gives a number or a key)
            x = float(self.number)  # type: ignore[arg-type]
        else:
            x = number(lookup(record, self.key, where), f"{self.key} in {where}")
        return abs(x) if self.absolute else x


@dataclass(frozen=True)
class Constraint:
    """`lhs <= rhs` or `lhs >= rhs`; its Optuna value is positive exactly when it is violated."""

    text: str
    lhs: Term
    op: str
    rhs: Term

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        where = f"hydra.sweeper.constraints entry {text!r}"
        match = _CONSTRAINT.match(str(text))
        if not match:
            raise ConfigError(
                f"{where} is not of the form 'LHS <= RHS' or 'LHS >= RHS', e.g. 'model.complexity.flops <= 2e7'."
            )
        return cls(str(text), Term.parse(match["lhs"], where), match["op"], Term.parse(match["rhs"], where))

    def value(self, record: dict | None, where: str) -> float:
        lhs, rhs = self.lhs.value(record, where), self.rhs.value(record, where)
        return lhs - rhs if self.op == "<=" else rhs - lhs


def lookup(record: dict | None, key: str, where: str) -> Any:
    """The value at a dotted key of a result record; TrialFailed when it is not there."""
    if record is None:
        raise TrialFailed(f"there is no readable {where}")
    node: Any = record
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise TrialFailed(f"{where} has no {key}")
    return node


def lookup_or_none(record: dict | None, key: str) -> Any:
    """The value at a dotted key of a result record, or None when it is not there."""
    try:
        return lookup(record, key, "")
    except TrialFailed:
        return None


def number(value: Any, what: str) -> float:
    """`value` as a finite float; TrialFailed naming `what` otherwise."""
    if value is None:
        raise TrialFailed(f"{what} is null")
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TrialFailed(f"{what} is {value!r}, which is not a number")
    x = float(value)
    if not math.isfinite(x):
        raise TrialFailed(f"{what} is {x}, not a finite number")
    return x


def read_record(job_dir: str | Path | None, result_file: str) -> dict | None:
    """The job's result record, or None when it has none (or it is not valid JSON)."""
    if job_dir is None:
        return None
    try:
        return json.loads((Path(job_dir) / result_file).read_text())
    except (OSError, ValueError):
        return None


def values(
    returned: Any, objectives: Sequence[str] | None, n_directions: int, record: dict | None, where: str
) -> list[float]:
    """The objective values of one job, one per direction (see the config's `objectives`)."""
    if returned is None and (objectives is None or RETURN in objectives):
        raise TrialFailed("the job returned no value (None)")
    if objectives is None:
        if n_directions == 1:
            return [number(returned, "the job's return value")]
        if isinstance(returned, (str, bytes)) or not isinstance(returned, Sequence):
            raise TrialFailed(f"the job's return value is {returned!r}, not a sequence of {n_directions} numbers")
        if len(returned) != n_directions:
            raise TrialFailed(f"the job returned {len(returned)} values for {n_directions} directions")
        return [number(v, f"the job's return value {i}") for i, v in enumerate(returned)]
    return [
        number(returned, "the job's return value")
        if name == RETURN
        else number(lookup(record, name, where), f"{name} in {where}")
        for name in objectives
    ]
