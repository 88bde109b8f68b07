"""Langfuse observation exports of real traffic traced by Langfuse's OpenAI integration.

``langfuse_traffic.py`` (beside this file; its docstring says how the export rows are made and from which
sources) sends real reference requests through ``langfuse.openai`` around the real ``openai`` client;
these tests count its exports with ``tokcount count --format langfuse``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from jobs.cli import main
from jobs.readers.files import Digest, iter_records, list_shards
from tests.jobs.conftest import REPO, read_output
from tests.jobs.test_otlp_json import CASES
from tokcount_core import count

TRAFFIC = Path(__file__).with_name("langfuse_traffic.py")
CALLS = [{**c, "cached_tokens": c["prompt_tokens"] // 3} for c in CASES]


def write_exports(tmp_path: Path, calls: list[dict[str, Any]] = CALLS) -> list[dict[str, Any]]:
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(c) + "\n" for c in calls))
    subprocess.run([sys.executable, str(TRAFFIC), str(requests), str(tmp_path)], check=True, cwd=REPO, timeout=300)
    requests.unlink()
    return json.loads((tmp_path / "generations.json").read_text())


def iso(nanos: int) -> str:
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(nanos // 10**9, UTC).replace(microsecond=nanos % 10**9 // 1000)
    return moment.isoformat().replace("+00:00", "Z")


def expected_loss(call: dict[str, Any]) -> str | None:
    """Tool calls without tool definitions: whether the call had tools is unknown (the reference has such
    requests: tools dropped after the tool turn). A Responses call's ``text`` is never logged."""
    request = call["request"]
    if not request.get("tools") and ('"tool_calls"' in json.dumps(request) or '"function_call' in json.dumps(request)):
        return "tools_not_logged"
    return "format_not_logged" if call["api"] == "responses" else None


def test_generations_count_as_the_requests_sent(tmp_path):
    generations = write_exports(tmp_path)
    for name in ("observations_v2.jsonl", "api_v2.jsonl"):
        out = tmp_path / f"out-{name}"
        assert main(["count", "--quiet", "--in-process", str(tmp_path / name), str(out), "--format", "langfuse"]) == 0
        rows = read_output(out).to_pylist()
        assert len(rows) == len(CALLS) == len(generations)
        for row, call, generation in zip(rows, CALLS, generations, strict=True):
            assert row["error_code"] is None, (call["case"], row["error_message"])
            assert row["record_id"] == generation["id"]
            assert row["timestamp"] == iso(generation["start"])
            # Langfuse keeps input without the cached tokens: they are added back
            assert row["logged_input_tokens"] == call["prompt_tokens"], call["case"]
            # the SDK does not log a Responses call's ``text`` (its output format): flagged (below), not compared
            if call["api"] == "chat" or "text" not in call["request"]:
                assert row["input_tokens"] == count(call["request"], api=call["api"]).input_tokens, call["case"]
                assert row["input_tokens"] == call["prompt_tokens"] and row["delta"] == 0
            assert row["cached_tokens"] == call["cached_tokens"]
        loss = [json.loads(r)["log_loss"] for r in iter_records(list_shards([str(tmp_path / name)], fmt="langfuse")[0])
                if not isinstance(r, Digest)]
        assert loss == [expected_loss(c) for c in CALLS]
        manifest = json.loads((out / "_manifest.json").read_text())
        assert manifest["inputs"][0]["skipped"] == len(CALLS)  # the SPAN observation around each call


def test_lossy_generations_are_flagged(tmp_path):
    """Input missing (masked), input cut, and a tool call whose definitions were not kept."""
    write_exports(tmp_path, CALLS[:3])
    rows = [json.loads(line) for line in (tmp_path / "observations_v2.jsonl").read_text().splitlines()]
    generations = [r for r in rows if r["type"] == "GENERATION"]
    generations[0]["input"] = None
    generations[1]["input"] = generations[1]["input"][:40]
    generations[2]["input"] = json.dumps([{"role": "user", "content": "weather?"},
                                          {"role": "assistant", "content": None, "tool_calls": [
                                              {"id": "c1", "type": "function",
                                               "function": {"name": "get_weather", "arguments": "{}"}}]},
                                          {"role": "tool", "tool_call_id": "c1", "content": "rain"}])
    path = tmp_path / "lossy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (shard,) = list_shards([str(path)], fmt="langfuse")
    got = [json.loads(r) for r in iter_records(shard) if not isinstance(r, Digest)]
    assert [r["log_loss"] for r in got] == ["content_not_logged", "truncated", "tools_not_logged"]


def test_tools_from_tool_definitions(tmp_path):
    """Newer Langfuse keeps tools in the ``tool_definitions`` map (name -> definition JSON, migration
    0033_add_tool_call_columns): an input without them takes them from there."""
    calls = [c for c in CALLS if c["api"] == "chat" and c["request"].get("tools")][:4]
    write_exports(tmp_path, calls)
    rows = [json.loads(line) for line in (tmp_path / "observations_v2.jsonl").read_text().splitlines()]
    for row in rows:
        if row["type"] == "GENERATION":
            logged = json.loads(row["input"])
            row["tool_definitions"] = {t["function"]["name"]: json.dumps(t) for t in logged.pop("tools")}
            row["input"] = json.dumps(logged["messages"])
    path = tmp_path / "moved.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (shard,) = list_shards([str(path)], fmt="langfuse")
    got = [json.loads(r) for r in iter_records(shard) if not isinstance(r, Digest)]
    assert [r["log_loss"] for r in got] == [None] * len(calls)
    assert [count(r["request"]).input_tokens for r in got] == [c["prompt_tokens"] for c in calls]
