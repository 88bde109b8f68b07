"""Tool definitions in both shapes: Responses (flat) and Chat (``{"type": "function", "function": {...}}``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Tag


class _Tool(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionDef(_Tool):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(_Tool):
    type: Literal["function"] = "function"
    # Responses puts the definition flat on the tool, Chat nests it under "function".
    function: FunctionDef | None = None
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    defer_loading: bool | None = None

    @property
    def tool_name(self) -> str:
        return self.function.name if self.function is not None else self.name or ""

    @property
    def definition(self) -> FunctionDef:
        if self.function is not None:
            return self.function
        # Responses function tools are strict unless they say otherwise (API reference, FunctionTool).
        return FunctionDef(name=self.name or "", description=self.description, parameters=self.parameters,
                           strict=self.strict is not False)


class CustomDef(_Tool):
    name: str
    description: str | None = None
    format: dict[str, Any] | None = None


class CustomTool(_Tool):
    """Freeform tools; Chat nests the definition under ``custom`` like functions under ``function``."""

    type: Literal["custom"]
    custom: CustomDef | None = None
    name: str | None = None
    description: str | None = None
    format: dict[str, Any] | None = None

    @property
    def tool_name(self) -> str:
        return self.custom.name if self.custom is not None else self.name or ""

    @property
    def definition(self) -> CustomDef:
        if self.custom is not None:
            return self.custom
        return CustomDef(name=self.name or "", description=self.description, format=self.format)


class NamespaceTool(_Tool):
    """Client functions grouped under a name of their own (``namespace`` tools)."""

    type: Literal["namespace"]
    name: str = ""
    description: str | None = None
    tools: list[FunctionTool] = []


class HostedTool(_Tool):
    """OpenAI-hosted tools whose prompt text is hidden server-side."""

    type: str


HOSTED_TOOL_TYPES = (
    "file_search", "web_search", "web_search_preview", "web_search_preview_2025_03_11",
    "web_search_2025_08_26", "computer_use_preview", "computer_use", "mcp", "code_interpreter",
    "image_generation", "local_shell", "shell", "apply_patch", "tool_search", "computer",
    "programmatic_tool_calling",
)


TOOL_TAGS = frozenset({"function", "custom", "namespace", "hosted"})


def _tool_tag(value: Any) -> str | None:
    kind = value.get("type", "function") if isinstance(value, dict) else getattr(value, "type", None)
    if kind in ("function", "custom", "namespace"):
        return kind
    return "hosted" if kind in HOSTED_TOOL_TYPES else None


Tool = Annotated[
    Annotated[FunctionTool, Tag("function")]
    | Annotated[CustomTool, Tag("custom")]
    | Annotated[NamespaceTool, Tag("namespace")]
    | Annotated[HostedTool, Tag("hosted")],
    Discriminator(_tool_tag, custom_error_type="unsupported_item", custom_error_message="unknown tool type"),
]


class LegacyFunction(FunctionDef):
    """Chat's deprecated top-level ``functions`` entries."""
