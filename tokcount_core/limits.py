"""Bounds that keep one hostile record from costing unbounded time or memory."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TooLarge(ValueError):
    """A record exceeds a limit; it becomes a ``too_large`` row instead of costing unbounded work."""


class ImageHints(BaseModel):
    """What is known about images the request only references (remote URLs, file ids).

    ``sizes`` maps a URL or file id to its (width, height), e.g. from a fetcher at the edge; such
    images are priced exactly. Other references are priced as ``default_size`` (or, without it, as
    the low-detail floor every image costs) and flagged ``image_size_unknown``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sizes: dict[str, tuple[int, int]] = {}
    default_size: tuple[int, int] | None = None


class Limits(BaseModel):
    """Per-record bounds; exceeding one gives a ``too_large`` row. JSON itself may nest 1,024 deep
    (orjson's limit); tool schemas ``max_depth``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_record_bytes: int = 32 * 1024 * 1024
    max_depth: int = 64  # nesting of a tool's JSON schema (also catches $ref cycles)
    max_items: int = 100_000  # rendered pieces (messages, parts) in one request
    max_text_chars: int = 32 * 1024 * 1024  # one piece of text handed to the tokenizer
    max_media_bytes: int = 48 * 1024 * 1024  # one decoded image, audio clip or file
    max_images: int = 2_000  # images in one request
    max_pdf_pages: int = 500
