"""ablate's design-space sweeper for Hydra: `hydra/sweeper=ablate_design_spaces`, or `+sweep=design_spaces`.

Samples N designs from each of two or more named design spaces (Radosavovic et al., 2019, "On Network
Design Spaces for Visual Recognition"), lands each on the budget with ablate's solver, and launches them
as one batch through any launcher; the report compares the spaces' error distributions
(`ablate.report.design_spaces`). Hydra finds plugins by walking the `hydra_plugins` namespace package; an
app started outside the checkout calls `register()` first.
"""


def register() -> None:
    """Make `hydra/sweeper=ablate_design_spaces` known to Hydra without its plugin scan (idempotent).

    Importing the sweeper module stores its config node (`_config`)."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.ablate_design_space_sweeper.sweeper import AblateDesignSpacesSweeper

    Plugins.instance().register(AblateDesignSpacesSweeper)
