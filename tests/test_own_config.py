"""The README's "Your own model, data set and sweep": its YAML files, written where it says, work as it says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = ["data=synthetic", "data.num_samples=256", "data.val_samples=64", "optim.epochs=1", "optim.batch_size=64",
            "trainer.progress=false"]


def write_readme_configs(folder: Path) -> list[str]:
    """Each README YAML block that names its file (`# myconf/...yaml:` in its first two lines), written there."""
    text = (ROOT / "README.md").read_text()
    written = []
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        m = re.search(r"# (myconf/\S+?):", "\n".join(block.splitlines()[:2]))
        if m:
            path = folder / m.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block)
            written.append(m.group(1))
    return written


def ablate(tmp_path: Path, *args: str, module: str = "ablate") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture
def myconf(tmp_path):
    assert write_readme_configs(tmp_path) == ["myconf/model/rx3_w48.yaml", "myconf/sweep/my_depths.yaml"]
    return tmp_path


def test_a_model_of_your_own_is_described_and_is_a_budget_reference(myconf):
    proc = ablate(myconf, "--config-dir", "myconf", "model=rx3_w48", "--json", module="ablate.describe")
    assert proc.returncode == 0, proc.stderr
    own = json.loads(proc.stdout)
    assert [s["width"] for s in own["stages"]] == [48, 96, 192]
    proc = ablate(myconf, "--config-dir", "myconf", "model=rx3_w48", "model.cardinality=2", "budget=params", "--json",
                  module="ablate.describe")
    assert proc.returncode == 0, proc.stderr
    budget = json.loads(proc.stdout)["budget"]
    assert budget["reference"] == "rx3_w48" and budget["target"] == own["params"]
    assert abs(budget["deviation"]) <= budget["tolerance"]


def test_the_budget_table_takes_config_dir_as_describe_does(myconf):
    """The README says every command takes the user's folder; `ablate.budget` refused `--config-dir` (found by hand)."""
    proc = ablate(myconf, "--config-dir", "myconf", "model=rx3_w48", "--cardinality", "1,2", "--json",
                  module="ablate.budget")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    assert [r["cardinality"] for r in rows] == [1, 2]
    assert rows[0]["params"] == 72_730  # rx3_w48 as written (ablate.describe prints the same)
    proc = ablate(myconf, "--config-dir", "nowhere", "model=rx3_w48", module="ablate.budget")
    assert proc.returncode == 2 and proc.stderr.startswith("error: --config-dir nowhere is not a folder")


def test_a_sweep_config_without_its_package_line_is_one_sentence(myconf):
    """Found by hand: a sweep of one's own without its first line `# @package _global_` ended in Hydra's `In
    'sweep/my_depths': ConfigKeyError raised while composing config: Key 'sweep' not in 'Config' …`."""
    path = myconf / "myconf/sweep/my_depths.yaml"
    path.write_text(path.read_text().replace("# @package _global_\n", ""))
    proc = ablate(myconf, "--config-dir", "myconf", "model=rx3_w48", "+sweep=my_depths", "-m", *TINY_RUN)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "ablate: sweep/my_depths.yaml puts its keys under `sweep:` (Hydra's package for a config of the group sweep), "
        "where the config has no such node: a sweep config sets keys of the whole config, so its first line must be "
        "`# @package _global_`."
    )
    assert not (myconf / "sweeps").exists()


@pytest.mark.parametrize("text, sentence", [
    ("defaults:\n  - tinyy\n  - _self_\nname: mine\n",
     "model/mine.yaml's defaults list names model/tinyy, which does not exist (did you mean tiny?): available model "
     "configs are {models}."),
    ("defaults:\n  - tiny\n  - _self_\nname: mine\nwidht: 48\n",
     "model/mine.yaml sets model.widht, a field model does not have (did you mean width?); its fields are {fields}."),
    # found by hand: a YAML syntax error in one's own file was a traceback ending in PyYAML's ParserError, exit 1
    ("defaults:\n  - tiny\n  - _self_\nname: mine\ndepths: [1, 1\n",
     "{path} is not valid YAML: expected ',' or ']', but got '<stream end>' at line 6, column 1 (while parsing a flow "
     "sequence from line 5, column 9): mend the file."),
    ("defaults:\n  - tiny\n\t- _self_\n",
     "{path} is not valid YAML: found character '\\t' that cannot start any token at line 3, column 1: mend the file."),
])
def test_an_error_inside_a_model_file_of_your_own_names_the_file(tmp_path, text, sentence):
    """Found by hand: a typo in one's own model file came through as Hydra's text (`In 'model/mine': Could not
    load 'model/tinyy'. Config search path: …`, `… ConfigKeyError raised while composing config: Key 'widht' not in
    'ModelConfig' …`), and as `ConfigCompositionException: …` where the file was the budget's reference."""
    from ablate.config import available
    from ablate.config.schema import MODEL_FIELDS

    (tmp_path / "myconf/model").mkdir(parents=True)
    (tmp_path / "myconf/model/mine.yaml").write_text(text)
    models = ", ".join(available("model", [f"file://{tmp_path / 'myconf'}"]))
    expected = sentence.format(models=models, fields=", ".join(MODEL_FIELDS), path=tmp_path / "myconf/model/mine.yaml")
    proc = ablate(tmp_path, "--config-dir", "myconf", "model=mine", module="ablate.describe")
    assert (proc.returncode, proc.stderr.strip()) == (2, f"error: {expected}")
    proc = ablate(tmp_path, "--config-dir", "myconf", "budget=params", "budget.reference=mine", "--cfg", "job")
    assert proc.returncode == 0  # composing does not read the reference; the run does
    proc = ablate(tmp_path, "--config-dir", "myconf", "budget=params", "budget.reference=mine", *TINY_RUN)
    assert (proc.returncode, proc.stderr.strip().splitlines()[-1]) == (2, f"ablate: {expected}")


@pytest.mark.slow
def test_a_sweep_of_your_own_runs_with_its_report(myconf):
    proc = ablate(myconf, "--config-dir", "myconf", "model=rx3_w48", "+sweep=my_depths", "-m", *TINY_RUN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (myconf / "sweeps/my_depths").glob("*/result.json")]
    assert sorted(r["model"]["template"]["depths"] for r in records) == [[1, 1, 1], [2, 2, 2]]
    assert all(r["status"] == "completed" and r["budget"]["reference"] == "rx3_w48" for r in records)
    assert (myconf / "reports/my_depths/index.html").is_file()


@pytest.mark.slow
def test_an_ad_hoc_multirun_asks_for_its_report_with_one_override(tmp_path):
    sweep = tmp_path / "adhoc"
    proc = ablate(tmp_path, "-m", "model=tiny", "model.cardinality=1,4", "hydra/callbacks=report",
                  f"hydra.sweep.dir={sweep}", *TINY_RUN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "reports" / "adhoc" / "table.md").is_file()
