"""The sweeper's structured config, registered as `hydra/sweeper=ablate_design_spaces`.

Private (`_config`): Hydra's plugin scan, which runs again before every job of the joblib, submitit
and Ray launchers, skips modules whose names start with `_`; the sweeper module imports this one
once per process. Kept cheap all the same (no optuna, torch or pandas import).
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class AblateDesignSpacesSweeperConf:
    """Which design spaces to sample, how many designs each, and how.

    spaces: NAME → {cardinality: [choices], width: [choices], depths: [[fewest, most] per stage]}; a field
        left out keeps the model's value. d is never sampled: the budget solver sets it for each design.
    compare: the spaces to sample and compare (null: every space of `spaces`), two or more.
    samples: designs per space (at least 2).
    seed: the sampler's seed: the same seed gives the same designs.
    draws: the most draws per space; a draw off the budget or repeating a design is passed over.
    scale_range: null (every design at the config's budget) or [low, high]: each design's `budget.scale`
        drawn log-uniformly from it, and the report adds the complexity-normalized EDF.
    bins: log-spaced complexity bins of the normalized EDF (with `scale_range` only).
    """

    _target_: str = "hydra_plugins.ablate_design_space_sweeper.sweeper.AblateDesignSpacesSweeper"
    spaces: dict[str, Any] = field(default_factory=dict)
    compare: Any = None
    samples: Any = 8
    seed: Any = 0
    draws: Any = 1000
    scale_range: Any = None
    bins: Any = 5


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="ablate_design_spaces",
    node=AblateDesignSpacesSweeperConf,
    provider="ablate_design_space_sweeper",
)
