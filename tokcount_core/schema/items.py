"""Responses input items: one model per ``type``; a message may omit ``type``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Tag

from tokcount_core.schema.parts import Content, ContentPart


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None


class Message(_Item):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: Content = None
    phase: str | None = None  # gpt-5.x assistant messages: "commentary" (mid-turn) or "final_answer"


class FunctionCall(_Item):
    type: Literal["function_call"]
    name: str
    arguments: str = ""
    call_id: str | None = None


class FunctionCallOutput(_Item):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart] | None = None


class CustomToolCall(_Item):
    type: Literal["custom_tool_call"]
    name: str
    input: str = ""
    call_id: str | None = None


class CustomToolCallOutput(_Item):
    type: Literal["custom_tool_call_output"]
    call_id: str
    output: str | list[ContentPart] | None = None


class Reasoning(_Item):
    type: Literal["reasoning"]
    summary: list[ContentPart] | None = None
    content: list[ContentPart] | None = None
    encrypted_content: str | None = None


class ItemReference(_Item):
    type: Literal["item_reference"] | None = None


class HostedItem(_Item):
    """Items produced or consumed by OpenAI-hosted tools; their rendering is not public."""

    type: str


class AdditionalTools(_Item):
    """Tools loaded mid-conversation (``tool_search``): rendered like a tools block."""

    type: Literal["additional_tools"]
    role: str | None = None
    tools: list[dict[str, Any]] = []


HOSTED_ITEM_TYPES = (
    "computer_call", "computer_call_output", "web_search_call", "file_search_call",
    "code_interpreter_call", "image_generation_call", "local_shell_call", "local_shell_call_output",
    "shell_call", "shell_call_output", "apply_patch_call", "apply_patch_call_output",
    "mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "mcp_call",
    "tool_search_call", "tool_search_output", "compaction", "compaction_trigger", "configuration_update",
    "program", "program_output",
)

_TAGGED: dict[str, str] = {
    "message": "message", "function_call": "function_call",
    "function_call_output": "function_call_output", "custom_tool_call": "custom_tool_call",
    "custom_tool_call_output": "custom_tool_call_output", "reasoning": "reasoning",
    "item_reference": "item_reference", "additional_tools": "additional_tools",
    **{kind: "hosted" for kind in HOSTED_ITEM_TYPES},
}


ITEM_TAGS = frozenset(_TAGGED.values())
ITEM_TYPES = frozenset(_TAGGED)


def _item_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        if kind is None:
            # EasyInputMessage {"role": ..., "content": ...}; an ItemReference may be just {"id": ...}.
            return "item_reference" if "role" not in value and "id" in value else "message"
        return _TAGGED.get(kind) if isinstance(kind, str) else None
    return _TAGGED.get(getattr(value, "type", ""))


Item = Annotated[
    Annotated[Message, Tag("message")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[CustomToolCall, Tag("custom_tool_call")]
    | Annotated[CustomToolCallOutput, Tag("custom_tool_call_output")]
    | Annotated[Reasoning, Tag("reasoning")]
    | Annotated[ItemReference, Tag("item_reference")]
    | Annotated[AdditionalTools, Tag("additional_tools")]
    | Annotated[HostedItem, Tag("hosted")],
    Discriminator(_item_tag, custom_error_type="unsupported_item",
                  custom_error_message="unknown input item type"),
]
