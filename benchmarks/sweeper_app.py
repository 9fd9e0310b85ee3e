"""A small Hydra app run through ablate's Optuna sweeper in this process: the benchmarks that measure the sweeper
itself (`search_slots`, `pruning_replay`) give it a config and a task function instead of ablate's trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def multirun(name: str, config: dict, task: Callable[[Any], Any], overrides: list[str]) -> None:
    """Run `task` as a multirun of `hydra/sweeper=ablate_optuna` over the config `config` (stored as `name`), with
    Hydra's own logging off; `overrides` add the launcher, the sweep folder and the sweeper's settings."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    from hydra_plugins.ablate_optuna_sweeper import register

    register()
    ConfigStore.instance().store(name=name, node=config)
    GlobalHydra.instance().clear()
    version.setbase("1.3")
    hydra = Hydra.create_main_hydra2(task_name=name, config_search_path=create_config_search_path(None))
    try:
        hydra.multirun(config_name=name, task_function=task, with_log_configuration=False,
                       overrides=["hydra.mode=MULTIRUN", "hydra/sweeper=ablate_optuna", "hydra/hydra_logging=none",
                                  "hydra/job_logging=none", *overrides])
    finally:
        GlobalHydra.instance().clear()
