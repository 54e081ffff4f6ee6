"""LatencySketch: packed, merged, and as accurate as the library's sketch."""

from __future__ import annotations

from ddsketch import DDSketch
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.stats import LatencySketch

QS = (0.5, 0.95, 0.99)
durations = st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 120)), min_size=1, max_size=200)


@settings(max_examples=100, deadline=None)
@given(st.lists(durations, min_size=1, max_size=5))
def test_merged_packed_sketches_answer_as_one_library_sketch(groups: list[list[float]]) -> None:
    packed = []
    library = DDSketch(0.01)
    for group in groups:
        sketch = LatencySketch()
        for value in group:
            sketch.add(value)
            library.add(value)
        packed.append(sketch.to_bytes())
    merged = LatencySketch.merged(packed)
    assert merged.count == library.count
    assert merged.quantiles(QS) == tuple(library.get_quantile_value(q) for q in QS)


def test_a_stored_sketch_takes_more_values_and_an_empty_one_packs_to_nothing() -> None:
    sketch = LatencySketch()
    assert sketch.to_bytes() == b"" and sketch.quantiles(QS) is None
    sketch.add(0.25)
    again = LatencySketch(sketch.to_bytes())
    again.add(0.75)
    assert again.count == 2 and len(again.to_bytes()) < 200
