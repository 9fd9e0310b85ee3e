"""`python -m ablate [overrides]`: train one run (or, with -m, a sweep) of a config from `conf/`.

Thin Hydra entry point; the work is in `ablate.run.app`. The task function returns the run's
final val top-1 error (%), or None for a run that did not complete, for sweepers to optimise.
"""

import sys

import hydra

import ablate.config  # noqa: F401  registers the resolvers the config tree uses


@hydra.main(config_path="pkg://ablate.conf", config_name="config", version_base="1.3")
def main(cfg) -> float | None:
    from ablate.run.app import main as run_main

    return run_main(cfg)


if __name__ == "__main__":
    from hydra_plugins.ablate_optuna_sweeper import register

    from ablate.cli.argv import flags_first

    register()  # an editable install hides hydra_plugins/ from Hydra's scan outside the checkout
    sys.argv[1:] = flags_first(sys.argv[1:])  # overrides may follow -m, as users type them
    main()
