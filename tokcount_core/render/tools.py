"""The ``# Tools`` block for function (and custom) tools: reference README rules 4 and 10."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from tokcount_core.render.context import RenderContext
from tokcount_core.render.segments import fixed
from tokcount_core.render.typescript import (
    SchemaRenderer,
    comment_lines,
    is_comment_free,
    omitted_property,
    resolve_ref,
    title_and_description,
)
from tokcount_core.rules import old_era, use
from tokcount_core.schema.tools import CustomDef, CustomTool, FunctionDef, FunctionTool, NamespaceTool


def tool_definitions(ctx: RenderContext, tools: Sequence[object]) -> list[FunctionDef | CustomDef]:
    """The client-side tools the model sees in its namespace; deferred ones (``defer_loading``,
    loaded later by tool search) are not shown up front.

    A ``namespace`` tool's functions are counted as plain functions, flagged: how the API renders
    the group (its own ``## name`` section, most likely) has no reference case."""
    flat: list[object] = []
    for tool in tools:
        if isinstance(tool, NamespaceTool):
            use(ctx, "tools.namespace")
            flat.extend(tool.tools)
        else:
            flat.append(tool)
    definitions = (t.definition(ctx.api) for t in flat
                   if isinstance(t, FunctionTool | CustomTool) and not getattr(t, "defer_loading", False))
    return [d for d in definitions if d is not None]  # None: refused before rendering (refusals.py)


def custom_tool_framing(ctx: RenderContext, definitions: Sequence[FunctionDef | CustomDef]) -> None:
    """Freeform tools cost 13 more than their ``(_: string)`` line, fitted on 5 of 5 text-format
    Responses cases (gpt-5); how a grammar is shown is not known, so a grammar makes an estimate,
    and so does a custom tool in Chat (no reference case)."""
    for tool in definitions:
        if isinstance(tool, CustomDef):
            if use(ctx, "tools.custom_framing"):
                ctx.segments.append(fixed("tool", f"custom tool {tool.name} framing", 13))
            if (tool.format or {}).get("type") == "grammar" or ctx.api == "chat":
                use(ctx, "tools.custom_grammar_or_chat")


def _unverified_shape(serialised: bytes, params: dict[str, Any], unions: str, strict: bool) -> bool:
    """Schema shapes whose rendering the reference cases contradict are estimates, not silent
    guesses: a union with an object or with two non-null members (0 of 17 exact; ``X | null`` is
    4 of 4; the 2023 renderer's unions are exact where the model says so), every union on a model
    whose unions are unverified (``unions``: "none", "some" or "all" checked), and a strict tool
    whose array items are objects with comments (0 of 9 exact, 18 short, and 33 short where the
    items hold a nullable type list: see ``_strict_nullable``; exact without ``strict``).
    An empty description (``"description": ""``, written by tidyverse/ellmer only) is not rendered,
    not even as ``//`` (typescript.py; 74 ellmer cases gained, none lost), but no other source
    sends one: flagged. So is a string ``pattern`` (langgraph only, typescript.property_comments).
    Substring checks on the serialised schema skip the walks for the common shapes."""
    test = _any_union if unions == "all" else _unverified_union
    return bool(b'"description":""' in serialised
                or (b'"pattern":"' in serialised and _any_object(params, lambda n: isinstance(n.get("pattern"), str)))
                or (unions != "none" and (b'"anyOf"' in serialised or b'"oneOf"' in serialised)
                    and _any_object(params, test))
                or (strict and b'"items"' in serialised
                    and _any_object(params, lambda node: _commented_array_items(node, params))))


def _any_object(node: Any, test: Callable[[dict[str, Any]], bool], depth: int = 0) -> bool:
    """Whether ``test`` holds for some object anywhere in a schema."""
    if depth > 64:
        return False  # the renderer itself refuses schemas this deep
    if isinstance(node, dict):
        return test(node) or any(_any_object(v, test, depth + 1) for v in node.values())
    if isinstance(node, list):
        return any(_any_object(v, test, depth + 1) for v in node)
    return False


def _any_union(node: dict[str, Any]) -> bool:
    return isinstance(node.get("anyOf"), list) or isinstance(node.get("oneOf"), list)


def _unverified_union(node: dict[str, Any]) -> bool:
    for key in ("anyOf", "oneOf"):
        members = node.get(key)
        if isinstance(members, list):
            kinds = [m.get("type") if isinstance(m, dict) else None for m in members]
            non_null = [k for k in kinds if k != "null"]
            if len(non_null) > 1 or "object" in non_null or None in non_null:
                return True
            # A member with its own description: 0 of 18 exact (instructor-rb -31, langgraph -18/-19).
            if any(isinstance(m, dict) and "description" in m for m in members):
                return True
            # A member that is an array of objects (``Array<{...}> | null``): 0 of 13 exact (langgraph
            # Outline/WikiSection 3-6 short on gpt-4o, gpt-4o-mini, gpt-3.5-turbo; instructor-rb).
            if any(isinstance(m, dict) and m.get("type") == "array" and _object_items(m) for m in members):
                return True
    return False


def _object_items(node: dict[str, Any]) -> bool:
    items = node.get("items")
    return isinstance(items, dict) and ("properties" in items or "$ref" in items)


def _commented_array_items(node: dict[str, Any], root: dict[str, Any]) -> bool:
    items = node.get("items")
    if not isinstance(items, dict):
        return False
    item = resolve_ref(root, items.get("$ref")) if "$ref" in items else items
    props = item.get("properties") if isinstance(item, dict) else None
    return isinstance(props, dict) and any(
        isinstance(p, dict) and ("title" in p or "description" in p) for p in (item, *props.values()))


def tools_block(ctx: RenderContext, functions: Sequence[FunctionDef | CustomDef],
                first_flat_multiline: bool) -> str | None:
    """``# Tools\\n\\n## functions\\n\\nnamespace functions {\\n\\n`` + each tool + ``} // namespace functions``,
    or None without tools; a schema shape the cases contradict makes the count an estimate.

    Comment-free objects are written on one line (reference README rule 4), except, in Chat on
    reasoning models, the first tool whose parameters are comment-free: it keeps the multi-line
    form. Every gpt-5-mini and gpt-5.4-mini case with several such tools is exact with it; before,
    each later one was 1 over (and two per-model fudges hid it).

    Logged traffic repeats the same tools on every request, so blocks are memoised per process.
    """
    if not functions:
        return None
    spec, limits = ctx.spec, ctx.limits
    legacy = spec.tool_renderer == "2023"
    keys = [_definition_key(f) for f in functions]
    # Only a schema with a default can show the era's difference, so only such a request uses the rule
    # (both sides are unverified: every other 2023-renderer request was flagged for a default it lacked).
    legacy_defaults = legacy and _has_default(functions, keys) and not old_era(ctx, "tools.legacy_defaults_era")
    # Which unions to flag: every one on a model whose unions are unverified, none on the 2023
    # renderer where the model's legacy shapes are verified, else the shapes the cases contradict.
    if not spec.unions_verified:
        unions = "all"
    elif legacy and spec.legacy_shapes_verified:
        unions = "none"
    else:
        unions = "some"
    # Whether a property that is an object without properties is left out: only a schema holding one
    # uses the era rule.
    omit_bare = not (_has_bare_property(functions, keys) and old_era(ctx, "tools.bare_objects_era"))
    chat = ctx.api == "chat"
    key = (first_flat_multiline, legacy, legacy_defaults, omit_bare, chat, unions, limits.max_depth,
           limits.max_items, *keys)
    found = _BLOCKS.get(key)
    if found is None:
        multiline_left = first_flat_multiline
        parts = []
        unverified = False
        for f in functions:
            one_line = True
            if multiline_left and isinstance(f, FunctionDef) and is_comment_free(f.parameters):
                one_line = multiline_left = False
            text, unverified_text = _tool(f, one_line, legacy, legacy_defaults, omit_bare, chat,
                                          limits.max_depth, limits.max_items)
            parts.append(text)
            unverified = unverified or unverified_text
        body = "".join(parts)
        unverified = unverified or any(isinstance(f, FunctionDef) and isinstance(f.parameters, dict)
                                       and (_unverified_shape(k[3], f.parameters, unions, bool(f.strict))
                                            or (legacy and _unverified_legacy_shape(k[3])))
                                       for f, k in zip(functions, keys, strict=True))
        strict_nullable = any(isinstance(f, FunctionDef) and f.strict and _strict_nullable(k[3], f.parameters)
                              for f, k in zip(functions, keys, strict=True))
        found = (f"# Tools\n\n## functions\n\nnamespace functions {{\n\n{body}}} // namespace functions", unverified,
                 strict_nullable)
        if len(_BLOCKS) >= _MAX_BLOCKS:
            _BLOCKS.clear()
        _BLOCKS[key] = found
    block, unverified, strict_nullable = found
    if unverified:
        use(ctx, "tools.contradicted_shape")
    if strict_nullable and use(ctx, "tools.strict_nullable"):
        # A strict tool with a nullable type list (``"type": ["string", "null"]``) is counted about
        # 33 over its rendering: crewAI 8 of 8 (gpt-4o, gpt-4o-mini, 2026-02/03) exactly 33; ellmer
        # 34-36 (gpt-4o, gpt-4.1, gpt-5; 2025-06..12) and once 0 (an identical request was also
        # counted 34 more). What the server adds is unknown: an estimate.
        ctx.segments.append(fixed("tool", "strict nullable type list (estimate)", 33))
    return block


def _strict_nullable(serialised: bytes, params: Any) -> bool:
    return b'"null"' in serialised and _any_object(
        params, lambda node: isinstance(node.get("type"), list) and "null" in node["type"])


_MAX_BLOCKS = 1024
# (block, flagged, a strict tool holds a nullable type list): all three follow from the key alone.
_BLOCKS: dict[tuple[Any, ...], tuple[str, bool, bool]] = {}


def _definition_key(tool: FunctionDef | CustomDef) -> tuple[Any, ...]:
    if isinstance(tool, CustomDef):
        return type(tool).__name__, tool.name, tool.description, orjson.dumps(tool.format)
    return type(tool).__name__, tool.name, tool.description, orjson.dumps(tool.parameters), bool(tool.strict)


def _tool(tool: FunctionDef | CustomDef, one_line_objects: bool, legacy: bool, legacy_defaults: bool,
          omit_bare: bool, chat: bool, max_depth: int, max_nodes: int) -> tuple[str, bool]:
    """The tool's text, and whether it used a rendering only one app shows (flagged)."""
    lines = comment_lines(tool.description) if tool.description and tool.description.strip() else []
    if isinstance(tool, CustomDef):
        # Custom (freeform) tools take a raw string; the grammar itself is not shown as a type.
        lines.append(f"type {tool.name} = (_: string) => any;")
        return "\n".join(lines) + "\n\n", False
    params: dict[str, Any] = tool.parameters if isinstance(tool.parameters, dict) else {}
    if not params.get("properties"):
        lines.append(f"type {tool.name} = () => any;")
        return "\n".join(lines) + "\n\n", False
    renderer = (_LegacyRenderer(params, legacy_defaults, omit_bare) if legacy
                else SchemaRenderer(params, one_line_objects, max_depth, max_nodes, omit_bare))
    # A top-level schema title and description are written like a property's (rule 4, rule 10):
    # ``// title`` and, with a description, ``//`` then its lines, just before the ``{``.
    prefix = "" if legacy else "".join(f"{line}\n" for line in title_and_description(params))
    body = renderer.render_object(params)
    if chat and isinstance(params.get("title"), str) and body.startswith("{") and "\n" not in body:
        # In Chat a titled, otherwise comment-free object costs 1 more than its one-line form, as a
        # trailing comma would: 3 of 3 (langchainrb, instructor-rb; gpt-3.5-turbo, 2024-04/05). The
        # multi-line form would be 2 more. Responses writes it plainly (pydantic-ai gpt-4o, 1 of 1).
        body = body[:-1] + ",}"
    lines.append(f"type {tool.name} = (_: {prefix}{body}) => any;")
    return "\n".join(lines) + "\n\n", isinstance(renderer, SchemaRenderer) and renderer.unverified


class _LegacyRenderer:
    """The 2023 renderer gpt-4 (-0613/-0314/-32k) still uses (rule 10): no titles or nested
    descriptions, 2-space nested indent with an unindented closing brace, ``any[]`` for arrays without
    items. Mirrors hmarr/openai-chat-tokens (tests validated against the live API), and:
    - a default as `` // default: X`` after the property (a string unquoted) in recordings from
      2023-12-19 on (6 of 6 gpt-3.5-turbo-0613 cases; the same schema recorded 2023-06-15 shows none);
    - ``items: {}`` as ``Array<any>`` (2 of 2 cases, 2023-06-15).
    Both are seen in one app only (livingbio/gpt-fn): such schemas are flagged (``_unverified_legacy_shape``)."""

    def __init__(self, root: dict[str, Any], defaults: bool, omit_bare_objects: bool) -> None:
        self.root = root
        self.defaults = defaults
        self.omit_bare_objects = omit_bare_objects

    def render_object(self, schema: dict[str, Any], indent: int = 0) -> str:
        required = set(schema.get("required") or [])
        lines = []
        for name, prop in (schema.get("properties") or {}).items():
            prop = prop if isinstance(prop, dict) else {}
            if self.omit_bare_objects and omitted_property(prop):
                continue
            if isinstance(prop.get("description"), str) and indent < 2:
                lines.append(f"// {prop['description']}")
            line = f"{name}{'' if name in required else '?'}: {self._type(prop, indent)},"
            if self.defaults and "default" in prop:
                line += f" // default: {_legacy_default(prop['default'])}"
            lines.append(line)
        return "{\n" + "\n".join(" " * indent + line for line in lines) + "\n}"

    def _type(self, prop: dict[str, Any], indent: int) -> str:
        variants = prop.get("anyOf")
        if isinstance(variants, list):
            # Members joined with `` | ``, a ``const`` shown as its type (hmarr's anyOf tests).
            return " | ".join(self._type(v if isinstance(v, dict) else {}, indent) for v in variants)
        kind = prop.get("type")
        if kind in ("string", "number", "integer") and isinstance(prop.get("enum"), list):
            return " | ".join(f'"{v}"' if kind == "string" else str(v) for v in prop["enum"])
        if kind == "object":
            inner = self.render_object(prop, indent + 2)
            return inner
        if kind == "array":
            items = prop.get("items")
            if isinstance(items, dict) and not items:
                return "Array<any>"
            return f"{self._type(items, indent)}[]" if isinstance(items, dict) else "any[]"
        return {"string": "string", "number": "number", "integer": "number", "boolean": "boolean",
                "null": "null"}.get(kind, "") if isinstance(kind, str) else ""


# The 2023 renderer shows defaults in recordings from its era boundary on (rules.py
# ``tools.legacy_defaults_era``; see _LegacyRenderer). A property that is an object without properties
# is left out (typescript.omitted_property) in every recording from ``tools.bare_objects_era``'s
# boundary on; gpt-fn's recordings of 2023-06-15 still write it.


def _has_bare_property(functions: Sequence[FunctionDef | CustomDef], keys: list[tuple[Any, ...]]) -> bool:
    """Whether some tool has a property that is an object without properties (memoised per tool set)."""
    memo_key = tuple(keys)
    found = _BARE.get(memo_key)
    if found is None:
        if len(_BARE) >= _MAX_BLOCKS:
            _BARE.clear()
        found = _BARE[memo_key] = any(isinstance(f, FunctionDef) and _any_object(f.parameters, _has_omitted_property)
                                      for f in functions)
    return found


_BARE: dict[tuple[Any, ...], bool] = {}


def _has_omitted_property(node: dict[str, Any]) -> bool:
    props = node.get("properties")
    return isinstance(props, dict) and any(omitted_property(p) for p in props.values())


def _legacy_default(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _has_default(functions: Sequence[FunctionDef | CustomDef], keys: list[tuple[Any, ...]]) -> bool:
    """Whether some function's serialised parameters hold a ``default`` keyword (a property so named
    counts too: it only makes the count use the era rule, which flags it)."""
    return any(isinstance(f, FunctionDef) and b'"default"' in k[3] for f, k in zip(functions, keys, strict=True))


def _unverified_legacy_shape(serialised: bytes) -> bool:
    """Defaults and ``items: {}`` on the 2023 renderer: one app's evidence (see _LegacyRenderer)."""
    return b'"default"' in serialised or b'"items":{}' in serialised
