"""Writing a Bifrost log store as the gateway does: its ``logs`` table in SQLite, WAL mode. Used by the store
benchmark (``jobs.bench.stores``) and the tests (``tests/jobs/bifrost_store.py``).

The DDL is GORM's for the ``Log`` model of maximhq/bifrost ``framework/logstore/tables.go`` (read at
017bbe0307cc27408d2c5c1fb92f9ff6bd60da90 and 5978108db0fd9a50a3349d10bb6aa311502c05e2; column list in
``/work/shared/facts/log_stores.md`` section 1.3): GORM's snake_case column names, ``varchar``/``text`` as
SQLite TEXT, ``time.Time`` as ``datetime`` (go-sqlite3 writes ``2006-01-02 15:04:05.999999999-07:00``
text), ``bool`` as ``numeric``, an implicit rowid (the primary key is the text ``id``). The gateway opens
it with ``_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=60000`` (``framework/logstore/sqlite.go``).
The logging plugin fills a row as ``row`` does: the Chat ``messages`` or Responses ``input`` as
``input_history`` / ``responses_input_history``, the other parameters as ``params`` (Chat ones carry the
tools again), the usage as ``token_usage`` and its denormalized columns.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

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


def row(request: dict[str, Any], chat: bool, record_id: str, when: datetime, usage: dict[str, Any],
        tenant: str, team: str, **overrides: Any) -> tuple[Any, ...]:
    """One ``logs`` row for ``request`` (a Chat or Responses body) and its provider usage, normalized as
    Bifrost's ``BifrostLLMUsage`` (``prompt_tokens`` with the cached read inside)."""
    req = dict(request)
    model = req.pop("model")
    history = req.pop("messages" if chat else "input")
    tools = req.pop("tools", None)
    params = dict(req, tools=tools) if chat and tools else req
    cached = usage.get("prompt_tokens_details", {}).get("cached_read_tokens", 0)
    values = {
        "id": record_id, "timestamp": go_time(when), "object_type": "chat_completion" if chat else "responses",
        "provider": "openai", "model": model, "virtual_key_name": tenant, "team_name": team,
        "input_history": json.dumps(history) if chat else None,
        "responses_input_history": None if chat else json.dumps(history),
        "params": json.dumps(params), "tools": json.dumps(tools) if tools else None, "token_usage": json.dumps(usage),
        "prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage["total_tokens"], "cached_read_tokens": cached, "status": "success",
        "is_large_payload_request": 0, "has_object": 0, "created_at": go_time(when),
    }
    values.update(overrides)
    return tuple(values[c] for c in INSERT_COLUMNS)
