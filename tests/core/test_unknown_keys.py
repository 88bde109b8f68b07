"""Count only what the API reads (issue 21, item 1): keys it does not define change no count.

Every reference request is sent again with keys the API never reads: a gateway's own keys inside every
message or item, content part and tool, and a gateway's top-level ``fallbacks`` (Bifrost and LiteLLM add
them and strip them before OpenAI sees the body), and known keys where the API does not read them (a
``name`` on a content part or a Responses message, a part-level ``detail`` on a Chat image, the
Responses fields beside a Chat tool's ``function``, a Chat ``function`` beside a Responses tool's own
fields, a ``refusal`` on a message other than an assistant's, a tool_choice's name in the other API's
place). Each count must stay the one given without them, so exact cases stay exact. The spec of each
object is the OpenAI OpenAPI spec (openai/openai-openapi: ChatCompletionRequestMessage*,
ChatCompletionRequestMessageContentPart*, ChatCompletionTool, ChatCompletionNamedToolChoice; Responses
InputItem, InputContent, FunctionTool, ToolChoiceFunction).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.core.reference import CASE_FILES, api_of, load, recorded
from tests.core.report import Rows, evaluate
from tokcount_core import count

GATEWAY = {"x_gateway_meta": {"trace_id": "t-1", "tags": ["retry"], "cost": 0.1}}
UNREAD = "A description the API does not read here."


def _decorate_part(part: Any, api: str) -> None:
    if not isinstance(part, dict):
        return
    part.update(GATEWAY, name="part-name")
    if api == "chat" and part.get("type") == "image_url":
        part["detail"] = "low"  # Chat reads ``image_url.detail`` only
    if part.get("type") not in ("refusal", None):
        part.setdefault("refusal", "No.")  # read on ``refusal`` parts only


def _decorate_message(message: Any, api: str) -> None:
    if not isinstance(message, dict):
        return
    message.update(GATEWAY)
    if api == "responses" and message.get("type", "message") == "message":
        message["name"] = "alice"  # Responses messages have no name
    if api == "chat" and message.get("role") != "assistant":
        message["refusal"] = "No."  # an assistant message's field
    for key in ("content", "output"):
        if isinstance(message.get(key), list):
            for part in message[key]:
                _decorate_part(part, api)


def _decorate_tool(tool: Any) -> None:
    if not isinstance(tool, dict):
        return
    tool.update(GATEWAY)
    nested = tool.get("function")
    if isinstance(nested, dict):  # Chat: only ``function`` is read
        tool.update(name=f"{nested.get('name')}_unread", description=UNREAD, parameters={"type": "object"})
    elif tool.get("type", "function") == "function" and "name" in tool:  # Responses: only the flat fields
        tool["function"] = {"name": f"{tool['name']}_unread", "description": UNREAD}
    for inner in tool.get("tools") or []:
        _decorate_tool(inner)


def _decorate_choice(choice: Any, api: str) -> None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        if api == "chat":
            choice["name"] = "not_read"  # Chat names the function under ``function``
        else:
            choice["function"] = {"name": "not_read"}


def decorated(request: dict[str, Any], api: str) -> dict[str, Any]:
    """``request`` with keys the API does not read, everywhere it may carry them."""
    body = copy.deepcopy(request)
    body["fallbacks"] = [{"model": "openai/gpt-4o-mini"}, "azure/gpt-4o"]
    items = body.get("messages") if api == "chat" else body.get("input")
    for message in items if isinstance(items, list) else []:
        _decorate_message(message, api)
    for tool in body.get("tools") or []:
        _decorate_tool(tool)
    _decorate_choice(body.get("tool_choice"), api)
    return body


@pytest.fixture(scope="module")
def reference() -> Rows:
    return [row for name in CASE_FILES for row in evaluate(load(name))]


def test_keys_the_api_does_not_read_change_no_count(reference):
    changed = []
    for case, plain in reference:
        api = api_of(case)
        result = count(decorated(case["request"], api), api=api, as_of=recorded(case))
        if (result.input_tokens, result.error_code) != (plain.input_tokens, plain.error_code):
            changed.append((case["id"], plain.input_tokens, result.input_tokens, result.error_message))
    assert not changed, f"{len(changed)} counts changed: {changed[:20]}"


def test_the_decoration_reaches_every_kind_of_object():
    """The test above is only as good as its reach: messages, parts, tools and choices get keys."""
    body = decorated({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                      "tools": [{"type": "function", "function": {"name": "f"}}],
                      "tool_choice": {"type": "function", "function": {"name": "f"}}}, "chat")
    message, part, tool = body["messages"][0], body["messages"][0]["content"][0], body["tools"][0]
    assert {"x_gateway_meta", "refusal"} <= message.keys() and {"x_gateway_meta", "name"} <= part.keys()
    assert tool["description"] == UNREAD and body["tool_choice"]["name"] == "not_read"
