"""ablate's adaptive-repeats sweeper for Hydra: `hydra/sweeper=ablate_repeats`, or `+repeats=auto`.

A grid sweep (the basic sweeper's `params` and `key=a,b` overrides) in which every setting runs
`min` seeds, then only the settings whose verdict against the reference is still undecided get
more seeds, in batches, up to `max` (`ablate.report.sequential` has the rule and why it keeps the
chance of a false better/worse at or below `alpha`). Hydra finds plugins by walking the
`hydra_plugins` namespace package; an app started outside the checkout calls `register()` first.
"""


def register() -> None:
    """Make `hydra/sweeper=ablate_repeats` known to Hydra without its plugin scan (idempotent).

    Importing the sweeper module stores its config node (`_config`)."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.ablate_repeats_sweeper.sweeper import AblateRepeatsSweeper

    Plugins.instance().register(AblateRepeatsSweeper)
