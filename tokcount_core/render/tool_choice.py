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
    # t(name) + 7 (rule 9); models on the 2023 tool renderer (gpt-4-0613) keep its t(name) + 4, as
    # hmarr/openai-chat-tokens measured live in 2023 and the gpt-4 reference cases (2024-2025) show.
    framing = 4 if spec.tool_renderer == "2023" else 7
    return [text("tool", "tool_choice named function", name), fixed("tool", "tool_choice named framing", framing)]
