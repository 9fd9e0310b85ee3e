"""From Hydra configs to engine objects: the schema of every group, the resolvers, model names → templates.

Importing this package registers ablate's OmegaConf resolvers (`ablate.config.resolvers`), which the
config tree in `conf/` uses, and stores the schema (`ablate.config.schema`) in Hydra's ConfigStore, which
`conf/config.yaml` and the group presets start from.
"""

from ablate.config import resolvers, schema
from ablate.config.loading import (
    available,
    budget_from_cfg,
    compose,
    job_searchpath,
    load_template,
    model_config,
    searchpath_of,
    solve_cfg,
    template_from_cfg,
)
from ablate.config.schema import RUNTIME_KEYS, check

resolvers.register()
schema.register()

__all__ = [
    "RUNTIME_KEYS",
    "available",
    "budget_from_cfg",
    "check",
    "compose",
    "job_searchpath",
    "load_template",
    "model_config",
    "searchpath_of",
    "solve_cfg",
    "template_from_cfg",
]
