"""A Hydra callback that writes a sweep's report when the multirun ends.

Named in a sweep config as `hydra.callbacks.report._target_: ablate.report.callback.ReportCallback`
(optionally `hydra.callbacks.report.out: DIR`). It reads the results from
`config.hydra.sweep.dir` on disk, as `python -m ablate.report` does, and never raises: a
report that cannot be written is one logged sentence, not a failed sweep.
"""

from __future__ import annotations

import logging

from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)


class ReportCallback(Callback):
    """Write `reports/<sweep name>/` (or `out`) from the sweep folder after every multirun."""

    def __init__(self, out: str | None = None) -> None:
        self.out = out

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = None
        try:
            from ablate.report import write_report

            sweep_dir = config.hydra.sweep.dir
            out = write_report(sweep_dir, self.out)
            log.info(f"Report of {sweep_dir}: {out}/index.html")
        except Exception as e:  # the sweep's results stand; only the report is missing
            log.error(f"The report of sweep {sweep_dir!r} was not written: {e} "
                      f"(write it later with: python -m ablate.report {sweep_dir or 'SWEEP_DIR'})")
