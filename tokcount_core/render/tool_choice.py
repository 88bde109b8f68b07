"""What ``tool_choice`` adds: reference README rule 9 (and rule 10 for reasoning models)."""

from __future__ import annotations

from typing import Any

from tokcount_core.render.context import RenderContext
from tokcount_core.render.segments import Segment, fixed, text


def tool_choice_cost(ctx: RenderContext, choice: str | dict[str, Any] | None, has_tools: bool) -> list[Segment]:
    spec = ctx.spec
    if choice is None or choice == "auto" or not has_tools:
        return []
    if choice == "none":
        return [fixed("tool", 'tool_choice "none"', 1)]
    if choice == "required":
        return [fixed("tool", 'tool_choice "required"', 2 if spec.encoding == "cl100k_base" else 0)]
    if not isinstance(choice, dict):
        return []
    kind = choice.get("type")
    if kind == "allowed_tools":
        return [fixed("tool", "tool_choice allowed_tools", -1 if spec.reasoning and ctx.api == "chat" else 0)]
    name = choice.get("name") or (choice.get("function") or {}).get("name")
    if not isinstance(name, str) or spec.reasoning:
        return []
    return [text("tool", "tool_choice named function", name), fixed("tool", "tool_choice named framing", 7)]
