"""Where a study lives: a SQLite file in the sweep folder by default, or any SQLAlchemy URL.

Several sweeper processes (on one machine or many) share one study through a server
database such as PostgreSQL: each asks its own trials and tells their values, and Optuna
numbers the trials in the database, so no number is given twice. With a heartbeat interval
the storage is Optuna's heartbeat storage: a running trial whose worker stops beating is
failed by the next worker that asks, and Optuna's retry callback queues it again.

A study remembers what it searches (`SETTINGS` in its user attributes): a re-run whose search
space, objectives, directions, constraints, fixed overrides (the recipe every trial gets) or the value ablate's
trainer reports after each epoch differ is refused, naming what changed.
"""

import re
import time
import warnings
from pathlib import Path

from ablate.errors import shown
from hydra_plugins.ablate_optuna_sweeper._errors import SweepConfigError as ConfigError

DEFAULT_FILE = "study.db"
CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_S = 60
SCHEMA_ATTEMPTS = 4
SETTINGS = "ablate_sweeper"  # the study's user attribute that holds what it searches


def retry_callback(max_retry: int | None):
    """Optuna's retry of a stale trial (same parameters, WAITING, picked by the next ask); not for a
    trial that was only waiting for another trial's values (`copy_of`): a new ask replaces it."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def callback(study, trial) -> None:
        if trial.user_attrs.get("copy_of") is None:
            retry(study, trial)

    return callback


def default_url(sweep_dir: str | Path) -> str:
    """`sqlite:///<sweep_dir>/study.db`, with the folder resolved to an absolute path."""
    return f"sqlite:///{Path(sweep_dir).resolve() / DEFAULT_FILE}"


def masked(url: str) -> str:
    """The URL with its password replaced by ***, safe to print."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: mask anything that looks like user:pass@
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", str(url))


def open_storage(url: str, heartbeat_interval: int | None = None, max_retry: int | None = None):
    """An Optuna RDB storage on `url`, connected now: an unreachable or malformed URL raises
    ConfigError naming it (password masked). With `heartbeat_interval`, trials whose heartbeat
    is older than two intervals are stale, and `RetryHeartbeatStaleTrialCallback` (Optuna 5's
    name for RetryFailedTrialCallback) queues each again, up to `max_retry` times."""
    import optuna

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine_kwargs: dict = {"pool_pre_ping": True}  # trials run long; the server may drop idle connections
    if url.startswith(("postgresql", "mysql")):
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    elif url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_S}  # jobs report epochs into the same file
    heartbeat: dict = {}
    if heartbeat_interval:
        heartbeat = {
            "heartbeat_interval": int(heartbeat_interval),
            "grace_period": 2 * int(heartbeat_interval),
            "heartbeat_stale_trial_callback": retry_callback(max_retry),
        }
    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(with_driver(url), engine_kwargs=engine_kwargs, **heartbeat)
        except Exception as e:  # sqlalchemy errors, a missing driver, a malformed URL
            if not (_schema_race(e) and attempt < SCHEMA_ATTEMPTS):
                raise ConfigError(
                    f"hydra.sweeper.storage={masked(url)!r} cannot be reached ({_reason(e)}): give a reachable "
                    "SQLAlchemy URL, or null for a SQLite file in the sweep folder."
                ) from None
            time.sleep(0.5 * attempt)  # another worker is creating the tables: they exist in a moment


def _schema_race(error: Exception) -> bool:
    """Two workers creating Optuna's tables in a new database at once: one of them loses."""
    text = str(getattr(error, "orig", None) or error).lower()
    return type(error).__name__ in ("IntegrityError", "ProgrammingError") and (
        "duplicate" in text or "already exists" in text
    )


def with_driver(url: str) -> str:
    """`postgresql://` with the driver that is installed: SQLAlchemy 2.1 means psycopg 3 by it, and
    the `postgres` extra may bring psycopg2 instead."""
    if not url.startswith("postgresql://"):
        return url
    from importlib.util import find_spec

    if find_spec("psycopg") is None and find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def _reason(error: Exception) -> str:
    """The first line of the driver's message, without SQLAlchemy's background links."""
    if isinstance(error, ImportError) and isinstance(error.__cause__, ImportError):
        return f"its database driver is not installed: {error.__cause__}"
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    text = re.sub(r"\(Background on this error.*", "", text).strip()
    return f"{type(orig).__name__}: {text.rstrip('.')}"


def load_study(storage, study_name: str, directions: list[str], sampler=None, pruner=None):
    """Create the study, or load it when it exists (a re-run resumes it); the directions must match."""
    import optuna

    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        pruner=pruner,
        directions=directions,  # type: ignore[arg-type]  # checked minimize/maximize by the config
        load_if_exists=True,
    )
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        given, held = (d[0] if len(d) == 1 else d for d in (directions, stored))  # as typed: one, or a list
        raise ConfigError(
            f"hydra.sweeper.direction={shown(given)} does not match the stored study {study_name!r}, whose "
            f"direction{'s are' if len(stored) > 1 else ' is'} {shown(held)}: use those directions or another "
            "hydra.sweeper.study_name."
        )
    return study


def check_settings(study, settings: dict) -> None:
    """Store what the study searches on its first run; refuse a re-run that searches something else.

    `settings`: `params` (name -> {distribution, sweep}), `custom_search_space`, `objectives`,
    `directions`, `constraints`, `fixed` (the overrides every trial gets that decide its result), `repeats` (the
    repeat key and its values, or None), `prune_on` (what ablate's trainer reports after each epoch, or None for
    another app). A study made before these were stored adopts the current ones. The pruner may change: it judges
    the same intermediate values differently from then on.
    """
    stored = study.user_attrs.get(SETTINGS)
    if stored is None:
        study.set_user_attr(SETTINGS, settings)
        return
    name = study.study_name
    adopted = {key: settings[key] for key in ("fixed", "prune_on") if key not in stored}  # stored before these were
    if adopted:
        stored = {**stored, **adopted}
        study.set_user_attr(SETTINGS, stored)
    if stored["fixed"] != settings["fixed"]:
        raise ConfigError(
            f"the fixed overrides differ from those stored with study {name!r} "
            f"({'; '.join(_fixed_changes(stored['fixed'], settings['fixed']))}): its trials ran with the stored ones, "
            "and a search compares trials of one recipe; give the stored values again, or start a new study with "
            "another hydra.sweep.dir or hydra.sweeper.study_name."
        )
    if stored.get("repeats") != settings["repeats"]:  # a study stored before repeats existed had none
        raise ConfigError(
            f"the repeats differ from those stored with study {name!r} ({_repeats_text(settings['repeats'])} now, "
            f"{_repeats_text(stored.get('repeats'))} stored): its trials' values are means over the stored repeats, "
            "and a search compares designs on one set of them; give the stored ones again, or start a new study "
            "with another hydra.sweep.dir or hydra.sweeper.study_name."
        )
    if None not in (stored["prune_on"], settings["prune_on"]) and stored["prune_on"] != settings["prune_on"]:
        raise ConfigError(
            f"hydra.sweeper.prune_on={shown(settings['prune_on'])} differs from the {shown(stored['prune_on'])} "
            f"stored with study {name!r}: the stored trials reported {stored['prune_on']} after each epoch, and one "
            "study's curves hold one measure; use the stored value, or give another hydra.sweeper.study_name."
        )
    changes = _space_changes(stored.get("params", {}), settings["params"])
    if changes:
        raise ConfigError(
            f"the search space differs from the one stored with study {name!r} ({'; '.join(changes)}): "
            "search the stored space again, or give another hydra.sweeper.study_name."
        )
    for key in ("custom_search_space", "objectives", "directions", "constraints"):
        if stored.get(key) != settings[key]:
            raise ConfigError(
                f"hydra.sweeper.{key if key != 'directions' else 'direction'}={shown(settings[key])} differs "
                f"from the {shown(stored.get(key))} stored with study {name!r}: use the stored value, or give "
                "another hydra.sweeper.study_name."
            )


def _repeats_text(repeats: dict | None) -> str:
    """`seed=0,1,2`, or `none` (each trial ran its design once)."""
    return f"{repeats['key']}={','.join(map(str, repeats['values']))}" if repeats else "none"


def _fixed_changes(stored: dict, now: dict) -> list[str]:
    changes = [f"{k}={now[k]}, it was {stored[k]}" for k in now if k in stored and now[k] != stored[k]]
    changes += [f"{k}={now[k]} is new" for k in now if k not in stored]
    changes += [f"{k} is gone (it was {stored[k]})" for k in stored if k not in now]
    return changes


def _space_changes(stored: dict, now: dict) -> list[str]:
    changes = [f"{k}={now[k]['sweep']} is new" for k in now if k not in stored]
    changes += [f"{k} is gone (it was {stored[k]['sweep']})" for k in stored if k not in now]
    changes += [
        f"{k} is {now[k]['sweep']}, it was {stored[k]['sweep']}"
        for k in now
        if k in stored and now[k]["distribution"] != stored[k]["distribution"]
    ]
    return changes
