"""Bounds that keep one hostile record from costing unbounded time or memory."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TooLarge(ValueError):
    """A record exceeds a limit; it becomes a ``too_large`` row instead of costing unbounded work."""


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_record_bytes: int = 32 * 1024 * 1024
    max_depth: int = 256
    max_items: int = 100_000
    max_text_chars: int = 32 * 1024 * 1024
    max_media_bytes: int = 48 * 1024 * 1024
    max_images: int = 2_000
    max_pdf_pages: int = 500
