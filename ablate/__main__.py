"""`python -m ablate [overrides]` (or the `ablate` console script): train one run, or with -m a sweep, of a config.

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


def cli() -> None:
    """The command line: overrides may stand on both sides of -m, as users type them."""
    from ablate.cli.argv import flags_first
    from hydra_plugins.ablate_optuna_sweeper import register

    register()  # an editable install hides hydra_plugins/ from Hydra's scan outside the checkout
    sys.argv[1:] = flags_first(sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
