"""Errors raised by the media package; the counting core turns them into error results."""

from __future__ import annotations


class InvalidMedia(ValueError):
    """Bad, corrupt, truncated or unsupported media; the message says what is wrong."""


class MediaTooLarge(InvalidMedia):
    """The media exceeds a configured limit (bytes, pages, characters)."""
