"""Images, audio and files inside messages: sizes come from the bytes sent, never from the network."""

from __future__ import annotations

from datetime import date

from tokcount_core import media
from tokcount_core.limits import TooLarge
from tokcount_core.render.context import RenderContext
from tokcount_core.render.segments import Segment, fixed
from tokcount_core.result import EstimateReason
from tokcount_core.rules import use
from tokcount_core.schema.parts import AudioPart, FilePart, ImagePart


def image_segment(ctx: RenderContext, part: ImagePart) -> Segment:
    """Reference rule 6; formulas per model in ``tokcount_core/models.py``."""
    formula = ctx.spec.image
    url = part.url
    ctx.images += 1
    if ctx.images > ctx.limits.max_images:
        raise TooLarge(f"more than {ctx.limits.max_images} images")
    if formula is None:
        use(ctx, "image.no_formula")
        return fixed("image", "image (model without a known image formula)", 0)
    if "image" in ctx.spec.one_app_fields:
        use(ctx, "image.patches_gpt52")  # a formula only one app confirms (models.py: gpt-5.2+ patches)
    if _early_gpt4o_chat(ctx):
        use(ctx, "image.gpt4o_chat_early")  # an era that counted otherwise
    detail = part.effective_detail
    if detail not in ("auto", "high", "low"):
        use(ctx, "image.other_detail")  # e.g. "original": priced as high, cost not documented
    if url and url.startswith("data:"):
        _, raw = media.decode_data_url(url, ctx.limits.max_media_bytes)
        width, height = media.image_size(raw)
        return fixed("image", f"image {width}x{height} detail={detail}",
                     media.image_tokens(formula, width, height, detail))
    # Remote URL or file_id: we never fetch. A size resolved at the edge prices it exactly;
    # otherwise the configured default size, or the low-detail floor every image costs, flagged.
    reference = url or part.file_id or ""
    hints = ctx.image_hints
    if reference in hints.sizes:
        width, height = hints.sizes[reference]
        return fixed("image", f"image {width}x{height} (size given) detail={detail}",
                     media.image_tokens(formula, width, height, detail))
    ctx.estimate(EstimateReason.IMAGE_SIZE_UNKNOWN if url else EstimateReason.FILE_REFERENCE)
    if hints.default_size is not None:
        width, height = hints.default_size
        return fixed("image", f"image of unknown size, priced as {width}x{height}",
                     media.image_tokens(formula, width, height, detail))
    return fixed("image", "image of unknown size (lower bound)", media.image_tokens(formula, 1, 1, "low"))


# gpt-4o Chat images recorded before 2025-07-23 (the first exact one): pydantic-ai's 3008x2000 image
# after a tool call counted 4 less than the 1105 tiles in 3 of 3 (2025-04-17..04-29), while the same
# requests in Responses, and later in Chat, are exact. One app, no rule found: flagged.
_GPT4O_CHAT_IMAGES_EXACT_FROM = date(2025, 7, 23)


def _early_gpt4o_chat(ctx: RenderContext) -> bool:
    return ctx.api == "chat" and ctx.spec.family == "gpt-4o" and ctx.before(_GPT4O_CHAT_IMAGES_EXACT_FROM)


def audio_segment(ctx: RenderContext, part: AudioPart) -> Segment:
    data, fmt = part.payload
    if not data:
        ctx.estimate(EstimateReason.AUDIO_UNKNOWN)
        return fixed("audio", "audio (no data)", 0)
    raw = media.decode_base64(data, ctx.limits.max_media_bytes)
    seconds = media.audio_duration_seconds(raw, fmt)
    # OpenAI documents no exact audio tokenisation: the rate is an estimate (see media.audio), and
    # each audio part costs about 3 more (5 recordings in unknowable.jsonl.gz: +3, +3, +3, +3, +4).
    ctx.estimate(EstimateReason.AUDIO_UNKNOWN)
    return fixed("audio", f"audio {seconds:.2f}s", media.audio_tokens(seconds, ctx.spec.family) + _AUDIO_FRAMING)


_AUDIO_FRAMING = 3

# What a file costs beyond its extracted text, fitted on one 1-page PDF recorded 60 times
# (unknowable.jsonl.gz): about 216 more in Chat for the first file and 21 for each further one,
# 4 more in Responses. Always an estimate.
_FILE_FRAMING = {"chat": (216, 21), "responses": (4, 4)}
# From March 2026 the same PDF costs more per file: 778-780 in Chat (6 recordings, 2026-03-03 to
# 06-08, gpt-4.1-nano and gpt-5-nano alike, one of them with two files) and 13 in Responses (one
# recording with two files). Whether that scales with pages or text is not known: one PDF shows it.
_FILE_EXTRA_FROM = date(2026, 3, 3)
_FILE_EXTRA = {"chat": 779, "responses": 13}


def file_segments(ctx: RenderContext, part: FilePart) -> list[Segment]:
    """Files: extracted text is counted plus the framing seen in recordings; how OpenAI renders
    pages (and their images) is not public, so every file makes the count an estimate."""
    data = part.field("file_data")
    if not data:
        ctx.estimate(EstimateReason.FILE_REFERENCE)
        return [fixed("file", "file by reference (unknown content)", 0)]
    mime, raw = (media.decode_data_url(data, ctx.limits.max_media_bytes) if data.startswith("data:")
                 else (None, media.decode_base64(data, ctx.limits.max_media_bytes)))
    ctx.estimate(EstimateReason.FILE_CONTENT)
    try:
        text, pages = media.file_text_and_pages(raw, mime, part.field("filename"), ctx.limits.max_pdf_pages,
                                                ctx.limits.max_text_chars)
    except media.UnsupportedFileType as exc:
        return [fixed("file", f"file of unknown cost: {exc}", 0)]
    first, further = _FILE_FRAMING[ctx.api]
    ctx.files += 1
    framing = first if ctx.files == 1 else further
    if not ctx.before(_FILE_EXTRA_FROM):
        framing += _FILE_EXTRA[ctx.api]
    return [Segment("file", f"file text ({pages} page(s))", text), fixed("file", "file framing (estimated)", framing)]
