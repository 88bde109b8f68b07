"""Properties that must hold for any input: count never raises, details add up, more is never less."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokcount_core import count

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
roles = st.sampled_from(["user", "assistant", "system", "developer"])
messages = st.lists(st.fixed_dictionaries({"role": roles, "content": st.text(max_size=200)}), min_size=1,
                    max_size=6)
models = st.sampled_from(["gpt-4o", "gpt-4o-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini", "gpt-4", "o3"])
# Bodies shaped like real requests but with arbitrary values in every field.
fuzzed_bodies = st.fixed_dictionaries(
    {"model": models},
    optional={"input": json_values, "messages": json_values, "tools": json_values, "instructions": json_values,
              "tool_choice": json_values, "text": json_values, "response_format": json_values},
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.one_of(json_values, fuzzed_bodies))
def test_count_never_raises_and_is_exact_or_an_error(body):
    result = count(body)
    assert (result.input_tokens is None) == (result.error_code is not None)
    if result.error_code is None:
        assert result.input_tokens_details.total() == result.input_tokens
    else:
        assert result.error_message


@SETTINGS
@given(st.binary(max_size=200))
def test_count_never_raises_on_bytes(raw):
    result = count(raw)
    assert (result.input_tokens is None) == (result.error_code is not None)


@SETTINGS
@given(models, messages, st.fixed_dictionaries({"role": roles, "content": st.text(max_size=200)}),
       st.sampled_from(["chat", "responses"]))
def test_adding_a_message_never_lowers_the_count(model, history, extra, api):
    key = "messages" if api == "chat" else "input"
    before = count({"model": model, key: history}, api=api)
    after = count({"model": model, key: [*history, extra]}, api=api)
    assert before.error_code is None and after.error_code is None
    assert after.input_tokens > before.input_tokens
    assert after.input_tokens_details.total() == after.input_tokens
