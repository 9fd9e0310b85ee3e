"""The adaptive-repeats sweeper: launch the seeds each look needs, read the records, decide, repeat.

Each round collects the sweep folder (`ablate.report.collect`), replays the plan on its records
(`ablate.report.sequential.replay`) and launches the runs the current look still lacks, through
whatever launcher is configured. The decisions depend only on the records, so re-running the same
command continues the same schedule: completed runs are not launched again, and a sweep whose
plan changed (min, max, batch, alpha, δ, the settings or the reference) is refused instead of
mixing two plans. `repeats.json` in the sweep folder says where each setting stands and why it
stopped; the report reads it.
"""

import logging
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, ListConfig, OmegaConf

from ablate.errors import AblateError, ConfigError
from hydra_plugins.ablate_repeats_sweeper import _config  # noqa: F401  (stores the config node)

log = logging.getLogger(__name__)
SEED = "seed"


class SweepConfigError(ConfigError, CompactHydraException):
    """A setting of the sweeper, or a sweep it cannot run; Hydra prints its sentence alone."""


class AblateRepeatsSweeper(Sweeper):
    """See `_config.AblateRepeatsSweeperConf` for the meaning of each argument."""

    def __init__(self, params: Any = None, min: int = 3, max: int = 10, batch: int = 2, alpha: float = 0.05) -> None:
        super().__init__()
        self.params = _plain(params) or {}
        self.limits = (min, max, batch, alpha)  # checked in sweep(), with the app's report node
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir))  # resolved once: ${now:...} is read here

    def sweep(self, arguments: list[str]) -> None:
        try:
            self._sweep(arguments)
        except AblateError as e:
            if isinstance(e, CompactHydraException):
                raise
            raise SweepConfigError(str(e)) from None

    def _sweep(self, arguments: list[str]) -> None:
        from ablate.report import options, sequential, stats
        from ablate.report.callback import reference_before_runs
        from ablate.report.collect import setting_of

        assert self.config is not None and self.launcher is not None
        report = options.check(_plain(self.config.get("report")) or {})
        plan = sequential.plan(*self.limits, resolution=report.resolution)
        members = settings(self.params, arguments)
        keys = [setting_of(m) for m in members]
        by_key = dict(zip(keys, members, strict=True))
        reference = (
            keys[0]
            if report.reference is None
            else reference_before_runs(self.config, members, report.reference, report.name("reference"))
        )
        _same_plan(self.sweep_dir, plan, keys, reference)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        level = plan.test_level(len(keys) - 1)
        named = stats.distinguishing(keys)  # a setting by what sets it apart, as the report's table names it
        log.info(
            f"Adaptive repeats: {len(keys)} settings against {named[reference]}; looks at "
            f"{', '.join(map(str, plan.looks))} seeds; better/worse where p < {level:.3g}."
        )
        launched: set[tuple[str, int]] = set()
        job = len(_runs(self.sweep_dir))  # a resumed sweep numbers its new jobs after the runs it holds
        while True:
            state = sequential.replay(_runs(self.sweep_dir), keys, reference, plan, launched)
            sequential.write_plan(self.sweep_dir, plan, keys, reference, state)
            if state.done:
                break
            jobs = [[*by_key[s], f"{SEED}={seed}"] for s, seed in state.pending]
            log.info(f"Look {state.look} of {len(plan.looks)}: launching {len(jobs)} runs.")
            self.launcher.launch(jobs, initial_job_idx=job)
            job += len(jobs)
            launched |= set(state.pending)
        for s, d in state.decisions.items():
            log.info(f"{named[s]}: {d.reason}")


def settings(params: dict, arguments: list[str]) -> list[list[str]]:
    """The grid's settings (override lists), expanded by the basic sweeper's own rule from `params` and the command
    line (one axis per key, a later value of a key replacing an earlier one in place), after refusing what this
    sweeper cannot take: a seed (it chooses the seeds), a sweep that is not a list of values, and a grid of one
    setting (no verdict to decide)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    parsed = OverridesParser.create().parse_overrides(lines)
    for o in parsed:
        if o.key_or_group == SEED:
            raise SweepConfigError(
                f"{o.input_line!r}: hydra/sweeper=ablate_repeats chooses the seeds itself "
                "(hydra.sweeper.min to hydra.sweeper.max): leave seed= out."
            )
        if o.is_sweep_override() and not o.is_discrete_sweep():
            raise SweepConfigError(
                f"{o.input_line!r} is not a list of values: hydra/sweeper=ablate_repeats "
                "sweeps choices and ranges, such as model.cardinality=1,2,4."
            )
    members = [list(p) for p in BasicSweeper.split_arguments(parsed, None)[0]]
    if len(members) < 2:  # nothing to compare: the min seeds would run and stop with no verdict to decide
        raise SweepConfigError(
            "+repeats=auto adds seeds where a setting's verdict against the reference is undecided, and this sweep "
            "has one setting: sweep a field, such as model.cardinality=1,2,4, or run fixed repeats without it: "
            "seed=0,1,2."
        )
    return members


def _runs(sweep_dir: Path):
    """The sweep's runs frame, or an empty one before any run has written a record."""
    import pandas as pd

    from ablate.errors import DataError
    from ablate.report.collect import collect

    try:
        return collect(sweep_dir).runs
    except DataError:
        return pd.DataFrame(columns=["setting", "seed", "status", "final_val_err"])


def _same_plan(sweep_dir: Path, plan, keys: list[str], reference: str) -> None:
    """Refuse to continue a sweep folder under another plan: the error rate holds for the planned looks only."""
    from ablate.report.sequential import read_plan

    stored = read_plan(sweep_dir)
    if stored is None:
        return
    old, old_reference, old_keys = stored
    changed = [
        f"hydra.sweeper.{k}={getattr(plan, k)} (was {getattr(old, k)})"
        for k in ("min", "max", "batch", "alpha")
        if getattr(plan, k) != getattr(old, k)
    ]
    if plan.resolution != old.resolution:
        changed.append(f"report.resolution={plan.resolution:g} (was {old.resolution:g})")
    if sorted(keys) != sorted(old_keys):
        changed.append("the settings")
    if reference != old_reference:
        changed.append(f"the reference {reference!r} (was {old_reference!r})")
    if changed:
        raise SweepConfigError(
            f"{sweep_dir} holds an adaptive sweep planned otherwise: {', '.join(changed)} would "
            "change a plan whose error rate holds only as planned: keep its settings, or start "
            "a new folder with hydra.sweep.dir=…."
        )


def _plain(node: Any) -> Any:
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node
