"""Hydra callbacks that write a sweep's report when the multirun ends, and set the sweep's exit status.

`ReportCallback` is named in a sweep config as `hydra.callbacks.report._target_: ablate.report.callback.ReportCallback`
(optionally `out: DIR` in that node; on the command line `+hydra.callbacks.report.out=DIR`). It reads the results from
`config.hydra.sweep.dir` on disk, as `python -m ablate.report` does. A report that cannot be
written is one line on stderr and a failed command: exit 2 when the user must change something (the report
folder holds another sweep's report, or cannot be written; a report option the sweep cannot meet), 1 otherwise.
The sweep's results stand, and `python -m ablate.report` writes the report later.

Then the sweep's exit status, so that a script can trust it (`sweep_verdict`): after the report is
written, a sweep some of whose members hold runs of another config (status stale: the sweep was
edited and re-run into the same folder) exits 2, and one some of whose members failed — failed,
missing (never ran, or wrote no record) or still running (interrupted) — exits 1, each with one line
on stderr saying which and what to do. A diverged member is a result, not a failure: the recipe
diverges for that setting, and a seeded re-run diverges again (as a pruned trial of a search is a
result of the search). Hydra 1.3 lets the `SystemExit` raised here through: its callback runner
and `run_and_report` catch `Exception`, which `SystemExit` is not.

`StatusCallback`, in the root config (`hydra.callbacks.status`), gives every other multirun (one typed on the
command line, with no sweep config and so no report) the same exit status and lines. Hydra calls the
`on_multirun_end` of its callbacks in reverse order, so a sweep config's report callback, added after it, runs
first and judges the sweep itself; the status callback then stands aside.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from ablate.cli.common import EXIT_USAGE  # a report folder or option the user must change: as any bad input

log = logging.getLogger(__name__)
SHOWN = 3  # failed members named in the line; the report lists them all
LONGEST = 100  # characters of a member's name in the line


class ReportCallback(Callback):
    """Write `reports/<sweep name>/` (or `out`) from the sweep folder after every multirun; then exit non-zero
    when members failed (1), hold runs of another config (2) or the report could not be written (2 or 1)."""

    def __init__(self, out: str | None = None) -> None:
        self.out = out

    def on_multirun_end(self, config, **kwargs) -> None:
        from ablate.errors import ConfigError, DataError
        from ablate.report import write_report

        sweep_dir = config.hydra.sweep.dir
        out, unwritten = None, None
        try:
            out = write_report(sweep_dir, self.out, option="+hydra.callbacks.report.out=DIR")
            log.info(f"Report of {sweep_dir}: {out}/index.html")
        except DataError:  # no folder (nothing was launched: Hydra has said why) or no record (the verdict says so)
            if not Path(sweep_dir).is_dir():
                log.info(f"No report of {sweep_dir}: no member was launched into it.")
        except Exception as e:  # the sweep's results stand; the report is missing, so the command has failed
            again = f"python -m ablate.report {sweep_dir}" + (f" --out {self.out}" if self.out else "")
            sentence = " ".join(str(e).split()).rstrip(".")
            line = f"the report of sweep {str(sweep_dir)!r} was not written: {sentence} (the results stand: {again} "
            unwritten = (EXIT_USAGE if isinstance(e, ConfigError) else 1, line + "writes it).")
        if out is not None:
            try:
                from ablate.run.loggers import log_report

                log_report(sweep_dir, out)  # sweeps with mlflow in trainer.loggers: the report as a run's artifacts
            except Exception as e:  # tracking never fails a sweep
                log.error(f"The report of {sweep_dir} was not added to MLflow: {e}")
        exit_with_verdict(sweep_dir, out, unwritten)


class StatusCallback(Callback):
    """Refuse a multirun whose report options are invalid before any member runs (exit 2, one sentence); at its
    end, exit non-zero when members failed (1) or hold runs of another config (2), with one line each; nothing
    then when a `ReportCallback` of the same multirun has judged it."""

    def on_multirun_start(self, config, **kwargs) -> None:
        refusal = options_refusal(config)
        if refusal is not None:
            print(f"ablate: {refusal}", file=sys.stderr)
            raise SystemExit(2)

    def on_multirun_end(self, config, **kwargs) -> None:
        callbacks = config.hydra.get("callbacks") or {}
        reported = any(str((c or {}).get("_target_", "")).endswith(ReportCallback.__name__) for c in callbacks.values())
        if reported:
            return
        sweep_dir = config.hydra.sweep.dir
        exit_with_verdict(sweep_dir)
        log.info(
            f"No report is written for a multirun without a report callback (a sweep config adds one): python -m "
            f"ablate.report {sweep_dir} writes it (or add hydra/callbacks=report to the command)."
        )


def options_refusal(config) -> str | None:
    """Why a multirun's report options cannot be met, in one sentence, or None: δ and the reference's form
    (`ablate.report.options.check`) and, for the basic sweeper, whose members are known before they run, a
    reference that names none or several of them (by overrides, value or label; for a label each member up to
    LABELLED is composed and solved). Checked when the multirun starts, so that an hour of training does not end
    in a report that cannot be written; a reference among another sweeper's members, which are not known before
    they run, is checked when the report is written."""
    from omegaconf import OmegaConf

    from ablate.errors import ConfigError
    from ablate.report import options
    from ablate.report.collect import expected_members

    container = OmegaConf.to_container(config, resolve=False)  # what multirun.yaml will hold, read as the report does
    multirun = container if isinstance(container, dict) else None
    try:
        checked = options.from_sweep(multirun)
        members = expected_members(multirun) if checked.reference is not None else []
        if checked.reference is not None and members:
            reference_before_runs(config, members, checked.reference, checked.name("reference"))
    except ConfigError as e:
        return str(e)
    return None


LABELLED = 20  # members up to which a multirun's start composes each to know its label (C×d)


def reference_before_runs(config, members: list[list[str]], reference: str, name: str) -> str:
    """The setting `reference` names among the members of a multirun about to start (`find_reference`): by their
    overrides or a value alone, else by label (C×d), for which up to LABELLED members are composed and solved.
    Raises `ConfigError` naming each setting (with its label where known) when it names none or several."""
    from ablate.errors import ConfigError
    from ablate.report.collect import setting_of
    from ablate.report.stats import find_reference

    settings = list(dict.fromkeys(setting_of(m) for m in members))
    try:
        return find_reference(settings, reference, {}, name)
    except ConfigError:  # a label, or wrong: the labels decide, and name each choice
        if len(members) > LABELLED:
            raise
        return find_reference(settings, reference, _labels(config, members), name)


def _labels(config, members: list[list[str]]) -> dict[str, str]:
    """{setting: C×d} of the members of a multirun about to start, each composed and solved as its run will be; a
    member refused or not composable has no label (its run will say why)."""
    from hydra.core.global_hydra import GlobalHydra

    from ablate.config.callback import solved_template
    from ablate.report.collect import setting_of

    if not GlobalHydra.instance().is_initialized():
        return {}
    loader, labels = GlobalHydra.instance().config_loader(), {}
    for overrides in members:
        try:
            template = solved_template(loader.load_sweep_config(config, list(overrides)))
        except Exception:
            continue
        labels[setting_of(overrides)] = f"{template.cardinality}×{template.bottleneck_width}d"
    return labels


def exit_with_verdict(sweep_dir, out=None, unwritten: tuple[int, str] | None = None) -> None:
    """Print the lines of `sweep_verdict` on stderr and exit with its status when that is not 0; `unwritten`, the
    status and line of a report that could not be written, is added to them (the higher status wins)."""
    code, lines = sweep_verdict(sweep_dir, out)
    if unwritten is not None:
        code, lines = max(code, unwritten[0]), [*lines, unwritten[1]]
    for line in lines:
        print(f"ablate: {line}", file=sys.stderr)
    if code:
        raise SystemExit(code)


def sweep_verdict(sweep_dir, out=None) -> tuple[int, list[str]]:
    """The exit status of a finished sweep and the lines that explain it: (0, []) when every member ended with a
    result (completed, diverged, pruned); 2 when members hold runs of another config; 1 when members failed or
    no member recorded anything. `out` is the report folder the lines point to."""
    from ablate.errors import DataError
    from ablate.report.collect import RESULTS, collect, tracebacks

    if not Path(sweep_dir).is_dir():  # nothing was launched (Hydra has said why): nothing to judge
        return 0, []
    try:
        runs = collect(sweep_dir).runs
    except DataError as e:
        return 1, [f"no member of the sweep recorded a result: {e}"]
    where = f" (report: {out})" if out is not None else f" (report: python -m ablate.report {sweep_dir})"
    total = len(runs)
    names = _member_names(runs)
    lines, code = [], 0
    stale = runs[runs.status == "stale"]
    if len(stale):
        diff = _difference(stale.reason.iloc[0])
        lines.append(
            f"{len(stale)} of {total} members hold runs of another config{diff}, which are not results of "
            "this sweep and were left as they are: give a fresh hydra.sweep.dir, or add trainer.replace=true "
            f"to replace them{where}."
        )
        code = 2
    failed = runs[~runs.status.isin([*RESULTS, "stale"])]
    holders = _live_holders(sweep_dir, failed)
    running = {i: pid for i, pid in holders.items() if pid is not None}
    if running:
        listed = [f"{names[i]} (pid {pid})" for i, pid in list(running.items())[:SHOWN]]
        more = f"; and {len(running) - SHOWN} more" if len(running) > SHOWN else ""
        lines.append(
            f"{len(running)} of {total} members are being trained by another process right now: {'; '.join(listed)}"
            f"{more}; their results will be in their folders (report again afterwards: python -m ablate.report "
            f"{sweep_dir})."
        )
    failed = failed.drop(index=list(holders))  # held by a live launch, or finished by it since the records were read
    if len(failed):
        reasons = {_reason(r.status, r.reason) for _, r in failed.iterrows()}
        logs = tracebacks(sweep_dir, failed)
        if len(failed) > 1 and len(reasons) == 1:  # one cause behind every failure (a batch above the subset)
            also = f"; tracebacks in each member's error.log, e.g. {next(iter(logs.values()))}" if logs else ""
            lines.append(f"{len(failed)} of {total} members failed, each with: {reasons.pop()}{also}{where}.")
        else:
            listed = [
                f"{names[i]} ({_reason(r.status, r.reason)}{f'; traceback: {logs[i]}' if i in logs else ''})"
                for i, r in failed.head(SHOWN).iterrows()
            ]
            more = f"; and {len(failed) - SHOWN} more" if len(failed) > SHOWN else ""
            lines.append(f"{len(failed)} of {total} members failed: {'; '.join(listed)}{more}{where}.")
        code = code or 1
    return code, lines


def _live_holders(sweep_dir, unfinished) -> dict:
    """The unfinished members (running, or not yet recorded) whose run directory another live process holds, as
    {row: pid}: a second launch of the same sweep is training them, which is no failure of this one. A member
    with no live holder whose record now holds a result was finished by that launch after the records were read:
    it is listed with pid None, so it is not counted as failed either."""
    from ablate.report.collect import RESULTS
    from ablate.run.lock import RunLock
    from ablate.run.record import RunRecord

    holders: dict = {}
    for i, row in unfinished.iterrows():
        if row.status in ("running", "missing") and isinstance(row.run, str):
            run_dir = Path(sweep_dir) / row.run
            pid = RunLock(run_dir).live_holder()
            if pid is not None:
                holders[i] = pid
            elif (now := RunRecord.load(run_dir)) is not None and now.status in RESULTS:
                holders[i] = None
    return holders


def _member_names(runs) -> dict:
    """Each row's name: the overrides that tell it from the other members, run-time ones aside (its folder when
    none do)."""
    from ablate.report.collect import is_runtime, override_key

    sets = [{o for o in str(text).split() if not is_runtime(override_key(o))} for text in runs.overrides.fillna("")]
    common = set.intersection(*sets) if sets else set()
    names = {
        i: " ".join(sorted(mine - common)) or str(r.run) for (i, r), mine in zip(runs.iterrows(), sets, strict=True)
    }
    return {i: name if len(name) <= LONGEST else name[: LONGEST - 1] + "…" for i, name in names.items()}


def _reason(status: str, reason) -> str:
    text = " ".join(str(reason).split()).rstrip(".") if isinstance(reason, str) and reason else "no reason recorded"
    return text if status == "failed" else f"{status}: {text}"


def _difference(reason: str) -> str:
    """` (optim.epochs=1 there, 2 in this sweep)` from a stale member's reason, or "" when it names none."""
    inside = reason.split("(", 1)[-1]
    return f" ({inside.split('; ', 1)[0]})" if " in this sweep; " in reason else ""
