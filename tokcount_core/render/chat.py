"""Chat Completions bodies to segments."""

from __future__ import annotations

from tokcount_core.render.context import RenderContext
from tokcount_core.render.messages import message, split_content
from tokcount_core.render.response_format import format_block
from tokcount_core.render.segments import fixed, text
from tokcount_core.render.tool_calls import (
    PARALLEL,
    compact_arguments,
    parallel_calls_body,
    parallel_results_body,
)
from tokcount_core.render.tool_choice import tool_choice_cost
from tokcount_core.render.tools import custom_tool_framing, tool_definitions, tools_block
from tokcount_core.render.typescript import is_comment_free
from tokcount_core.result import EstimateReason
from tokcount_core.rules import RULES, old_era, use, value
from tokcount_core.schema.chat import ChatMessage
from tokcount_core.schema.requests import ChatBody
from tokcount_core.schema.tools import FunctionDef

# gpt-3.5-turbo-0301 in its first weeks (rules.py; boxcars recorded both sides).
_LAUNCH_ERA = "chat.priming.0301_launch_era"

_INSTRUCTION_ROLES = ("system", "developer")


def render_chat(ctx: RenderContext, body: ChatBody) -> None:
    spec = ctx.spec
    functions = [*tool_definitions(ctx, body.tools or []), *(body.functions or [])]
    custom_tool_framing(ctx, functions)
    if body.functions and not spec.legacy_shapes_verified:
        use(ctx, "chat.functions.legacy_shapes_gpt4")
    if not spec.tool_history_verified and any(m.tool_calls or m.role == "tool" for m in body.messages):
        use(ctx, "chat.tool_history.gpt4")
    first_flat_multiline = spec.reasoning and any(
        isinstance(f, FunctionDef) and is_comment_free(f.parameters) for f in functions) and value(
        ctx, "chat_first_flat_multiline")
    block = tools_block(ctx, functions, first_flat_multiline=first_flat_multiline)
    fmt = format_block(ctx, body.response_format)
    fmt_block = fmt[1] if fmt else None
    if fmt and old_era(ctx, "chat.response_format.block_era"):
        # The format name is charged, the schema block is not (sublayer-6, gpt-4o-2024-08-06,
        # 2024-08-19: exact without it, 112 over with it; the first recording with it is 2024-10-10).
        fmt_block = None
    messages = list(body.messages)
    first = 0 if messages and messages[0].role in _INSTRUCTION_ROLES else None

    if spec.reasoning:
        _reasoning_preamble(ctx, messages, first, block, fmt_block)
        if block:
            ctx.segments.append(fixed("tool", "hidden tools preamble", value(ctx, "chat_tool_preamble")))
    else:
        extra = "\n\n".join(b for b in (block, fmt_block) if b)
        if extra and first is not None:
            head = messages.pop(0)
            content, media = split_content(ctx, head.content, "message 0")
            message(ctx, head.role, f"{_joint(ctx, content)}{extra}", "message 0 + tools/format", head.name,
                    media, tail=(len(content), "tool" if block else "response_format"))
        elif extra:
            message(ctx, "system", extra, "tools/format message", category="tool" if block else "response_format")
        if block and use(ctx, "chat.tools.block_adjustment"):
            ctx.segments.append(fixed("tool", "tools block adjustment", -1))
    if fmt:
        _format_constant(ctx, body, messages, fmt[0], bool(functions))
    ctx.segments.extend(tool_choice_cost(ctx, body.tool_choice or body.function_call, functions))
    _history(ctx, messages, first=len(body.messages) - len(messages))
    priming = value(ctx, "priming")
    if ctx.spec.family in RULES[_LAUNCH_ERA].models and old_era(ctx, _LAUNCH_ERA):
        priming -= 1
    ctx.segments.append(fixed("overhead", "reply priming", priming))


def _joint(ctx: RenderContext, content: str) -> str:
    """The first system message's content and the ``\n\n`` before the tools. An empty one on the 2023
    renderer goes without it: gpt-fn gpt-3.5-turbo-0613, 1 of 1 (1 over with it), one app: flagged;
    the current renderer keeps it (activeagent gpt-4o-mini, 9 of 9)."""
    if not content and ctx.spec.tool_renderer == "2023" and use(ctx, "chat.tools.empty_system_joint_2023"):
        return ""
    return f"{content}\n\n"


def _reasoning_preamble(ctx: RenderContext, messages: list[ChatMessage], first: int | None,
                        block: str | None, fmt_block: str | None) -> None:
    """Reasoning models keep tools in a message of their own; after a leading developer message,
    and a system one except on gpt-5-mini (``chat_system_apart``), they are merged as
    ``# Instructions`` (rule 4; format placement rule 8, weak evidence). The system case shows in
    the ``\n\n`` joint: content ending in ``.`` is 1 cheaper (22 cases gained, 1 lost; models.py)."""
    tools_text = "\n\n".join(b for b in (block, fmt_block) if b) if block else None
    extra, category = (tools_text, "tool") if tools_text else (fmt_block, "response_format")
    if not extra:
        return
    if first is not None:
        head = messages.pop(0)
        content, media = split_content(ctx, head.content, "message 0")
        if head.role == "developer" or not tools_text or not value(ctx, "chat_system_apart"):
            merged = f"# Instructions\n\n{content}"
            message(ctx, head.role, f"{merged}\n\n{extra}", "message 0 + tools", head.name, media,
                    tail=(len(merged), category))
            return
        message(ctx, head.role, content, "message 0", head.name, media)
    label = "tools message" if tools_text else "response format message"
    message(ctx, "developer", extra, label, category=category)


def _format_constant(ctx: RenderContext, body: ChatBody, messages: list[ChatMessage], name: str,
                     has_tools: bool) -> None:
    """Rule 8: when a non-reasoning model must answer in the format, the format name is charged on
    the reply header and on every earlier plain assistant message."""
    if ctx.spec.reasoning or (has_tools and body.tool_choice != "none"):
        return
    if not use(ctx, "chat.response_format.name_on_assistant"):
        return
    plain_assistants = sum(1 for m in messages if m.role == "assistant" and not m.tool_calls)
    for _ in range(1 + plain_assistants):
        ctx.segments.append(text("response_format", "format name on an assistant header", name))
        ctx.segments.append(fixed("response_format", "format header framing", 2))


def _history(ctx: RenderContext, messages: list[ChatMessage], first: int) -> None:
    """``messages`` are the request's from index ``first`` on (a leading one merged with the tools
    was rendered already); each message's segments are tagged with its index (``Segment.item``)."""
    names: dict[str, str] = {}  # tool_call_id -> function name: a result is authored by its function
    parallel_ids: set[str] = set()
    pending: list[str] = []  # results of one parallel turn, merged into one message
    for index, msg in enumerate(messages):
        label = f"message {index + 1}"
        start = len(ctx.segments)
        if msg.role == "tool" and msg.tool_call_id in parallel_ids:
            pending.append(_text_of(ctx, msg, label))
            nxt = messages[index + 1] if index + 1 < len(messages) else None
            if nxt is None or nxt.role != "tool" or nxt.tool_call_id not in parallel_ids:
                raw = not old_era(ctx, "chat.parallel_results.raw_era")
                message(ctx, PARALLEL, parallel_results_body(pending, ascii_escape=not raw),
                        f"{label}: parallel tool results", framing=6)
                pending = []
        elif msg.role == "tool":
            author = names.get(msg.tool_call_id or "", msg.name or "")
            message(ctx, author, _text_of(ctx, msg, label), f"{label}: tool result", framing=6)
        elif msg.role == "function":
            # Legacy function results: 3 + t(name) + t(content) (hmarr/openai-chat-tokens, live-validated;
            # langchaingo gpt-4, langgraph gpt-4-turbo-preview), none of them answering a call in the
            # history. One that answers a ``function_call`` costs like a tool result, 6 + t(name):
            # openai-dotnet gpt-4o-mini, 1 of 1 (3 short otherwise), one app: flagged. The 2023
            # renderer keeps hmarr's 3.
            answers_call = ctx.spec.tool_renderer != "2023" and msg.name in names.values() and use(
                ctx, "chat.function_result.answers_call")
            message(ctx, msg.name or "", _text_of(ctx, msg, label), f"{label}: function result",
                    framing=6 if answers_call else None)
        else:
            _turn(ctx, msg, label, names, parallel_ids)
        for seg in ctx.segments[start:]:
            seg.item = first + index


def _turn(ctx: RenderContext, msg: ChatMessage, label: str, names: dict[str, str], parallel_ids: set[str]) -> None:
    """A user/system/assistant message, and an assistant's tool calls as messages of their own."""
    calls = _calls(msg)
    content, media = split_content(ctx, msg.content, label)
    if msg.refusal and not content and msg.role == "assistant":  # an assistant message's field only
        content = msg.refusal
    if msg.audio:
        # An assistant audio reply referenced by ``audio.id`` (audio guide): its transcript and audio
        # tokens are server-side.
        ctx.estimate(EstimateReason.AUDIO_UNKNOWN)
    if content or media or not calls:
        message(ctx, msg.role, content, label, msg.name, media)
        if msg.role == "assistant" and (extra := value(ctx, "assistant_extra")):
            ctx.segments.append(fixed("overhead", f"{label}: earlier assistant (reasoning)", extra))
    for call_id, name, _ in calls:
        names[call_id or ""] = name
    # The assistant's ``name`` is charged again on its tool-call message: 1 + t(name) per named
    # assistant message with calls (66 of 66 cases with a 2-token name, with or without text on
    # the message; sources langgraph gpt-4.1/gpt-4o, newrelic-python-agent gpt-3.5-turbo).
    if len(calls) == 1:
        _, name, arguments = calls[0]
        message(ctx, f"functions.{name}", arguments, f"{label}: tool call", msg.name, framing=6)
    elif calls:
        parallel_ids.update(call_id or "" for call_id, _, _ in calls)
        message(ctx, PARALLEL, parallel_calls_body([(n, a) for _, n, a in calls]),
                f"{label}: parallel tool calls", msg.name, framing=6)
    if calls and (extra := value(ctx, "tool_call_extra")):
        ctx.segments.append(fixed("overhead", f"{label}: tool call (reasoning)", extra))


def _calls(msg: ChatMessage) -> list[tuple[str | None, str, str]]:
    """(id, name, body) per call: function arguments re-serialised compactly (rule 7), a custom
    tool's input as sent, the legacy ``function_call`` last."""
    calls = []
    for call in msg.tool_calls or []:
        if call.function is not None:
            calls.append((call.id, call.function.name, compact_arguments(call.function.arguments)))
        elif isinstance(call.custom, dict):
            calls.append((call.id, str(call.custom.get("name", "")), str(call.custom.get("input", ""))))
    if msg.function_call is not None:
        calls.append((None, msg.function_call.name, compact_arguments(msg.function_call.arguments)))
    return calls


def _text_of(ctx: RenderContext, msg: ChatMessage, label: str) -> str:
    """A tool result's text; its images are priced on their own, 17 less each inside a tool
    message (15 on reasoning models): rule 6, fitted on 4 cases."""
    content, media = split_content(ctx, msg.content, label)
    ctx.segments.extend(media)
    images = sum(1 for seg in media if seg.category == "image")
    if images and use(ctx, "chat.tool_result.image_discount"):
        ctx.segments.append(fixed("overhead", f"{label}: images inside a tool message",
                                  images * (-15 if ctx.spec.reasoning else -17)))
    return content
