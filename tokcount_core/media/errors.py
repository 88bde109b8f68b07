"""Errors raised by the media package; the counting core turns them into error results."""

from __future__ import annotations


class InvalidMedia(ValueError):
    """Bad, corrupt, truncated or unsupported media; the message says what is wrong."""


class MediaTooLarge(InvalidMedia):
    """The media exceeds a configured limit (bytes, pages, characters)."""


class UnsupportedFileType(InvalidMedia):
    """A well-formed file of a type whose text we cannot extract (xlsx, docx, ...): the caller
    counts what else it knows and flags an estimate rather than failing the record."""
