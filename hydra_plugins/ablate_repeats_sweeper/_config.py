"""The sweeper's structured config, registered as `hydra/sweeper=ablate_repeats`.

Private (`_config`): Hydra's plugin scan, which runs again before every job of the joblib, submitit
and Ray launchers, skips modules whose names start with `_`; the sweeper module imports this one
once per process. Kept cheap all the same (no optuna, torch or pandas import).
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class AblateRepeatsSweeperConf:
    """Which settings to run, and how many seeds each may get.

    params: the grid, as the basic sweeper's (`model.cardinality: 1,2,4`); command-line overrides
        such as `model.cardinality=1,2` are added to it. `seed` is the sweeper's: leave it out.
    min: seeds every setting runs before the first look (at least 2).
    max: the most seeds any setting gets.
    batch: seeds added to each undecided setting (and the reference) after a look.
    alpha: the chance of any false `better`/`worse` in the sweep, at most.
    The reference setting and δ are the app's `report.reference` and `report.resolution`.
    """

    _target_: str = "hydra_plugins.ablate_repeats_sweeper.sweeper.AblateRepeatsSweeper"
    # Any with {} as the Optuna sweeper's: OmegaConf cannot merge a node into a null Dict (an AttributeError)
    params: Any = field(default_factory=dict)
    min: int = 2  # the same defaults as ablate.report.sequential.Plan (a test holds them equal)
    max: int = 10
    batch: int = 1
    alpha: float = 0.05


ConfigStore.instance().store(
    group="hydra/sweeper", name="ablate_repeats", node=AblateRepeatsSweeperConf, provider="ablate_repeats_sweeper"
)
