"""Properties of the job's counting step for any input lines (the core's own are in tests/core):
``RowCounter`` turns any batch of byte lines into exactly one row per line, in order, with
``input_tokens`` null iff ``error_code`` is set and the details adding up to ``input_tokens``."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.config import JobConfig
from jobs.job.counting import RowCounter
from tests.data.bad.corpus import GOOD_LINES
from tokcount_core import ErrorCode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(["model", "input", "messages", "tools", "request", "body", "custom_id", "url", "response",
                        "content", "role", "type", "instructions", "provider", "input_history"])
models = st.sampled_from(["gpt-4o", "gpt-4o-mini", "o3", "gpt-5", "nope", "openai/gpt-4o", "anthropic/claude"])
records = st.dictionaries(keys, json_values, max_size=5).flatmap(
    lambda r: st.just(r) | models.map(lambda m: {**r, "model": m}))


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """A good request line, cut short and/or with a few bytes overwritten."""
    line = bytearray(draw(st.sampled_from(GOOD_LINES)))
    for _ in range(draw(st.integers(0, 3))):
        line[draw(st.integers(0, len(line) - 1))] = draw(st.integers(0, 255))
    return bytes(line[: draw(st.integers(0, len(line)))])


def _dumps(value: object) -> bytes:
    """The stdlib writes what orjson refuses: NaN, big integers, lone surrogates (escaped)."""
    return json.dumps(value).encode()


lines = st.one_of(st.binary(max_size=200), json_values.map(_dumps), records.map(_dumps), mangled(),
                  st.sampled_from([*GOOD_LINES, b"", b"   ", b"\xef\xbb\xbf{}", b"[]", b"null"]))
CONFIGS = {
    "defaults": JobConfig(),
    "everything": JobConfig(model="gpt-4o-mini", output={"tokens": True, "context": True, "keep_record": True},
                            pricing={"gpt-4o-mini": {"input_per_million": 0.15}}),
}
COUNTERS = {name: RowCounter(config) for name, config in CONFIGS.items()}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raws=st.lists(lines, min_size=1, max_size=12), start=st.integers(0, 10**9))
def test_any_lines_give_one_consistent_row_each(name, raws, start):
    counter = COUNTERS[name]
    table = counter.count_lines("in.jsonl", start, raws)
    assert table.schema == counter.schema
    rows = table.to_pylist()
    assert [r["source_row"] for r in rows] == list(range(start, start + len(raws)))
    for row, raw in zip(rows, raws, strict=True):
        assert (row["input_tokens"] is None) == (row["error_code"] is not None), row
        if row["error_code"] is None:
            assert sum(row["input_tokens_details"].values()) == row["input_tokens"] == row["total_tokens"] - (
                row["output_tokens"] or 0)
        else:
            assert row["error_code"] in set(ErrorCode)
            assert row["error_message"].startswith(f"in.jsonl:{row['source_row']}: ")
        if "record" in row:
            assert row["record"] == raw.decode("utf-8", "replace")
