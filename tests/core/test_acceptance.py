"""What the API accepts is counted, what it refuses is an error row naming the field and the reason."""

from __future__ import annotations

import pytest

from tokcount_core import ErrorCode, count
from tokcount_core.encoding import get_encoding
from tokcount_core.load import load_mergeable_ranks
from tokcount_core.schema.requests import detect_api

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK = {"role": "user", "content": "Weather in Lisbon?"}
CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Lisbon"}'}}]}


def test_legacy_completions_prompts_are_their_tokens_alone():
    cl100k = get_encoding("cl100k_base")
    text = "Question: What is the capital of France?. Answer:"
    one = count({"model": "gpt-3.5-turbo-instruct", "prompt": text})
    assert one.api == "completions" and one.input_tokens == len(cl100k.encode_ordinary(text))
    batch = count({"model": "davinci-002", "prompt": [text, "Answer:"]})
    assert batch.input_tokens == one.input_tokens + len(cl100k.encode_ordinary("Answer:"))
    ids = count({"model": "babbage-002", "prompt": [[1, 2, 3], [4]]}, return_tokens=True)
    assert ids.input_tokens == 4 and ids.tokens == [1, 2, 3, 4]
    assert count({"model": "gpt-3.5-turbo-instruct", "prompt": [7, 8]}).input_tokens == 2
    assert count({"model": "gpt-3.5-turbo-instruct", "prompt": text}, api="completions").input_tokens == \
        one.input_tokens
    suffix = count({"model": "gpt-3.5-turbo-instruct", "prompt": "def f(", "suffix": "return x"})
    assert suffix.estimated and suffix.estimate_reasons == ["unverified_rule"]


def test_davinci_models_use_the_gpt2_vocabularies():
    # p50k_base is r50k_base plus 24 tokens for runs of 2-25 spaces; both pass tiktoken's pinned hashes.
    assert len(load_mergeable_ranks("r50k_base")) == 50256
    assert len(load_mergeable_ranks("p50k_base")) == 50280
    code = "def f():\n        return 1"
    p50k = count({"model": "text-davinci-003", "prompt": code})
    r50k = count({"model": "text-davinci-001", "prompt": code})
    assert (p50k.encoding, r50k.encoding) == ("p50k_base", "r50k_base")
    assert p50k.input_tokens < r50k.input_tokens == len(get_encoding("r50k_base").encode_ordinary(code))


def test_a_stored_prompt_object_is_not_a_completions_prompt():
    assert detect_api({"model": "gpt-5", "prompt": {"id": "pmpt_1"}}) == "responses"
    assert detect_api({"model": "gpt-5", "prompt": "hi"}) == "completions"


def test_keys_the_chat_api_ignores_are_counted_like_the_api_counts_them():
    plain = count({"model": "gpt-4o-mini", "messages": [ASK]})
    mime = {**ASK, "type": "text/plain", "charset": "UTF-8"}
    body = {"model": "gpt-4o-mini", "messages": [mime], "tools": None}
    assert detect_api(body) == "chat"
    assert count(body).input_tokens == plain.input_tokens and count(body).error_code is None


@pytest.mark.parametrize("body, field", [
    ({"messages": [ASK], "tool_choice": "required"}, "tool_choice: forces a tool, but the request has no tools"),
    ({"messages": [ASK], "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}},
     "tool_choice: no function named 'other'"),
    ({"messages": [ASK], "tools": [TOOL], "tool_choice": {"type": "function", "function": {}}},
     "tool_choice: names no function"),
    ({"messages": [ASK], "functions": [TOOL["function"]], "function_call": {"name": "nope"}},
     "function_call: no function named 'nope'"),
    ({"messages": [ASK, {"role": "tool", "content": "sunny", "tool_call_id": "call_9"}], "tools": [TOOL]},
     "messages.1: a tool message answering 'call_9'"),
    ({"messages": [ASK, {"role": "tool", "content": "sunny"}], "tools": [TOOL]}, "messages.1.tool_call_id"),
    ({"input": "hi", "tools": [{"type": "function", "name": "a", "parameters": {}}],
      "tool_choice": {"type": "function", "name": "b"}}, "tool_choice: no function named 'b'"),
    ({"input": [{"role": "user", "content": "hi"},
                {"type": "function_call_output", "call_id": "c1", "output": "x"}]}, "input.1.call_id"),
])
def test_what_the_api_refuses_is_an_error_row_with_the_reason(body, field):
    result = count({"model": "gpt-4o-mini", **body})
    assert result.error_code == ErrorCode.INVALID_REQUEST and result.input_tokens is None
    assert field in result.error_message and "the API refuses" in result.error_message


@pytest.mark.parametrize("body", [
    {"messages": [ASK, CALL, {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}], "tools": [TOOL],
     "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    {"messages": [ASK], "tools": [{"type": "web_search_preview"}], "tool_choice": "required"},
    {"messages": [ASK], "tool_choice": "none"},
    # An output whose call is in the previous response, or answered a hosted tool_search call.
    {"input": [{"type": "function_call_output", "call_id": "c1", "output": "x"}], "previous_response_id": "r"},
    {"input": [{"type": "tool_search_call", "call_id": "s1", "arguments": {}, "execution": "client"},
               {"type": "function_call_output", "call_id": "s1", "output": "found"}]},
])
def test_what_the_api_accepts_is_counted(body):
    assert count({"model": "gpt-4o-mini", **body}).error_code is None
