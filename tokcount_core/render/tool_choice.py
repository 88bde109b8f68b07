"""What ``tool_choice`` adds: reference README rule 9 (and rule 10 for reasoning models)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokcount_core.render.context import RenderContext
from tokcount_core.render.segments import Segment, fixed, text
from tokcount_core.rules import old_era, use
from tokcount_core.schema.tools import CustomDef, FunctionDef, chosen_tool_name

# Choices naming client-side tools; a legacy ``function_call`` ({"name": ...}) has no type.
_CLIENT_CHOICES = frozenset({"function", "custom", "allowed_tools", None})


# Chat ``"required"`` on the current tool renderer: +2 up to an era boundary, 0 after (rules.py
# ``chat.tool_choice.required_surcharge``; gpt-3.5-turbo switched later and has its own, unverified:
# +2 in 6 cases of 3 apps to 2024-11-26, 0 in 9 cases of 3 apps from 2024-12-04).
# Every Chat "required" case of cases*.jsonl.gz on the current renderer, by recording day:
# gpt-4o/-mini/-4.1 and the other current-renderer models: +2 in 12 cases of 4 apps from 2024-09-11 to
# 2024-10-07 (ldp 6, paper-qa 4, langgraph 1, aviary 1); 0 in 247 cases of 10 apps from 2024-10-24
# on (ldp 2024-10-24.., paper-qa 2024-11-08.., magentic 3 on 2024-11-16 incl. gpt-4-1106-preview, aviary
# 2025-02-18.., langgraph, pydantic-ai, openinference, mirascope, opentelemetry, activeagent), none +2.
# The old boundary (2025-05-01) sat in a gap no case covered and made 76 cases of ldp, paper-qa, aviary,
# magentic and agentops (2024-10-24..2025-04-16) 2 too high.
_REQUIRED_RULE = "chat.tool_choice.required_surcharge"
_REQUIRED_RULES = {"gpt-3.5-turbo": "chat.tool_choice.required_surcharge.gpt-3.5-turbo"}


def tool_choice_cost(ctx: RenderContext, choice: str | dict[str, Any] | None,
                     functions: Sequence[FunctionDef | CustomDef]) -> list[Segment]:
    spec = ctx.spec
    if isinstance(choice, dict) and choice.get("type") not in _CLIENT_CHOICES:
        # Forcing a hosted tool (web_search, file_search, mcp, ...): no reference case shows its cost.
        use(ctx, "tool_choice.hosted")
        return []
    if choice is None or choice == "auto" or not functions:
        return []
    if (choice == "required" and ctx.api == "responses" and not spec.reasoning and len(functions) == 1
            and use(ctx, "tool_choice.responses_required_single")):
        # Responses turns "required" with a single tool into naming that tool: t(name) + 7
        # (4 of 4 non-reasoning reference cases; with 2+ tools it costs 0, 3 of 3).
        choice = {"type": "function", "name": functions[0].name}
    if choice == "none":
        # +1 (rule 9); 0 on reasoning models (4 of 4 reference cases, both APIs).
        if not use(ctx, "tool_choice.none_surcharge"):
            return []
        return [fixed("tool", 'tool_choice "none"', 0 if spec.reasoning else 1)]
    if choice == "required":
        return [fixed("tool", 'tool_choice "required"', _required_cost(ctx))]
    if not isinstance(choice, dict):
        return []
    kind = choice.get("type")
    if kind == "allowed_tools":
        # 0 in both APIs (rule 9); the -1 once seen on reasoning Chat was the one-line tool rendering
        # (render/tools.py), 44 of 44 gpt-5-mini cases with it.
        return [fixed("tool", "tool_choice allowed_tools", 0)]
    name = chosen_tool_name(choice, ctx.api)
    if not isinstance(name, str) or spec.reasoning or not use(ctx, "tool_choice.named"):
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


def _required_cost(ctx: RenderContext) -> int:
    """``"required"``: 0 in Responses and in today's Chat; +2 in Chat until an era boundary (``_REQUIRED_RULE``)."""
    if ctx.spec.tool_renderer == "2023":
        # +2 on the 2023 tool renderer: gpt-4-0613 5 of 5, all mirascope (2025-09): one app, flagged.
        return 2 if use(ctx, "tool_choice.required_2023") else 0
    if ctx.api != "chat":
        return 0
    return 2 if old_era(ctx, _REQUIRED_RULES.get(ctx.spec.family, _REQUIRED_RULE)) else 0
