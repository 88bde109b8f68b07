"""A Bifrost log store as the gateway writes it (``jobs.bench.bifrost_store``: the DDL, cited there), filled
with real requests (the reference cases) and the usage the provider reported for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.bench.bifrost_store import INSERT, INSERT_COLUMNS, create, row
from tests.core.reference import CASE_FILES, api_of, load

__all__ = ["INSERT", "INSERT_COLUMNS", "create"]

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


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
    return row(case["request"], api_of(case) == "chat", f"req-{i:06d}", START + timedelta(seconds=i),
               usage_of(case, i), f"vk-{i % 4}", f"team-{i % 2}", **overrides)


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
