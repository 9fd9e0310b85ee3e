"""The sweeper's structured config, registered as `hydra/sweeper=ablate_optuna`.

No optuna import here: Hydra imports every module under `hydra_plugins` when it scans for
plugins, so this file must stay cheap; and no `from __future__ import annotations`:
that scan runs the module before it is in `sys.modules`, where dataclasses look it up.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class AblateOptunaSweeperConf:
    """What to search, how, and where the study lives.

    direction: `minimize` or `maximize`, or a list of them (one per objective).
    objectives: where each objective's value comes from, one entry per direction. null: the
        job's return value (a number; a sequence for several directions). Otherwise `return`
        names the job's return value and any other entry is a dotted key in the job's
        `result_file`, e.g. `model.complexity.flops`.
    constraints: `LHS <= RHS` or `LHS >= RHS`, each side a number or a dotted key in the job's
        `result_file`, optionally inside abs(): e.g. `abs(budget.deviation) <= budget.tolerance`.
        Told to Optuna through `trial.set_constraint` (feasible when LHS - RHS <= 0).
    sampler: null picks TPE for one direction and NSGA-II for several, both seeded with
        `seed`; or a node with `_target_` naming any Optuna sampler (e.g.
        `optuna.samplers.NSGAIISampler`), `seed` filled in when the node has none. A resumed
        study adds the number of trials it holds to the seed, so it does not replay its samples;
        workers that share a study need different seeds.
    storage: null keeps the study in `<hydra.sweep.dir>/study.db` (SQLite); or any SQLAlchemy
        URL (`postgresql://user:pass@host/db`) shared by several workers.
    n_trials: trials run to completion that the study should hold in the end, counting those
        already in storage (a re-run resumes) and those other workers are running; a failed
        trial is replaced by a new one, and so is a trial that repeats a design already run.
    n_jobs: trials asked and launched together, one launcher batch: the members that run at once.
    max_failure_rate: the sweep stops with an error once more than this fraction of
        `n_trials` have failed in this run.
    rerun_duplicates: false: a trial that samples the design of a completed trial is told that
        trial's values without running (seeded CPU training repeats itself exactly) and does not
        count toward n_trials; true: run it again.
    params: the search space in Hydra's override grammar, e.g.
        `model.cardinality: choice(1,2,4)`, `optim.lr: tag(log, interval(0.01, 1.0))`.
    """

    _target_: str = "hydra_plugins.ablate_optuna_sweeper.sweeper.AblateOptunaSweeper"
    _recursive_: bool = False  # the sweeper instantiates `sampler` itself, with its seed
    direction: Any = "minimize"
    objectives: Optional[List[str]] = None
    constraints: List[str] = field(default_factory=list)
    sampler: Any = None
    seed: int = 0
    study_name: Optional[str] = None
    storage: Optional[str] = None
    n_trials: int = 20
    n_jobs: int = 2
    max_failure_rate: float = 0.25
    result_file: str = "result.json"
    rerun_duplicates: bool = False
    params: Dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="ablate_optuna", node=AblateOptunaSweeperConf, provider="ablate_optuna_sweeper"
)
