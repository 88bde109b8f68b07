"""Coverage flags: where the reference cases show the rules exact, and a request outside that evidence.

A request is described by its model class, its API and a set of feature names (``request_features``):
the tool kinds it defines, the JSON-schema constructs of its tool parameters (``tool.anyOf``), its
``tool_choice``, the kinds of history items it carries (tool calls and results, reasoning items,
images in history or in tool results), its response format kind and the schema keywords the format
renderer strips (``format.string_bounds``), its images and their detail, the roles it uses, and its
era (``era:2025H1``, the half-year of the request's date; an undated request has none). Every request
also has ``base``. A model class is the families the rules render alike (``model_class``: encoding,
reasoning or not, tool renderer, message framing): a construct shown exact on gpt-4o is evidence for
gpt-4.1, as the rules render both the same way; what differs per family is a model-table value, a
rule of its own that the evidence ledger and its policy cover (tokcount_core/rules.py).

The map (tokcount_core/data/coverage.json, built from the reference cases by
``python -m tests.core.coverage_map``; new cases widen it by rerunning that) says, per model class,
API and feature, how many reference cases the rules count exactly and from how many apps. A feature
is **thin** when fewer than ``MIN_CASES`` (5) exact cases from at least ``MIN_APPS`` (2) apps of the
request's class and API use it: one app's traffic, however large, shows what that client sends, not
what the API does with what other clients send. A count whose request uses a thin feature is flagged
``outside_evidence`` and names the thin features (``CountResult.outside_evidence``; just ``base``
when the class and API themselves are thin).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from tokcount_core.models import ModelSpec
from tokcount_core.render.context import RenderContext
from tokcount_core.render.typescript import is_comment_free
from tokcount_core.result import EstimateReason
from tokcount_core.schema.chat import ChatMessage
from tokcount_core.schema.items import (
    AdditionalTools,
    CustomToolCall,
    CustomToolCallOutput,
    FunctionCall,
    FunctionCallOutput,
    HostedItem,
    ItemReference,
    Message,
    Reasoning,
)
from tokcount_core.schema.parts import AudioPart, Content, FilePart, ImagePart
from tokcount_core.schema.requests import ChatBody, ResponsesBody
from tokcount_core.schema.tools import CustomTool, FunctionTool, HostedTool, NamespaceTool

MAP_PATH = Path(__file__).resolve().parent / "data" / "coverage.json"
MIN_CASES, MIN_APPS = 5, 2
BASE = "base"

# Schema keywords named as features as they are (their presence is the construct).
_KEYWORDS = {
    "anyOf": "anyOf", "oneOf": "oneOf", "allOf": "allOf", "not": "not", "$ref": "$ref", "enum": "enum",
    "const": "const", "pattern": "pattern", "patternProperties": "pattern", "format": "string_format",
    "minLength": "string_bounds", "maxLength": "string_bounds", "minimum": "number_bounds",
    "maximum": "number_bounds", "exclusiveMinimum": "number_bounds", "exclusiveMaximum": "number_bounds",
    "multipleOf": "number_bounds", "minItems": "array_bounds", "maxItems": "array_bounds",
    "uniqueItems": "array_bounds", "$schema": "$schema", "default": "default", "examples": "examples",
    "title": "title",
}
_MAX_DEPTH = 64  # the renderer refuses deeper schemas
# A response format's schema is written as JSON (render/response_format.py): its constructs do not change
# how it renders, the keywords that renderer strips do.
_FORMAT_CONSTRUCTS = frozenset({"default", "number_bounds", "array_bounds", "string_bounds", "string_format",
                                "$schema", "pattern", "open_object"})


def schema_features(schema: Any) -> frozenset[str]:
    """The constructs a JSON schema uses, memoised on its serialised form (logged traffic repeats its
    tools and formats on every request, so the walk runs once per distinct schema per process)."""
    if not isinstance(schema, dict):
        return frozenset()
    key = orjson.dumps(schema)
    found = _SCHEMAS.get(key)
    if found is None:
        if len(_SCHEMAS) >= _MAX_SCHEMAS:
            _SCHEMAS.clear()
        names: set[str] = set()
        if not schema.get("properties"):
            names.add("no_properties")
        _walk(schema, names, 0)
        found = _SCHEMAS[key] = frozenset(names)
    return found


_MAX_SCHEMAS = 4096
_SCHEMAS: dict[bytes, frozenset[str]] = {}


def _walk(node: dict[str, Any], names: set[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    names.update(_KEYWORDS[k] for k in node.keys() & _KEYWORDS.keys())
    kind = node.get("type")
    if isinstance(kind, list):
        names.add("type_list")
    if "$defs" in node or "definitions" in node:
        names.add("$ref")
    if node.get("additionalProperties") not in (None, False):
        names.add("open_object")  # ``additionalProperties: false`` is every strict schema's, not a construct
    props = node.get("properties")
    if isinstance(props, dict):
        if depth > 0:
            names.add("nested_object")
        if any(isinstance(p, dict) and isinstance(p.get("description"), str) for p in props.values()):
            names.add("described_property")
        required = node.get("required")
        if not isinstance(required, list) or len(required) < len(props):
            names.add("optional_property")
    items = node.get("items")
    if kind == "array" or items is not None:
        names.add("array")
        if isinstance(items, dict) and ("properties" in items or "$ref" in items):
            names.add("array_of_objects")
            if is_comment_free(items):
                # Written on one line inside ``Array<...>`` (rule 4): a construct of its own. langgraph's
                # comment-free memory triples are 1 over in 9 of 9 gpt-4o Chat cases, ruby_llm-mcp's exact.
                names.add("array_of_one_line_objects")
    for child in _children(node):
        _walk(child, names, depth + 1)


def _children(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("properties", "$defs", "definitions", "patternProperties"):
        group = node.get(key)
        if isinstance(group, dict):
            yield from (v for v in group.values() if isinstance(v, dict))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        members = node.get(key)
        if isinstance(members, list):
            yield from (v for v in members if isinstance(v, dict))
    for key in ("items", "additionalProperties", "not"):
        child = node.get(key)
        if isinstance(child, dict):
            yield child


def era(day: date | None) -> str | None:
    """The half-year a request was made in (``2025H1``); None for an undated request."""
    return None if day is None else f"era:{day.year}H{1 if day.month <= 6 else 2}"


def chat_features(body: ChatBody) -> set[str]:
    names = _tool_features(body.tools or [], "chat")
    if body.functions:
        names.add("tool.legacy_functions")
        for f in body.functions:
            names.update(f"tool.{n}" for n in schema_features(f.parameters))
    _choice(names, body.tool_choice, "tool_choice")
    _choice(names, body.function_call, "function_call")
    _format(names, body.response_format)
    for i, msg in enumerate(body.messages):
        _chat_message(names, msg, later=i + 1 < len(body.messages))
    return names


def responses_features(body: ResponsesBody) -> set[str]:
    names = _tool_features(body.tools or [], "responses")
    _choice(names, body.tool_choice, "tool_choice")
    _format(names, body.text.get("format") if isinstance(body.text, dict) else None)
    if isinstance(body.instructions, str) and body.instructions:
        names.add("instructions")
    items = body.input if isinstance(body.input, list) else body.messages or []
    for i, item in enumerate(items):
        _item(names, item, later=i + 1 < len(items))
    return names


def _tool_features(tools: Iterable[object], api: str) -> set[str]:
    names: set[str] = set()
    for tool in tools:
        if isinstance(tool, NamespaceTool):
            names.add("tool.namespace")
            names |= _tool_features(tool.tools, api)
        elif isinstance(tool, FunctionTool):
            names.add("tool.function")
            definition = tool.definition(api)
            if definition is not None:
                names.update(f"tool.{n}" for n in schema_features(definition.parameters))
                if definition.strict:
                    names.add("tool.strict")
        elif isinstance(tool, CustomTool):
            names.add("tool.custom")
        elif isinstance(tool, HostedTool):
            names.add(f"tool.hosted.{tool.type}")
    return names


def _choice(names: set[str], choice: str | dict[str, Any] | None, key: str) -> None:
    if isinstance(choice, str) and choice != "auto":
        names.add(f"{key}:{choice}")
    elif isinstance(choice, dict):
        names.add(f"{key}:{choice.get('type') or 'named'}")


def _format(names: set[str], fmt: Any) -> None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return
    names.add(f"format:{fmt.get('type')}")
    schema = fmt.get("json_schema") if "json_schema" in fmt else fmt  # Chat nests it, Responses does not
    if isinstance(schema, dict):
        names.update(f"format.{n}" for n in schema_features(schema.get("schema")) & _FORMAT_CONSTRUCTS)
        if schema.get("strict"):
            names.add("format.strict")


def _chat_message(names: set[str], msg: ChatMessage, later: bool) -> None:
    where = "tool_result" if msg.role in ("tool", "function") else "history" if later else "last"
    if msg.role != "user":
        names.add(f"role:{msg.role}")
    if msg.name:
        names.add("message.name")
    if msg.tool_calls:
        names.add("history.tool_call")
        if len(msg.tool_calls) > 1:
            names.add("history.parallel_calls")
        if any(call.custom is not None and call.function is None for call in msg.tool_calls):
            names.add("history.custom_tool_call")
    if msg.function_call is not None:
        names.add("history.function_call")
    if msg.refusal:
        names.add("history.refusal")
    if msg.audio:
        names.add("history.audio")
    _content(names, msg.content, where)


def _item(names: set[str], item: object, later: bool) -> None:
    if isinstance(item, Message):
        if item.role != "user":
            names.add(f"role:{item.role}")
        if item.phase:
            names.add("history.phase")
        _content(names, item.content, "history" if later else "last")
    elif isinstance(item, FunctionCall | CustomToolCall):
        names.add("history.tool_call" if isinstance(item, FunctionCall) else "history.custom_tool_call")
    elif isinstance(item, FunctionCallOutput | CustomToolCallOutput):
        names.add("history.tool_result")
        _content(names, item.output, "tool_result")
    elif isinstance(item, Reasoning):
        names.add("history.reasoning")
    elif isinstance(item, ItemReference):
        names.add("history.item_reference")
    elif isinstance(item, AdditionalTools):
        names.add("history.additional_tools")
    elif isinstance(item, HostedItem):
        names.add(f"history.hosted.{item.type}")


def _content(names: set[str], content: Content | Any, where: str) -> None:
    """Parts of a message (``where``: ``last`` message, earlier ``history``, or a ``tool_result``)."""
    if not isinstance(content, list):
        return
    if where == "tool_result":
        names.add("history.tool_result_parts")
    for part in content:
        if isinstance(part, ImagePart):
            names.add(f"image.detail:{part.effective_detail}")
            if where != "last":
                names.add(f"image.in_{where}")
        elif isinstance(part, FilePart):
            names.add("file")
        elif isinstance(part, AudioPart):
            names.add("audio")


def model_class(spec: ModelSpec) -> str:
    """The families whose requests the rules render alike, named by what sets them apart
    (``o200k_base``, ``o200k_base-reasoning``, ``cl100k_base-2023_tools``). A model-table value the rules
    look up (``value``: ``per_message``, ``priming``...) sets no class apart: it is a rule of its own, and
    the ledger's policy covers it (``model.per_message.4``: 4 apps, 169 cases), so gpt-3.5-turbo-0301's
    assistant messages are judged on the evidence for every cl100k model's."""
    traits = [spec.encoding]
    if spec.reasoning:
        traits.append("reasoning")
    if spec.tool_renderer != "2024":
        traits.append(f"{spec.tool_renderer}_tools")
    if not spec.message_headers:
        traits.append("no_headers")
    return "-".join(traits)


@dataclass(frozen=True)
class CoverageMap:
    """Per (model class, api): the features the reference cases cover (not thin)."""

    known: dict[tuple[str, str], frozenset[str]]

    @classmethod
    def from_data(cls, data: dict[str, Any], min_cases: int = MIN_CASES, min_apps: int = MIN_APPS) -> CoverageMap:
        """``data["map"][class][api][feature] == [exact cases, apps, cases]``, as coverage_map writes it."""
        return cls({(group, api): frozenset(f for f, (exact, apps, _) in features.items()
                                            if exact >= min_cases and apps >= min_apps)
                    for group, apis in data["map"].items() for api, features in apis.items()})

    def thin(self, group: str, api: str, features: Iterable[str]) -> list[str]:
        """The features outside the evidence, sorted; ``[base]`` when the class and API are."""
        known = self.known.get((group, api), frozenset())
        if BASE not in known:
            return [BASE]
        return sorted(set(features) - known)


@functools.cache
def default_map() -> CoverageMap:
    return CoverageMap.from_data(json.loads(MAP_PATH.read_text(encoding="utf-8")))


def check(ctx: RenderContext, body: ChatBody | ResponsesBody | None) -> None:
    """Record the request's features on ``ctx`` and flag the count ``outside_evidence`` when one is thin.
    ``body`` is None for Completions, whose only features are ``base`` and the era."""
    names = chat_features(body) if isinstance(body, ChatBody) else responses_features(body) if body else set()
    names.add(BASE)
    if (bucket := era(ctx.as_of)) is not None:
        names.add(bucket)
    ctx.features = names
    thin = default_map().thin(model_class(ctx.spec), ctx.api, names)
    if thin:
        ctx.outside_evidence = thin
        ctx.estimate(EstimateReason.OUTSIDE_EVIDENCE)
