"""The analytic complexity model and the budget solver against building the model and counting.

For every model config in conf/model: `ablate.engine.complexity(template)` (pure Python, from the
derived stages) against `build(template)` + a forward pass of one image under
`torch.utils.flop_counter.FlopCounterMode` + a parameter count, which is how one checks a
network's FLOPs without an analytic model. Both must agree exactly (the counter's FLOPs are
2 × multiply-adds; neither counts the FC bias). The build is timed on the CPU (a real model,
what a user would do) and on the meta device (no memory, no initialisation: the cheapest way
to count by building), so the ratio is shown against both.

Then Table 2 for ResNet-50 (d for C = 1, 2, 4, 8, 32 at ResNet-50's params): the solver against
(i) building and counting just the five solved models on the CPU, a lower bound for any solver
that counts by building, and (ii) the same search with a counting cost: every distinct candidate
the solver evaluates, built and counted on the meta device.
"""

from __future__ import annotations

from benchmarks.timing import fmt_seconds, measure, measure_batched

TITLE = "Analytic complexity and solver against build-and-count"
TABLE2_CARDINALITIES = (1, 2, 4, 8, 32)


def count(template, device: str = "cpu") -> tuple[int, int]:
    """(params, multiply-adds) of the built model, counted by torch on a one-image forward pass."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ablate.models import build

    with torch.device(device):
        model = build(template).eval()
        x = torch.zeros(1, template.in_channels, template.resolution, template.resolution)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def timed(fn, repeats: int):
    """(Timing, the last result) of `fn()` called `repeats` times with no warm-up."""
    out = []
    t = measure(lambda: out.append(fn()), warmup=0, repeats=repeats)
    return t, out[-1]


def candidates(template, budget) -> list:
    """The distinct templates the solver evaluates while it fills Table 2 (its search, replayed)."""
    import ablate.engine.budget as solver

    seen: dict = {}
    real = solver.measure

    def spy(t, metric, scope="network"):
        seen.setdefault(t, None)
        return real(t, metric, scope)

    solver.measure = spy
    try:
        solver.table2(template, TABLE2_CARDINALITIES, budget)
    finally:
        solver.measure = real
    return list(seen)


def run(quick: bool, results: dict) -> dict:
    from ablate import Budget, complexity, load_template
    from ablate.budget import table2
    from ablate.config.loading import available
    from ablate.engine.complexity import totals

    names = ("tiny", "resnet50") if quick else tuple(available("model"))
    repeats = 1 if quick else 2
    count(load_template("tiny"))  # warm-up: torch's lazy initialisation, FlopCounterMode's import
    count(load_template("tiny"), "meta")
    rows, table_rows, notes = [], [], []
    for name in names:
        t = load_template(name)
        cx = complexity(t)
        fast = measure_batched(lambda t=t: totals(t), calls=200 if quick else 1000, warmup=1, repeats=5 if quick else 9)
        per_layer = measure_batched(lambda t=t: complexity(t), calls=20 if quick else 100, warmup=1,
                                    repeats=5 if quick else 9)
        slow, (params, macs) = timed(lambda t=t: count(t), repeats)
        meta, _ = timed(lambda t=t: count(t, "meta"), repeats)
        agree = params == cx.params and macs == cx.flops and totals(t) == (cx.params, cx.flops, cx.acts)
        rows.append({"model": name, "params": cx.params, "flops": cx.flops, "counted_params": params,
                     "counted_flops": macs, "agree": agree, "analytic": fast.as_dict(),
                     "per_layer": per_layer.as_dict(), "counted": slow.as_dict(),
                     "counted_meta": meta.as_dict(), "ratio": slow.median / fast.median,
                     "ratio_meta": meta.median / fast.median})
        table_rows.append([name, f"{cx.flops / 1e9:.4g} G", "yes" if agree else f"NO ({params:,} / {macs:,})",
                           fmt_seconds(fast.median), fmt_seconds(per_layer.median), fmt_seconds(slow.median),
                           f"{slow.median / fast.median:,.0f}×",
                           fmt_seconds(meta.median), f"{meta.median / fast.median:,.0f}×"])
        if not agree:
            notes.append(f"{name}: analytic {cx.params:,} params / {cx.flops:,} mult-adds, "
                         f"counted {params:,} / {macs:,}")

    base = load_template("resnet50")
    budget = Budget.relative(base, metric="params")
    solutions = table2(base, TABLE2_CARDINALITIES, budget)
    fast = measure_batched(lambda: table2(base, TABLE2_CARDINALITIES, budget), calls=2 if quick else 5,
                           warmup=1, repeats=3 if quick else 7)
    slow, counted = timed(lambda: [count(s.template) for s in solutions], repeats)
    agree = all(p == s.achieved for (p, _), s in zip(counted, solutions, strict=True))
    searched = candidates(base, budget)
    search = None
    if not quick:
        search, _ = timed(lambda: [count(c, "meta") for c in searched], 1)
    solver = {"what": "Table 2, ResNet-50 (C = 1, 2, 4, 8, 32 at equal params)",
              "d": [s.value for s in solutions], "params": [s.achieved for s in solutions], "agree": agree,
              "candidates": len(searched), "analytic": fast.as_dict(), "counted": slow.as_dict(),
              "search_meta": search.as_dict() if search else None, "ratio": slow.median / fast.median,
              "ratio_meta": search.median / fast.median if search else None}
    table_rows.append(["Table 2: ResNet-50, d for C = " + ", ".join(map(str, TABLE2_CARDINALITIES)),
                       "d = " + ", ".join(map(str, solver["d"])), "yes" if agree else "NO",
                       fmt_seconds(fast.median), "–", fmt_seconds(slow.median) + " (5 answers)",
                       f"{solver['ratio']:,.0f}×",
                       f"{fmt_seconds(search.median)} ({len(searched)} candidates)" if search else "–",
                       f"{solver['ratio_meta']:,.0f}×" if search else "–"])
    ratios = [r["ratio"] for r in rows] + [solver["ratio"]]
    notes.append("analytic = `ablate.engine.complexity.totals` (closed form per stage: what the solver and the records "
                 "use); per layer = `ablate.engine.complexity.complexity`, which lists every layer with its counts "
                 "(describe's table). Both must equal the counted figures.")
    notes.append("build + count = build the model + one-image forward under FlopCounterMode + sum of parameter "
                 "sizes, on the CPU (the target's comparison) and on the meta device (no allocation or "
                 "initialisation: the cheapest build). Table 2's CPU column builds only the five answers; its "
                 f"meta column replays the solver's search ({len(searched)} distinct candidates) with counting "
                 "as the cost.")
    return {"title": TITLE, "rows": rows, "solver": solver, "min_ratio": min(ratios), "notes": notes,
            "table": {"headers": ["model", "mult-adds", "counts agree", "analytic", "per layer", "build + count (CPU)",
                                  "ratio",
                                  "build + count (meta)", "ratio (meta)"],
                      "rows": table_rows}}
