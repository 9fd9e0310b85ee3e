"""A sweep member that ends on Ctrl-C as ablate's app does, for the Ctrl-C tests of tests/test_launchers.py and
tests/test_sweeper_resume.py: it runs inside `pool_job` and its run directory's lock, writes `started-<n>` in the
sweep folder, sleeps, and on Ctrl-C writes `recorded-<n>` (job n takes 1.5·n s to do so, as a member caught in a
long operation would) before it releases the lock and ends with `end_interrupted`."""

import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from ablate.run.interrupt import end_interrupted, pool_job
from ablate.run.lock import RunLock


def member(cfg) -> float:
    hc = HydraConfig.get()
    run_dir, sweep, num = Path(hc.runtime.output_dir), Path(hc.sweep.dir), hc.job.num
    with pool_job(run_dir):
        stopped = False
        with RunLock(run_dir):
            (sweep / f"started-{num}").write_text("")
            try:
                time.sleep(60)
            except KeyboardInterrupt:
                time.sleep(1.5 * num)
                (sweep / f"recorded-{num}").write_text("")
                stopped = True
        if stopped:
            end_interrupted("interrupted", 130)
    return 1.0
