"""LiteLLM's spend-log table as the proxy writes it, for tests: ``LiteLLM_SpendLogs`` in PostgreSQL, filled
with real requests (the reference cases) and the usage the provider reported.

The DDL is Prisma's for model ``LiteLLM_SpendLogs`` (BerriAI/litellm ``schema.prisma`` @
029f645f6..., generated SQL in ``litellm-proxy-extras/.../migrations/0_init/migration.sql`` @ 12bcc5fb...
plus the later migrations that add the columns listed in ``/work/shared/facts/log_stores.md`` 2.1):
``DateTime`` as ``TIMESTAMP(3)`` (naive UTC), ``Json`` as ``JSONB``, ``Float`` as ``DOUBLE PRECISION``.

The row is filled as ``litellm/proxy/spend_tracking/spend_tracking_utils.py`` (@ 00907c60...) does with
prompt storage on: ``proxy_server_request`` is the client's body after ``sanitize`` (its
``_sanitize_request_body_for_spend_logs_payload``: every string over ``MAX_STRING_LENGTH_PROMPT_IN_DB``
characters, 2,048 by default (``litellm/constants.py``), becomes its first 35% and last 65% around a
``litellm_truncated`` marker); the usage details go to ``metadata``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from tests.jobs.bifrost_store import START, usage_of

DDL = """
CREATE TABLE "LiteLLM_SpendLogs" (
    "request_id" TEXT NOT NULL,
    "call_type" TEXT NOT NULL,
    "api_key" TEXT NOT NULL DEFAULT '',
    "spend" DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    "total_tokens" INTEGER NOT NULL DEFAULT 0,
    "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    "completion_tokens" INTEGER NOT NULL DEFAULT 0,
    "startTime" TIMESTAMP(3) NOT NULL,
    "endTime" TIMESTAMP(3) NOT NULL,
    "request_duration_ms" INTEGER,
    "completionStartTime" TIMESTAMP(3),
    "model" TEXT NOT NULL DEFAULT '',
    "model_id" TEXT DEFAULT '',
    "model_group" TEXT DEFAULT '',
    "custom_llm_provider" TEXT DEFAULT '',
    "api_base" TEXT DEFAULT '',
    "user" TEXT DEFAULT '',
    "metadata" JSONB DEFAULT '{}',
    "cache_hit" TEXT DEFAULT '',
    "cache_key" TEXT DEFAULT '',
    "request_tags" JSONB DEFAULT '[]',
    "team_id" TEXT,
    "organization_id" TEXT,
    "end_user" TEXT,
    "requester_ip_address" TEXT,
    "messages" JSONB DEFAULT '{}',
    "response" JSONB DEFAULT '{}',
    "proxy_server_request" JSONB DEFAULT '{}',
    "session_id" TEXT,
    "status" TEXT,
    CONSTRAINT "LiteLLM_SpendLogs_pkey" PRIMARY KEY ("request_id")
);
CREATE INDEX "LiteLLM_SpendLogs_startTime_idx" ON "LiteLLM_SpendLogs"("startTime");
CREATE INDEX "LiteLLM_SpendLogs_startTime_request_id_idx" ON "LiteLLM_SpendLogs"("startTime", "request_id");
CREATE INDEX "LiteLLM_SpendLogs_end_user_idx" ON "LiteLLM_SpendLogs"("end_user");
CREATE INDEX "LiteLLM_SpendLogs_session_id_idx" ON "LiteLLM_SpendLogs"("session_id");
"""

COLUMNS = ("request_id", "call_type", "api_key", "total_tokens", "prompt_tokens", "completion_tokens", "startTime",
           "endTime", "model", "model_group", "custom_llm_provider", "metadata", "team_id", "proxy_server_request",
           "status")
INSERT = (f'INSERT INTO "LiteLLM_SpendLogs" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in COLUMNS)}) '
          f"VALUES ({', '.join(['%s'] * len(COLUMNS))})")
MAX_STRING_LENGTH_PROMPT_IN_DB = 2048


def sanitize(value: Any, limit: int = MAX_STRING_LENGTH_PROMPT_IN_DB) -> Any:
    """LiteLLM's cut of long strings (35% head, 65% tail, a marker between), applied at every depth."""
    if isinstance(value, dict):
        return {k: sanitize(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v, limit) for v in value]
    if isinstance(value, str) and len(value) > limit:
        head, tail = int(limit * 0.35), int(limit * 0.65)
        return (f"{value[:head]}... (litellm_truncated skipped {len(value) - head - tail} chars. "
                f"Set MAX_STRING_LENGTH_PROMPT_IN_DB to keep more) ...{value[-tail:]}")
    return value


def row_of(case: dict[str, Any], i: int, *, content: bool = True) -> tuple[Any, ...]:
    """One spend-log row for a reference Chat request (``content``: prompt storage on)."""
    from psycopg.types.json import Jsonb

    usage = usage_of(case, i)
    cached = usage["prompt_tokens_details"]["cached_read_tokens"]
    when = (START + timedelta(seconds=i)).replace(tzinfo=None)
    details = {"prompt_tokens_details": {"cached_tokens": cached}, "completion_tokens_details": {"reasoning_tokens": 0}}
    values = {
        "request_id": f"chatcmpl-{i:06d}", "call_type": "acompletion",
        "api_key": hashlib.sha256(f"sk-{i % 4}".encode()).hexdigest(), "total_tokens": usage["total_tokens"],
        "prompt_tokens": usage["prompt_tokens"], "completion_tokens": 7, "startTime": when,
        "endTime": when + timedelta(milliseconds=900), "model": case["request"]["model"],
        "model_group": case["request"]["model"], "custom_llm_provider": "openai",
        "metadata": Jsonb({"status": "success", "additional_usage_values": details}), "team_id": f"team-{i % 2}",
        "proxy_server_request": Jsonb(sanitize(case["request"]) if content else {}), "status": "success",
    }
    return tuple(values[c] for c in COLUMNS)


def log_record(case: dict[str, Any], i: int) -> dict[str, Any]:
    """The same request as a JSONL ``log`` record (``--format log``), as the client sent it."""
    usage = usage_of(case, i)
    return {"id": f"chatcmpl-{i:06d}", "timestamp": (START + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "tenant": f"team-{i % 2}", "api": "chat",
            "request": dict(case["request"], model=f"openai/{case['request']['model']}"),
            "response": {"usage": {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 7,
                                   "total_tokens": usage["total_tokens"], "prompt_tokens_details": {
                                       "cached_tokens": usage["prompt_tokens_details"]["cached_read_tokens"]}}}}
