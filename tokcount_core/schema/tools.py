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

    def definition(self, api: str) -> FunctionDef | None:
        """Chat reads the definition under ``function`` only (ChatCompletionTool), Responses the tool's
        own fields only (FunctionTool); None when the API's place is empty (the API refuses that)."""
        if api == "chat":
            return self.function
        if self.name is None:
            return None
        # Responses function tools are strict unless they say otherwise (API reference, FunctionTool).
        return FunctionDef(name=self.name, description=self.description, parameters=self.parameters,
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

    def definition(self, api: str) -> CustomDef | None:
        """Chat reads ``custom`` only, Responses the tool's own fields only, as for functions."""
        if api == "chat":
            return self.custom
        return None if self.name is None else CustomDef(name=self.name, description=self.description,
                                                         format=self.format)


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


def chosen_tool_name(choice: dict[str, Any], api: str) -> Any:
    """The tool a named ``tool_choice`` forces, read where its API puts it: Chat nests it under the
    choice's type (``{"type": "function", "function": {"name": ...}}``, ChatCompletionNamedToolChoice),
    Responses puts ``name`` on the choice (ToolChoiceFunction), as does Chat's legacy ``function_call``
    (no ``type``). Neither API reads the other's place."""
    kind = choice.get("type")
    if api == "chat" and kind is not None:
        nested = choice.get(kind)
        return nested.get("name") if isinstance(nested, dict) else None
    return choice.get("name")
