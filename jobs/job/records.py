"""Unwrapping one log record: where the request body, id, model, tenant and logged usage live.

Formats are data (a ``Layout`` of dotted paths), not code paths, so a preset is just a default layout
and config ``fields`` override any of its paths. Everything here is pure and per-record: a bad record
becomes an ``Extracted`` with ``error`` set, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import orjson

from jobs.config import JobConfig
from jobs.readers import LOG_LOSS

MISSING: Any = object()


@dataclass(frozen=True)
class Layout:
    """Dotted paths into a record. ``request=None`` means the record itself is the body."""

    request: str | None = None
    record_id: str | None = None
    model: str | None = None
    tenant: str | None = None
    timestamp: str | None = None
    usage: str | None = None
    log_loss: str | None = None  # why the logged body is not the one sent (a ``jobs.readers.LOG_LOSS`` code)
    api: str | None = None  # a fixed api= for every record
    api_field: str | None = None  # where a record says its API (a log store knows it: chat or responses)
    api_from_url: str | None = None  # OpenAI batch input: "/v1/responses" -> responses
    no_request: str | None = None  # formats that carry no request body: why, as the error message
    bifrost_log: bool = False  # body rebuilt from Bifrost log-store fields
    batch: bool = False  # an OpenAI Batch API record: billed at batch prices
    passthrough: dict[str, str] = field(default_factory=dict)

    @cached_property
    def columns(self) -> dict[str, str]:
        """Output column -> path: tenant, timestamp and the passthrough columns (read per record)."""
        cols = {name: path for name, path in (("tenant", self.tenant), ("timestamp", self.timestamp)) if path}
        return {**cols, **self.passthrough}


PRESETS: dict[str, Layout] = {
    "bare": Layout(),
    "wrapped": Layout(),
    # {"id", "timestamp", "tenant", "request": {...}, "response": {"usage": {...}}}: a gateway's request log.
    "log": Layout(request="request", record_id="id", tenant="tenant", timestamp="timestamp", usage="response.usage",
                  log_loss="log_loss", api_field="api"),
    "openai_batch_input": Layout(request="body", record_id="custom_id", api_from_url="url", batch=True),
    "openai_batch_output": Layout(
        record_id="custom_id", usage="response.body.usage", batch=True,
        no_request="OpenAI batch output has no request body; count the batch input file instead "
                   "(logged usage is still reported)"),
    "finetune": Layout(api="chat"),
    # Bifrost log store rows: id, timestamp, provider, model, input_history, params, tools, token_usage.
    "bifrost": Layout(record_id="id", timestamp="timestamp", usage="token_usage", bifrost_log=True),
}
# Files read by their own reader (jobs/readers/otlp.py, langfuse.py), which yields records in the ``log`` shape.
PRESETS["otlp_json"] = PRESETS["langfuse"] = PRESETS["log"]

# Log stores (``jobs.readers.stores``) give ``log`` records whatever table they read.
PRESETS["bifrost_logs"] = PRESETS["litellm_spend_logs"] = PRESETS["log"]

_BATCH_URL_API = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/completions": "completions"}


def layout_for(config: JobConfig, fmt: str) -> Layout:
    """The preset for ``fmt`` with any configured field paths laid over it."""
    overrides = {k: v for k, v in config.fields.model_dump().items() if v is not None}
    return replace(PRESETS[fmt], **overrides, passthrough=dict(config.passthrough),
                   api=config.api or PRESETS[fmt].api)


_BATCH_INPUT_KEYS = frozenset({"custom_id", "url", "body"})
_BATCH_OUTPUT_KEYS = frozenset({"custom_id", "response"})
_BIFROST_KEYS = frozenset({"input_history", "provider"})
_STATED_APIS = ("chat", "responses", "completions")
_LOG_KEYS = frozenset({"request", "log_loss"})


def detect_format(record: Any) -> str | None:
    """The preset a record unambiguously looks like, or None."""
    if not isinstance(record, dict):
        return None
    keys = record.keys()
    if keys >= _BATCH_INPUT_KEYS:
        return "openai_batch_input"
    if keys >= _BATCH_OUTPUT_KEYS:
        return "openai_batch_output"
    if keys >= _BIFROST_KEYS:
        return "bifrost"
    if keys >= _LOG_KEYS:  # a reader's record (``jobs.readers``): its request may be null
        return "log"
    if isinstance(record.get("request"), dict | str) and not keys & {"messages", "input"}:
        return "log"
    if "model" in keys and keys & {"messages", "input", "prompt"}:
        return "bare"
    if "messages" in keys and "input" not in keys:
        return "finetune"
    if "input" in keys:
        return "bare"
    return None


class Unwrapper:
    """Extracts records of one format, or detects each record's format (``format: auto``), so one
    job can read shards of different presets."""

    def __init__(self, config: JobConfig):
        fmt = "wrapped" if config.format == "auto" and config.fields.request else config.format
        self.auto = fmt == "auto"
        self.layouts = {name: layout_for(config, name) for name in (PRESETS if self.auto else (fmt,))}
        self.columns = list(dict.fromkeys(c for lay in self.layouts.values() for c in lay.columns))

    def extract(self, record: Any) -> tuple[Extracted, Layout | None]:
        if not self.auto or not isinstance(record, dict):
            layout = next(iter(self.layouts.values()))
            return extract(record, layout), layout
        fmt = detect_format(record)
        if fmt is None:
            keys = ", ".join(list(record)[:8])
            return Extracted(error=f"record: cannot tell its format (keys: {keys}); pass --format or "
                                   "set fields.request in the config"), None
        layout = self.layouts[fmt]
        return extract(record, layout), layout


@dataclass
class Extracted:
    body: dict[str, Any] | str | None = None
    error: str | None = None  # "<field>: <why>"; the caller adds the record's location
    record_id: str | None = None
    model: str | None = None
    api: str | None = None
    logged_input_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int | None = None
    logged_total_tokens: int | None = None
    batch: bool = False
    log_loss: str | None = None
    columns: dict[str, str | None] = field(default_factory=dict)


def get_path(obj: Any, path: str) -> Any:
    """``a.b.0.c`` into nested dicts/lists; ``MISSING`` when any step is absent."""
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part, MISSING)
        elif isinstance(obj, list) and part.lstrip("-").isdigit() and -len(obj) <= int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return MISSING
        if obj is MISSING:
            return MISSING
    return obj


def extract(record: Any, layout: Layout) -> Extracted:
    """Pull the body and metadata out of one parsed record."""
    out = Extracted()
    if not isinstance(record, dict):
        out.error = f"record: expected a JSON object, got {type(record).__name__}"
        return out
    out.record_id = _text(_opt(record, layout.record_id))
    out.columns = {name: _text(_opt(record, path)) for name, path in layout.columns.items()}
    _read_usage(out, _opt(record, layout.usage))
    override = _opt(record, layout.model)
    if override is not None and not isinstance(override, str):
        out.error = f"field {layout.model!r}: model must be a string, got {type(override).__name__}"
        return out
    out.model = override
    stated = _opt(record, layout.api_field)  # --api (layout.api) still forces one
    out.api = layout.api or (stated if stated in _STATED_APIS else None)
    out.batch = layout.batch
    loss = _opt(record, layout.log_loss)
    known = loss is None or (isinstance(loss, str) and loss in LOG_LOSS)
    out.log_loss = loss if known else None
    if not known:
        out.error = f"field {layout.log_loss!r}: unknown code {loss!r} (known: {', '.join(LOG_LOSS)})"
    elif loss is not None and _opt(record, layout.request) is None:
        pass  # nothing to count: the row says why
    elif layout.no_request:
        out.error = f"record: {layout.no_request}"
    elif layout.bifrost_log:
        out.body, out.error = _bifrost_body(record)
    elif layout.request is None:
        out.body = record
    else:
        body = get_path(record, layout.request)
        if body is MISSING or body is None:
            out.error = f"field {layout.request!r}: missing"
        elif not isinstance(body, dict | str):
            kind = type(body).__name__
            out.error = f"field {layout.request!r}: expected an object or JSON string, got {kind}"
        else:
            out.body = body
    if layout.api_from_url and out.error is None:
        url = record.get(layout.api_from_url)
        out.api = _BATCH_URL_API.get(str(url).split("?")[0].rstrip("/"))
        if out.api is None:
            out.error = f"field {layout.api_from_url!r}: batch url {url!r} is not chat or responses"
    return out


def _opt(record: dict[str, Any], path: str | None) -> Any:
    if not path:
        return None
    value = get_path(record, path)
    return None if value is MISSING else value


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_usage(out: Extracted, usage: Any) -> None:
    """Chat (prompt/completion, ``prompt_tokens_details.cached_tokens``) and Responses (input/output,
    ``input_tokens_details.cached_tokens``) usage shapes alike."""
    if not isinstance(usage, dict):
        return
    out.logged_input_tokens = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    out.output_tokens = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    details = usage.get("prompt_tokens_details", usage.get("input_tokens_details"))
    out.cached_tokens = _int(details.get("cached_tokens")) if isinstance(details, dict) else None
    out.logged_total_tokens = _int(usage.get("total_tokens"))


def _bifrost_body(record: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Rebuild the request Bifrost logged: ``provider/model``, ``input_history`` as messages, the
    logged ``params`` and ``tools``. Bifrost's own count_tokens accepts this shape."""
    history = record.get("input_history")
    if not isinstance(history, list):
        return None, "field 'input_history': missing or not a list"
    params = record.get("params")
    body: dict[str, Any] = dict(params) if isinstance(params, dict) else {}
    model, provider = record.get("model"), record.get("provider")
    if isinstance(model, str):
        body["model"] = f"{provider}/{model}" if isinstance(provider, str) and "/" not in model else model
    body["messages"] = history
    if record.get("tools"):
        body["tools"] = record["tools"]
    return body, None
