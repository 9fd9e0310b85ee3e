"""`python -m ablate [overrides]` (or the `ablate` console script): train one run, or with -m a sweep, of a config.

Thin Hydra entry point; the work is in `ablate.run.app`. The task function returns the run's
final val top-1 error (%), or None for a run that did not complete, for sweepers to optimise.

`cli()` is the command line: it lets overrides stand on both sides of `-m`, refuses a sweep config
(`+sweep=…`, `+repeats=…`) without `-m` (it would train one member silently), glob() on a field (no job),
`-m` beside `--cfg` or `--info`, shell completion without its command and a `--config-path` without the config
(tracebacks or misleading words in Hydra; `ablate.cli.argv`), and says Hydra's own errors — an unknown
group option, key or field, an override it cannot parse, a run folder it cannot create, a Ray cluster it cannot
reach — in one sentence with exit status 2, as ablate's other refusals (`ablate.config.sentences.hydra_sentence`,
`unwritable_folder`, `ablate.config.plugins.ray_unreachable`). Hydra prints those errors and exits 1 inside
`run_and_report` unless HYDRA_FULL_ERROR=1, which makes it re-raise them:
`cli` sets it for the call, so the error reaches it as an exception and no second composition is needed.
A user who set HYDRA_FULL_ERROR=1 gets Hydra's full traceback, as asked.
"""

import os
import sys

import hydra

import ablate.config  # noqa: F401  registers the resolvers the config tree uses

EXIT_USAGE = 2


@hydra.main(config_path="pkg://ablate.conf", config_name="config", version_base="1.3")
def main(cfg) -> float | None:
    from ablate.run.app import main as run_main

    return run_main(cfg)


def cli() -> None:
    """The command line: overrides may stand on both sides of -m, as users type them."""
    import hydra_plugins.ablate_design_space_sweeper as design_spaces
    import hydra_plugins.ablate_optuna_sweeper as optuna
    import hydra_plugins.ablate_repeats_sweeper as repeats
    from ablate.cli.argv import (
        config_path_refusal,
        empty_choice,
        flags_first,
        glob_on_a_field,
        info_choice,
        multirun_and_show,
        overrides_of,
        rerun_refusal,
        schema_group,
        shell_completion_command,
        shown_package,
        split,
        sweep_without_m,
    )
    from ablate.config.plugins import ray_unreachable
    from ablate.config.sentences import hydra_sentence, unwritable_folder
    from ablate.errors import AblateError
    from ablate.run.interrupt import JobInterrupted

    for plugin in (optuna, repeats, design_spaces):
        plugin.register()  # an editable install hides hydra_plugins/ from Hydra's scan outside the checkout
    typed = sys.argv[1:]
    if "--version" in split(typed)[0]:  # Hydra's own flag says Hydra's version alone
        import hydra

        from ablate import __version__

        print(f"ablate {__version__} (Hydra {hydra.__version__})")
        return
    sys.argv[1:] = flags_first(typed)
    args = sys.argv[1:]
    overrides = overrides_of(args)
    refusal = (
        info_choice(typed)  # as typed: flags_first reads a word that is no choice as an override
        or sweep_without_m(args, overrides)
        or glob_on_a_field(overrides)
        or schema_group(overrides)
        or empty_choice(overrides)
        or multirun_and_show(args)
        or shell_completion_command(args, overrides)
        or rerun_refusal(args)
        or config_path_refusal(args)
    )
    if refusal is not None:
        print(f"ablate: {refusal}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    full = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises its errors instead of printing them and exiting 1
    try:
        shown = shown_package(args)
        if shown is None:
            main()
        else:
            _show_package(*shown)
    except (KeyboardInterrupt, JobInterrupted):  # each run's job said where it stopped; this is the sweep's line
        print(
            "ablate: interrupted by Ctrl-C (SIGINT): run the same command to go on (what finished is kept, and an "
            "Optuna search runs its interrupted trials again).",
            file=sys.stderr,
        )
        sys.exit(130)
    except Exception as e:
        if full == "1":
            raise
        sentence = str(e) if isinstance(e, AblateError) else hydra_sentence(e, overrides)
        if sentence is None and isinstance(e, OSError):  # Hydra making the run's or sweep's folder
            sentence = unwritable_folder(e, overrides) or ray_unreachable(e, overrides)
        if sentence is None:  # not a user's error: Hydra's own report of it, as without this wrapper
            raise
        print(f"ablate: {sentence}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    finally:
        if full is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full


def _show_package(flag: str, package: str, kind: str) -> None:
    """`--cfg KIND --package PACKAGE` as Hydra runs it, except where the package names nothing: Hydra then writes
    "package '…' not found in config" and exits with status 1; the sentence is ablate's, and the status 2."""
    import contextlib
    import io

    from ablate.cli.argv import package_refusal

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            main()
    except SystemExit as e:
        if e.code == 1 and said.getvalue().strip() == f"package '{package}' not found in config":
            print(f"ablate: {package_refusal(flag, package, kind)}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        sys.stderr.write(said.getvalue())  # anything else Hydra wrote, as it would have
        raise
    except BaseException:
        sys.stderr.write(said.getvalue())
        raise
    sys.stderr.write(said.getvalue())  # a warning Hydra wrote while it showed the package


if __name__ == "__main__":
    cli()
