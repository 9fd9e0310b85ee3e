"""Overrides on both sides of `-m`, as users type them, and the README's commands as written."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import hydra
import pytest

from ablate.cli.argv import flags_first, overrides_of

ROOT = Path(__file__).resolve().parents[1]


def readme_app_commands() -> list[list[str]]:
    """Every `python -m ablate ...` (the app, not its sub-tools) in the README's code blocks, split as a shell would."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("python -m ablate ") or line == "python -m ablate":
                commands.append(shlex.split(line)[3:])
    return commands


def hydra_parse(args: list[str]):
    """Parse with Hydra's own argparse parser, as `@hydra.main` does (written for hydra-core 1.3)."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(args)


def test_hydra_version_of_the_parser_adapter():
    # `hydra_parse` uses Hydra's internal parser; flags_first's flag table is Hydra 1.3's
    assert hydra.__version__.startswith("1.3.")


@pytest.mark.parametrize("args, expected", [
    (["+sweep=x", "-m", "seed=0,1,2"], ["-m", "+sweep=x", "seed=0,1,2"]),
    (["a=1", "--multirun", "b=2", "--config-dir", "d", "c=3"], ["--multirun", "--config-dir", "d", "a=1", "b=2", "c=3"]),
    (["--info", "config", "a=1"], ["--info", "config", "a=1"]),
    (["a=1", "--info", "b=2"], ["--info", "all", "a=1", "b=2"]),  # --info alone means all: said so, before overrides
    (["-cd", "conf", "-m", "a=1", "--", "-weird=1"], ["-cd", "conf", "-m", "a=1", "-weird=1"]),
])
def test_flags_first(args, expected):
    assert flags_first(args) == expected


def test_overrides_after_m_fail_in_plain_hydra_and_parse_after_reordering():
    args = ["+sweep=cardinality_vs_width", "-m", "seed=0,1,2"]
    with pytest.raises(SystemExit):  # argparse: "unrecognized arguments: seed=0,1,2"
        hydra_parse(args)
    parsed = hydra_parse(flags_first(args))
    assert parsed.multirun and parsed.overrides == ["+sweep=cardinality_vs_width", "seed=0,1,2"]


@pytest.mark.parametrize("args", [["+sweep=cardinality_vs_width", "-m", "--info"], ["a=1", "-i", "b=2"], ["a=1", "--info"]])
def test_info_without_a_choice_keeps_the_overrides(args):
    """Found by hand: `python -m ablate +sweep=cardinality_vs_width -m --info` ended in argparse's "argument --info:
    invalid choice: '+sweep=cardinality_vs_width'": moved in front of the overrides, --info (whose value is optional)
    took the first override as its choice. Without a choice it means `all`, as Hydra's parser has it."""
    parsed = hydra_parse(flags_first(args))
    assert parsed.info == "all" and parsed.overrides == [a for a in args if "=" in a]


def test_every_readme_app_command_parses_as_written():
    commands = readme_app_commands()
    assert any("-m" in c and c.index("-m") < len(c) - 1 for c in commands), "the README shows overrides after -m"
    for args in commands:
        parsed = hydra_parse(flags_first(args))
        assert parsed.overrides == overrides_of(args)
        assert parsed.overrides == [a for a in args if "=" in a]  # every README override is a key=value


@pytest.mark.slow
def test_overrides_after_m_reach_every_member(tmp_path):
    """The README's repeats form, `+sweep=… -m seed=0,1`, on a tiny synthetic sweep: both seeds run."""
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "ablate", "+sweep=cardinality_vs_width", "data=synthetic", "data.num_samples=256",
           "data.val_samples=64", "optim.epochs=1", "optim.batch_size=64", "trainer.progress=false",
           f"hydra.sweep.dir={sweep_dir}", "-m", "model.cardinality=1", "seed=0,1"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seeds = sorted(json.loads(p.read_text())["config"]["seed"] for p in sweep_dir.glob("*/result.json"))
    assert seeds == [0, 1]


def test_console_script_runs_the_app(tmp_path):
    """`ablate` (the console script) is `python -m ablate`, so Hydra's shell completion can name it."""
    script = Path(sys.executable).with_name("ablate")
    assert script.is_file()
    proc = subprocess.run([str(script), "model=resnet50", "--cfg", "job"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "name: resnet50" in proc.stdout
    completion = subprocess.run([str(script), "--shell-completion", "install=bash"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
    assert completion.returncode == 0 and "complete" in completion.stdout


def test_the_readme_python_snippet_runs_as_written():
    """The README's Python tour: its solve gives Table 2's d for C=8 at ResNet-50's params (Table 2: 8×14d)."""
    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S).group(1)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # the README's own code, as a user pastes it
    assert scope["sol"].value == 14 and scope["t"].cardinality == 8
    assert type(scope["model"]).__name__ == "ResNeXt"


def test_an_interrupt_that_reaches_the_command_line_is_one_line_and_exit_130(monkeypatch, capsys):
    """Found by hand: Ctrl-C in an Optuna search on the joblib launcher stopped the sweeper's own thread, and the
    KeyboardInterrupt reached the shell as a traceback (a run's job says its own line and exits 130 itself)."""
    import ablate.__main__ as entry

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(entry, "main", interrupted)
    monkeypatch.setattr(sys, "argv", ["ablate", "+sweep=search_budget", "-m"])
    with pytest.raises(SystemExit) as stop:
        entry.cli()
    assert stop.value.code == 130
    assert capsys.readouterr().err == (
        "ablate: interrupted by Ctrl-C (SIGINT): run the same command to go on (what finished is kept, and an "
        "Optuna search runs its interrupted trials again).\n"
    )


def test_the_shells_named_in_refusals_are_hydras_completion_plugins():
    """`ablate.cli.argv.SHELLS` says which shells `-sc install=SHELL` takes: Hydra's own completion plugins."""
    from hydra._internal.core_plugins import bash_completion, fish_completion, zsh_completion

    from ablate.cli.argv import SHELLS

    plugins = (bash_completion.BashCompletion, fish_completion.FishCompletion, zsh_completion.ZshCompletion)
    assert SHELLS == tuple(sorted(plugin.provides() for plugin in plugins))


def test_version_names_ablate_and_the_hydra_it_runs_on(tmp_path):
    """Found by hand: `python -m ablate --version` printed "Hydra 1.3.8", the version of a library, not of the app. It
    names ablate's version (the installed package's, from its metadata: one place) and then Hydra's."""
    from importlib.metadata import version

    import hydra

    import ablate

    proc = subprocess.run([sys.executable, "-m", "ablate", "--version"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"ablate {version('ablate')} (Hydra {hydra.__version__})\n"
    assert ablate.__version__ == version("ablate")


def test_the_groups_an_empty_list_is_refused_for_are_the_config_trees():
    """`ablate.cli.argv.GROUPS` names ablate's config groups (the folders of `conf/`), for the refusal of
    `GROUP=[]` before Hydra composes a config without the group's node."""
    from pathlib import Path

    import ablate.conf
    from ablate.cli.argv import GROUPS, empty_choice

    folders = {p.name for p in Path(ablate.conf.__file__).parent.iterdir() if p.is_dir() and p.name != "hydra"}
    assert set(GROUPS) == folders - {"__pycache__"}
    assert empty_choice(["+sweep=[]"]) == (
        "+sweep=[] chooses no sweep config (an empty list): choose one, +sweep=NAME, or leave the override out "
        "(python -m ablate --help lists each group's options).")
    assert empty_choice(["seed=[]", "model.depths=[]", "data=[cifar10]", "~data=[]"]) is None  # fields; a list; a delete
    # found by hand: model=[1] ended in Hydra's own TypeError traceback ("argument of type 'int' is not iterable")
    assert empty_choice(["model=[tiny, 1]"]) == (
        "model=[tiny, 1] lists 1, which Hydra does not read as a config name: give names, such as model=NAME "
        "(python -m ablate --help lists each group's options).")
    assert empty_choice(["model=[tiny,]"]).startswith("model=[tiny,] lists an empty item, ")
    assert empty_choice(["model=['1']", "data=[fashion_mnist,synthetic]"]) is None
