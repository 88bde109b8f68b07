"""Bifrost's ``logs`` table (GORM model ``Log``, maximhq/bifrost ``framework/logstore/tables.go``; facts in
``/work/shared/facts/log_stores.md`` section 1): one row back into the request Bifrost forwarded.

- Chat (``chat_completion[_stream]``): ``params`` (the request's parameters) with ``model`` as
  ``provider/model``, ``messages`` from ``input_history`` and ``tools`` from ``tools``.
- Responses (``responses[_stream]``): ``input`` from ``responses_input_history``. Bifrost logs a
  Responses request's tools converted to Chat shape; they are converted back, but the original
  could differ (hosted tools, field order), so such a row is flagged ``tools_rewritten``.
- Usage from ``token_usage`` (else the denormalized ``prompt_tokens``... columns): ``prompt_tokens``
  holds cached tokens (Bifrost normalizes Anthropic to that too); ``cached_tokens`` is the cached
  read (``cached_read_tokens``: what the provider billed as a cache hit).

A row whose content Bifrost did not keep is never counted silently: ``log_loss`` says why
(``jobs.readers.LOG_LOSS``).
"""

from __future__ import annotations

from typing import Any

from jobs.readers import json_column, utc_iso

TABLE = "logs"
ID = "id"
TIME = "timestamp"  # request start, UTC
STATUS, PROCESSING = "status", "processing"  # a row still processing is not final: the high-water mark stops before it
DEFAULT_TENANT = "virtual_key_name"
TENANTS = ("virtual_key_name", "virtual_key_id", "team_name", "team_id", "customer_name", "customer_id", "user_id")
# The columns every Bifrost version has (``auto`` detection needs them); newer ones are read when present.
COLUMNS = frozenset({"id", "timestamp", "object_type", "provider", "model", "input_history",
                     "responses_input_history", "params", "tools", "token_usage", "status"})
OPTIONAL = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_read_tokens",
            "is_large_payload_request", "has_object")
CHAT_TYPES = ("chat_completion", "chat_completion_stream")
RESPONSES_TYPES = ("responses", "responses_stream")


def record(row: dict[str, Any], tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
    """A ``log`` record (``jobs.readers``) from one row's columns."""
    request, loss = _request(row)
    api = "chat" if row.get("object_type") in CHAT_TYPES else "responses"
    return {"id": row["id"], "timestamp": utc_iso(row.get("timestamp")), "tenant": row.get(tenant),
            "api": api, "request": request, "response": {"usage": usage(row)}, "log_loss": loss}


def _request(row: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    kind = row.get("object_type") or ""
    if kind not in CHAT_TYPES + RESPONSES_TYPES:
        return None, "other_request_type"
    if row.get("has_object"):
        return None, "object_stored"  # the row keeps only the last user message
    chat = kind in CHAT_TYPES
    history = json_column(row.get("input_history" if chat else "responses_input_history"))
    if not history:
        return None, "large_payload_preview" if row.get("is_large_payload_request") else "content_not_logged"
    params = json_column(row.get("params"))
    body: dict[str, Any] = dict(params) if isinstance(params, dict) else {}
    body["model"] = f"{row['provider']}/{row['model']}" if row.get("provider") else row.get("model")
    body["messages" if chat else "input"] = history
    tools = json_column(row.get("tools"))
    loss = "large_payload_preview" if row.get("is_large_payload_request") else None
    if tools:
        body["tools"] = tools if chat else [_responses_tool(t) for t in tools]
        loss = loss or (None if chat else "tools_rewritten")
    return body, loss


def _responses_tool(tool: Any) -> Any:
    """A Chat-shaped function tool back in Responses shape (``{"type", "name", ...}``)."""
    if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
        return tool
    return {"type": tool.get("type", "function"), **tool["function"]}


def usage(row: dict[str, Any]) -> dict[str, Any] | None:
    """Chat-shaped usage: ``token_usage``, else the denormalized columns (None when neither says)."""
    logged = json_column(row.get("token_usage"))
    if isinstance(logged, dict) and logged.get("prompt_tokens") is not None:
        details = logged.get("prompt_tokens_details") or {}
        cached = details.get("cached_read_tokens", details.get("cached_tokens"))
        out = {k: logged[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if k in logged}
        return {**out, "prompt_tokens_details": {"cached_tokens": cached}} if cached is not None else out
    if row.get("total_tokens"):
        return {"prompt_tokens": row.get("prompt_tokens"), "completion_tokens": row.get("completion_tokens"),
                "total_tokens": row["total_tokens"],
                "prompt_tokens_details": {"cached_tokens": row.get("cached_read_tokens") or 0}}
    return None
