"""Per-epoch values to the Optuna trial a job belongs to, and Optuna's answer: stop now or go on.

The Optuna sweeper (`hydra/sweeper=ablate_optuna`) sets `hydra.sweeper.trial` in each job's
Hydra config: the study name, storage URL and trial number where the job's per-epoch values go
(for several objectives: a single-objective study of the objective named by
`hydra.sweeper.prune_objective`). `reporter()` reads it, with the pruner `hydra.sweeper.pruner`
describes, and returns a callable `report(epoch, value) -> bool`: it tells the trial the value
(`trial.report`), which optuna-dashboard draws as the trial's curve, and returns True when the
pruner says the trial should stop (`trial.should_prune()`). A job run any other way (a single
run, another sweeper) gets a callable that reports nothing and always returns False.

Which value ablate's trainer reports (`report_epoch`): the epoch entry's `hydra.sweeper.prune_on`
(`PRUNE_ON`), by default `val_err`, the measure the objective is. `train_loss`, the mean over the epoch's
steps, is there because after an early epoch of a short recipe the val error is a snapshot taken at a high
learning rate and may rank designs far from how they finish, where the epoch's mean training loss ranks them
more as they finish (the README's pruning section has the curves). Only the pruner sees the reported values:
the objective is the job's own.

The callable is a small picklable object: build it in the Hydra job's process (where
`HydraConfig` is set) and hand it to spawned training processes; it opens the storage on its
first call. The job that stops records status `pruned` (its result file) or raises
`optuna.TrialPruned`; the sweeper then tells Optuna PRUNED.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Report = Callable[[int, float], bool]
DEFAULT_ON = "val_err"  # the objective's own measure
PRUNE_ON = (DEFAULT_ON, "val_loss", "train_err", "train_loss")  # values of an epoch entry a job can report


def never(epoch: int, value: float) -> bool:
    """The report of a job that is not an Optuna trial: nothing to tell, never stop."""
    return False


@dataclass
class Reporter:
    """Reports to trial `trial_number` of study `study_name` in `storage`; prunes with the `pruner` node."""

    study_name: str
    storage: str
    trial_number: int
    pruner: dict | None = None
    on: str = DEFAULT_ON  # the epoch entry's value `report_epoch` reports (hydra.sweeper.prune_on)
    _trial: Any = field(default=None, init=False, repr=False, compare=False)

    def __call__(self, epoch: int, value: float) -> bool:
        trial = self.trial()
        trial.report(float(value), int(epoch))
        return self.pruner is not None and trial.should_prune()

    def trial(self):
        """The running trial, rebuilt from storage on first use (`optuna.trial.Trial(study, trial_id)`)."""
        if self._trial is None:
            import optuna
            from hydra.utils import instantiate

            from hydra_plugins.ablate_optuna_sweeper._storage import with_driver

            rdb = optuna.storages.RDBStorage(with_driver(self.storage))
            pruner = instantiate(self.pruner) if self.pruner is not None else optuna.pruners.NopPruner()
            study = optuna.load_study(
                study_name=self.study_name, storage=rdb, pruner=pruner, sampler=optuna.samplers.RandomSampler()
            )
            study_id = rdb.get_study_id_from_name(self.study_name)
            trial_id = rdb.get_trial_id_from_study_id_trial_number(study_id, self.trial_number)
            self._trial = optuna.trial.Trial(study, trial_id)
        return self._trial

    def __getstate__(self) -> dict:  # the storage connection stays in the process that opened it
        return {**self.__dict__, "_trial": None}


def report_epoch(report: Report, entry: Mapping[str, Any]) -> bool:
    """Report one epoch entry of ablate's run record (`epoch`, `val_err`, `train_loss`, …) to `report`: the value
    its `on` names (`val_err` for a report without one); the pruner's answer."""
    return report(int(entry["epoch"]), float(entry[getattr(report, "on", DEFAULT_ON)]))


def reporter(cfg: Any = None) -> Report:
    """The per-epoch report of this job (see the module docstring).

    `cfg`: a config holding a `hydra` node (as `compose(..., return_hydra_config=True)` gives), or None to
    read the running job's `HydraConfig`. The task config alone has no `hydra` node: then `HydraConfig` is read.
    """
    sweeper = _sweeper_node(cfg)
    target = _plain(sweeper.get("trial")) if sweeper is not None else None
    if not isinstance(target, Mapping) or target.get("trial_number") is None or not target.get("storage"):
        return never
    pruner = _plain(sweeper.get("pruner"))
    if pruner is not None:
        check_target(pruner)
    return Reporter(
        study_name=str(target["study_name"]),
        storage=str(target["storage"]),
        trial_number=int(target["trial_number"]),
        pruner=pruner,
        on=str(sweeper.get("prune_on") or DEFAULT_ON),
    )


def check_target(pruner: Any) -> None:
    """Refuse a pruner node whose `_target_` is not one of `optuna.pruners`' classes: a job builds the pruner
    from its config, and only Optuna's own, never another callable. The sweeper checks it before the study
    is touched, so that no trial is spent on it."""
    kind = pruner.get("_target_") if isinstance(pruner, Mapping) else None
    if not (isinstance(kind, str) and kind.startswith("optuna.pruners.")):
        from ablate.errors import ConfigError, shown

        raise ConfigError(
            f"hydra.sweeper.pruner._target_={shown(kind)} is not one of optuna.pruners' classes, the only pruners a "
            "job builds: give one, e.g. optuna.pruners.HyperbandPruner."
        )


def _sweeper_node(cfg: Any):
    from omegaconf import OmegaConf

    node = OmegaConf.select(cfg, "hydra.sweeper", default=None) if cfg is not None and _has_hydra(cfg) else None
    if node is not None:
        return node
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra_cfg: Any = HydraConfig.get()  # a DictConfig at run time (typed HydraConf)
    return hydra_cfg.get("sweeper")


def _has_hydra(cfg: Any) -> bool:
    try:
        return "hydra" in cfg
    except TypeError:
        return False


def _plain(node: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node
