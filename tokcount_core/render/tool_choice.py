"""What ``tool_choice`` adds: reference README rule 9 (and rule 10 for reasoning models)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from tokcount_core.render.context import RenderContext
from tokcount_core.render.segments import Segment, fixed, text
from tokcount_core.result import EstimateReason
from tokcount_core.schema.tools import CustomDef, FunctionDef

# Choices naming client-side tools; a legacy ``function_call`` ({"name": ...}) has no type.
_CLIENT_CHOICES = frozenset({"function", "custom", "allowed_tools", None})
# First recording day on which Chat ``"required"`` is seen costing 0 on the current renderer.
_REQUIRED_FREE_FROM = date(2025, 5, 1)


def tool_choice_cost(ctx: RenderContext, choice: str | dict[str, Any] | None,
                     functions: Sequence[FunctionDef | CustomDef]) -> list[Segment]:
    spec = ctx.spec
    if isinstance(choice, dict) and choice.get("type") not in _CLIENT_CHOICES:
        # Forcing a hosted tool (web_search, file_search, mcp, ...): no reference case shows its cost.
        ctx.estimate(EstimateReason.UNVERIFIED_RULE)
        return []
    if choice is None or choice == "auto" or not functions:
        return []
    if choice == "required" and ctx.api == "responses" and not spec.reasoning and len(functions) == 1:
        # Responses turns "required" with a single tool into naming that tool: t(name) + 7
        # (4 of 4 non-reasoning reference cases; with 2+ tools it costs 0, 3 of 3).
        choice = {"type": "function", "name": functions[0].name}
    if choice == "none":
        # +1 (rule 9); 0 on reasoning models (4 of 4 reference cases, both APIs).
        return [fixed("tool", 'tool_choice "none"', 0 if spec.reasoning else 1)]
    if choice == "required":
        # +2 on the 2023 tool renderer (gpt-4-0613: 5 of 5), 0 on the current one, which gpt-3.5-turbo-0125
        # shares with the o200k models (otelcontrib-133 and its re-recording; rule 9 said cl100k).
        # Chat recordings up to 2024-09-26 still cost +2 on the current renderer: 5 of 5 (gpt-3.5-turbo-0125
        # and gpt-4o; sources instructor-rb, langgraph); every one from 2025-05-01 on costs 0.
        early = ctx.api == "chat" and ctx.before(_REQUIRED_FREE_FROM)
        return [fixed("tool", 'tool_choice "required"', 2 if spec.tool_renderer == "2023" or early else 0)]
    if not isinstance(choice, dict):
        return []
    kind = choice.get("type")
    if kind == "allowed_tools":
        # 0 in both APIs (rule 9); the -1 once seen on reasoning Chat was the one-line tool rendering
        # (render/tools.py), 44 of 44 gpt-5-mini cases with it.
        return [fixed("tool", "tool_choice allowed_tools", 0)]
    name = choice.get("name") or (choice.get("function") or {}).get("name")
    if not isinstance(name, str) or spec.reasoning:
        return []
    # The reply is opened as ``assistant to=functions.NAME``, like a tool call in the history (rule 7):
    # t("functions." + name) + 6. That is rule 9's t(name) + 7 when the dot merges into the name's first
    # token ("functions" + ".Reflection"), and t(name) + 8 when it does not ("." + "Grade" + "Documents").
    # Models on the 2023 tool renderer (gpt-4-0613, gpt-3.5-turbo-0613) pay t("functions." + name) + 3:
    # hmarr/openai-chat-tokens' t(name) + 4 wherever the dot merges into the name (crewAI gpt-4 17 of 17,
    # mirascope gpt-4 2 of 2), and 1 more where it does not (gpt-fn ``structural_response`` 4 of 4).
    if spec.tool_renderer == "2023":
        return [text("tool", "tool_choice named function", f"functions.{name}"),
                fixed("tool", "tool_choice named framing", 3)]
    return [text("tool", "tool_choice named function", f"functions.{name}"),
            fixed("tool", "tool_choice named framing", 6)]
