"""A small Hydra app run through ablate's Optuna sweeper in this process: the benchmarks that measure the sweeper
itself (`search_slots`, `pruning_replay`) give it a config and a task function instead of ablate's trainer."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def _hydra(name: str, config: dict) -> Iterator[Any]:
    """A fresh Hydra (version base 1.3) for the config `config`, stored as `name`; cleared on the way out."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    ConfigStore.instance().store(name=name, node=config)
    GlobalHydra.instance().clear()
    version.setbase("1.3")
    try:
        yield Hydra.create_main_hydra2(task_name=name, config_search_path=create_config_search_path(None))
    finally:
        GlobalHydra.instance().clear()


def multirun(name: str, config: dict, task: Callable[[Any], Any], overrides: list[str]) -> None:
    """Run `task` as a multirun of `hydra/sweeper=ablate_optuna` over the config `config` (stored as `name`), with
    Hydra's own logging off; `overrides` add the launcher, the sweep folder and the sweeper's settings."""
    from hydra_plugins.ablate_optuna_sweeper import register

    register()
    with _hydra(name, config) as hydra:
        hydra.multirun(config_name=name, task_function=task, with_log_configuration=False,
                       overrides=["hydra.mode=MULTIRUN", "hydra/sweeper=ablate_optuna", "hydra/hydra_logging=none",
                                  "hydra/job_logging=none", *overrides])


def launcher_slots(name: str, config: dict, task: Callable[[Any], Any], overrides: list[str],
                   jobs: list[list[str]], slots: int) -> None:
    """Run `jobs` (each a list of overrides) through the multirun's Hydra launcher from `slots` threads, each
    launching one job at a time and the next as soon as it returns: the slots with no study, sampler or database,
    so what stays idle is the launcher's own cost per job (the floor any sweeper on that launcher has)."""
    import threading

    from hydra._internal.callbacks import Callbacks
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext, RunMode

    with _hydra(name, config) as hydra:
        cfg = hydra.compose_config(name, ["hydra.mode=MULTIRUN", "hydra/hydra_logging=none", "hydra/job_logging=none",
                                          *overrides], run_mode=RunMode.MULTIRUN, with_log_configuration=False)
        context = HydraContext(config_loader=hydra.config_loader, callbacks=Callbacks(cfg))
        launcher = Plugins.instance().instantiate_launcher(hydra_context=context, task_function=task, config=cfg)
        lock, queue = threading.Lock(), list(enumerate(jobs))

        def slot() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    num, job = queue.pop(0)
                launcher.launch([job], initial_job_idx=num)

        threads = [threading.Thread(target=slot) for _ in range(slots)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
