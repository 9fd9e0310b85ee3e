"""From Hydra configs to engine objects: the schema of every group, the resolvers, model names → templates.

Importing this package registers ablate's OmegaConf resolvers (`ablate.config.resolvers`), which the
config tree in `conf/` uses.
"""

from ablate.config import resolvers
from ablate.config.loading import (available, budget_from_cfg, compose, load_template, model_config, solve_cfg,
                                   template_from_cfg)

resolvers.register()

__all__ = ["available", "budget_from_cfg", "compose", "load_template", "model_config", "solve_cfg",
           "template_from_cfg"]
