"""The sweeper's structured config, registered as `hydra/sweeper=ablate_optuna`, and its sampler group.

Private (`_config`): Hydra's plugin scan, which runs again before every job of the joblib, submitit
and Ray launchers, skips modules whose names start with `_`; the sweeper module imports this one
once per process. Kept cheap all the same (no optuna, torch or pandas import).

The sampler group `hydra/sweeper/sampler=tpe|random|cmaes|nsgaii|grid|gp|qmc` is the official
Optuna sweeper's, with its defaults (`motpe` says it was removed from Optuna, as there); its
options are plain nodes, so a config may add any other keyword of the sampler class. By default
no option is chosen and `sampler` is null, or a node without `_target_` (`sampler: {seed: 123}`,
as the official examples write it; the option `auto` is that node): TPE for one direction,
NSGA-II for several, built with whatever keywords the node holds.
"""

# ruff: noqa: UP006, UP045  (OmegaConf 2.3 reads typing's Optional/List/Dict, not `X | None` and builtins)
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional  # noqa: UP035  OmegaConf reads these forms

from hydra.core.config_store import ConfigStore


@dataclass
class TrialConf:
    """Where a job's per-epoch values go: set by the sweeper in each job's `hydra.sweeper.trial`."""

    study_name: Optional[str] = None
    storage: Optional[str] = None
    trial_number: Optional[int] = None


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
    sampler: an option of the group `hydra/sweeper/sampler` (default `auto`), or a node with
        `_target_` naming any Optuna sampler. Seeded with its own `seed`, else the sweeper's `seed`.
        A resumed study moves the seed on by the number of trials it holds, so it does not replay
        its samples; workers that share a study need different seeds. `grid` takes its axes from the
        search space (choices, ranges and int intervals) unless the node gives `search_space`.
    storage: null keeps the study in `<hydra.sweep.dir>/study.db` (SQLite); or any SQLAlchemy
        URL (`postgresql://user:pass@host/db`) shared by several workers.
    n_trials: trials run to completion that the study should hold in the end, counting those
        already in storage (a re-run resumes) and those other workers are running; a failed
        trial is replaced by a new one, and so is a trial that repeats a design already run.
    n_jobs: trials that run at once. On the basic launcher (one job at a time, in this process)
        they are asked and launched as one batch; on any other launcher each trial is launched
        alone and a new one starts as soon as one ends (see `asynchronous`).
    max_failure_rate: the sweep stops with an error, the last failed job's error in its sentence,
        once more than this fraction of `n_trials` have failed in this run; at 1.0 failures are never
        an error, and the sweep ends with a warning once `n_trials` have failed.
    rerun_duplicates: false: a trial that samples the design of a finished trial is told that
        trial's values without running (seeded CPU training repeats itself exactly), and one that
        samples a design running now is told its values when it ends; neither counts toward
        n_trials. true: run it again.
    params: the search space in Hydra's override grammar, e.g.
        `model.cardinality: choice(1,2,4)`, `optim.lr: tag(log, interval(0.01, 1.0))`,
        `model.width: int(interval(16, 64))`.
    custom_search_space: a dotted path to a function `f(cfg, trial)` that suggests more
        parameters (`trial.suggest_float("+w", 0, 1)`); each becomes an override `name=value`.
    pruner: null, or a node with `_target_` naming any Optuna pruner (e.g.
        `optuna.pruners.HyperbandPruner`). Jobs report a value per epoch through
        `ablate.run.pruning.reporter`, which asks it whether to stop.
    prune_objective: with several directions, the objective (an entry of `objectives`, or its
        index) that the per-epoch value measures: Optuna's pruners judge one objective.
    prune_on: which value of each epoch ablate's trainer reports to the pruner: `val_err` (the
        objective's own measure), `val_loss`, `train_err` or `train_loss` (the epoch's mean, which on
        short recipes can rank designs after an early epoch more as they finish than the val error
        does; `ablate.run.pruning` says why). Only the pruner sees it: the objective is the job's.
    heartbeat_interval: seconds between the heartbeats this sweeper records for its running
        trials; a trial whose heartbeat stops (its worker was killed) is failed by the next worker
        that asks, and retried up to `max_retry` times with the same parameters. null: off.
    asynchronous: null: each trial starts as soon as a slot frees on every launcher but basic,
        which runs batches of n_jobs (it runs jobs in this process, one at a time). true/false force it.
    repeat_key: a key whose sweep on the command line or in `params` (e.g. `seed=0,1,2`) gives every trial's
        repeats instead of a parameter to search: each trial runs its design once per value, as jobs with
        consecutive numbers, and is told the mean of their objective values and the largest of each constraint
        (feasible on every repeat); n_trials counts designs. With a pruner, the first repeat reports its
        per-epoch values and, pruned, ends the trial. null: `seed` on ablate's app, none on any other.
    trial: set by the sweeper in each job's config (`hydra.sweeper.trial`): the study name,
        storage URL and trial number its per-epoch values go to. Leave it unset.
    """

    _target_: str = "hydra_plugins.ablate_optuna_sweeper.sweeper.AblateOptunaSweeper"
    _recursive_: bool = False  # the sweeper instantiates `sampler` and `pruner` itself
    # no option by default (sampler stays null: `auto`), so that `hydra/sweeper/sampler=tpe` needs no `+`, and a
    # node given in full (`hydra.sweeper.sampler={_target_: ...}`) replaces null instead of merging into an option
    defaults: List[Any] = field(default_factory=lambda: ["_self_", {"sampler": None}])
    direction: Any = "minimize"
    objectives: Optional[List[str]] = None
    constraints: List[str] = field(default_factory=list)
    sampler: Any = None  # an option of hydra/sweeper/sampler merges into it
    seed: int = 0
    study_name: Optional[str] = None
    storage: Optional[str] = None
    n_trials: int = 20
    n_jobs: int = 2
    max_failure_rate: float = 0.25
    result_file: str = "result.json"
    rerun_duplicates: bool = False
    # Any, not Dict[str, str]: `params=null` then a node replaces it (OmegaConf cannot merge into a null Dict)
    params: Any = field(default_factory=dict)
    custom_search_space: Optional[str] = None
    pruner: Any = None
    prune_objective: Optional[str] = None
    prune_on: str = "val_err"
    heartbeat_interval: Optional[int] = 60
    max_retry: Optional[int] = 3
    asynchronous: Optional[bool] = None
    trial: TrialConf = field(default_factory=TrialConf)
    repeat_key: Optional[str] = None


def motpe_removed(*args: Any, **kwargs: Any) -> None:
    """`hydra/sweeper/sampler=motpe`: the sampler Optuna 4 removed, refused with the way on."""
    from hydra_plugins.ablate_optuna_sweeper._errors import SweepConfigError

    raise SweepConfigError(
        "The 'motpe' sampler was removed in Optuna 4.0 (hydra/sweeper/sampler=motpe): use "
        "hydra/sweeper/sampler=tpe (TPE handles several objectives) or nsgaii."
    )


# The options of hydra/sweeper/sampler, with the official plugin's defaults; keywords left null take
# Optuna's own default. CMA-ES: Optuna 5 deprecates inc_popsize other than -1 (the official plugin's 2).
SAMPLERS: Dict[str, Dict[str, Any]] = {
    "auto": {"seed": None},
    "tpe": {
        "_target_": "optuna.samplers.TPESampler",
        "seed": None,
        "consider_prior": None,
        "prior_weight": None,
        "consider_magic_clip": None,
        "consider_endpoints": None,
        "n_startup_trials": 10,
        "n_ei_candidates": 24,
        "multivariate": False,
        "warn_independent_sampling": None,
    },
    "random": {"_target_": "optuna.samplers.RandomSampler", "seed": None},
    "cmaes": {
        "_target_": "optuna.samplers.CmaEsSampler",
        "seed": None,
        "x0": None,
        "sigma0": None,
        "independent_sampler": None,
        "warn_independent_sampling": True,
        "consider_pruned_trials": False,
        "restart_strategy": None,
        "inc_popsize": -1,
        "use_separable_cma": False,
        "source_trials": None,
    },
    "nsgaii": {
        "_target_": "optuna.samplers.NSGAIISampler",
        "seed": None,
        "population_size": 50,
        "mutation_prob": None,
        "crossover_prob": 0.9,
        "swapping_prob": 0.5,
        "constraints_func": None,
    },
    "grid": {"_target_": "optuna.samplers.GridSampler", "seed": None},  # axes from the search space
    "gp": {
        "_target_": "optuna.samplers.GPSampler",
        "seed": None,
        "independent_sampler": None,
        "n_startup_trials": 10,
        "deterministic_objective": False,
        "constraints_func": None,
        "warn_independent_sampling": True,
    },
    "qmc": {
        "_target_": "optuna.samplers.QMCSampler",
        "seed": None,
        "qmc_type": "sobol",
        "scramble": False,
        "independent_sampler": None,
        "warn_asynchronous_seeding": True,
        "warn_independent_sampling": True,
    },
    "motpe": {"_target_": "hydra_plugins.ablate_optuna_sweeper._config.motpe_removed"},
}

_store = ConfigStore.instance()
_store.store(
    group="hydra/sweeper", name="ablate_optuna", node=AblateOptunaSweeperConf, provider="ablate_optuna_sweeper"
)
for _name, _node in SAMPLERS.items():
    _store.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="ablate_optuna_sweeper")
