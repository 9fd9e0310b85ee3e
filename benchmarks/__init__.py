"""Speed and memory measurements of ablate: `python -m benchmarks [--quick] [--only NAME,...]`.

One module per group of measurements, each with `TITLE` and `run(quick, results) -> dict`
(a `table` of headers and rows for the Markdown report, `notes`, and the raw figures for the
JSON), run in the order of `GROUPS` on one machine in one process tree. Every figure is a
median over repeated timed steps after warm-up (`benchmarks.timing`), with its spread.
`benchmarks/gpu.sh` is the GPU check (torch and ablate's engine and models only, no Hydra).

Imports nothing heavy here: the GPU check imports `benchmarks.workload` without Hydra.
"""

GROUPS = ("ceilings", "models", "grouped", "variants", "trainer", "step_profile", "merged_groups", "ddp_step",
          "analytic", "repeats", "search_slots", "pruning", "pruning_replay")
