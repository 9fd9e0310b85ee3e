"""`ablate.results(sweep_dir)`: the runs and epochs frames the report uses, as data (hand-made records, no training)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import ablate
from ablate.errors import DataError
from ablate.report import collect
from tests.fake_sweeps import write_sweep

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def sweep_dir(tmp_path):
    # two settings × two seeds, final top-1 errors as given (each run's first epoch is 5 points higher)
    return write_sweep(tmp_path / "sweep", {"model.cardinality=1": {0: 30.0, 1: 31.0},
                                            "model.cardinality=2": {0: 28.0, 1: 29.0}})


def test_results_are_the_frames_of_the_report(sweep_dir):
    res = ablate.results(sweep_dir)
    assert isinstance(res, ablate.Results) and res._fields == ("runs", "epochs")
    runs, epochs = res  # unpacks as a pair
    sweep = collect(sweep_dir)
    pd.testing.assert_frame_equal(runs, sweep.runs)
    pd.testing.assert_frame_equal(epochs, sweep.epochs)
    assert len(runs) == 4 and runs.status.tolist() == ["completed"] * 4
    means = runs.groupby("setting").final_val_err.mean()
    assert means.to_dict() == {"model.cardinality=1": 30.5, "model.cardinality=2": 28.5}
    assert len(epochs) == 8 and sorted(epochs.epoch.unique()) == [1, 2]
    assert epochs[epochs.epoch == 1].val_err.tolist() == [35.0, 36.0, 33.0, 34.0]


def test_results_of_a_folder_without_runs_is_one_sentence(tmp_path):
    with pytest.raises(DataError, match=r"^SWEEP_DIR='.*' holds no runs: no result.json under it\.$"):
        ablate.results(tmp_path)
    assert ablate.results.__doc__ and "DataFrame" in ablate.results.__doc__


def test_the_readme_describes_every_column_of_both_frames(sweep_dir):
    """The README's "Results as data" section has a table row (`column` | meaning | unit) for each column."""
    runs, epochs = ablate.results(sweep_dir)
    text = README.read_text()
    match = re.search(r"^#+ Results as data\n(.*?)(?=^#+ |\Z)", text, flags=re.M | re.S)
    assert match, "README.md has no 'Results as data' section"
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", match.group(1), flags=re.M))
    missing = sorted((set(runs.columns) | set(epochs.columns)) - documented)
    assert missing == [], f"README's 'Results as data' does not describe: {missing}"
