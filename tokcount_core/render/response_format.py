"""The ``# Response Formats`` block for structured outputs: reference README rule 8.

The schema is written as compact, ASCII-escaped JSON with keys in the order sent, minus the
validation keywords the server strips (``additionalProperties``, ``required``, ``default``,
bounds); not TypeScript-style in any era.
"""

from __future__ import annotations

import json
from typing import Any

_STRIPPED = frozenset({"additionalProperties", "required", "default", "minimum", "maximum", "minItems",
                       "maxItems"})


def response_format_block(name: str, description: str | None, schema: Any) -> str:
    head = f"# Response Formats\n\n## {name}\n\n"
    if description:
        head += f"// {description}\n"
    return head + json.dumps(_strip(schema), separators=(",", ":"), ensure_ascii=True)


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _STRIPPED}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def json_schema_of(response_format: dict[str, Any] | None) -> tuple[str, str | None, Any] | None:
    """(name, description, schema) of a Chat ``response_format`` or Responses ``text.format``."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema", response_format)  # Chat nests it; Responses is flat
    if not isinstance(spec, dict):
        return None
    return str(spec.get("name") or "response"), spec.get("description"), spec.get("schema", {})
