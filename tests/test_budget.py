"""The budget solver: Table 2, Table 4, rounding, infeasible budgets and properties."""

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ablate import Budget, BudgetError, load_template, solve
from ablate.budget import measure, table2
from tests.strategies import templates


@pytest.mark.parametrize("scope", ["block", "network"])
def test_table2_resnet50(scope):
    # Table 2: C = 1, 2, 4, 8, 32 → d = 64, 40, 24, 14, 4; width of group conv 64, 80, 96, 112, 128
    base = load_template("resnet50")
    rows = table2(base, [1, 2, 4, 8, 32], Budget.relative(base, metric="params", scope=scope))
    assert [r.value for r in rows] == [64, 40, 24, 14, 4]
    assert [r.template.group_width for r in rows] == [64, 80, 96, 112, 128]


def test_table2_block_params_and_deviation():
    base = load_template("resnet50")
    rows = table2(base, [1, 2, 4, 8, 32], Budget.relative(base, metric="params", scope="block"))
    # C·(256·d + 9·d² + d·256) at the chosen d, against 69,632
    assert [r.achieved for r in rows] == [69_632, 69_760, 69_888, 71_456, 70_144]
    assert rows[0].deviation == 0.0


def test_table4_settings_at_twice_resnet101_flops(capsys):
    # Table 4: ~2× ResNet-101's FLOPs by width (1×100d), by cardinality (2×64d, 64×4d), or by depth
    r101 = load_template("resnet101")
    budget = Budget.relative(r101, scale=2.0, metric="flops")
    assert budget.target == 2 * 7_801_405_440
    wider = solve(r101, budget)
    c2 = solve(r101.replace(cardinality=2), budget)
    c64 = solve(r101.replace(cardinality=64), budget)
    deeper = solve(r101, budget, vary="depth")
    for label, s in [("1×d", wider), ("2×d", c2), ("64×d", c64), ("deeper", deeper)]:
        print(f"{label}: {s.vary}={s.value} flops={s.achieved:,} deviation={s.deviation:+.2%}")
    assert wider.value == 101            # the paper rounds to 1×100d
    assert c2.value == 65                # the paper's 2×64d
    assert c64.value == 4                # the paper's 64×4d
    assert deeper.template.depths == (3, 4, 59, 3)
    assert all(abs(s.deviation) < 0.01 for s in (wider, c2, c64, deeper))


def test_ties_go_to_the_smaller_value():
    base = load_template("resnet50")
    lo = measure(base.replace(bottleneck_width=10), "params", "block")
    hi = measure(base.replace(bottleneck_width=11), "params", "block")
    s = solve(base, Budget("params", (lo + hi) / 2, "block", tolerance=1.0))
    assert s.value == 10


def test_infeasible_budget_names_the_reachable_range():
    base = load_template("resnet50")
    with pytest.raises(BudgetError) as e:
        solve(base.replace(cardinality=32), Budget("params", 1000, "network"))
    assert str(e.value) == ("budget params=1,000 is out of reach by varying bottleneck_width: this template needs "
                            "at least 9,640,968; the reachable range is 9,640,968 and up; even cardinality=1 needs "
                            f"{measure(base.replace(cardinality=1, bottleneck_width=1), 'params'):,} at "
                            "bottleneck_width=1.")


def test_a_budget_below_one_unit_is_not_said_as_zero():
    """Found by hand: `python -m ablate.budget --scale 1e-9` said `budget params=0 is out of reach`, a target no
    one asked for; a target below 1 is said with its own digits."""
    with pytest.raises(BudgetError) as e:
        solve(load_template("tiny"), Budget.relative(load_template("tiny"), scale=1e-9))
    assert str(e.value).startswith("budget params=0.00021 is out of reach by varying bottleneck_width: ")


def test_a_scale_whose_target_is_more_than_a_float_holds_names_the_scale():
    """Found by hand: `budget=params budget.scale=1e308` was refused as `budget.target=inf is invalid`, a field
    the user did not type; the sentence names the scale and the largest that works."""
    tiny = load_template("tiny")
    for scale, shown in ((1e308, "1e+308"), (float("inf"), "inf")):
        with pytest.raises(BudgetError) as e:
            Budget.relative(tiny, scale=scale, name="tiny")
        assert str(e.value) == (f"budget.scale={shown} is too large: {shown} × tiny's 207,818 params is more than a "
                                "float holds; give a scale of at most 8.65e+302.")
    assert Budget.relative(tiny, scale=8.65e302).target < float("inf")


def test_a_huge_target_is_said_in_figures_not_in_hundreds_of_digits():
    """Found by hand: `budget.target=1e308` was said with its 309 digits and 102 separators; and then as "the
    nearest is … at bottleneck_width=1048576 (-100.00%); the reachable range is 52,707 and up": the range has a top,
    the largest value the solver takes, and the sentence says it."""
    tiny = load_template("tiny")
    top = measure(tiny.replace(bottleneck_width=1 << 20), "params")
    with pytest.raises(BudgetError) as e:
        solve(tiny, Budget("params", 1e308, "network"))
    assert str(e.value) == (
        f"budget params=1e+308 is out of reach by varying bottleneck_width: this template reaches at most {top:,} (at "
        f"bottleneck_width=1048576, the largest value the solver takes); the reachable range is "
        f"{measure(tiny.replace(bottleneck_width=1), 'params'):,} to {top:,}.")
    with pytest.raises(BudgetError) as e:
        solve(tiny, Budget("params", 123456789012345678, "network"))
    assert str(e.value).startswith("budget params=123,456,789,012,345,678 is out of reach")


def test_an_unreachable_budget_says_the_largest_cardinality_that_reaches_it():
    """Found by hand: `python -m ablate budget=params model.cardinality=64` (tiny) said only that the budget is out
    of reach; what to change is the cardinality, and the solver knows up to which C even d = 1 fits."""
    base = load_template("tiny")
    budget = Budget.relative(base, metric="params", tolerance=0.1)
    with pytest.raises(BudgetError) as e:
        solve(base.replace(cardinality=64), budget)
    text = str(e.value)
    head = "budget params=207,818 is out of reach by varying bottleneck_width: this template needs at least "
    assert text.startswith(head) and "; the reachable range is " in text
    largest = int(text.split("cardinality ≤ ")[1].split(" ")[0])
    assert text.endswith(f"; at cardinality ≤ {largest} a bottleneck_width of 1 fits it (cardinality=64 here).")
    with_d1 = [measure(base.replace(cardinality=c, bottleneck_width=1), "params") for c in (largest, largest + 1)]
    assert with_d1[0] <= budget.target * 1.1 < with_d1[1]
    with pytest.raises(BudgetError) as e:  # not even C = 1 reaches it: it says so instead
        solve(base.replace(cardinality=64), Budget("params", 1000, "network"))
    assert str(e.value).endswith(f"; even cardinality=1 needs {measure(base.replace(cardinality=1, bottleneck_width=1), 'params'):,} "
                                 "at bottleneck_width=1.")


def test_budget_between_steps_outside_tolerance():
    base = load_template("resnet50").replace(cardinality=32)
    with pytest.raises(BudgetError) as e:
        solve(base, Budget("params", 25_028_904 * 1.02, tolerance=0.001))
    assert str(e.value).startswith("budget params=25,529,482 cannot be met within tolerance 0.001 by varying "
                                   "bottleneck_width: the nearest is ")
    # found by hand: it ended "the reachable range is … and up, in steps of this size"; it names the value on the
    # target's other side and what to do
    d = int(str(e.value).split("at bottleneck_width=")[1].split(" ")[0])
    other = int(str(e.value).split("and bottleneck_width=")[1].split(" ")[0])
    assert abs(d - other) == 1
    assert str(e.value).endswith(
        f"and bottleneck_width={other} gives {measure(base.replace(bottleneck_width=other), 'params'):,} "
        f"({measure(base.replace(bottleneck_width=other), 'params') / (25_028_904 * 1.02) - 1:+.2%}); "
        "bottleneck_width moves params in steps coarser than the tolerance here: widen budget.tolerance, or vary "
        "another field.")


@pytest.mark.parametrize("kwargs, sentence", [
    (dict(metric="latency", target=1), "budget.metric='latency' is unknown: valid metrics are params, flops, acts."),
    (dict(target=0), "budget.target=0 is invalid: it must be a positive, finite number."),
    (dict(target=-5), "budget.target=-5 is invalid: it must be a positive, finite number."),
    (dict(target=1, scope="stage"), "budget.scope='stage' is unknown: valid scopes are network, block."),
    (dict(target=1, tolerance=-1), "budget.tolerance=-1 is invalid: it must be a relative deviation of 0 or more, e.g. 0.05."),
])
def test_malformed_budgets(kwargs, sentence):
    with pytest.raises(BudgetError) as e:
        Budget(**kwargs)
    assert str(e.value) == sentence


def test_unknown_vary():
    with pytest.raises(BudgetError, match=r"^vary='groups' is unknown: valid choices are bottleneck_width, width, "
                                           r"cardinality, depth\.$"):
        solve(load_template("resnet50"), Budget("params", 1e7), vary="groups")


@settings(max_examples=200, deadline=None)
@given(templates(), st.sampled_from(["params", "flops", "acts"]),
       st.sampled_from(["bottleneck_width", "width", "cardinality", "depth"]), st.integers(1, 12))
def test_solver_returns_its_own_value_and_is_nearest(t, metric, vary, value):
    """Solving for the complexity of a known value returns that value, and no neighbour is nearer."""
    stage = len(t.depths) - 1 if vary == "depth" else None
    field_template = t.replace(depths=t.depths[:-1] + (value,)) if vary == "depth" else t.replace(**{vary: value})
    target = measure(field_template, metric)
    s = solve(t, Budget(metric, target, tolerance=1.0), vary=vary, stage=stage)
    # exact hit; where the curve is flat (acts do not depend on d), ties go to the smaller value
    assert s.achieved == target
    assert s.value <= value


@settings(max_examples=200, deadline=None)
@given(templates(), st.floats(0.5, 3.0))
def test_solution_is_the_nearest_integer(t, scale):
    budget = Budget("params", scale * measure(t, "params"), tolerance=10.0)
    s = solve(t, budget)
    assume(s.value > 1)
    dist = abs(s.achieved - budget.target)
    for other in (s.value - 1, s.value + 1):
        assert abs(measure(t.replace(bottleneck_width=other), "params") - budget.target) >= dist


def test_a_solution_carries_its_budget_and_is_the_records_budget_section():
    base = load_template("resnet50")
    budget = Budget.relative(base, 2.0, metric="flops", tolerance=0.1, name="resnet50")
    assert (budget.scale, budget.reference, budget.target) == (2.0, "resnet50", 2 * 4_089_184_256)  # Table 1: 4.1G
    s = solve(base, budget)
    assert s.budget is budget and s.target == budget.target
    assert s.as_dict() == {"metric": "flops", "scope": "network", "target": budget.target, "achieved": s.achieved,
                           "deviation": s.achieved / budget.target - 1, "vary": "bottleneck_width", "value": s.value,
                           "tolerance": 0.1, "scale": 2.0, "reference": "resnet50"}
    absolute = solve(base, Budget("params", 25e6))
    assert (absolute.budget.scale, absolute.budget.reference) == (None, None)


def test_a_relative_budget_takes_a_template_not_a_name():
    """Model names are the config layer's (`ablate.config.load_template`): the engine never reads configs."""
    with pytest.raises(TypeError, match="Budget.relative takes a Template, not 'resnet50'"):
        Budget.relative("resnet50")


def test_table2_is_one_solve_per_cardinality_and_raises_the_first_failure():
    base = load_template("resnet50")
    budget = Budget.relative(base, metric="params")
    rows = table2(base, [1, 32], budget)
    assert [r.value for r in rows] == [solve(base.replace(cardinality=c), budget).value for c in (1, 32)] == [64, 4]
    with pytest.raises(BudgetError, match=r"^budget params=25,557,032 is out of reach by varying bottleneck_width: "
                                          r"this template needs at least 310,506,792"):
        table2(base, [1, 2048], budget)  # at C=2048 even d=1 is too many params


def test_table2_refuses_to_vary_cardinality_across_cardinalities():
    """Found by hand: `python -m ablate.budget --vary cardinality` printed five identical rows (C=1, d=12): each
    row set its C and then solved C again, so the rows' own C was thrown away."""
    base = load_template("tiny")
    budget = Budget.relative(base, metric="params")
    with pytest.raises(BudgetError, match=r"^vary='cardinality' solves C itself, so a Table 2 over the "
                                          r"cardinalities 1, 2 has no rows: call solve\(template, budget, "
                                          r"vary='cardinality'\) for the one C that meets the budget\.$"):
        table2(base, [1, 2], budget, vary="cardinality")


@settings(max_examples=200, deadline=None)
@given(templates(max_c=16), st.sampled_from(["params", "flops"]), st.data())
def test_the_largest_cardinality_named_for_an_unreachable_budget_is_the_largest_that_fits(t, metric, data):
    """The hint's bisection assumes the cost at d = 1 grows with C: on any template, the C it names fits the budget
    at d = 1 and the next one does not."""
    assume(t.cardinality > 1)
    at_d1 = [measure(t.replace(cardinality=c, bottleneck_width=1), metric) for c in range(1, t.cardinality + 1)]
    target = at_d1[data.draw(st.integers(0, t.cardinality - 2))]
    assume(at_d1[-1] > target)
    with pytest.raises(BudgetError) as e:
        solve(t, Budget(metric, target, tolerance=0.0))
    largest = int(str(e.value).split("cardinality ≤ ")[1].split(" ")[0])
    assert at_d1[largest - 1] <= target < at_d1[largest]


def test_the_budget_command_names_its_own_flags_where_a_step_is_coarser_than_the_tolerance(capsys):
    """Found by hand: `python -m ablate.budget --tolerance 0` said "… widen budget.tolerance, or vary another
    field" on every row it could not land: the command's knobs are its flags. A budget from the config (`budget=
    params`, no flag) keeps the config's names."""
    from ablate.cli import budget

    assert budget.main(["--tolerance", "0", "--cardinality", "8", "--json"]) == 2
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["error"].endswith("steps coarser than the tolerance here: widen --tolerance, or give another --vary.")
    assert budget.main(["budget=params", "budget.tolerance=0", "--cardinality", "8", "--json"]) == 2
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["error"].endswith("steps coarser than the tolerance here: widen budget.tolerance, or vary another field.")
