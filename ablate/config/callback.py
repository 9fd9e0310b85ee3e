"""`RefuseCallback`: a single run whose config is refused ends before Hydra makes its folder.

Hydra creates a run's folder (and its log file) before it calls the task, so a config refused inside the task
left a folder holding only a failed record, and the sentence twice on the terminal (the run's log line, then the
sentence on stderr). Named in the root config (`hydra.callbacks.refuse`), this callback checks the composed config
with the same `check` and budget solver the run uses, before the folder exists: a refusal is one sentence on
stderr and exit status 2 (Hydra's callback runner turns exceptions into warnings, so it exits itself, as the
report callback does). Multirun members are not judged here: each is checked in its own job, and a refused member
is recorded as failed so the sweep goes on. A run this callback passes is checked again by its job (no bypass).
"""

from __future__ import annotations

import sys

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ablate.cli.common import EXIT_USAGE


class RefuseCallback(Callback):
    """Refuse a single run's config (schema and budget) before Hydra makes the run's folder."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        from ablate.config.loading import job_searchpath, solve_cfg
        from ablate.config.schema import check
        from ablate.errors import AblateError

        try:
            searchpath = job_searchpath(config)  # the user's config folders: a budget may name a model there
            run = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])  # its fields alone
            check(run, searchpath)
            solve_cfg(run, searchpath)
        except AblateError as e:
            print(f"ablate: {' '.join(str(e).split())}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        except Exception:  # not a refusal (an interpolation only the job resolves): the job says what it is
            return
