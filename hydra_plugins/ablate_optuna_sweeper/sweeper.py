"""A Hydra sweeper on Optuna's ask-and-tell interface (Optuna >= 4).

`AblateOptunaSweeper` checks its settings, builds the sampler and pruner, opens (or resumes) the
study and hands the work to `_loop.Search`, which asks trials, launches them through whatever
launcher is configured (basic, joblib, submitit, ray) and tells Optuna each job's values. See
`_config.AblateOptunaSweeperConf` for every setting and `_loop` for the scheduling rules. Optuna is
imported only when a sweep starts.
"""

import inspect
import logging
import math
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, ListConfig, OmegaConf

from ablate.errors import override_key, shown
from ablate.run.pruning import PRUNE_ON
from hydra_plugins.ablate_optuna_sweeper import _config  # noqa: F401  (stores the config node)
from hydra_plugins.ablate_optuna_sweeper import _objectives as obj
from hydra_plugins.ablate_optuna_sweeper import _search_space as search_space
from hydra_plugins.ablate_optuna_sweeper import _storage as storage
from hydra_plugins.ablate_optuna_sweeper._errors import SweepConfigError as ConfigError

log = logging.getLogger(__name__)
DIRECTIONS = ("minimize", "maximize")
BASIC_LAUNCHER = "BasicLauncher"
SEED_STRIDE = 1_000_003  # a prime: a resumed study's seed is seed + trials · SEED_STRIDE


class AblateOptunaSweeper(Sweeper):
    """See `_config.AblateOptunaSweeperConf` for the meaning of each argument."""

    def __init__(
        self,
        direction: Any = "minimize",
        objectives: Any = None,
        constraints: Any = (),
        sampler: Any = None,
        seed: int = 0,
        study_name: str | None = None,
        storage: str | None = None,
        n_trials: int = 20,
        n_jobs: int = 2,
        max_failure_rate: float = 0.25,
        result_file: str = "result.json",
        rerun_duplicates: bool = False,
        params: Any = None,
        custom_search_space: str | None = None,
        pruner: Any = None,
        prune_objective: str | None = None,
        prune_on: str = "val_err",
        heartbeat_interval: int | None = 60,
        max_retry: int | None = 3,
        asynchronous: bool | None = None,
        trial: Any = None,
        repeat_key: str | None = None,
    ) -> None:
        super().__init__()
        # checked in setup(): an error raised here would reach the user wrapped by hydra.utils.instantiate
        self._args = dict(
            direction=direction,
            objectives=objectives,
            constraints=constraints,
            n_trials=n_trials,
            n_jobs=n_jobs,
            max_failure_rate=max_failure_rate,
            heartbeat_interval=heartbeat_interval,
            max_retry=max_retry,
            asynchronous=asynchronous,
            prune_objective=prune_objective,
            prune_on=prune_on,
            study_name=study_name,
        )
        self.sampler = sampler
        self.pruner_node = pruner
        self.seed = seed
        self.study_name = study_name
        self.storage_url = storage
        self.result_file = result_file
        self.rerun_duplicates = bool(rerun_duplicates)
        self.params = _plain(params) or {}
        self.custom_search_space = custom_search_space
        self.repeat_key = repeat_key
        self.config: DictConfig | None = None
        self.hydra_context = None
        self.launcher = None

    def _check_args(
        self,
        direction,
        objectives,
        constraints,
        n_trials,
        n_jobs,
        max_failure_rate,
        heartbeat_interval,
        max_retry,
        asynchronous,
        prune_objective,
        prune_on,
        study_name,
        job_name: str,
    ) -> None:
        """Validate the settings, one sentence per mistake (ConfigError)."""
        if study_name is not None and not str(study_name).strip():  # not taken for null, the job's name, unsaid
            raise ConfigError(
                f"hydra.sweeper.study_name={shown(study_name)} is empty: give the study a name, or null for the job's "
                f"name ({job_name})."
            )
        self.directions = _directions(direction)
        self.objectives = None if objectives is None else [str(o) for o in _plain(objectives)]
        if self.objectives is not None and len(self.objectives) != len(self.directions):
            raise ConfigError(
                f"hydra.sweeper.objectives={self.objectives} has {len(self.objectives)} entries for "
                f"{len(self.directions)} directions: give one objective per direction."
            )
        self.constraints = [obj.Constraint.parse(c) for c in _plain(constraints or [])]
        self.n_trials = _count("n_trials", n_trials, 1)
        self.n_jobs = _count("n_jobs", n_jobs, 1)
        if (
            isinstance(max_failure_rate, bool)
            or not isinstance(max_failure_rate, (int, float))
            or not 0.0 <= max_failure_rate <= 1.0
        ):
            raise ConfigError(
                f"hydra.sweeper.max_failure_rate={shown(max_failure_rate)} is invalid: give a fraction from 0.0 to 1.0."
            )
        self.max_failure_rate = float(max_failure_rate)
        self.heartbeat_interval = (
            None if heartbeat_interval is None else _count("heartbeat_interval", heartbeat_interval, 1)
        )
        self.max_retry = None if max_retry is None else _count("max_retry", max_retry, 0)
        if asynchronous is not None and not isinstance(asynchronous, bool):
            raise ConfigError(f"hydra.sweeper.asynchronous={shown(asynchronous)} is invalid: give true, false or null.")
        self.asynchronous = asynchronous
        self.prune_index = self._prune_index(prune_objective)
        if prune_on not in PRUNE_ON:
            raise ConfigError(
                f"hydra.sweeper.prune_on={shown(prune_on)} is not a value a run reports after each epoch: valid are "
                f"{', '.join(PRUNE_ON)}."
            )
        self.prune_on = prune_on

    def _objective_names(self) -> list[str]:
        return self.objectives or (
            [obj.RETURN] if len(self.directions) == 1 else [str(i) for i in range(len(self.directions))]
        )

    def _prune_index(self, prune_objective) -> int | None:
        """Which objective the jobs' per-epoch values measure (None: no pruning target)."""
        names = self._objective_names()
        if prune_objective is None:
            if self.pruner_node is not None and len(self.directions) > 1:
                raise ConfigError(
                    f"hydra.sweeper.pruner is set on a study with {len(self.directions)} objectives {names}, and "
                    "Optuna's pruners judge one: name the objective the jobs report each epoch, e.g. "
                    f"hydra.sweeper.prune_objective={names[0]}."
                )
            return 0 if len(self.directions) == 1 else None
        if str(prune_objective) in names:
            return names.index(str(prune_objective))
        raise ConfigError(
            f"hydra.sweeper.prune_objective={shown(prune_objective)} is not an objective of this study: "
            f"valid names are {', '.join(names)}."
        )

    def _check_prune_direction(self) -> None:
        """ablate's trainer reports an error or a loss after each epoch, better lower: a pruner on a maximized
        objective would keep the worst trials and stop the best."""
        index = self.prune_index
        if (
            self.pruner_node is None
            or index is None
            or self.directions[index] != "maximize"
            or self._prune_on() is None
        ):
            return
        names = self._objective_names()
        reports = (
            f"ablate's trainer reports {self.prune_on} after each epoch (hydra.sweeper.prune_on), which is better lower"
        )
        if len(names) == 1:
            raise ConfigError(
                f"hydra.sweeper.direction=maximize is set with a pruner, and {reports}: the pruner would stop the "
                "best trials; minimize the objective, or give hydra.sweeper.pruner=null."
            )
        minimized = [n for n, d in zip(names, self.directions, strict=True) if d == "minimize"]
        hint = (
            f"e.g. hydra.sweeper.prune_objective={minimized[0]}" if minimized else "or give hydra.sweeper.pruner=null"
        )
        raise ConfigError(
            f"hydra.sweeper.prune_objective={names[index]} is maximized, and {reports}: the pruner would stop the "
            f"best trials; prune on a minimized objective, {hint}."
        )

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self._check_args(**self._args, job_name=str(config.hydra.job.name))
        if not isinstance(self.params, dict):
            raise ConfigError(
                f"hydra.sweeper.params={shown(self.params)} is invalid: give a node of sweeps, e.g. "
                "{model.cardinality: 'choice(1,2,4)'}, or null."
            )
        self.config = config
        self._check_prune_direction()
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir))  # resolved once: ${now:...} is read here
        basic = type(self.launcher).__name__ == BASIC_LAUNCHER
        if self.asynchronous and basic:
            raise ConfigError(
                "hydra.sweeper.asynchronous=true cannot run on the basic launcher, which runs each job "
                "in this process (Hydra's job config, logging and folder are global to it): use "
                "hydra/launcher=joblib, or leave hydra.sweeper.asynchronous=null."
            )
        if self.asynchronous is None:  # the basic launcher runs jobs in this process: not from several threads
            self.asynchronous = not basic

    # -- the sweep ------------------------------------------------------------------------------------------------

    def _fixed(self, space) -> dict:
        """The overrides every trial gets that decide its result: the fixed values and deletions, less the keys Hydra
        leaves out of a job's folder name (`hydra.job.config.override_dirname.exclude_keys`: how a job runs, not
        what it computes; ablate's run-time keys)."""
        assert self.config is not None
        exclude = set(OmegaConf.select(self.config, "hydra.job.config.override_dirname.exclude_keys", default=[]) or [])
        kept = {**space.fixed, **space.deletions}
        return {key: value for key, value in kept.items() if override_key(key) not in exclude}

    def sweep(self, arguments: list[str]) -> None:
        """Run trials until the study holds `n_trials` that ran (see `_loop.Search`). Returns None, as the official
        Optuna sweeper does: the values are in the study, `study.json` and `optimization_results.yaml`."""
        from hydra_plugins.ablate_optuna_sweeper._loop import Search

        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        space = search_space.parse(self.params, arguments, self.hydra_context.config_loader)
        search_space.check_keys(space, self.config)
        search_space.take_repeats(space, self._repeat_key())  # before the checks of what is sampled
        search_space.check_distinct(space)
        search_space.check_fractions(space, self.config)
        search_space.check_constant(space, self.config, self.hydra_context.config_loader)
        self.make_sampler(space)  # a bad sampler, pruner or function is refused before the study is touched
        pruner = self.make_pruner()
        custom = self._custom_search_space()
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")

        url = self.storage_url or storage.default_url(self.sweep_dir)
        study_name = self.study_name or str(self.config.hydra.job.name)
        rdb = storage.open_storage(url, self.heartbeat_interval, self.max_retry)
        study = storage.load_study(rdb, study_name, self.directions, pruner=pruner)
        storage.check_settings(
            study,
            {
                "params": space.description(),
                "custom_search_space": self.custom_search_space,
                "objectives": self._objective_names(),
                "directions": self.directions,
                "constraints": [c.text for c in self.constraints],
                "fixed": self._fixed(space),
                "repeats": {"key": space.repeat_key, "values": space.repeats} if space.repeat_key else None,
                "prune_on": self._prune_on(),
            },
        )
        # a resumed study must not replay the samples of its first run: offset the seed by the trials it holds
        study.sampler = self.make_sampler(space, offset=len(study.get_trials(deepcopy=False)))
        prune_study = None
        if pruner is not None and len(self.directions) > 1:  # Optuna prunes one objective: a study of that one
            index = self.prune_index
            assert index is not None  # several objectives with a pruner: setup refused a missing prune_objective
            name = self._objective_names()[index]
            prune_study = storage.load_study(rdb, f"{study_name}:{name}", [self.directions[index]], pruner=pruner)
        n_trials = self.n_trials
        grid = self.grid_points
        if grid is not None and grid < n_trials:
            log.info(
                f"GridSampler: n_trials={n_trials} is more than the {grid} points of the grid; "
                f"the study stops at {grid}."
            )
            n_trials = grid
        mode = (
            f"each started as a slot frees ({type(self.launcher).__name__})"
            if self.asynchronous
            else f"in batches ({type(self.launcher).__name__})"
        )
        log.info(
            f"Study {study_name!r} in {storage.masked(url)}: directions {self.directions}, "
            f"sampler {type(study.sampler).__name__}, pruner {type(pruner).__name__ if pruner else None}, "
            f"{n_trials} trials, {self.n_jobs} at once, {mode}."
        )
        Search(self, study, rdb, space, url, n_trials, custom, prune_study).run()

    def _prune_on(self) -> str | None:
        """The value ablate's trainer reports after each epoch (the trials' intermediate values), or None for another
        app, which reports what it chooses."""
        from ablate.config.loading import is_ablate_config

        return self.prune_on if is_ablate_config(self.config) else None

    def _repeat_key(self) -> str | None:
        """The key whose sweep gives every trial's repeats: `repeat_key`, else `seed` on ablate's app (whose seed
        only repeats a run: a search that sampled it would keep the luckiest seed), else none."""
        from ablate.config.loading import is_ablate_config

        if self.repeat_key is not None:
            return str(self.repeat_key)
        return "seed" if is_ablate_config(self.config) else None

    def make_sampler(self, space, offset: int = 0):
        """The sampler the `sampler` node describes, seeded with its `seed` (else the sweeper's), moved on by `offset`
        (the trials a resumed study holds) in steps of SEED_STRIDE, so that worker seeds 0 and 1 resuming at
        different counts do not meet on one seed and sample the same designs.

        No `_target_` (the group's `auto`, or `{seed: 123}`): TPE for one direction, NSGA-II for several, with the
        node's keywords. GridSampler gets its axes from the search space unless the node gives them. Keywords
        left null take Optuna's own defaults."""
        import optuna
        from hydra.utils import instantiate

        self.grid_points = None
        node = _plain(self.sampler)
        node = {} if node is None else node
        self._check_option(node)
        given = {k: v for k, v in node.items() if v is not None} if isinstance(node, dict) else node
        where = f"hydra.sweeper.sampler={shown(given)}"
        if not isinstance(node, dict):
            raise ConfigError(
                f"{where} is not a sampler node: give an option of hydra/sweeper/sampler "
                "(tpe, random, cmaes, nsgaii, grid, gp, qmc) or a node with _target_."
            )
        kwargs = {k: v for k, v in node.items() if v is not None and k != "seed"}
        if node.get("seed") is not None and (isinstance(node["seed"], bool) or not isinstance(node["seed"], int)):
            raise ConfigError(
                f"hydra.sweeper.sampler.seed={shown(node['seed'])} is invalid: give a whole number, e.g. 123."
            )
        seed = ((self.seed if node.get("seed") is None else node["seed"]) + offset * SEED_STRIDE) % 2**32
        target = kwargs.pop("_target_", None)
        if target is None:
            cls = optuna.samplers.TPESampler if len(self.directions) == 1 else optuna.samplers.NSGAIISampler
            target = f"optuna.samplers.{cls.__name__}"
        try:
            factory = _locate(target)
            if _takes(factory, "seed"):
                kwargs["seed"] = seed
            grid = None  # the grid built from the search space: handed over as it is, not as a config node
            if factory is optuna.samplers.GridSampler:
                if "search_space" not in kwargs:
                    grid = search_space.grid_axes(space)
                axes = kwargs["search_space"] if grid is None else grid
                self.grid_points = math.prod(len(axis) for axis in axes.values())
            sampler = instantiate({"_target_": target, **kwargs}, _partial_=grid is not None)
            if grid is not None:  # instantiate would wrap every grid value in an OmegaConf node
                sampler = sampler(search_space=grid)
        except ConfigError:
            raise
        except Exception as e:
            cause = _user_error(e)
            if cause is not None:
                raise cause from None
            raise ConfigError(
                f"{where} cannot be made into an Optuna sampler ({_reason(e)}): name a class in "
                "optuna.samplers, e.g. hydra/sweeper/sampler=tpe."
            ) from None
        if not isinstance(sampler, optuna.samplers.BaseSampler):
            raise ConfigError(
                f"{where} made a {type(sampler).__name__}, not an Optuna sampler: name a class in "
                "optuna.samplers, e.g. hydra/sweeper/sampler=tpe."
            )
        return sampler

    def _check_option(self, node: Any) -> None:
        """Refuse a `hydra/sweeper/sampler` option whose class a later config node replaced (a sweep file's
        `sampler: {_target_: ...}` merges over the option), rather than sample with a class nobody chose last."""
        from hydra_plugins.ablate_optuna_sweeper._config import SAMPLERS

        choices = OmegaConf.select(self.config, "hydra.runtime.choices", default=None) if self.config else None
        option = choices.get("hydra/sweeper/sampler") if choices else None
        chosen = SAMPLERS.get(str(option), {}).get("_target_")
        target = node.get("_target_") if isinstance(node, dict) else None
        if chosen is not None and target is not None and target != chosen:
            raise ConfigError(
                f"hydra/sweeper/sampler={option} is overridden by hydra.sweeper.sampler._target_={target}, set by a "
                f"config or the command line: to sample with {option}, replace the whole node instead: "
                f"hydra.sweeper.sampler=null 'hydra.sweeper.sampler={{_target_: {chosen}}}'."
            )

    def make_pruner(self):
        """The pruner the `pruner` node describes, or None."""
        import optuna
        from hydra.utils import instantiate

        from ablate.errors import ConfigError as AblateConfigError
        from ablate.run import pruning

        node = _plain(self.pruner_node)
        if node is None:
            return None
        where = f"hydra.sweeper.pruner={shown(node)}"
        if not isinstance(node, dict) or "_target_" not in node:
            raise ConfigError(
                f"{where} has no _target_: name a class in optuna.pruners, e.g. "
                "{_target_: optuna.pruners.MedianPruner}, or give null."
            )
        try:
            pruning.check_target(node)  # the jobs' own rule: refused here, before any trial is spent on it
        except AblateConfigError as e:  # as the sweeper's own error: one sentence, no traceback
            raise ConfigError(str(e)) from None
        try:
            pruner = instantiate(node)
        except Exception as e:
            raise ConfigError(
                f"{where} cannot be made into an Optuna pruner ({_reason(e)}): name a class in "
                "optuna.pruners, e.g. {_target_: optuna.pruners.MedianPruner}."
            ) from None
        if not isinstance(pruner, optuna.pruners.BasePruner):
            raise ConfigError(
                f"{where} made a {type(pruner).__name__}, not an Optuna pruner: name a class in "
                "optuna.pruners, e.g. {_target_: optuna.pruners.MedianPruner}."
            )
        _try_pruner(instantiate(node), where, node["_target_"])
        return pruner

    def _custom_search_space(self):
        if not self.custom_search_space:
            return None
        from hydra.utils import get_method

        try:
            return get_method(str(self.custom_search_space))
        except Exception as e:
            raise ConfigError(
                f"hydra.sweeper.custom_search_space={self.custom_search_space!r} cannot be imported "
                f"({_reason(e)}): give the dotted path of a function f(cfg, trial)."
            ) from None


# -- helpers --------------------------------------------------------------------------------------------------------


def _plain(node: Any) -> Any:
    """OmegaConf containers as plain Python."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _directions(direction: Any) -> list[str]:
    items = _plain(direction)
    if isinstance(items, dict):  # a list would be iterated for its items; a mapping only for its keys
        raise ConfigError(
            f"hydra.sweeper.direction={shown(items)} is invalid: give minimize or maximize, or a list of them."
        )
    items = [items] if isinstance(items, str) else list(items or [])
    if not items:
        raise ConfigError("hydra.sweeper.direction is empty: give minimize or maximize, or a list of them.")
    names = [getattr(d, "name", d) for d in items]  # the official plugin's Direction enum, or its name
    for d in names:
        if str(d).lower() not in DIRECTIONS:
            raise ConfigError(
                f"hydra.sweeper.direction={shown(d)} is invalid: valid directions are minimize and maximize."
            )
    return [str(d).lower() for d in names]


def _count(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"hydra.sweeper.{name}={shown(value)} is invalid: give a whole number of at least {least}.")
    return value


def _locate(target: str):
    from hydra.utils import get_method

    try:
        return get_method(target)
    except Exception:
        raise ValueError(f"there is no {target}") from None


def _takes(factory, name: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def _user_error(error: BaseException) -> ConfigError | None:
    """The ConfigError inside an instantiation error (a sampler option that refuses itself), if any."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConfigError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _try_pruner(pruner, where: str, target: str) -> None:
    """Ask a second pruner of the same node about two trials that report three epochs each and complete, in a
    study in memory (a pruner with `max_resource="auto"` judges only once a trial has completed): arguments
    that construct but cannot judge (HyperbandPruner(min_resource=0) divides by zero) would otherwise fail
    inside every trial's job, until the failure limit stops the search."""
    import optuna

    logger = logging.getLogger("optuna")  # Optuna logs the study it creates: not this one
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        study = optuna.create_study(pruner=pruner)
    finally:
        logger.setLevel(level)
    try:
        for offset in (0.0, 1.0):
            trial = study.ask()
            for step, value in enumerate((0.5, 0.4, 0.3), start=1):
                trial.report(value + offset, step)
                trial.should_prune()
            study.tell(trial, 0.3 + offset)
    except Exception as e:
        raise ConfigError(
            f"{where} fails when it judges a trial ({_reason(e)}): check its arguments against {target}."
        ) from None


def _reason(error: BaseException) -> str:
    """The first line of the error; for a failed `instantiate`, of the error it wraps. That one, and Python's own
    errors (a wrong keyword, a division by zero), are named with their type, which their message alone leaves out."""
    wrapped = type(error).__name__ == "InstantiationException" and error.__cause__ is not None
    if wrapped:
        error = error.__cause__  # type: ignore[assignment]
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    if wrapped or isinstance(error, ArithmeticError | LookupError | TypeError | ValueError):
        return f"{type(error).__name__}: {first}".rstrip(": .")
    return (first or type(error).__name__).rstrip(".")
