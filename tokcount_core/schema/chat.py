"""Chat Completions messages."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from tokcount_core.schema.parts import Content


class CalledFunction(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    arguments: str = ""


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    type: str = "function"
    function: CalledFunction | None = None
    custom: dict | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Content = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: CalledFunction | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    audio: dict | None = None  # an earlier audio reply, by id: its content is server-side
