"""The ``# Response Formats`` block for structured outputs: reference README rule 8.

The schema is written as compact, ASCII-escaped JSON with keys in the order sent, minus the
validation keywords the server strips (``additionalProperties``, ``required``, ``default``,
bounds); not TypeScript-style in any era.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from tokcount_core.render.context import RenderContext
from tokcount_core.rules import use

_STRIPPED = frozenset({"additionalProperties", "required", "default", "minimum", "maximum", "minItems",
                       "maxItems"})
# Constraints structured outputs enforce while decoding, stripped like the bounds above but each seen
# in one app only, so a schema holding one is flagged: ``format``, ``minLength``, ``maxLength``,
# ``exclusiveMinimum``, ``exclusiveMaximum`` (activeagent: 7 of 7 cases exact stripped, 0 kept; gpt-4o,
# gpt-4o-mini, Chat and Responses, 2025-07..2026-07), ``$schema`` (openllmetry-js: 2 of 2, gpt-4o-mini
# Responses). ``pattern`` and ``multipleOf`` are the other constraints OpenAI's structured-outputs
# guide lists as supported; no reference case holds them.
_STRIPPED_UNVERIFIED = frozenset({"format", "minLength", "maxLength", "exclusiveMinimum", "exclusiveMaximum",
                                  "$schema", "pattern", "multipleOf"})
# Structured outputs launched 2024-08-06; the earliest recording whose count holds the block is from
# 2024-10-10 (otelcontrib, gpt-4o): Chat requests dated before the era boundary (rules.py
# ``chat.response_format.block_era``) are counted without it (chat.py).
# Keys of these maps are names chosen by the schema's author, never keywords.
_NAME_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def response_format_block(name: str, description: str | None, schema: Any) -> str:
    head = f"# Response Formats\n\n## {name}\n\n"
    if description:
        head += f"// {description}\n"
    return head + json.dumps(_strip(schema), separators=(",", ":"), ensure_ascii=True)


def format_block(ctx: RenderContext, response_format: dict[str, Any] | None) -> tuple[str, str] | None:
    """(name, block) of a Chat ``response_format`` or Responses ``text.format`` holding a JSON schema;
    flags the count when the schema holds a keyword whose stripping one app alone confirms. Logged
    traffic repeats its formats, so each is rendered once per process."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    key = orjson.dumps(response_format)
    found = _BLOCKS.get(key)
    if found is None:
        fmt = json_schema_of(response_format)
        if fmt is None:
            return None
        unverified = ("response_format.stripped_unverified" if _keywords(fmt[2]) & _STRIPPED_UNVERIFIED
                      else "response_format.late_defs" if _late_defs(fmt[2]) else None)
        if len(_BLOCKS) >= _MAX_BLOCKS:
            _BLOCKS.clear()
        found = _BLOCKS[key] = (fmt[0], response_format_block(*fmt), unverified)
    if found[2]:
        use(ctx, found[2])
    return found[0], found[1]


_MAX_BLOCKS = 1024
_BLOCKS: dict[bytes, tuple[str, str, str | None]] = {}  # name, block, the flagging rule


def _late_defs(schema: Any) -> bool:
    """Definitions placed after other keys: activeagent's 2 such schemas (gpt-4o-mini Responses,
    2025-07/08) count 1 less than written in the order sent, while every schema with ``$defs`` first
    is exact (mirascope, crewAI, langgraph: 39 of 39). One app: flagged."""
    if not isinstance(schema, dict):
        return False
    keys = list(schema)
    return any(k in keys[1:] for k in ("$defs", "definitions"))


def _strip(node: Any, names: bool = False) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v, k in _NAME_MAPS and not names) for k, v in node.items()
                if names or k not in _STRIPPED | _STRIPPED_UNVERIFIED}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _keywords(node: Any, names: bool = False) -> set[str]:
    """Every keyword used anywhere in a schema (property and definition names excluded)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if not names:
            found.update(node)
        for k, v in node.items():
            found |= _keywords(v, k in _NAME_MAPS and not names)
    elif isinstance(node, list):
        for v in node:
            found |= _keywords(v)
    return found


def json_schema_of(response_format: dict[str, Any] | None) -> tuple[str, str | None, Any] | None:
    """(name, description, schema) of a Chat ``response_format`` or Responses ``text.format``."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema", response_format)  # Chat nests it; Responses is flat
    if not isinstance(spec, dict):
        return None
    return str(spec.get("name") or "response"), spec.get("description"), spec.get("schema", {})
