"""From Hydra configs to templates and budgets.

The config tree lives in the package `ablate.conf` (the repo's `conf/`), so an editable and a
wheel install find the same files. `compose` builds the same tree the training app sees;
`template_from_cfg` and `budget_from_cfg` turn its `model` and `budget` nodes into the
pure-Python objects of the engine, with one-sentence errors for bad values.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from importlib import resources
from typing import Iterable

from ablate.budget import Budget, Solution, solve
from ablate.engine.budget import VARY
from ablate.errors import BudgetError, ConfigError, TemplateError
from ablate.engine.template import Template

CONFIG_MODULE = "ablate.conf"
TEMPLATE_FIELDS = tuple(f.name for f in fields(Template))
MODEL_EXTRA_FIELDS = ("name", "form", "zero_init_last_bn")


def available(group: str) -> list[str]:
    """Names of the configs in one group (model, data, optim, sweep, ...)."""
    folder = resources.files(CONFIG_MODULE) / group
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def compose(overrides: Iterable[str] = (), config_name: str = "config"):
    """Compose the app's config with Hydra overrides, outside a running Hydra app."""
    from hydra import compose as hydra_compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = list(overrides)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return hydra_compose(config_name=config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(_hydra_sentence(e, overrides)) from None


def _hydra_sentence(e: Exception, overrides: list[str]) -> str:
    msg = " ".join(str(e).split())
    for group in ("model", "data", "optim", "trainer", "budget", "sweep"):
        if f"'{group}/" in msg or f"group {group}" in msg or f"Could not find '{group}" in msg:
            names = ", ".join(available(group))
            return f"{msg.split('Available options')[0].rstrip('. ')}: available {group} configs are {names}."
    return f"the overrides {overrides} are invalid: {msg}"


CHECKED_GROUPS = ("optim", "data", "trainer")


@lru_cache(maxsize=None)
def group_fields(group: str) -> frozenset[str]:
    """Every key that some config of `group` sets: the fields that group has."""
    from omegaconf import OmegaConf

    keys: set[str] = set()
    for name in available(group):
        node = OmegaConf.create((resources.files(CONFIG_MODULE) / group / f"{name}.yaml").read_text())
        keys.update(k for k in node if k != "defaults")
    return frozenset(keys)


def check_fields(cfg) -> None:
    """Refuse a key no config of its group knows: a typo added with `+optim.warmup_epoch=1` would
    otherwise be ignored in silence (the model group is checked by `template_from_cfg`)."""
    for group in CHECKED_GROUPS:
        node = cfg.get(group)
        if node is None:
            continue
        known = group_fields(group)
        unknown = sorted(str(k) for k in node if k not in known)
        if unknown:
            raise ConfigError(f"{group}.{unknown[0]} is not {'an' if group[0] in 'aeiou' else 'a'} {group} field: valid fields are "
                              f"{', '.join(sorted(known))}.")


def model_config(name: str):
    """The model config `conf/model/NAME.yaml` as written (no overrides)."""
    from omegaconf import OmegaConf

    path = resources.files(CONFIG_MODULE) / "model" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"model={name!r} is unknown: available models are {', '.join(available('model'))}.")
    return OmegaConf.create(path.read_text())


def template_from_cfg(model_cfg) -> Template:
    """The `Template` a `model` config node describes; unknown keys are refused."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(model_cfg, resolve=True) if not isinstance(model_cfg, dict) else dict(model_cfg)
    unknown = sorted(set(data) - set(TEMPLATE_FIELDS) - set(MODEL_EXTRA_FIELDS))
    if unknown:
        raise ConfigError(
            f"model.{unknown[0]} is not a model field: valid fields are "
            f"{', '.join(TEMPLATE_FIELDS + MODEL_EXTRA_FIELDS)}."
        )
    kwargs = {k: v for k, v in data.items() if k in TEMPLATE_FIELDS}
    if "depths" in kwargs:
        if not isinstance(kwargs["depths"], (list, tuple)):
            raise ConfigError(f"model.depths={kwargs['depths']!r} is invalid: it must be a list such as [3,4,6,3].")
        kwargs["depths"] = tuple(kwargs["depths"])
    try:
        return Template(**kwargs)
    except TemplateError as e:  # the engine names the field; from a config it is model.<field>
        text = str(e)
        if text.split("=", 1)[0].split("[", 1)[0] in TEMPLATE_FIELDS:
            raise TemplateError(f"model.{text}") from None
        raise


def load_template(name: str, overrides: Iterable[str] = ()) -> Template:
    """The template of model config `name`, with Hydra overrides such as `model.cardinality=8`.

    With overrides this composes the full config tree the training app uses; without, it
    reads the model file alone (fast, and safe inside a running Hydra app).
    """
    overrides = list(overrides)
    if not overrides:
        return template_from_cfg(model_config(name))
    cfg = compose([f"model={name}", *overrides])
    return template_from_cfg(cfg.model)


def budget_from_cfg(budget_cfg) -> Budget | None:
    """The `Budget` of a `budget` config node, or None when `metric` is null."""
    if budget_cfg is None or budget_cfg.get("metric") is None:
        return None
    target = budget_cfg.get("target")
    tolerance = budget_cfg.get("tolerance", 0.05)
    if target is not None:
        return Budget(metric=budget_cfg.metric, target=target, scope=budget_cfg.get("scope", "network"),
                      tolerance=tolerance)
    reference = budget_cfg.get("reference")
    if reference is None:
        raise ConfigError("budget.target=null and budget.reference=null: give an absolute target or a reference model.")
    return Budget.relative(reference, scale=budget_cfg.get("scale", 1.0), metric=budget_cfg.metric,
                           scope=budget_cfg.get("scope", "network"), tolerance=tolerance)


def solve_cfg(cfg) -> tuple[Template, Solution | None]:
    """The template a full config asks for, with its budget solved where it has one."""
    template = template_from_cfg(cfg.model)
    budget = budget_from_cfg(cfg.get("budget"))
    if budget is None:
        return template, None
    vary = cfg.budget.get("vary", "bottleneck_width")
    if vary not in VARY:
        raise BudgetError(f"budget.vary={vary!r} is unknown: valid choices are {', '.join(VARY)}.")
    solution = solve(template, budget, vary=vary, stage=cfg.budget.get("stage"))
    return solution.template, solution
