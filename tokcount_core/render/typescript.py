"""JSON Schema to the TypeScript-ish text OpenAI renders for function tools.

Close to openai/harmony's ``json_schema_to_typescript`` (src/encoding.rs) but as the hosted API
renders it, per ``../shared/reference`` README rule 4: no indentation, ``// title`` / ``// title\\n//\\n
// description`` comments, ``// default: X`` trailing comments, comment-free objects on one line
(unless ``one_line_objects`` is off: reasoning models in Chat), ``$ref`` resolved against the root.
"""

from __future__ import annotations

import json
from typing import Any

from tokcount_core.limits import TooLarge


class SchemaRenderer:
    def __init__(self, root: dict[str, Any], one_line_objects: bool, max_depth: int, max_nodes: int,
                 omit_bare_objects: bool = True) -> None:
        self.root = root
        self.one_line_objects = one_line_objects
        self.omit_bare_objects = omit_bare_objects
        # Whether a rendering only one app's recordings show was used: the caller flags the count.
        self.unverified = False
        self.max_depth = max_depth
        # $ref fan-out makes a few KB of schema expand exponentially: bound the work, not just depth.
        self.nodes_left = max_nodes

    def render_type(self, schema: Any, depth: int = 0) -> str:
        if depth > self.max_depth:
            raise TooLarge(f"tool schema nested deeper than {self.max_depth} levels (or a $ref cycle)")
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise TooLarge("tool schema expands to too many types ($ref fan-out)")
        if not isinstance(schema, dict):
            return "any"
        kind = schema.get("type")
        if isinstance(kind, str) and kind in _SCALAR_TYPES and schema.keys().isdisjoint(_BEFORE_TYPE):
            return _scalar(kind)  # most properties: nothing that outranks the type
        if "$ref" in schema:
            return self.render_type(self._resolve(schema["$ref"]), depth + 1)
        if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
            return " | ".join(_literal(v) for v in schema["enum"])
        if "const" in schema:
            return _literal(schema["const"])
        for key in ("anyOf", "oneOf"):
            variants = schema.get(key)
            if isinstance(variants, list) and variants:
                if any(_bare_object(v) for v in variants):
                    # A union with a property-less object is written ``object`` alone (crewAI's
                    # ``arguments`` X | null: 12 of 12 on gpt-4o and gpt-3.5-turbo-0125, 1 and 2 over
                    # with "|" and " | "); unions with objects stay flagged (render/tools.py).
                    return "object"
                return " | ".join(self.render_type(v, depth + 1) for v in variants)
        if isinstance(kind, list):
            return " | ".join(_scalar(k) for k in kind if isinstance(k, str))
        if kind == "array":
            items = schema.get("items")
            if not isinstance(items, dict) or not items:
                return "Array<any>"
            inner = self.render_type(items, depth + 1)
            if inner.startswith("{"):
                # Arrays of objects are ``Array<{...}>``, the item's title (also through ``$ref``) as
                # a comment first: 6 reference cases gained, none lost (crewai $defs schemas); its
                # description likewise, as a property's (sublayer only, 2 of 2, 5 short without: flagged).
                resolved = self._resolve(items["$ref"]) if "$ref" in items else items
                comments = title_and_description(resolved) if isinstance(resolved, dict) else []
                self.unverified = self.unverified or (isinstance(resolved, dict) and "description" in resolved)
                return "Array<\n" + "".join(f"{c}\n" for c in comments) + f"{inner}>" if comments else f"Array<{inner}>"
            return f"({inner})[]" if " | " in inner and not inner.startswith("{") else f"{inner}[]"
        if kind == "object" or (kind is None and "properties" in schema):
            return self.render_object(schema, depth + 1)
        return _scalar(kind) if isinstance(kind, str) else "any"

    def render_object(self, schema: dict[str, Any], depth: int = 0) -> str:
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return "object"
        required = set(schema.get("required") or [])
        lines: list[str] = []
        commented = False
        for name, prop in props.items():
            if isinstance(prop, dict):  # (the checks inlined: this loop is most of a tool's cost)
                if "$ref" in prop:
                    prop = inline_ref(self.root, prop)
                if self.omit_bare_objects and omitted_property(prop):
                    continue
                if comments := property_comments(prop):
                    commented = True
                    lines.extend(comments)
            line = f"{name}{'' if name in required else '?'}: {self.render_type(prop, depth + 1)},"
            if isinstance(prop, dict) and "default" in prop:
                commented = True
                line += f" // default: {_default(prop['default'])}"
            lines.append(line)
        if not lines:
            self.unverified = True  # every property omitted: no reference case shows what is written
            return "object"
        if schema.get("additionalProperties") is True:
            # An open object ends with an index signature: 7 more tokens (openai-dotnet's
            # ``additionalProperties: true`` at the top level, 2 of 2 on gpt-4o, one app: flagged).
            self.unverified = True
            lines.append("[key: string]: any,")
        if self.one_line_objects and not commented and not _enum_last(self.root, props):
            return "{" + " ".join(lines)[:-1] + "}"
        return "{\n" + "\n".join(lines) + "\n}"

    def _resolve(self, ref: Any) -> Any:
        return resolve_ref(self.root, ref)


def _enum_last(root: dict[str, Any], props: dict[str, Any]) -> bool:
    """Whether the last property is an enum: such an object keeps the multi-line form (1 token more).
    langgraph ``{city: "nyc" | "sf"}`` (95 of 95 cases, gpt-4o/-mini Chat) and openai-dotnet
    ``unit?: "C" | "F" | "K"`` last (2 of 2, gpt-4o-mini Responses) were each 1 over on one line;
    activeagent's enum-first ``{operation: "add" | ..., a: number, b: number}`` is exact on one line.
    A trailing comma on one line costs the same: the cases do not tell the two apart."""
    last = inline_ref(root, list(props.values())[-1])
    return isinstance(last, dict) and isinstance(last.get("enum"), list) and bool(last["enum"])


def resolve_ref(root: dict[str, Any], ref: Any) -> Any:
    """A local ``#/...`` pointer, or ``{}`` for anything else (remote refs are never fetched)."""
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node or {}


def inline_ref(root: dict[str, Any], prop: Any) -> Any:
    """A referenced schema is inlined before rendering, so its title and description become the
    property's comments (mirascope Book.author: 9 short without them)."""
    if isinstance(prop, dict) and "$ref" in prop:
        target = resolve_ref(root, prop["$ref"])
        if isinstance(target, dict):
            return {**target, **prop}
    return prop


def is_comment_free(schema: Any) -> bool:
    """An object with properties none of which renders a comment (or a default): the one-line form."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    return isinstance(props, dict) and bool(props) and not any(
        isinstance(p, dict) and (property_comments(p) or "default" in p)
        for p in (inline_ref(schema, prop) for prop in props.values()) if not omitted_property(p))


def omitted_property(prop: Any) -> bool:
    """A property whose schema is an object without properties (a free-form dict, with or without
    ``additionalProperties``) is not written at all, comments included: crewAI ``arguments`` on
    gpt-4 (14 of 14, 2023 renderer, 17 over with ``arguments: {\n\n}``) and langgraph ``inserts``
    on gpt-4o (13 of 13, 29 over with ``inserts: object``), recorded 2024-02-13..2025-01-14. gpt-fn's
    ``kwargs`` was still written in 2023-06 (render/tools.py dates it). In a union such an object is
    ``object`` (``render_type``)."""
    return _bare_object(prop)


def property_comments(prop: dict[str, Any]) -> list[str]:
    out = title_and_description(prop)
    if isinstance(prop.get("pattern"), str):
        # ``// pattern: X`` after the description: langgraph's gpt-3.5-turbo ``name`` (2 of 2, 18 short
        # without it); no other source sends a pattern, so render/tools.py flags it.
        out.append(f"// pattern: {prop['pattern']}")
    examples = prop.get("examples")
    if isinstance(examples, list) and examples:
        out.append("// Examples:")
        out.extend(f"// - {json.dumps(e, ensure_ascii=False)}" for e in examples)
    return out


def title_and_description(schema: dict[str, Any]) -> list[str]:
    """``// title`` and, with a description, ``//`` then its lines (or the description's lines alone)."""
    title, description = schema.get("title"), rendered_description(schema)
    if not isinstance(title, str):
        return comment_lines(description) if description is not None else []
    if description is None:
        return [f"// {title}"]
    return [f"// {title}", "//", *comment_lines(description)]


def rendered_description(schema: dict[str, Any]) -> str | None:
    """A schema's description as rendered: an empty one (ellmer writes ``"description": ""`` on every
    parameter schema) is not written at all, not even as a bare ``//``."""
    description = schema.get("description")
    return description if isinstance(description, str) and description.strip() else None


def comment_lines(text: str) -> list[str]:
    text = text.strip()
    if "\n" not in text:
        return [f"// {text}" if text else "//"]  # most descriptions: one line
    return [f"// {line.strip()}" if line.strip() else "//" for line in text.split("\n")]


def _bare_object(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "object" and not schema.get("properties")


_SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean", "null"})
# Keys ``render_type`` looks at before ``type``.
_BEFORE_TYPE = frozenset({"$ref", "enum", "const", "anyOf", "oneOf"})


def _scalar(kind: str) -> str:
    return "number" if kind == "integer" else kind


def _literal(value: Any) -> str:
    if isinstance(value, str) and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # what json.dumps writes for it, at a tenth of the cost
    return json.dumps(value, ensure_ascii=False)


def _default(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
