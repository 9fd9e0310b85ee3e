"""Hypothesis strategies shared by the engine, solver and model tests."""

from __future__ import annotations

from hypothesis import strategies as st

from ablate.engine.template import Template, min_resolution


@st.composite
def templates(draw, max_stages: int = 4, max_c: int = 8, max_d: int = 8, max_width: int = 32,
              blocks: tuple[str, ...] = ("bottleneck", "basic")):
    """Random valid templates: both stems, every block of `blocks` (by default the built-in ones), shortcut on
    and off."""
    depths = tuple(draw(st.lists(st.integers(1, 2), min_size=1, max_size=max_stages)))
    stem = draw(st.sampled_from(["imagenet", "cifar"]))
    low = min_resolution(stem, len(depths))
    resolution = draw(st.integers(low, low * 3))
    return Template(
        depths=depths,
        stem=stem,
        block=draw(st.sampled_from(blocks)),
        width=draw(st.integers(4, max_width)),
        cardinality=draw(st.integers(1, max_c)),
        bottleneck_width=draw(st.integers(1, max_d)),
        stem_width=draw(st.integers(2, 16)),
        in_channels=draw(st.integers(1, 3)),
        resolution=resolution,
        num_classes=draw(st.integers(2, 10)),
        shortcut=draw(st.booleans()),
    )
