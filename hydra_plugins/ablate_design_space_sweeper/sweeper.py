"""The design-space sweeper: sample each space's designs, land each on the budget, launch them as one batch.

`plan(...)` does the work before anything runs: it checks the sweeper's settings, samples each space
(`_sampler.sample`: seeded, every design solved onto the config's budget, no design trained that misses
it) and gives the member override lists, `model.cardinality=… model.depths=[…] model.width=…
+design_space=NAME` after the command line's own overrides (and `budget.scale=…` where the budget is a
range). At run time each member's d is solved again, by the same solver on the same config, as in every
other sweep. The plan goes to `design_spaces.json` in the sweep folder, which the report reads.

Running the same command again continues the sweep: the same seed gives the same designs, so the members'
folders are the same and the app skips the finished ones; a larger `samples` adds designs and keeps the
first ones. A folder whose plan differs in anything else (seed, spaces, budget…) is refused rather than
mixed. Bad settings raise `SweepConfigError` before any member runs: one sentence, exit status 2.
"""

import logging
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, ListConfig, OmegaConf

from ablate.errors import AblateError, ConfigError, override_key, shown
from hydra_plugins.ablate_design_space_sweeper import _config  # noqa: F401  (stores the config node)

log = logging.getLogger(__name__)
NAME = "hydra/sweeper=ablate_design_spaces"
OWNED = ("model.cardinality", "model.depths", "model.width")  # the sampler's: never on the command line
REPEATABLE = ("seed",)  # the one key a command line may sweep: repeats of every design


class SweepConfigError(ConfigError, CompactHydraException):
    """A setting of the sweeper, or a sweep it cannot run; `python -m ablate` prints its sentence and exits 2."""


class AblateDesignSpacesSweeper(Sweeper):
    """See `_config.AblateDesignSpacesSweeperConf` for the meaning of each argument."""

    def __init__(
        self,
        spaces: Any = None,
        compare: Any = None,
        samples: Any = 8,
        seed: Any = 0,
        draws: Any = 1000,
        scale_range: Any = None,
        bins: Any = 5,
    ) -> None:
        super().__init__()
        self.options = {
            "spaces": _plain(spaces) or {},
            "compare": _plain(compare),
            "samples": samples,
            "seed": seed,
            "draws": draws,
            "scale_range": _plain(scale_range),
            "bins": bins,
        }
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir))  # resolved once: ${now:...} is read here

    def sweep(self, arguments: list[str]) -> Any:
        from ablate.report.design_spaces import write_plan

        assert self.config is not None and self.launcher is not None
        try:
            body, jobs = plan(self.config, self.options, arguments)
            _same_plan(self.sweep_dir, body)
        except AblateError as e:
            if isinstance(e, CompactHydraException):
                raise
            raise SweepConfigError(str(e)) from None
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        write_plan(self.sweep_dir, body)
        log.info(
            f"Design spaces: {', '.join(body['compare'])}; {body['samples']} designs each on the budget; "
            f"{len(jobs)} runs."
        )
        return self.launcher.launch(jobs, initial_job_idx=0)


def plan(config: DictConfig, options: dict, arguments: list[str]) -> tuple[dict, list[list[str]]]:
    """The plan (for `design_spaces.json`) and every member's overrides; `ConfigError` for bad settings."""
    from ablate.config.loading import budget_from_cfg, job_searchpath
    from ablate.config.schema import plain, template_of
    from hydra_plugins.ablate_design_space_sweeper import _sampler as sampler

    fixed, seeds = command_line(arguments)
    spaces = sampler.spaces_of(options.get("spaces"))
    compared = sampler.chosen(spaces, options.get("compare"))
    n = sampler.check_samples(options.get("samples"))
    draws = sampler.check_draws(options.get("draws"), n)
    seed = sampler.check_seed(options.get("seed"))
    bins = options.get("bins")
    if not sampler._whole(bins):
        raise ConfigError(
            f"{sampler.PREFIX}bins={shown(bins)} is invalid: give a whole number of at least 1 complexity bins, "
            "such as 5."
        )
    budget_node = plain(config.budget)
    if budget_node.get("metric") is None:
        raise ConfigError(
            "budget.metric=null: a design-space sweep lands every design on one budget: choose "
            "budget=params or budget=flops."
        )
    scale_range = sampler.check_scale_range(options.get("scale_range"), budget_node.get("target") is not None)
    if scale_range is not None and any(override_key(o) == "budget.scale" for o in fixed):
        raise ConfigError(
            f"budget.scale on the command line and {sampler.PREFIX}scale_range={shown(list(scale_range))} "
            "both set the budget: give one of them."
        )
    base = template_of(config.model)
    searchpath = job_searchpath(config)

    def budget(scale: float | None):
        return budget_from_cfg(budget_node if scale is None else {**budget_node, "scale": scale}, searchpath)

    samples = sampler.sample_all(
        compared, base, budget, n, seed, scale_range, draws, budget_node["vary"], budget_node["stage"]
    )
    body = {
        "seed": seed,
        "samples": n,
        "compare": [s.name for s in compared],
        "draws": draws,
        "scale_range": None if scale_range is None else list(scale_range),
        "bins": bins,
        "spaces": {s.name: {**s.to_dict(), "describe": s.describe()} for s in compared},
        "budget": {
            k: budget_node.get(k)
            for k in ("metric", "target", "reference", "scale", "scope", "tolerance", "vary", "stage")
        },
        "draws_by_space": {s.space.name: s.to_dict() for s in samples},
        "designs": [d.to_dict() for s in samples for d in s.designs],
    }
    repeats = [[f"seed={v}"] for v in seeds] if seeds else [[]]
    jobs = [[*fixed, *d.overrides, *r] for s in samples for d in s.designs for r in repeats]
    return body, jobs


def command_line(arguments: list[str]) -> tuple[list[str], list[str]]:
    """The command line's single-valued overrides (given to every member) and the seeds of a `seed=0,1,2` sweep."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    fixed, seeds = [], []
    for o in OverridesParser.create().parse_overrides(list(arguments)):
        key = o.key_or_group
        if key in OWNED or key == "design_space":
            raise ConfigError(
                f"{o.input_line!r}: {NAME} samples {key} from each design space "
                f"(hydra.sweeper.spaces): leave it out, or change the spaces."
            )
        if o.is_sweep_override():
            if key in REPEATABLE and o.is_discrete_sweep():
                seeds = list(o.sweep_string_iterator())
                continue
            raise ConfigError(
                f"{o.input_line!r} is a sweep: {NAME} sweeps the designs of hydra.sweeper.spaces (and "
                "seeds, seed=0,1,2): give one value."
            )
        fixed.append(str(o.input_line))
    return fixed, seeds


def _same_plan(sweep_dir: Path, body: dict) -> None:
    """Refuse to continue a sweep folder sampled otherwise: its designs would be another sample."""
    from ablate.report.design_spaces import changed, read_plan

    old = read_plan(sweep_dir)
    if old is None:
        return
    diff = changed(old, body)
    if diff:
        raise ConfigError(
            f"{sweep_dir} holds a design-space sweep sampled otherwise: {'; '.join(diff)}; keep its settings "
            "to continue it, or start a new folder with hydra.sweep.dir=…."
        )


def _plain(node: Any) -> Any:
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


__all__ = ["AblateDesignSpacesSweeper", "command_line", "plan"]
