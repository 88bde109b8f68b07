"""What a count returns: one row's worth of data, errors included."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

RULES_VERSION = "2026.12.5"


class ErrorCode(StrEnum):
    """The closed set of per-record errors; anything else is a config/IO failure and aborts."""

    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    MISSING_MODEL = "missing_model"
    UNKNOWN_MODEL = "unknown_model"
    UNSUPPORTED_PROVIDER = "unsupported_provider"
    UNSUPPORTED_ITEM = "unsupported_item"
    INVALID_MEDIA = "invalid_media"
    TOO_LARGE = "too_large"
    INTERNAL_ERROR = "internal_error"


class RecordError(Exception):
    """A per-record failure with its closed error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class EstimateReason(StrEnum):
    """Why a count is a lower bound or an estimate rather than exact."""

    PREVIOUS_RESPONSE = "previous_response_id"
    CONVERSATION = "conversation"
    STORED_PROMPT = "stored_prompt"
    ITEM_REFERENCE = "item_reference"
    FILE_REFERENCE = "file_reference"
    FILE_CONTENT = "file_content"
    IMAGE_SIZE_UNKNOWN = "image_size_unknown"
    AUDIO_UNKNOWN = "audio_unknown"
    REASONING_IN_TOOL_LOOP = "reasoning_in_tool_loop"
    REASONING_BY_ID = "reasoning_by_id"
    HOSTED_TOOL = "hosted_tool"
    HOSTED_TOOL_OUTPUT = "hosted_tool_output"
    COMPACTION = "compaction"
    UNMAPPED_MODEL = "unmapped_model"
    PRO_REASONING_MODE = "pro_reasoning_mode"
    UNVERIFIED_RULE = "unverified_rule"
    SERVER_STATE = "server_state"  # OpenAI counted identical requests of this shape differently
    OUTSIDE_EVIDENCE = "outside_evidence"  # a feature of the request few reference cases show (coverage.py)


class Details(BaseModel):
    """Breakdown of ``input_tokens``; the fields always sum to it."""

    text_tokens: int = 0
    image_tokens: int = 0
    audio_tokens: int = 0
    file_tokens: int = 0
    tool_tokens: int = 0
    response_format_tokens: int = 0
    overhead_tokens: int = 0
    cached_tokens: int = 0  # offline we never know the prompt cache; always 0

    def total(self) -> int:
        return (
            self.text_tokens
            + self.image_tokens
            + self.audio_tokens
            + self.file_tokens
            + self.tool_tokens
            + self.response_format_tokens
            + self.overhead_tokens
        )


class SegmentView(BaseModel):
    """One rendered piece, kept with ``explain=True``."""

    category: str
    label: str
    text: str | None = None
    tokens: int
    item: int | None = None  # the index in ``messages`` of the Chat message it renders


class CountResult(BaseModel):
    input_tokens: int | None = None
    input_tokens_details: Details | None = None
    model: str | None = None
    encoding: str | None = None
    api: str | None = None
    estimated: bool = False
    estimate_reasons: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)  # ids of the rules the count used (tokcount_core/rules.py)
    unverified_rules: list[str] = Field(default_factory=list)  # those of them that flagged it unverified_rule
    # The request's features the reference cases show too thinly (``outside_evidence``; coverage.py).
    outside_evidence: list[str] = Field(default_factory=list)
    features: list[str] | None = None  # every feature of the request, with ``explain=True``
    error_code: ErrorCode | None = None
    error_message: str | None = None
    tokens: list[int] | None = None
    token_strings: list[str] | None = None
    segments: list[SegmentView] | None = None
    rules_version: str = RULES_VERSION

    @classmethod
    def failure(cls, code: ErrorCode, message: str, **known: Any) -> CountResult:
        return cls(error_code=code, error_message=message, **known)

    def openai_response(self) -> dict[str, Any]:
        """The body ``POST /v1/responses/input_tokens`` returns."""
        return {"object": "response.input_tokens", "input_tokens": self.input_tokens}

    def bifrost_response(self) -> dict[str, Any]:
        """The body Bifrost's ``POST /v1/count_tokens`` returns."""
        details = self.input_tokens_details or Details()
        body: dict[str, Any] = {
            "object": "response.input_tokens",
            "model": self.model,
            "input_tokens": self.input_tokens,
            "input_tokens_details": {
                "text_tokens": details.text_tokens + details.tool_tokens + details.response_format_tokens
                + details.overhead_tokens + details.file_tokens,
                "audio_tokens": details.audio_tokens,
                "image_tokens": details.image_tokens,
                "cached_tokens": details.cached_tokens,
            },
            "output_tokens": 0,
            "total_tokens": self.input_tokens,
        }
        if self.tokens is not None:
            body["tokens"] = self.tokens
            body["token_strings"] = self.token_strings
        return body
