"""A Bifrost log store as the gateway writes it, for tests: its ``logs`` table in SQLite (WAL mode), filled
with real requests (the reference cases) and the usage the provider reported for them.

The DDL is GORM's for the ``Log`` model of maximhq/bifrost ``framework/logstore/tables.go`` (read at
017bbe0307cc27408d2c5c1fb92f9ff6bd60da90 and 5978108db0fd9a50a3349d10bb6aa311502c05e2; column list in
``/work/shared/facts/log_stores.md`` section 1.3): GORM's snake_case column names, ``varchar``/``text`` as
SQLite TEXT, ``time.Time`` as ``datetime`` (go-sqlite3 writes ``2006-01-02 15:04:05.999999999-07:00``
text), ``bool`` as ``numeric``, an implicit rowid (the primary key is the text ``id``). The gateway opens
it with ``_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=60000`` (``framework/logstore/sqlite.go``).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.core.reference import CASE_FILES, api_of, load

DDL = """
CREATE TABLE `logs` (
  `id` varchar(255), `inc_number` integer, `parent_request_id` varchar(255),
  `timestamp` datetime NOT NULL, `object_type` varchar(255), `provider` varchar(255), `model` varchar(255),
  `alias` varchar(255), `number_of_retries` integer DEFAULT 0, `fallback_index` integer DEFAULT 0,
  `selected_key_id` varchar(255), `selected_key_name` varchar(255), `virtual_key_id` varchar(255),
  `virtual_key_name` varchar(255), `team_id` varchar(255), `team_name` varchar(255),
  `customer_id` varchar(255), `customer_name` varchar(255), `user_id` varchar(255),
  `input_history` text, `responses_input_history` text, `output_message` text, `responses_output` text,
  `params` text, `tools` text, `tool_calls` text, `latency` real, `token_usage` text,
  `prompt_tokens` integer DEFAULT 0, `completion_tokens` integer DEFAULT 0, `total_tokens` integer DEFAULT 0,
  `cached_read_tokens` integer DEFAULT 0, `cost` real, `status` varchar(50), `stop_reason` varchar(50),
  `error_details` text, `stream` numeric, `content_summary` text, `raw_request` text, `raw_response` text,
  `metadata` text, `is_large_payload_request` numeric DEFAULT false,
  `is_large_payload_response` numeric DEFAULT false, `has_object` numeric DEFAULT false,
  `created_at` datetime NOT NULL,
  PRIMARY KEY (`id`)
);
CREATE INDEX `idx_logs_timestamp` ON `logs`(`timestamp`);
CREATE INDEX `idx_logs_status` ON `logs`(`status`);
CREATE INDEX `idx_logs_provider` ON `logs`(`provider`);
CREATE INDEX `idx_logs_model` ON `logs`(`model`);
"""

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
INSERT_COLUMNS = ("id", "timestamp", "object_type", "provider", "model", "virtual_key_name", "team_name",
                  "input_history", "responses_input_history", "params", "tools", "token_usage", "prompt_tokens",
                  "completion_tokens", "total_tokens", "cached_read_tokens", "status",
                  "is_large_payload_request", "has_object", "created_at")
INSERT = f"INSERT INTO logs ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"


def create(path: Path) -> sqlite3.Connection:
    """An empty store, opened the way the gateway opens it."""
    con = sqlite3.connect(path, isolation_level=None, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(DDL)
    return con


def go_time(when: datetime) -> str:
    """go-sqlite3's text for a UTC ``time.Time``."""
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") + "000+00:00"


def comparable_cases(n: int) -> list[dict[str, Any]]:
    """``n`` reference requests a log store keeps whole: Chat ones, and Responses ones with a list input
    and no tools (Bifrost logs those tools in Chat shape: ``tools_rewritten``)."""
    out = []
    for case in (c for name in CASE_FILES for c in load(name)):
        req, api = case["request"], case["api"]
        chat = api == "chat.completions" and isinstance(req.get("messages"), list) and "functions" not in req
        responses = api == "responses" and isinstance(req.get("input"), list) and not req.get("tools")
        if (chat or responses) and "/" not in str(req.get("model", "/")):
            out.append(case)
        if len(out) == n:
            return out
    raise AssertionError(f"only {len(out)} comparable cases")


def usage_of(case: dict[str, Any], i: int) -> dict[str, Any]:
    """The provider's reported usage, as Bifrost normalizes it (``BifrostLLMUsage``): cached reads inside
    ``prompt_tokens``, ``cached_tokens`` = read + write."""
    cached = (i % 3) * 16  # some rows with cache hits
    prompt = case["expected_input_tokens"]
    return {"prompt_tokens": prompt, "prompt_tokens_details": {"cached_read_tokens": cached, "cached_tokens": cached},
            "completion_tokens": 7, "total_tokens": prompt + 7}


def row_of(case: dict[str, Any], i: int, **overrides: Any) -> tuple[Any, ...]:
    """One ``logs`` row for a reference request, as Bifrost's logging plugin fills it."""
    req = dict(case["request"])
    chat = api_of(case) == "chat"
    model = req.pop("model")
    history = req.pop("messages" if chat else "input")
    tools = req.pop("tools", None)
    params = dict(req, tools=tools) if chat and tools else req  # chat params carry the tools again
    usage = usage_of(case, i)
    when = START + timedelta(seconds=i)
    values = {
        "id": f"req-{i:06d}", "timestamp": go_time(when), "object_type": "chat_completion" if chat else "responses",
        "provider": "openai", "model": model, "virtual_key_name": f"vk-{i % 4}", "team_name": f"team-{i % 2}",
        "input_history": json.dumps(history) if chat else None,
        "responses_input_history": None if chat else json.dumps(history),
        "params": json.dumps(params), "tools": json.dumps(tools) if tools else None, "token_usage": json.dumps(usage),
        "prompt_tokens": usage["prompt_tokens"], "completion_tokens": 7, "total_tokens": usage["total_tokens"],
        "cached_read_tokens": usage["prompt_tokens_details"]["cached_read_tokens"], "status": "success",
        "is_large_payload_request": 0, "has_object": 0, "created_at": go_time(when),
    }
    values.update(overrides)
    return tuple(values[c] for c in INSERT_COLUMNS)


def log_record(case: dict[str, Any], i: int) -> dict[str, Any]:
    """The same request as a JSONL ``log`` record (``--format log``)."""
    usage = usage_of(case, i)
    request = dict(case["request"], model=f"openai/{case['request']['model']}")
    return {"id": f"req-{i:06d}", "timestamp": (START + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "tenant": f"vk-{i % 4}", "api": api_of(case), "request": request,
            "response": {"usage": {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 7,
                                   "total_tokens": usage["total_tokens"],
                                   "prompt_tokens_details": {"cached_tokens": usage["prompt_tokens_details"][
                                       "cached_read_tokens"]}}}}
