"""LiteLLM proxy's ``LiteLLM_SpendLogs`` (Prisma model in BerriAI/litellm ``schema.prisma``; facts in
``/work/shared/facts/log_stores.md`` section 2): one row back into the request the client sent.

- The request is ``proxy_server_request`` (JSONB), stored only when prompt storage is on; by default it
  is ``{}``: ``content_not_logged``.
- LiteLLM cuts every string over ``MAX_STRING_LENGTH_PROMPT_IN_DB`` (2,048) characters to its first 35%
  and last 65% around ``... (litellm_truncated skipped N chars...) ...``: such a row is ``truncated``
  and not counted (part of its text is gone).
- ``jsonb`` keeps no key order. Where order changes the count (the properties of a tool's parameters,
  a ``response_format``/``text.format`` JSON schema), the row is counted but flagged ``key_order_lost``.
- Model: ``custom_llm_provider/model`` (what the provider was sent). Usage: the ``prompt_tokens``...
  columns (OpenAI semantics: cached tokens inside; LiteLLM normalizes Anthropic to that too), cached
  tokens from ``metadata.additional_usage_values`` / ``usage_object``.
"""

from __future__ import annotations

import re
from typing import Any

from jobs.readers import json_column, utc_iso

TABLE = "LiteLLM_SpendLogs"
ID = "request_id"
TIME = "startTime"  # request start, naive UTC (LiteLLM converts to UTC before insert)
STATUS, PROCESSING = "status", None  # rows are written once the request ended
DEFAULT_TENANT = "team_id"
TENANTS = ("team_id", "api_key", "user", "end_user", "organization_id")
COLUMNS = frozenset({"request_id", "call_type", "startTime", "model", "prompt_tokens", "completion_tokens",
                     "total_tokens", "metadata", "proxy_server_request"})
OPTIONAL = ("custom_llm_provider", "status")
_API = {"completion": "chat", "acompletion": "chat", "responses": "responses", "aresponses": "responses"}
_TRUNCATED = re.compile(r"\.\.\. \(litellm_truncated skipped \d+ chars")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


def record(row: dict[str, Any], tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
    """A ``log`` record (``jobs.readers``) from one row's columns."""
    api = _API.get(row.get("call_type") or "")
    request, loss = _request(row, api)
    return {"id": row["request_id"], "timestamp": utc_iso(row.get("startTime")), "tenant": row.get(tenant),
            "api": api, "request": request, "response": {"usage": usage(row)}, "log_loss": loss}


def _request(row: dict[str, Any], api: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if api is None:
        return None, "other_request_type"
    body = json_column(row.get("proxy_server_request"))
    if not isinstance(body, dict) or not body:
        return None, "content_not_logged"
    if any(_TRUNCATED.search(text) for text in _strings(body)):
        return None, "truncated"
    model = row.get("model") or body.get("model")
    provider = row.get("custom_llm_provider")
    request = {**body, "model": f"{provider}/{model}" if provider and model and "/" not in model else model}
    return request, "key_order_lost" if _order_counts(body) else None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [s for item in items for s in _strings(item)]


def _order_counts(body: dict[str, Any]) -> bool:
    """Whether the order of keys jsonb dropped can change the count: a tool whose parameters have two or
    more properties (their order is the order they are rendered in), or a JSON schema response format."""
    tools = [t.get("function", t) for t in body.get("tools") or [] if isinstance(t, dict)]
    tools += [f for f in body.get("functions") or [] if isinstance(f, dict)]
    if any(_many_keys(t.get("parameters")) for t in tools if isinstance(t, dict)):
        return True
    formats = [body.get("response_format"), (body.get("text") or {}).get("format")
               if isinstance(body.get("text"), dict) else None]
    return any(isinstance(f, dict) and f.get("type") == "json_schema" for f in formats)


def _many_keys(schema: Any) -> bool:
    """A schema (or sub-schema) holding a map of two or more named sub-schemas."""
    if isinstance(schema, list):
        return any(_many_keys(s) for s in schema)
    if not isinstance(schema, dict):
        return False
    if any(isinstance(schema.get(k), dict) and len(schema[k]) >= 2 for k in _SCHEMA_MAPS):
        return True
    return any(_many_keys(v) for v in schema.values())


def usage(row: dict[str, Any]) -> dict[str, Any] | None:
    """Chat-shaped usage from the token columns (None for a failed request, which has none)."""
    if row.get("status") == "failure" or not (row.get("total_tokens") or row.get("prompt_tokens")):
        return None
    out = {k: row.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    cached = _cached(json_column(row.get("metadata")))
    return {**out, "prompt_tokens_details": {"cached_tokens": cached}} if cached is not None else out


def _cached(metadata: Any) -> int | None:
    if not isinstance(metadata, dict):
        return None
    for key in ("additional_usage_values", "usage_object"):
        values = metadata.get(key)
        if not isinstance(values, dict):
            continue
        details = values.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            return details["cached_tokens"]
        if isinstance(values.get("cache_read_input_tokens"), int):
            return values["cache_read_input_tokens"]
    return None
