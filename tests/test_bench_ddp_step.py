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


@pytest.mark.parametrize("argv, said", [(["four"], "invalid int value: 'four'"),
                                        (["0"], "cardinality 0 is not a member: give whole numbers of at least 1.")])
def test_a_word_that_is_not_a_cardinality_is_refused_before_anything_starts(argv, said, capsys):
    """The command line once kept only its digit words: `ddp_step four` timed the default members, silently."""
    with pytest.raises(SystemExit) as e:
        ddp_step.main(argv)
    assert e.value.code == 2 and capsys.readouterr().err.strip().endswith(said)
