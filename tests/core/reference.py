"""Loading and grouping the reference cases (real requests with the counts OpenAI reported)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "reference"
# Requests whose count is fully known, and requests whose count depends on context an offline counter
# cannot see. cases2..cases4 come from apps whose traffic the first rules were not derived from.
CASE_FILES = ("cases.jsonl.gz", "cases2.jsonl.gz", "cases3.jsonl.gz", "cases4.jsonl.gz")
UNKNOWABLE_FILES = ("unknowable.jsonl.gz", "unknowable2.jsonl.gz", "unknowable3.jsonl.gz", "unknowable4.jsonl.gz")
_RECORDED = re.compile(r"recorded (\d{4}-\d{2}-\d{2})")
_API = {"chat.completions": "chat", "responses": "responses", "responses.input_tokens": "responses",
        "completions": "completions"}


def load(name: str) -> list[dict[str, Any]]:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# Sources whose cases carry no recording date but whose counts were validated against the live API
# at a known time: hmarr/openai-chat-tokens' test file last changed (and was run live) on 2023-11-15.
_SOURCE_DATES = {"hmarr/openai-chat-tokens": "2023-11-15"}


def recorded(case: dict[str, Any]) -> str | None:
    match = _RECORDED.search(case.get("notes") or "")
    if match:
        return match.group(1)
    return _SOURCE_DATES.get(case.get("source", "").split(":")[0])


def api_of(case: dict[str, Any]) -> str:
    return _API[case["api"]]


def group(case: dict[str, Any]) -> str:
    """api/feature, the first feature that applies in the order images > format > tools > history > text."""
    if case["api"] == "completions":
        return "completions/text"
    req = case["request"]
    api = api_of(case)
    blob = json.dumps(req)
    fmt = req.get("response_format") or (req.get("text") or {}).get("format") if isinstance(req.get("text"), dict) \
        else req.get("response_format")
    if "image_note" in case:
        feature = "images"
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        feature = "json_schema"
    elif req.get("tools") or req.get("functions"):
        feature = "tools"
    elif '"tool_calls"' in blob or '"function_call"' in blob:
        feature = "tool_history"
    else:
        feature = "text"
    return f"{api}/{feature}"


def source_of(case: dict[str, Any]) -> str:
    """The repository (or docs site) a case was recorded from: ``owner/repo``."""
    return case["source"].split(":")[0].split("@")[0]
