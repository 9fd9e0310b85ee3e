"""Implementation choices for the same network: block forms a, b, c (same weights), channels-last
on and off, `torch.compile` on and off, and bf16 autocast against fp32 (the rows behind
`trainer.precision=auto` choosing bf16 on CPUs with native bf16).

The forms table decides `form=auto` (`ablate.models.resolve_form`): the fastest form per
cardinality on this device. Compile is timed after its warm-up; its compile time (the warm-up)
is reported beside it, and a compile that fails or runs past its limit is recorded as such.
`--quick` leaves compile out (a cold compile alone takes about a minute on 2 cores) and times
the forms at batch 32.
"""

from __future__ import annotations

from benchmarks import models

TITLE = "Variants: block form, memory format, torch.compile"
COMPILE_TIMEOUT = 300  # seconds for one compiled workload (compilation included)


def cases(quick: bool) -> list[tuple[str, str, object]]:
    """(kind, template name, setting) in the order they run; the same list on every run."""
    form_names = ("tiny_c32",) if quick else ("tiny_c4", "tiny_c32")
    memory_names = ("tiny", "tiny_c32") if quick else ("tiny", "tiny_c32", "resnet50", "resnext50_32x4d")
    compile_names = () if quick else ("tiny",)  # a cold compile alone takes about a minute
    precision_names = ("tiny",) if quick else ("tiny", "resnet50")  # bf16 autocast on this CPU (AVX-512 BF16)
    out = [("form", n, f) for n in form_names for f in ("c", "b", "a")]
    out += [("channels_last", n, v) for n in memory_names for v in (True, False)]
    out += [("compile", n, v) for n in compile_names for v in (False, True)]
    out += [("precision", n, v) for n in precision_names for v in ("fp32", "bf16")]
    return out


def _workload(kind: str, name: str, value, quick: bool):
    w = models.workload(name, quick)
    if kind == "form":
        # forms a and b run C small convs per layer: far slower, so fewer steps (and, quick, a smaller batch)
        if quick:
            return w.with_(form=value, batch=32, warmup=1, repeats=2)
        return w if value == "c" else w.with_(form=value, warmup=1, repeats=3)
    if value is True and kind == "channels_last" or value is False and kind == "compile" \
            or kind == "precision" and value == w.precision:
        return w  # the models group's own workload: measured once
    if kind == "precision":
        return w.with_(precision=value, phases=("train",), warmup=1 if quick else 2, repeats=3 if quick else 5)
    if kind == "channels_last":
        w = w.with_(channels_last=False)
        return w if name.startswith("tiny") else w.with_(phases=("train",), warmup=1, repeats=2 if quick else 3)
    # compiled, training only: the first warm-up call compiles the forward and backward graphs
    return w.with_(compile=True, phases=("train",), warmup=2)


def run(quick: bool, results: dict) -> dict:
    rows, table_rows, notes = [], [], []
    baseline: dict[tuple[str, str], float] = {}
    for kind, name, value in cases(quick):
        w = _workload(kind, name, value, quick)
        r = models.measure(w, timeout=COMPILE_TIMEOUT if kind == "compile" and value else 600)
        train, infer = models.phase(r, "train"), models.phase(r, "infer")
        err = models.error(r)
        row = {"kind": kind, "name": name, "label": w.label, "value": value, "batch": w.batch,
               "train": train, "infer": infer, "error": err,
               "compile_seconds": train["timing"]["warmup_seconds"] if train and kind == "compile" and value else None}
        rows.append(row)
        key = (kind, name)
        t = train["timing"]["median"] if train else None
        if t is not None and key not in baseline:
            baseline[key] = t  # first setting of each pair/triple is the reference
        rel = f"{t / baseline[key]:.2f}×" if t is not None and key in baseline else "–"
        extra = ""
        if row["compile_seconds"] is not None:
            extra = f"compile + warm-up {row['compile_seconds']:.0f} s"
        if err:
            extra = (extra + "; " if extra else "") + err
            notes.append(f"{kind}={value} on {w.label}: {err}")
        table_rows.append([kind, w.label, str(value), f"{w.template['resolution']}² × {w.batch}",
                           models.fmt_rate(r, "train"), models.fmt_rate(r, "infer"), rel, extra])
    winners = form_winners(rows)
    for name, form in winners.items():
        notes.append(f"fastest form for {models.label(name)} (training): {form}")
    notes.append("time rel.: training step time relative to the first setting of the same kind and model.")
    return {"title": TITLE, "rows": rows, "form_winners": winners, "notes": notes,
            "table": {"headers": ["choice", "model", "setting", "input × batch", "train img/s", "infer img/s",
                                  "time rel.", "note"], "rows": table_rows}}


def form_winners(rows: list[dict]) -> dict[str, str]:
    """Per template: the form with the shortest training step."""
    best: dict[str, tuple[float, str]] = {}
    for row in rows:
        if row["kind"] == "form" and row["train"]:
            t = row["train"]["timing"]["median"]
            if row["name"] not in best or t < best[row["name"]][0]:
                best[row["name"]] = (t, row["value"])
    return {name: form for name, (_, form) in best.items()}
