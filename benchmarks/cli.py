"""What the benchmarks' command lines share: a list of named parts (`--only`) and an output folder (`--out`),
each refused in one sentence (argparse's error, exit 2) before anything is measured."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def chosen(parser: argparse.ArgumentParser, text: str, choices: Iterable[str], what: str) -> list[str]:
    """The parts `--only TEXT` names (comma-separated), in the order of `choices`; refuses none (an empty `--only`
    is not read as no `--only`, which runs them all) and a name not among them."""
    choices = list(choices)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        parser.error(f"--only {text!r} names no {what}: give one or more of {', '.join(choices)}.")
    unknown = [n for n in names if n not in choices]
    if unknown:
        parser.error(f"--only {unknown[0]!r} is not a {what}: valid {what}s are {', '.join(choices)}.")
    return [c for c in choices if c in names]


def writable(parser: argparse.ArgumentParser, out: str) -> None:
    """Refuse `--out OUT` where files cannot be written into it (made if missing): found before the measuring, not
    when its figures are written."""
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            return
    except OSError as e:
        parser.error(f"--out {out} cannot be written ({e.strerror or type(e).__name__}): give a folder one can write.")


def write_figures(out: str, stem: str, report: dict, text: str) -> None:
    """Write a benchmark's figures as `<out>/<stem>.json` (the report) and `.md` (its table, `text`), and print
    the table."""
    Path(out, f"{stem}.json").write_text(json.dumps(report, indent=1, default=str))
    Path(out, f"{stem}.md").write_text(text)
    print(text)
