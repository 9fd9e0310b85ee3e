"""`python -m ablate [overrides]`: train one run (or, with -m, a sweep) of a config from `conf/`.

Thin Hydra entry point; the work is in `ablate.app`. The task function returns the run's
final val top-1 error (%), or None for a run that did not complete, for sweepers to optimise.
"""

import hydra


@hydra.main(config_path="pkg://ablate.conf", config_name="config", version_base="1.3")
def main(cfg) -> float | None:
    from ablate.app import main as run_main

    return run_main(cfg)


if __name__ == "__main__":
    from hydra_plugins.ablate_optuna_sweeper import register

    register()  # an editable install hides hydra_plugins/ from Hydra's scan outside the checkout
    main()
