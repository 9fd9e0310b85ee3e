"""Held-out scoring of a trained run (benchmarks/heldout.py): the validation images outside the run's own
`data.val_subset`, its model rebuilt from the record with the checkpoint's weights."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from benchmarks import heldout
from tests.test_app import run

FP32 = ("trainer.precision=fp32", "trainer.world_size=1", "trainer.num_threads=1")


def test_the_held_out_images_are_the_complement_of_the_runs_own_subset(tmp_path):
    record = run(tmp_path, "data.val_subset=48", *FP32)
    held = heldout.heldout_error(tmp_path / "run")
    assert held["images"] == 128 - 48 == held["correct"].numel()
    assert held["err"] == pytest.approx(100.0 * (1 - held["correct"].double().mean().item()))
    # scored on its own 48 images instead, the rebuilt model gives the error the run recorded: same images,
    # same normalisation, same weights
    own = heldout.heldout_error(tmp_path / "run", scored=True)
    assert own["images"] == 48 and own["err"] == pytest.approx(record.final.val_err, abs=1e-9)


def test_a_run_scored_on_the_whole_split_holds_nothing_out(tmp_path):
    run(tmp_path, *FP32, "optim.epochs=1")
    with pytest.raises(ValueError, match="whole validation split"):
        heldout.heldout_error(tmp_path / "run")
    with pytest.raises(ValueError, match="no record and checkpoint"):
        heldout.heldout_error(tmp_path / "nothing")


def test_the_paired_difference_is_a_t_interval_over_the_images():
    a = {"images": 6, "correct": torch.tensor([True, False, False, True, False, True])}
    b = {"images": 6, "correct": torch.tensor([True, True, False, True, True, True])}
    d = [0.0, 100.0, 0.0, 0.0, 100.0, 0.0]  # a's error minus b's, per image, in points
    mean, low, high = heldout.paired_difference(a, b)
    expected = stats.t.interval(0.95, 5, loc=sum(d) / 6, scale=stats.sem(d))
    assert mean == pytest.approx(100 / 3) and (low, high) == pytest.approx(expected)
    assert heldout.paired_difference(a, a) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="not the same images"):
        heldout.paired_difference(a, {"images": 5, "correct": torch.ones(5, dtype=torch.bool)})
