"""The report's options: the `report:` node of the app config (`conf/config.yaml`).

`reference` names the setting every other setting is compared with: one or more overrides as
they appear on the command line (`model.cardinality=1`, `+variant=baseline`, or a bare value
such as `baseline`), or the setting's label in the table (`1×64d`); None takes the sweep's
first setting that has a completed run. `resolution` is δ, in top-1 error points: two settings
whose difference lies, with 95% confidence, inside ±δ are reported as equivalent.

A sweep's report takes these from the sweep's own config (its `multirun.yaml`), so
`python -m ablate +sweep=… 'report.reference="model.cardinality=1"' -m` (Hydra's grammar wants a value that holds
`=` in its own quotes) and `python -m ablate.report DIR` agree; a multirun checks them when it starts
(`ablate.report.callback.options_refusal`);
`python -m ablate.report DIR --reference … --resolution …` overrides them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from ablate.errors import ConfigError, override_value, shown

# How each option is named in sentences, by where its value came from.
CONFIG_NAMES = {"reference": "report.reference", "resolution": "report.resolution"}
CLI_NAMES = {"reference": "--reference", "resolution": "--resolution"}


@dataclass
class ReportConfig:
    """How a sweep's report compares its settings (structured-config schema of the `report:` node)."""

    reference: Optional[str] = None  # noqa: UP045 (OmegaConf 2.3 reads Optional, not `str | None`)
    resolution: float = 0.2


@dataclass(frozen=True)
class Options:
    """Checked report options, with the name each one had where the user typed it."""

    reference: str | None = None
    resolution: float = ReportConfig.resolution
    names: tuple[tuple[str, str], ...] = tuple(CONFIG_NAMES.items())

    def name(self, field: str) -> str:
        return dict(self.names)[field]


def check(config: ReportConfig | Any = None, names: dict[str, str] | None = None) -> Options:
    """Options from a `ReportConfig` (or any object or mapping with its fields); raises `ConfigError`.

    `names` gives, per field, how the user spelled it (`report.resolution` in a config,
    `--resolution` on the report's command line); the sentence of an error uses it.
    """
    names = {**CONFIG_NAMES, **(names or {})}
    reference, resolution = _field(config, "reference", None), _field(config, "resolution", ReportConfig.resolution)
    if reference is not None and not str(reference).strip():
        raise ConfigError(
            f"{names['reference']}={shown(reference)} is invalid: give a setting of the sweep, "
            "such as 'model.cardinality=1', or null for the sweep's first setting."
        )
    try:
        delta = float(resolution)
    except (TypeError, ValueError):
        delta = math.nan
    if isinstance(resolution, bool) or not (math.isfinite(delta) and delta > 0):
        raise ConfigError(
            f"{names['resolution']}={resolution if isinstance(resolution, str) else shown(resolution)} is invalid: "
            "the resolution δ must be a positive "
            "number of top-1 error points, such as 0.2."
        )
    text = None if reference is None else override_value(reference).strip()  # a list as typed: [1,1], not ['1', '1']
    return Options(reference=text, resolution=delta, names=tuple(names.items()))


def from_sweep(multirun: dict | None, reference: str | None = None, resolution: float | str | None = None) -> Options:
    """The sweep config's `report:` node (multirun.yaml), with command-line values over it."""
    node = (multirun or {}).get("report") if isinstance(multirun, dict) else None
    node = node if isinstance(node, dict) else {}
    names = {}
    values = {"reference": node.get("reference"), "resolution": node.get("resolution", ReportConfig.resolution)}
    for field, value in (("reference", reference), ("resolution", resolution)):
        if value is not None:
            values[field] = value
            names[field] = CLI_NAMES[field]
    return check(values, names)


def _field(config, name: str, default):
    if config is None:
        return default
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


__all__ = ["CLI_NAMES", "CONFIG_NAMES", "Options", "ReportConfig", "check", "from_sweep"]
