"""benchmarks/ddp_step.py: two gloo ranks time a member's step three ways (no timed assertions)."""

from __future__ import annotations

import pytest

from benchmarks import ddp_step

pytestmark = pytest.mark.slow


def test_the_quick_run_times_the_three_variants_of_one_member():
    result = ddp_step.run(True)
    assert list(result["rows"]) == [1]
    row = result["rows"][1]
    assert row["bottleneck_width"] == 12 and row["batch_per_rank"] == 64  # C=1's d; half the CPU recipe's batch
    assert set(row["median_ms"]) == set(ddp_step.VARIANTS) and all(v > 0 for v in row["median_ms"].values())
    assert all(len(r) == 2 for r in row["rounds_ms"].values())  # two alternating rounds in quick mode
    assert result["table"]["rows"][0][0] == "C=1, d=12" and len(result["table"]["headers"]) == 6
