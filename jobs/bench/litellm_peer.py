"""LiteLLM's ``token_counter`` as a peer in ``jobs.bench`` (measured only if it is installed).

LiteLLM counts Chat Completions ``messages`` (+ ``tools``), so Responses bodies are first turned into
the equivalent chat request: instructions as a system message, items as messages, function calls as
assistant ``tool_calls`` and their outputs as ``tool`` messages. That conversion is ours; its cost is
excluded from LiteLLM's timing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

ChatRequest = tuple[str, list[dict[str, Any]], list[dict[str, Any]] | None]


def load() -> Callable[..., int] | None:
    """``litellm.token_counter``, offline (bundled cost map), or None when not installed."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        from litellm import token_counter
    except ImportError:
        return None
    return token_counter


def to_chat(body: dict[str, Any], api: str | None = None) -> ChatRequest:
    """(model, messages, tools) for LiteLLM from a Chat Completions or Responses body."""
    model = str(body.get("model") or "gpt-4o")
    if api == "chat" or (api is None and "messages" in body and "input" not in body):
        tools = body.get("tools") or [{"type": "function", "function": f} for f in body.get("functions") or []]
        return model, list(body.get("messages") or []), tools or None
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items or []:
        messages.extend(_item(item))
    tools = [{"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters") if k in t}}
             for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    return model, messages, tools or None


def _item(item: Any) -> list[dict[str, Any]]:
    if not isinstance(item, dict):
        return []
    kind = item.get("type", "message")
    if kind == "message" and "role" in item:
        return [{"role": item["role"], "content": _content(item.get("content"))}]
    if kind == "function_call":
        call = {"id": item.get("call_id"), "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")}}
        return [{"role": "assistant", "content": None, "tool_calls": [call]}]
    if kind == "function_call_output":
        output = item.get("output")
        return [{"role": "tool", "tool_call_id": item.get("call_id"),
                 "content": output if isinstance(output, str) else _content(output)}]
    return []


def _content(content: Any) -> Any:
    if not isinstance(content, list):
        return content
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"],
                                                             "detail": part.get("detail", "auto")}})
    return parts


def count(token_counter: Callable[..., int], request: ChatRequest) -> int | None:
    model, messages, tools = request
    try:
        return int(token_counter(model=model, messages=messages, tools=tools))
    except Exception:  # a peer's failure on a body is a miss, not a benchmark crash
        return None
