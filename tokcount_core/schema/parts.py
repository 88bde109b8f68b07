"""Content parts of a message, shared by the Responses and Chat Completions shapes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Tag


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextPart(_Part):
    """``input_text``/``output_text`` (Responses), ``text`` (Chat), ``refusal``, summaries."""

    type: Literal["input_text", "output_text", "text", "refusal", "summary_text", "reasoning_text"]
    text: str | None = None
    refusal: str | None = None

    @property
    def value(self) -> str:
        """``refusal`` is read on refusal parts only, ``text`` on the others."""
        return (self.refusal if self.type == "refusal" else self.text) or ""


class ImageUrl(_Part):
    url: str
    detail: str | None = None


class ImagePart(_Part):
    """``input_image`` (Responses: ``image_url`` is a string) or ``image_url`` (Chat: an object)."""

    type: Literal["input_image", "image_url"]
    image_url: str | ImageUrl | None = None
    file_id: str | None = None
    detail: str | None = None

    @property
    def url(self) -> str | None:
        return self.image_url.url if isinstance(self.image_url, ImageUrl) else self.image_url

    @property
    def effective_detail(self) -> str:
        """Chat reads ``image_url.detail``, Responses the part's own ``detail`` (API reference: the
        Chat image content part, Responses ``input_image``); neither reads the other's."""
        if self.type == "image_url":
            detail = self.image_url.detail if isinstance(self.image_url, ImageUrl) else None
        else:
            detail = self.detail
        return (detail or "auto").lower()


class FileData(_Part):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Part):
    """``input_file`` (Responses, flat) or ``file`` (Chat, nested under ``file``)."""

    type: Literal["input_file", "file"]
    file_data: str | None = None
    file_id: str | None = None
    file_url: str | None = None
    filename: str | None = None
    file: FileData | None = None

    def field(self, name: str) -> str | None:
        """Chat reads a ``file`` part's fields under ``file``, Responses an ``input_file``'s own fields."""
        if self.type == "file":
            return getattr(self.file, name) if self.file else None
        return getattr(self, name)


class AudioData(_Part):
    data: str
    format: str | None = None


class AudioPart(_Part):
    type: Literal["input_audio"]
    input_audio: AudioData | None = None

    @property
    def payload(self) -> tuple[str | None, str | None]:
        """Read under ``input_audio`` only (the API defines no flat ``data``/``format`` on the part)."""
        if self.input_audio is not None:
            return self.input_audio.data, self.input_audio.format
        return None, None


_PART_TAG = {
    "input_text": "text", "output_text": "text", "text": "text", "refusal": "text",
    "summary_text": "text", "reasoning_text": "text",
    "input_image": "image", "image_url": "image",
    "input_file": "file", "file": "file",
    "input_audio": "audio",
}
PART_TAGS = frozenset(_PART_TAG.values())


def _part_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return _PART_TAG.get(kind) if isinstance(kind, str) else None


ContentPart = Annotated[
    Annotated[TextPart, Tag("text")]
    | Annotated[ImagePart, Tag("image")]
    | Annotated[FilePart, Tag("file")]
    | Annotated[AudioPart, Tag("audio")],
    Discriminator(_part_tag, custom_error_type="unsupported_item",
                  custom_error_message="unknown content part type"),
]

# The API also accepted bare strings as parts (recorded 2025-05, unknowable.jsonl.gz): text.
Content = str | list[ContentPart | str] | None
