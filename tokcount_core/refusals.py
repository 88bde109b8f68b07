"""Requests the API refuses (HTTP 400) although they parse: an error row with the reason, not a count.

Each check is one the API documents in its 400 messages; every request in the reference files was
accepted (HTTP 200) and none trips them (``tests/core/test_reference.py`` runs them all). Only what
the request itself shows is refused: a call answered in an earlier response (``previous_response_id``,
``conversation``) may be missing from the input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokcount_core.schema.chat import ChatMessage
from tokcount_core.schema.items import CustomToolCallOutput, FunctionCallOutput
from tokcount_core.schema.requests import ChatBody, ResponsesBody
from tokcount_core.schema.tools import CustomTool, FunctionTool, NamespaceTool, chosen_tool_name

_CLIENT_TOOL_CHOICES = frozenset({"function", "custom"})


def chat_refusal(body: ChatBody) -> str | None:
    """Why the Chat Completions API would refuse ``body``, or None."""
    has_tools = bool(body.tools or body.functions)
    for field, choice in (("tool_choice", body.tool_choice), ("function_call", body.function_call)):
        if choice is not None and (why := _choice_refusal(
                field, choice, lambda: _tool_names(body.tools or [], "chat") | {f.name for f in body.functions or []},
                has_tools, "chat")) is not None:
            return why
    return _undefined_tool(body.tools or [], "chat") or _orphan_tool_message(body.messages)


def responses_refusal(body: ResponsesBody) -> str | None:
    """Why the Responses API would refuse ``body``, or None."""
    why = _choice_refusal("tool_choice", body.tool_choice, lambda: _tool_names(body.tools or [], "responses"),
                          bool(body.tools), "responses") or _undefined_tool(body.tools or [], "responses")
    if why is not None or body.previous_response_id or body.conversation:
        return why
    items = body.input if isinstance(body.input, list) else body.messages or []
    outputs = [(index, item) for index, item in enumerate(items) if isinstance(item, _OUTPUTS)]
    if not outputs:
        return None
    # Any item with a call_id may be answered (function, custom, tool_search, shell calls, ...).
    call_ids = {_call_id(item) for item in items if not isinstance(item, _OUTPUTS)}
    for index, item in outputs:
        if item.call_id not in call_ids:
            return f"input.{index}.call_id: no tool call found for the output with call_id {item.call_id!r}"
    return None


_OUTPUTS = (FunctionCallOutput, CustomToolCallOutput)


def _call_id(item: Any) -> Any:
    """The call id of a call item: a field on function and custom calls, an extra on hosted ones."""
    return getattr(item, "call_id", None) or (getattr(item, "model_extra", None) or {}).get("call_id")


def _tool_names(tools: list[Any], api: str) -> set[str]:
    names: set[str] = set()
    for tool in tools:
        inner = tool.tools if isinstance(tool, NamespaceTool) else [tool]
        names.update(d.name for t in inner if isinstance(t, FunctionTool | CustomTool)
                     and (d := t.definition(api)) is not None)
    return names


def _undefined_tool(tools: list[Any], api: str) -> str | None:
    """A function or custom tool must define itself where its API reads it: Chat under ``function`` /
    ``custom`` (ChatCompletionTool), Responses in the tool's own ``name`` (FunctionTool, CustomTool)."""
    for index, tool in enumerate(tools):
        if isinstance(tool, FunctionTool | CustomTool) and tool.definition(api) is None:
            where = tool.type if api == "chat" else "name"
            return f"tools.{index}.{where}: missing (the {api} API reads the tool's definition there)"
    return None


def _choice_refusal(field: str, choice: Any, names: Callable[[], set[str]], has_tools: bool,
                    api: str) -> str | None:
    """A forced tool needs tools, and a named function or custom tool must be among them
    (``function_call`` names a legacy function by ``{"name": ...}``, with no ``type``). The tools'
    names are gathered only for a named choice: most requests name none."""
    if choice is None or choice in ("auto", "none"):
        return None
    client = isinstance(choice, dict) and choice.get("type", "function") in _CLIENT_TOOL_CHOICES
    if not has_tools and (choice == "required" or client):
        return f"{field}: forces a tool, but the request has no tools"
    if not client:
        return None
    kind = choice.get("type", "function")
    name = chosen_tool_name(choice, api)
    if not isinstance(name, str) or not name:
        return f"{field}: names no {kind}"
    if name not in names():
        return f"{field}: no {kind} named {name!r} in the request's tools"
    return None


def _orphan_tool_message(messages: list[ChatMessage]) -> str | None:
    """A ``tool`` message must answer a call of an earlier assistant message."""
    called: set[str | None] = set()
    for index, msg in enumerate(messages):
        if msg.tool_calls:
            called.update(call.id for call in msg.tool_calls)
        elif msg.role == "tool" and msg.tool_call_id not in called:
            if msg.tool_call_id is None:
                return f"messages.{index}.tool_call_id: a tool message needs the id of the call it answers"
            return f"messages.{index}: a tool message answering {msg.tool_call_id!r}, which no earlier " \
                   "assistant message called"
    return None
