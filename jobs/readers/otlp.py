"""OTLP JSON trace files: one record per span that carries an OpenAI-style request.

The OpenTelemetry Collector's ``file`` exporter writes one OTLP/JSON export request per line
(``{"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}``; ids as hex, 64-bit integers as strings).
protobuf's own JSON (base64 ids) is read too. A span becomes a record in the job's ``log`` shape; spans
without a GenAI request (HTTP, database, embeddings, other providers) are counted in the shard's
``Digest.skipped`` (the manifest's ``skipped`` per input), and rows are numbered by the GenAI spans
alone, in file order. A line that is not JSON is passed on as it is and becomes an error row.

The request is rebuilt from, in order of fidelity:
1. OpenInference's ``input.value``: the JSON of the request's parameters as the client sent them.
2. The GenAI semantic conventions: ``gen_ai.input.messages`` (parts schema) with
   ``gen_ai.system_instructions`` and ``gen_ai.tool.definitions``.
3. OpenLLMetry's older flattened ``gen_ai.prompt.{i}.*`` with ``llm.request.functions.{i}.*``.

``log_loss``: ``content_not_logged`` (no content: OpenInference's hide-inputs, GenAI capture off);
``truncated`` (a JSON attribute cut by an attribute length limit no longer parses); ``tools_not_logged``
(messages without tool definitions, or definitions without their parameters: whether the request had
tools, and their schemas, is unknown); ``format_not_logged`` (OpenLLMetry kept only the JSON schema of a
``response_format``). A lossy record still carries what was logged, so the row shows
the logged usage; its count is never compared silently (the ``log_loss`` column says why).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from jobs.readers import utc_iso
from jobs.readers.files import Digest, Shard, iter_items

OPENAI_PROVIDERS = frozenset({"openai", "azure.ai.openai", "azure_openai", "azure", "az.ai.openai"})
_CHAT_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
_REDACTED = "__REDACTED__"  # OpenInference's placeholder for hidden values
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Attributes = dict[str, Any]


def iter_records(shard: Shard) -> Iterator[bytes | Digest]:
    """The GenAI spans of every export request in the file, then the ``Digest`` with the skipped count."""
    return iter_items(shard, lambda export: (span_record(span) for span in _spans(export)))


def _spans(export: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(export, dict):
        return
    for resource in export.get("resourceSpans") or ():
        for scope in resource.get("scopeSpans") or ():
            yield from scope.get("spans") or ()


def value(any_value: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value (``intValue`` is a decimal string in JSON)."""
    if not isinstance(any_value, dict):
        return None
    if "stringValue" in any_value:
        return any_value["stringValue"]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "doubleValue" in any_value:
        return float(any_value["doubleValue"])
    if "boolValue" in any_value:
        return bool(any_value["boolValue"])
    if "arrayValue" in any_value:
        return [value(v) for v in any_value["arrayValue"].get("values") or ()]
    if "kvlistValue" in any_value:
        return attributes(any_value["kvlistValue"].get("values"))
    if "bytesValue" in any_value:
        return any_value["bytesValue"]
    return None


def attributes(pairs: Any) -> Attributes:
    return {p["key"]: value(p.get("value")) for p in pairs or () if isinstance(p, dict) and "key" in p}


def hex_id(text: Any) -> str | None:
    """A span id as hex: OTLP/JSON writes hex, protobuf's canonical JSON base64."""
    if not isinstance(text, str) or not text:
        return None
    if len(text) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text


def _timestamp(nanos: Any) -> str | None:
    try:
        return utc_iso(_EPOCH + timedelta(microseconds=int(nanos) // 1000))
    except (TypeError, ValueError):
        return None


def span_record(span: dict[str, Any]) -> dict[str, Any] | None:
    """The ``log`` record of one span, or None when it carries no OpenAI-style request."""
    attrs = attributes(span.get("attributes"))
    if not _is_openai_llm(attrs):
        return None
    request, loss = rebuild(attrs)
    return {"id": hex_id(span.get("spanId")), "timestamp": _timestamp(span.get("startTimeUnixNano")),
            "request": request, "response": {"usage": usage(attrs)}, "log_loss": loss}


def _is_openai_llm(attrs: Attributes) -> bool:
    provider = next((attrs[k] for k in ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
                     if isinstance(attrs.get(k), str)), None)
    if provider is not None and provider.lower() not in OPENAI_PROVIDERS:
        return False
    if "openinference.span.kind" in attrs:
        return attrs["openinference.span.kind"] == "LLM"
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None:
        return operation in _CHAT_OPERATIONS
    return "gen_ai.request.model" in attrs and "gen_ai.prompt.0.role" in attrs


def rebuild(attrs: Attributes) -> tuple[dict[str, Any] | None, str | None]:
    """The request body and its ``log_loss`` (None: the request as sent)."""
    if "input.value" in attrs:
        return _from_input_value(attrs)
    if "gen_ai.input.messages" in attrs:
        return _from_genai_messages(attrs)
    if "gen_ai.prompt.0.role" in attrs:
        return _from_flattened(attrs)
    return None, "content_not_logged"


def _json(text: Any) -> tuple[Any, bool]:
    """A JSON attribute (a string, or already structured; None: absent): (value, whether it was cut)."""
    if not isinstance(text, str):
        return text, False
    try:
        return orjson.loads(text), False
    except orjson.JSONDecodeError:
        return None, True


def _from_input_value(attrs: Attributes) -> tuple[dict[str, Any] | None, str | None]:
    raw = attrs["input.value"]
    if raw == _REDACTED:
        return None, "content_not_logged"
    body, cut = _json(raw)
    if cut:
        return None, "truncated"
    if not isinstance(body, dict):
        return None, "content_not_logged"
    return body, None


def _model(attrs: Attributes) -> str | None:
    return attrs.get("gen_ai.request.model") or attrs.get("llm.model_name")


def _responses_span(attrs: Attributes) -> bool:
    return str(attrs.get("gen_ai.response.id", "")).startswith("resp_")


def _from_genai_messages(attrs: Attributes) -> tuple[dict[str, Any] | None, str | None]:
    messages, cut = _json(attrs["gen_ai.input.messages"])
    system, system_cut = _json(attrs.get("gen_ai.system_instructions"))
    tools, tools_cut = _json(attrs.get("gen_ai.tool.definitions"))
    if cut or system_cut or tools_cut:
        return None, "truncated"
    if not isinstance(messages, list):
        return None, "content_not_logged"
    chat = [_chat_message(m) for m in messages if isinstance(m, dict)]
    if isinstance(system, list) and system:
        chat.insert(0, {"role": "system", "content": _content(system)})
    body: dict[str, Any] = {"model": _model(attrs)}
    if _responses_span(attrs):
        body["input"] = chat
    else:
        body["messages"] = chat
    loss = None
    if isinstance(tools, list) and tools:
        body["tools"] = [_chat_tool(t) for t in tools if isinstance(t, dict)]
        if any("parameters" not in t for t in tools if isinstance(t, dict)):
            loss = "tools_not_logged"
    else:
        loss = "tools_not_logged"
    return body, loss or _format_loss(attrs)


def _format_loss(attrs: Attributes) -> str | None:
    """OpenLLMetry keeps only a structured output's JSON schema (not its name or ``strict``)."""
    return "format_not_logged" if "gen_ai.request.structured_output_schema" in attrs else None


def _content(parts: list[Any]) -> str | list[dict[str, Any]]:
    """GenAI text parts as Chat content: one text part as a string, several as text content parts."""
    texts = [p.get("content", "") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    return texts[0] if len(texts) == 1 else [{"type": "text", "text": t} for t in texts]


def _chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """One GenAI ``ChatMessage`` (role + parts) as the Chat Completions message it was."""
    parts = [p for p in message.get("parts") or () if isinstance(p, dict)]
    out: dict[str, Any] = {"role": message.get("role")}
    responses = [p for p in parts if p.get("type") == "tool_call_response"]
    if responses:
        result = responses[0].get("result", responses[0].get("response"))  # OpenLLMetry writes "response"
        out.update(role="tool", tool_call_id=responses[0].get("id"),
                   content=result if isinstance(result, str) else orjson.dumps(result).decode())
        return out
    calls = [p for p in parts if p.get("type") == "tool_call"]
    out["content"] = _content(parts) if any(p.get("type") == "text" for p in parts) else None
    if calls:
        out["tool_calls"] = [{"id": c.get("id"), "type": "function", "function": {
            "name": c.get("name"), "arguments": _arguments(c.get("arguments"))}} for c in calls]
    if message.get("name"):
        out["name"] = message["name"]
    return out


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()


def _chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A GenAI ``FunctionToolDefinition`` (flat) as a Chat tool (``function`` nested)."""
    if "function" in tool:
        return tool
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
    return {"type": tool.get("type", "function"), "function": function}


def _from_flattened(attrs: Attributes) -> tuple[dict[str, Any] | None, str | None]:
    """OpenLLMetry before 2026-03: ``gen_ai.prompt.{i}.role/content/tool_call_id/tool_calls.{j}.*`` and
    ``llm.request.functions.{i}.name/description/parameters``."""
    messages = []
    for i in _indices(attrs, "gen_ai.prompt."):
        prefix = f"gen_ai.prompt.{i}."
        text = attrs.get(prefix + "content")
        content, _ = _json(text) if isinstance(text, str) and text.startswith("[") else (None, False)
        message: dict[str, Any] = {"role": attrs.get(prefix + "role"),
                                   "content": content if isinstance(content, list) else text}
        if prefix + "tool_call_id" in attrs:
            message["tool_call_id"] = attrs[prefix + "tool_call_id"]
        calls = [{"id": attrs.get(f"{prefix}tool_calls.{j}.id"), "type": "function",
                  "function": {"name": attrs.get(f"{prefix}tool_calls.{j}.name"),
                               "arguments": attrs.get(f"{prefix}tool_calls.{j}.arguments")}}
                 for j in _indices(attrs, prefix + "tool_calls.")]
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
    body: dict[str, Any] = {"model": _model(attrs), "messages": messages}
    tools = []
    for i in _indices(attrs, "llm.request.functions."):
        prefix = f"llm.request.functions.{i}."
        parameters, cut = _json(attrs.get(prefix + "parameters"))
        if cut:
            return body, "truncated"
        function = {"name": attrs.get(prefix + "name")}
        if prefix + "description" in attrs:
            function["description"] = attrs[prefix + "description"]
        if parameters is not None:
            function["parameters"] = parameters
        tools.append({"type": "function", "function": function})
    if tools:
        body["tools"] = tools
    return body, _format_loss(attrs) if tools else "tools_not_logged"


def _indices(attrs: Attributes, prefix: str) -> list[int]:
    """The ``i`` of every ``prefix{i}.…`` key, ascending."""
    found = {int(k[len(prefix):].split(".", 1)[0]) for k in attrs
             if k.startswith(prefix) and k[len(prefix):].split(".", 1)[0].isdigit()}
    return sorted(found)


# (Chat usage key, attribute names in order of preference): the GenAI conventions (input includes cached
# tokens), OpenLLMetry's older names, OpenInference's token counts (OpenAI's prompt_tokens, cache inside).
_USAGE = (
    ("prompt_tokens", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")),
    ("completion_tokens", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                           "llm.token_count.completion")),
    ("total_tokens", ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")),
)
_CACHED = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
           "llm.token_count.prompt_details.cache_read")


def _first_int(attrs: Attributes, names: tuple[str, ...]) -> int | None:
    return next((attrs[n] for n in names if isinstance(attrs.get(n), int)), None)


def usage(attrs: Attributes) -> dict[str, Any] | None:
    """The span's logged usage in Chat shape, cached tokens inside ``prompt_tokens``."""
    out: dict[str, Any] = {key: n for key, names in _USAGE if (n := _first_int(attrs, names)) is not None}
    cached = _first_int(attrs, _CACHED)
    if cached is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out or None
