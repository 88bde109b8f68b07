"""One chat message: framing + role (+ name) + content. Reference README rules 1 and 2.

OpenAI cookbook "How to count tokens with tiktoken": every message is
``<|start|>{role}<|message|>{content}<|end|>`` = 3 + t(role) + t(content); a ``name`` adds 1 + t(name).
"""

from __future__ import annotations

from tokcount_core.encoding import token_counter
from tokcount_core.render.context import RenderContext
from tokcount_core.render.media import audio_segment, file_segments, image_segment
from tokcount_core.render.segments import Category, Segment, fixed, text
from tokcount_core.rules import use, value
from tokcount_core.schema.parts import AudioPart, Content, FilePart, ImagePart, TextPart


def message(ctx: RenderContext, role: str, content: str, label: str, name: str | None = None,
            media: list[Segment] | None = None, framing: int | None = None, category: Category = "text",
            tail: tuple[int, Category] | None = None) -> None:
    spec = ctx.spec
    ctx.count_items(1, label)
    out = ctx.segments
    out.append(fixed("overhead", f"{label}: framing", value(ctx, "per_message") if framing is None else framing))
    if spec.message_headers:
        out.append(text("overhead", f"{label}: role", role))
        if name == role and use(ctx, "chat.name.equals_role"):
            # A name equal to its role costs t(name) alone (rule 10).
            out.append(text("overhead", f"{label}: name", name))
        elif name:
            _name(ctx, label, name)
    if content:
        out.append(Segment(category, f"{label}: content", content, tail=tail))
    if media:
        out.extend(media)


def _name(ctx: RenderContext, label: str, name: str) -> None:
    """Rule 1's 1 + t(name) is t(":" + name): the separator merges into the name's first token where
    the vocabulary allows (":T" "rend" "Tracker", ":web" "_scr" "aper"). Only langgraph has names where
    that differs (7 of 7 cases, cl100k and o200k): a rule of its own, flagged."""
    per_name = value(ctx, "per_name")
    if per_name == 1:
        count = token_counter(ctx.spec.encoding)
        if count(f":{name}") == 1 + count(name) or use(ctx, "chat.name.colon_merge"):
            ctx.segments.append(text("overhead", f"{label}: name", f":{name}"))
            return
    ctx.segments.append(fixed("overhead", f"{label}: name framing", per_name))
    ctx.segments.append(text("overhead", f"{label}: name", name))


def split_content(ctx: RenderContext, content: Content, label: str) -> tuple[str, list[Segment]]:
    """Text parts concatenated with no separator (rule 2); media parts priced on their own."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    ctx.count_items(len(content), label)
    texts: list[str] = []
    media: list[Segment] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, TextPart):
            texts.append(part.value)
        elif isinstance(part, ImagePart):
            media.append(image_segment(ctx, part))
        elif isinstance(part, AudioPart):
            media.append(audio_segment(ctx, part))
        elif isinstance(part, FilePart):
            media.extend(file_segments(ctx, part))
    return "".join(texts), media
