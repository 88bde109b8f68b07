"""Top-level request bodies and shape detection."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from tokcount_core.schema.chat import ChatMessage
from tokcount_core.schema.items import ITEM_TYPES as _ITEM_TYPES
from tokcount_core.schema.items import Item
from tokcount_core.schema.tools import LegacyFunction, Tool

Api = Literal["chat", "responses", "bifrost", "completions"]


class _Body(BaseModel):
    # Output-only parameters (temperature, stream, store, metadata, ...) are accepted and ignored.
    model_config = ConfigDict(extra="allow")
    model: str | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


class ResponsesBody(_Body):
    input: str | list[Item] | None = None
    instructions: str | list[Item] | None = None
    text: dict[str, Any] | str | None = None
    reasoning: dict[str, Any] | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    # Bifrost's count_tokens body carries Responses items under "messages"; its ``fallbacks`` (and any
    # other gateway key) are extras, never read: Bifrost strips them before OpenAI sees the body.
    messages: list[Item] | None = None


class ChatBody(_Body):
    messages: list[ChatMessage]
    functions: list[LegacyFunction] | None = None
    function_call: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    reasoning_effort: str | None = None


class CompletionsBody(BaseModel):
    """Legacy ``/v1/completions``: a prompt is a string, a list of strings, token ids or lists of ids."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    prompt: str | list[str] | list[int] | list[list[int]] | None = None
    suffix: str | None = None


RESPONSES_ADAPTER = TypeAdapter(ResponsesBody)
COMPLETIONS_ADAPTER = TypeAdapter(CompletionsBody)
CHAT_ADAPTER = TypeAdapter(ChatBody)

_RESPONSES_ONLY_KEYS = frozenset({"input", "instructions", "text", "previous_response_id", "conversation",
                                  "fallbacks", "reasoning", "max_output_tokens", "truncation"})
_CHAT_ONLY_KEYS = frozenset({"functions", "function_call", "response_format", "max_tokens",
                             "max_completion_tokens", "n", "stop", "logit_bias", "reasoning_effort"})
# Chat parameters that shape the prompt. The Responses API refuses them (400, "this parameter has
# moved"), so a Responses body carrying one was never counted as sent: an error row, not a count
# that silently leaves them out (rubyllm-109: an edited cassette, 32 short).
_MOVED_IN_RESPONSES = {"response_format": "text.format", "functions": "tools", "function_call": "tool_choice"}
_CHAT_ONLY_ROLES = frozenset({"tool", "function"})
# Keys and content parts only a Chat message has (a Responses message has none of them).
_CHAT_ONLY_MESSAGE_KEYS = frozenset({"tool_calls", "tool_call_id", "function_call"})
_CHAT_PART_TYPES = frozenset({"image_url", "input_audio"})
_RESPONSES_PART_TYPES = frozenset({"input_text", "output_text", "input_image", "input_file"})


def detect_api(body: dict[str, Any]) -> Api:
    """Which API a body was meant for, from its keys and the shape of its items."""
    keys = body.keys()
    prompt = body.get("prompt") if "messages" not in keys else None
    if isinstance(prompt, str | list) and "input" not in keys:
        return "completions"  # a Responses ``prompt`` is a stored-prompt object, never a string or list
    messages = body.get("messages")
    if "input" not in keys and isinstance(messages, list) and any(_looks_like_chat(m) for m in messages):
        # Gateways (Bifrost, LiteLLM, OpenRouter) log Chat calls as ``provider/model`` with Chat messages,
        # and may add keys of their own (``fallbacks``) that they strip before OpenAI sees the body.
        return "chat"
    if "input" in keys or isinstance(prompt, dict) or not keys.isdisjoint(_RESPONSES_ONLY_KEYS - {"reasoning"}):
        return "bifrost" if "fallbacks" in keys or _provider_prefixed(body) else "responses"
    if not isinstance(messages, list) or not keys.isdisjoint(_CHAT_ONLY_KEYS):
        return "chat"
    if "fallbacks" in keys or _provider_prefixed(body) or any(_looks_like_item(m) for m in messages):
        return "bifrost"
    return "chat"


def moved_parameter(body: dict[str, Any]) -> str | None:
    """Why a Responses body is invalid because it carries a Chat-only prompt parameter, if it does."""
    for key, successor in _MOVED_IN_RESPONSES.items():
        if key in body:
            return f"{key}: a Chat Completions parameter, refused by the Responses API (use {successor})"
    return None


def _provider_prefixed(body: dict[str, Any]) -> bool:
    model = body.get("model")
    return isinstance(model, str) and "/" in model


def _looks_like_item(message: Any) -> bool:
    if not isinstance(message, dict):
        return False
    if "type" in message:
        # Only a Responses item type says so: clients also put MIME types on Chat messages
        # (``"type": "text/plain", "charset": "UTF-8"``, activeagent), which the API ignores.
        return message["type"] in _ITEM_TYPES
    return _has_part(message, _RESPONSES_PART_TYPES)


def _looks_like_chat(message: Any) -> bool:
    """A Chat message by what only Chat messages carry: tool calls, tool results, Chat content parts."""
    if not isinstance(message, dict) or message.get("type") in _ITEM_TYPES:
        return False
    return (message.get("role") in _CHAT_ONLY_ROLES or not _CHAT_ONLY_MESSAGE_KEYS.isdisjoint(message)
            or _has_part(message, _CHAT_PART_TYPES))


def _has_part(message: dict[str, Any], types: frozenset[str]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(p, dict) and p.get("type") in types for p in content)
