"""The unit every renderer produces: text to encode, or a fixed number of tokens, in a category."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["text", "image", "audio", "file", "tool", "response_format", "overhead"]


@dataclass(slots=True)
class Segment:
    category: Category
    label: str
    text: str | None = None
    fixed: int = 0
    # Text that merges two things (a system message with the tools block appended) is encoded as one
    # string; its tokens after the first ``tail[0]`` characters are reported under ``tail[1]``.
    tail: tuple[int, Category] | None = None
    # Tokens given as ids (a Completions prompt of token ids): counted in ``fixed``, returned as is.
    ids: list[int] | None = None
    # The index in the request's ``messages`` of the Chat message this renders (None: not one message).
    item: int | None = None


def text(category: Category, label: str, value: str) -> Segment:
    return Segment(category, label, value)


def fixed(category: Category, label: str, tokens: int) -> Segment:
    return Segment(category, label, None, tokens)
