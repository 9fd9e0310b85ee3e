"""From Hydra configs to engine objects: the schema of every group, the resolvers, model names → templates.

Importing this package registers ablate's OmegaConf resolvers (`ablate.config.resolvers`), which the
config tree in `conf/` uses, and stores the schema (`ablate.config.schema`) in Hydra's ConfigStore, which
`conf/config.yaml` and the group presets start from. `conf/hydra/launcher/ray.yaml` gives Hydra's Ray launcher
one field of ablate's (see that file) and is checked against the plugin's schema of the same name, as Hydra does
with a warning that such matching is deprecated: ablate means it, so that warning is not shown.
"""

import warnings

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
warnings.filterwarnings(
    "ignore", message=r"\s*'hydra/launcher/ray' is validated against ConfigStore schema", category=UserWarning
)

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
