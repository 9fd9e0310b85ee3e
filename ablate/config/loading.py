"""From Hydra configs to templates and budgets: composing, finding model configs, solving a config's budget.

The config tree lives in the package `ablate.conf` (the repo's `conf/`), so an editable and a wheel install find
the same files. `compose` builds the same tree the training app sees. Model names (`model=NAME`, a budget's
`reference`) are resolved by composing through Hydra's own config loader, with the search path of the running
job (its `hydra.runtime.config_sources`: `--config-dir`, `hydra.searchpath`) or the one given: a model config of the
user's own is as good a budget reference as the package's, and every "available models" list names it.
Checking is `ablate.config.schema.check`'s job; the functions here read checked values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ablate.config.schema import plain, prefixed, template_of
from ablate.config.sentences import bad_yaml, hydra_sentence, in_file
from ablate.engine.budget import Budget, Solution, amount, solve
from ablate.engine.template import Template
from ablate.errors import BudgetError, ConfigError, override_key, override_value

CONFIG_MODULE = "ablate.conf"

template_from_cfg = template_of  # the `Template` of a `model` node (its fields checked, sentences name model.FIELD)


# ----------------------------------------------------------------------------- the search path
def searchpath_of(overrides: Iterable[str]) -> tuple[str, ...]:
    """The search path entries (`file://...`, `pkg://...`) a `hydra.searchpath=[...]` override in `overrides` adds."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for text in overrides:
        if override_key(text) == "hydra.searchpath":
            value = OverridesParser.create().parse_override(text).value()
            return tuple(str(v) for v in value) if isinstance(value, list) else ()
    return ()


def job_searchpath(config: Any = None) -> tuple[str, ...]:
    """The config sources of the running Hydra job (or of `config`, a config composed with its `hydra` node, as a
    sweeper gets it) beyond ablate's own (`--config-dir`, `hydra.searchpath`, a changed `--config-path`), as search
    path entries; () outside a job."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if config is not None:
        sources = OmegaConf.select(config, "hydra.runtime.config_sources") or []
    elif HydraConfig.initialized():
        sources = HydraConfig.get().runtime.config_sources
    else:
        return ()
    urls = (f"{s.schema}://{s.path}" for s in sources if s.provider not in ("hydra", "schema"))
    return tuple(u for u in urls if u != f"pkg://{CONFIG_MODULE}")


def is_ablate_config(config: Any) -> bool:
    """Whether `config` (composed with its `hydra` node) is ablate's: composed from ablate's own configs."""
    from omegaconf import OmegaConf

    sources = OmegaConf.select(config, "hydra.runtime.config_sources") or []
    return any(f"{s.schema}://{s.path}" == f"pkg://{CONFIG_MODULE}" for s in sources)


def _resolve(searchpath: Sequence[str] | None) -> tuple[str, ...]:
    return job_searchpath() if searchpath is None else tuple(searchpath)


def _override(searchpath: tuple[str, ...]) -> list[str]:
    """`searchpath` as a `hydra.searchpath=[...]` override ([] for none): each entry quoted."""
    if not searchpath:
        return []
    quoted = ("'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'" for p in searchpath)
    return [f"hydra.searchpath=[{','.join(quoted)}]"]


@contextmanager
def _hydra() -> Iterator[Any]:
    """Hydra initialised on `ablate.conf` for one composition; a running app's own Hydra is restored after."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    outer = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            yield GlobalHydra.instance()
    finally:
        GlobalHydra.instance().hydra = outer


# ----------------------------------------------------------------------------- composing
def available(group: str, searchpath: Sequence[str] | None = None) -> list[str]:
    """Names of the configs in one group (model, data, optim, sweep, ...): ablate's and the search path's
    (None: the running job's search path)."""
    from hydra.core.object_type import ObjectType

    with _hydra() as gh:
        return sorted(
            gh.config_loader().get_group_options(
                group, results_filter=ObjectType.CONFIG, overrides=_override(_resolve(searchpath))
            )
        )


def compose(overrides: Iterable[str] = (), config_name: str = "config"):
    """Compose the app's config with Hydra overrides (a `hydra.searchpath=[...]` among them adds the user's configs),
    as the app would; safe inside a running Hydra app. Not checked: call `check(cfg, searchpath_of(overrides))`.
    An override Hydra cannot apply raises `ConfigError` with `hydra_sentence`'s sentence, as the app says it."""
    from hydra import compose as hydra_compose

    overrides = list(overrides)
    try:
        with _hydra():
            return hydra_compose(config_name=config_name, overrides=overrides)
    except Exception as e:
        sentence = hydra_sentence(e, overrides)
        if sentence is None:
            raise
        raise ConfigError(sentence) from None


def sweep_params(overrides: Iterable[str] = ()) -> dict[str, str]:
    """The `hydra.sweeper.params` of the composed config (a `+sweep=NAME`'s axes: `{"model.cardinality": "1,2"}`),
    as written; {} without any."""
    from hydra import compose as hydra_compose
    from omegaconf import OmegaConf

    overrides = list(overrides)
    with _hydra():
        cfg = hydra_compose(config_name="config", overrides=overrides, return_hydra_config=True)
    params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None)
    values = OmegaConf.to_container(params) if params is not None else None
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


# ----------------------------------------------------------------------------- model names
def model_config(name: str, searchpath: Sequence[str] | None = None, field: str = "model"):
    """The model config NAME as written (no overrides), composed with the schema's defaults, from ablate's configs
    and the search path (None: the running job's). An unknown name is refused naming `field`."""
    from hydra import compose as hydra_compose
    from hydra.errors import MissingConfigException

    try:
        with _hydra():
            return hydra_compose("config", overrides=[f"model={name}", *_override(_resolve(searchpath))]).model
    except MissingConfigException as e:
        if e.missing_cfg_file == f"model/{name}" and e.options is not None:
            raise ConfigError(
                f"{field}={name!r} is unknown: available models are {', '.join(sorted(e.options))}."
            ) from None
        sentence = in_file(e, str(e))
        if sentence is None:
            raise
        raise ConfigError(sentence) from None
    except Exception as e:  # an error inside the model's file: the file named, as when it is the run's model
        sentence = bad_yaml(e) or in_file(e, str(e))
        if sentence is None:
            raise
        raise ConfigError(sentence) from None


@lru_cache(maxsize=64)
def _template(name: str, searchpath: tuple[str, ...], field: str) -> Template:
    return template_of(model_config(name, searchpath, field))


def load_template(name: str, overrides: Iterable[str] = (), searchpath: Sequence[str] | None = None) -> Template:
    """The template of model config `name`, with Hydra overrides such as `model.cardinality=8`; found on ablate's
    configs and the search path (None: the running Hydra job's, so a user's own model config resolves there)."""
    overrides = list(overrides)
    if not overrides:
        return _template(name, _resolve(searchpath), "model")
    cfg = compose([f"model={name}", *_override(_resolve(searchpath)), *overrides])
    return template_of(cfg.model)


# ----------------------------------------------------------------------------- budgets
def budget_from_cfg(budget_cfg: Any, searchpath: Sequence[str] | None = None) -> Budget | None:
    """The `Budget` of a checked `budget` node (None when `metric` is null); a relative budget's reference is a
    model config name, found as `load_template` finds it and refused naming `budget.reference`."""
    b = plain(budget_cfg)
    if b.get("metric") is None:
        return None
    if b["target"] is not None:
        return Budget(metric=b["metric"], target=b["target"], scope=b["scope"], tolerance=b["tolerance"])
    if b["reference"] is None:
        raise ConfigError("budget.target=null and budget.reference=null: give an absolute target or a reference model.")
    reference = _template(str(b["reference"]), _resolve(searchpath), "budget.reference")
    return Budget.relative(
        reference,
        scale=b["scale"],
        metric=b["metric"],
        scope=b["scope"],
        tolerance=b["tolerance"],
        name=str(b["reference"]),
    )


def solve_cfg(cfg: Any, searchpath: Sequence[str] | None = None) -> tuple[Template, Solution | None]:
    """The template a checked config asks for — its budget solved where it has one — and the solution (None without
    a budget), which carries its `Budget`."""
    template = template_of(cfg["model"])
    budget = budget_from_cfg(cfg["budget"], searchpath)
    if budget is None:
        return template, None
    try:
        solution = solve(template, budget, vary=cfg["budget"]["vary"], stage=cfg["budget"]["stage"])
    except BudgetError as e:  # the solver names `vary` and `stage`; in a config they are budget.<field>
        unlike = _unlike_reference(template, cfg["budget"], searchpath)
        raise BudgetError(_with_origin(prefixed("budget", e, ("vary", "stage")), budget, unlike)) from None
    return solution.template, solution


def _unlike_reference(template: Template, budget_cfg: Any, searchpath: Sequence[str] | None) -> str:
    """Where `template` differs from its budget's reference as the reference's config file gives it, in the fields
    the solver does not set (`at width=32 where this model has width=48`); '' where it does not, or without one."""
    if budget_cfg["target"] is not None or budget_cfg["reference"] is None:
        return ""
    reference = _template(str(budget_cfg["reference"]), _resolve(searchpath), "budget.reference")
    solved = {"cardinality", "depths" if budget_cfg["vary"] == "depth" else budget_cfg["vary"]}
    ours, theirs = template.to_dict(), reference.to_dict()
    keys = [k for k in ours if k not in solved and ours[k] != theirs[k]]
    if not keys:
        return ""

    def fields(values: dict) -> str:
        return ", ".join(f"{k}={override_value(values[k])}" for k in keys)

    return f"at {fields(theirs)} where this model has {fields(ours)}"


def _with_origin(text: str, budget: Budget, unlike: str = "") -> str:
    """The solver's sentence with the override that set its target after the target (`budget params=1,000
    (budget.target=1000) is out of reach …`), so that the user sees what to change. A reference's complexity is
    its config file's: `model.width=48` on the command line changes the model, not the reference; `unlike` says
    how (`_unlike_reference`), since a user who changed the model may have expected the reference to follow."""
    head = f"budget {budget.metric}={amount(budget.target)} "
    if not text.startswith(head) or (budget.scale == 1 and not unlike):  # the reference's own: nothing to add
        return text
    also = f" as its config file gives it, {unlike}" if unlike else ""
    if budget.scale is None:
        origin = f"budget.target={budget.target:g}"
    elif budget.scale == 1:
        origin = f"budget.reference={budget.reference}'s{also}"
    else:
        origin = f"budget.scale={budget.scale:g} × {budget.reference}'s {budget.target / budget.scale:,.0f}{also}"
    return f"{head}({origin}) {text[len(head) :]}"
