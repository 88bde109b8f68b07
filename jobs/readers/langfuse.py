"""Langfuse observation exports (JSONL): one record per GENERATION observation.

Two shapes, one line per observation: the blob storage export (``observations_v2/``, ClickHouse column
names: ``provided_model_name``, ``model_parameters``, ``provided_usage_details``, ``tool_definitions``,
``start_time`` as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC, ``input`` a JSON string) and the public API's
(``GET /api/public/v2/observations``: ``model``, ``modelParameters``, ``usageDetails``, ``startTime``,
``input`` as JSON). Other observations (SPAN, EVENT, ...) are counted in ``Digest.skipped``; rows are
numbered by the generations alone, in file order. A line that is not JSON becomes an error row.

The request: ``input`` is what the SDK sent. Langfuse's OpenAI integration logs Chat messages as a list,
or ``{"messages", "tools"}`` when the call had tools; a Responses call as its ``input`` (instructions
folded in as a system message), ``{"instructions", "input"}``, or a list whose output is a Responses
message. ``tool_definitions`` (name -> definition JSON) fills in tools the input lacks. Numeric and
boolean ``model_parameters`` join the body (the SDK writes placeholders such as ``"Infinity"`` as
strings), and a ``response_format`` kept in ``metadata``.

Usage: Langfuse stores an OpenAI usage as ``input`` (cached tokens subtracted) plus ``input_*`` details,
so the prompt tokens are ``input`` + every ``input_*`` key; ``provided_usage_details`` (as ingested) is
preferred over ``usage_details`` (which may be Langfuse's own tokenizer estimate).

``log_loss``: ``content_not_logged`` (no input), ``truncated`` (an input or definition that no longer
parses as JSON), ``tools_not_logged`` (the messages call tools but no tool definition was kept),
``format_not_logged`` (a Responses call: the SDK does not log its ``text`` parameter, so a structured
output format is unknown).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from jobs.readers import utc_iso
from jobs.readers.files import Digest, Shard, iter_items


def iter_records(shard: Shard) -> Iterator[bytes | Digest]:
    """The GENERATION observations of the file as ``log`` records, then the ``Digest`` with the skipped count."""
    return iter_items(shard, lambda observation: [
        generation_record(observation) if isinstance(observation, dict)
        and str(observation.get("type", "")).upper() == "GENERATION" else None])


def _field(observation: dict[str, Any], *names: str) -> Any:
    return next((observation[n] for n in names if observation.get(n) is not None), None)


def _json(value: Any) -> tuple[Any, bool]:
    """A value Langfuse may keep as a JSON string: (parsed, whether it was cut). A string that is not
    JSON is a plain text input (a prompt), unless it starts like JSON."""
    if not isinstance(value, str):
        return value, False
    try:
        return orjson.loads(value), False
    except orjson.JSONDecodeError:
        return value, value.lstrip()[:1] in ("{", "[")


def _timestamp(value: Any) -> str | None:
    """``2026-12-07 10:00:00.123456`` (UTC, the blob export) or ISO 8601 (the API) as ISO 8601 UTC."""
    if not isinstance(value, str):
        return None
    try:
        return utc_iso(value)
    except ValueError:
        return None


def generation_record(observation: dict[str, Any]) -> dict[str, Any]:
    request, loss = rebuild(observation)
    return {"id": observation.get("id"), "timestamp": _timestamp(_field(observation, "start_time", "startTime")),
            "request": request, "response": {"usage": usage(observation)}, "log_loss": loss}


def rebuild(observation: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The request body and its ``log_loss`` (None: the request as sent)."""
    value, cut = _json(observation.get("input"))
    if cut:
        return None, "truncated"
    if value is None:
        return None, "content_not_logged"
    body = _body(value, observation)
    if body is None:
        return None, "content_not_logged"
    definitions, cut = _tool_definitions(observation)
    if cut:
        return None, "truncated"
    if definitions and not body.get("tools"):
        body["tools"] = definitions
    model = _field(observation, "provided_model_name", "providedModelName", "model")
    if model is not None:
        body["model"] = model
    params, _ = _json(_field(observation, "model_parameters", "modelParameters"))
    if isinstance(params, dict):
        body.update({k: v for k, v in params.items() if isinstance(v, int | float | bool) and k not in body})
    metadata = observation.get("metadata")
    if isinstance(metadata, dict) and "response_format" in metadata and "input" not in body:
        body["response_format"], _ = _json(metadata["response_format"])
    calls_tools = any(isinstance(m, dict) and (m.get("tool_calls") or m.get("role") == "tool"
                                               or m.get("type") in ("function_call", "function_call_output"))
                      for m in body.get("messages", body.get("input")) or ())
    if calls_tools and not body.get("tools"):
        return body, "tools_not_logged"
    return body, "format_not_logged" if "input" in body and "text" not in body else None


def _body(value: Any, observation: dict[str, Any]) -> dict[str, Any] | None:
    """What the SDK logged as ``input`` as a Chat or Responses body (without model)."""
    if isinstance(value, dict):
        if "messages" in value or "input" in value or "instructions" in value:
            return dict(value)
        return None
    if isinstance(value, list):
        return {"input": value} if _responses_output(observation) else {"messages": value}
    if isinstance(value, str):
        return {"input": value} if _responses_output(observation) else {"prompt": value}
    return None


def _responses_output(observation: dict[str, Any]) -> bool:
    """Whether the output is a Responses API message (``output_text`` parts): the call was Responses."""
    output, _ = _json(observation.get("output"))
    return b'"output_text"' in orjson.dumps(output) if output is not None else False


def _tool_definitions(observation: dict[str, Any]) -> tuple[list[Any], bool]:
    definitions = _field(observation, "tool_definitions", "toolDefinitions")
    if not isinstance(definitions, dict):
        return [], False
    tools = []
    for definition in definitions.values():
        tool, cut = _json(definition)
        if cut:
            return [], True
        tools.append(tool)
    return tools, False


def usage(observation: dict[str, Any]) -> dict[str, Any] | None:
    """The logged usage in Chat shape: prompt tokens = ``input`` + every ``input_*`` key, cache inside."""
    details = _field(observation, "provided_usage_details", "providedUsageDetails")
    if not details:
        details = _field(observation, "usage_details", "usageDetails")
    if not isinstance(details, dict) or "input" not in details:
        return None
    ints = {k: v for k, v in details.items() if isinstance(v, int) and not isinstance(v, bool)}
    out: dict[str, Any] = {"prompt_tokens": sum(v for k, v in ints.items() if k == "input" or k.startswith("input_"))}
    if "output" in ints:
        out["completion_tokens"] = sum(v for k, v in ints.items() if k == "output" or k.startswith("output_"))
    if "total" in ints:
        out["total_tokens"] = ints["total"]
    if "input_cached_tokens" in ints:
        out["prompt_tokens_details"] = {"cached_tokens": ints["input_cached_tokens"]}
    return out
