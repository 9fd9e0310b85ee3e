"""ablate's Optuna sweeper for Hydra (Optuna >= 4, ask and tell): `hydra/sweeper=ablate_optuna`.

Hydra finds plugins by walking the `hydra_plugins` namespace package. A wheel install and a
checkout on `sys.path` are found that way; setuptools' strict editable install hides the
folder from that walk, so an app started outside the checkout calls `register()` first.
"""


def register() -> None:
    """Make `hydra/sweeper=ablate_optuna` known to Hydra without its plugin scan (idempotent).

    Importing the sweeper module stores its config node (`_config`)."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.ablate_optuna_sweeper.sweeper import AblateOptunaSweeper

    Plugins.instance().register(AblateOptunaSweeper)
