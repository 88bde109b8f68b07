"""Tool calls and their results in the history: reference README rule 7.

A call is a message ``assistant to=functions.NAME`` whose body is the arguments re-serialised as
compact JSON: 6 + t("functions.NAME") + t(args). Two or more calls in one turn become one
``multi_tool_use.parallel`` message, and their results one message authored by it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

PARALLEL = "multi_tool_use.parallel"
# Recordings up to 2026-03-03 \\u-escaped non-ASCII in merged parallel results; from 2026-03-12 raw.
PARALLEL_RESULTS_RAW_FROM = date(2026, 3, 12)


def compact_arguments(arguments: str) -> str:
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parallel_calls_body(calls: list[tuple[str, str]]) -> str:
    uses = []
    for name, arguments in calls:
        try:
            params: Any = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            params = arguments
        uses.append({"recipient_name": f"functions.{name}", "parameters": params})
    return json.dumps({"tool_uses": uses}, separators=(",", ":"), ensure_ascii=False)


def parallel_results_body(outputs: list[str], ascii_escape: bool) -> str:
    values: list[Any] = []
    for output in outputs:
        try:
            values.append(json.loads(output))
        except ValueError:
            values.append(output)
    return json.dumps(values, ensure_ascii=ascii_escape)
