"""OTLP JSON trace files written by the real OpenTelemetry SDK around the real ``openai`` client.

``otlp_traffic.py`` (beside this file) sends real reference requests through the client, instrumented by
OpenInference or OpenLLMetry, and writes the spans as the Collector's file exporter does; these tests
count that file with ``tokcount count`` and check every span's row against the request it carried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs.cli import main
from jobs.readers.files import Digest, iter_records, list_shards
from tests.core import reference
from tests.jobs.conftest import REPO, read_output
from tokcount_core import count

TRAFFIC = Path(__file__).with_name("otlp_traffic.py")
# Cases per group: exact reference requests (tokcount's count equals OpenAI's) the client takes as they are.
PER_GROUP = {"chat/text": 8, "chat/tools": 8, "chat/json_schema": 4, "chat/tool_history": 4,
             "responses/text": 5, "responses/tools": 5, "responses/json_schema": 3, "responses/tool_history": 2}


def traffic_cases() -> list[dict[str, Any]]:
    import inspect

    import openai

    client = openai.OpenAI(api_key="unused")
    accepted = {"chat": set(inspect.signature(client.chat.completions.create).parameters),
                "responses": set(inspect.signature(client.responses.create).parameters)}
    taken: dict[str, int] = {}
    out = []
    for case in sorted((c for f in reference.CASE_FILES for c in reference.load(f)), key=lambda c: c["id"]):
        group, api, request = reference.group(case), reference.api_of(case), case["request"]
        if taken.get(group, 0) >= PER_GROUP.get(group, 0) or request.get("stream") or len(json.dumps(request)) > 8000:
            continue
        if not set(request) <= accepted[api] or count(request, api=api).input_tokens != case["expected_input_tokens"]:
            continue
        taken[group] = taken.get(group, 0) + 1
        out.append({"case": case["id"], "api": api, "request": request, "prompt_tokens": case["expected_input_tokens"]})
    return out


CASES = traffic_cases()


def write_traffic(tmp_path: Path, which: str, name: str = "traces.json", env: dict[str, str] | None = None,
                  calls: list[dict[str, Any]] = CASES, *extra: str) -> tuple[Path, list[dict[str, Any]]]:
    requests = tmp_path / f"{name}.requests.jsonl"
    requests.write_text("".join(json.dumps(c) + "\n" for c in calls))
    out = tmp_path / name
    subprocess.run([sys.executable, str(TRAFFIC), which, str(requests), str(out), *extra], check=True, cwd=REPO,
                   env={**os.environ, **(env or {})}, timeout=300)
    requests.unlink()
    return out, json.loads(Path(f"{out}.spans.json").read_text())


def records(path: Path) -> list[dict[str, Any]]:
    (shard,) = list_shards([str(path)], fmt="otlp_json")
    return [json.loads(r) for r in iter_records(shard) if not isinstance(r, Digest)]


def nanos_iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns % 1_000_000_000 // 1000) \
        .isoformat().replace("+00:00", "Z")


def test_openinference_spans_count_as_the_requests_sent(tmp_path):
    traces, spans = write_traffic(tmp_path, "openinference")
    out = tmp_path / "out"
    assert main(["count", "--quiet", "--in-process", str(traces), str(out), "--format", "otlp_json"]) == 0
    rows = read_output(out).to_pylist()
    assert len(rows) == len(CASES) == len(spans)
    for row, case, span in zip(rows, CASES, spans, strict=True):
        assert row["error_code"] is None, (case["case"], row["error_message"])
        assert row["record_id"] == span["span_id"]
        assert row["input_tokens"] == count(case["request"], api=case["api"]).input_tokens == case["prompt_tokens"]
        assert row["logged_input_tokens"] == case["prompt_tokens"] and row["delta"] == 0
        assert row["timestamp"] == nanos_iso(span["start"])
    manifest = json.loads((out / "_manifest.json").read_text())
    # each call ran inside an application span, which is no GenAI request: skipped, and said so
    assert manifest["inputs"][0]["skipped"] == len(CASES)
    assert {r["log_loss"] for r in records(traces)} == {None}


def test_otlp_file_found_by_its_content_and_base64_ids_read_as_hex(tmp_path):
    """No --format: a directory holding a Collector export and a protobuf-JSON one (both .json, the file
    exporter's name; .jsonl files are not opened while listing)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    _, spans = write_traffic(logs, "openinference", "collector.json", None, CASES[:6])
    _, spans_b64 = write_traffic(logs, "openinference", "protobuf.json", None, CASES[6:12], "--base64-ids")
    (logs / "collector.json.spans.json").rename(tmp_path / "a.spans.json")
    (logs / "protobuf.json.spans.json").rename(tmp_path / "b.spans.json")
    (logs / "settings.json").write_text('{"not": "traces"}\n')
    out = tmp_path / "out"
    assert main(["count", "--quiet", "--in-process", str(logs), str(out)]) == 0
    rows = read_output(out).to_pylist()
    assert [r["record_id"] for r in rows] == [s["span_id"] for s in spans + spans_b64]
    assert {r["source_file"].rsplit("/", 1)[1] for r in rows} == {"collector.json", "protobuf.json"}
    assert all(r["error_code"] is None for r in rows)


def test_openinference_hidden_inputs_are_content_not_logged(tmp_path):
    traces, spans = write_traffic(tmp_path, "openinference", env={"OPENINFERENCE_HIDE_INPUTS": "true"},
                                  calls=CASES[:10])
    got = records(traces)
    assert [r["log_loss"] for r in got] == ["content_not_logged"] * 10
    assert [r["id"] for r in got] == [s["span_id"] for s in spans]
    out = tmp_path / "out"
    assert main(["count", "--quiet", "--in-process", str(traces), str(out), "--format", "otlp_json"]) == 0
    rows = read_output(out).to_pylist()
    # no request, no number: the row keeps the logged usage and says why it has no count
    assert [r["input_tokens"] for r in rows] == [None] * 10
    assert [r["logged_input_tokens"] for r in rows] == [c["prompt_tokens"] for c in CASES[:10]]


def test_attribute_length_limit_is_truncated(tmp_path):
    """The SDK's own attribute limit cuts ``input.value``: a cut request is never counted as sent."""
    traces, _ = write_traffic(tmp_path, "openinference", env={"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "400"},
                              calls=CASES[:12])
    long = [len(json.dumps(c["request"])) > 400 for c in CASES[:12]]
    assert any(long) and not all(long)
    assert [r["log_loss"] for r in records(traces)] == ["truncated" if cut else None for cut in long]


def test_openllmetry_genai_messages_and_tool_definitions(tmp_path):
    """OpenLLMetry writes ``gen_ai.input.messages`` and ``gen_ai.tool.definitions``: chat requests are
    rebuilt as sent; without tool definitions, whether there were tools is unknown; of a structured output
    it keeps only the JSON schema."""
    chat = [c for c in CASES if c["api"] == "chat"]
    traces, spans = write_traffic(tmp_path, "openllmetry", calls=chat)
    got = records(traces)
    assert [r["id"] for r in got] == [s["span_id"] for s in spans]
    for record, case in zip(got, chat, strict=True):
        request = case["request"]
        expected = ("tools_not_logged" if not request.get("tools") else
                    "format_not_logged" if request.get("response_format", {}).get("type") == "json_schema" else None)
        assert record["log_loss"] == expected, case["case"]
        if expected is None or (expected == "tools_not_logged" and "response_format" not in request):
            assert count(record["request"]).input_tokens == case["prompt_tokens"], case["case"]
        assert record["response"]["usage"]["prompt_tokens"] == case["prompt_tokens"]


def test_openllmetry_content_off_is_content_not_logged(tmp_path):
    traces, _ = write_traffic(tmp_path, "openllmetry", env={"TRACELOOP_TRACE_CONTENT": "false"}, calls=CASES[:8])
    assert [r["log_loss"] for r in records(traces)] == ["content_not_logged"] * 8


def test_broken_line_is_one_error_row_and_gzip_is_read(tmp_path):
    """A line that is not JSON is one error row in its place; a gzipped export is found by its content."""
    import gzip

    traces, spans = write_traffic(tmp_path, "openinference", calls=CASES[:10])
    first, second = traces.read_text().splitlines()  # two export requests of five calls each
    packed = tmp_path / "logs" / "traces.json.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(f"{first}\n{first[:100]}\n{second}\n".encode()))
    out = tmp_path / "out"
    assert main(["count", "--quiet", "--in-process", str(packed.parent), str(out)]) == 0
    rows = read_output(out).to_pylist()
    assert [r["source_row"] for r in rows] == list(range(11))
    assert [r["error_code"] for r in rows] == [None] * 5 + ["invalid_json"] + [None] * 5
    assert [r["record_id"] for r in rows[:5] + rows[6:]] == [s["span_id"] for s in spans]


def openllmetry_flattened(request: dict[str, Any]) -> dict[str, Any]:
    """A chat request as OpenLLMetry's instrumentation set span attributes before its move to the GenAI
    conventions (traceloop/openllmetry packages/opentelemetry-instrumentation-openai/opentelemetry/
    instrumentation/openai/shared/chat_wrappers.py and shared/__init__.py @ e012bb12): ``gen_ai.prompt.{i}.*``
    (content arrays as JSON strings), ``llm.request.functions.{i}.*`` (parameters as JSON strings). The
    installed release writes the newer attributes, so these are set here, on a real SDK span."""
    attrs: dict[str, Any] = {"gen_ai.system": "openai", "gen_ai.request.model": request["model"],
                             "llm.request.type": "chat", "gen_ai.usage.prompt_tokens": 7}
    for i, message in enumerate(request["messages"]):
        prefix = f"gen_ai.prompt.{i}."
        attrs[prefix + "role"] = message["role"]
        content = message.get("content")
        if content is not None:
            attrs[prefix + "content"] = content if isinstance(content, str) else json.dumps(content)
        if "tool_call_id" in message:
            attrs[prefix + "tool_call_id"] = message["tool_call_id"]
        for j, call in enumerate(message.get("tool_calls") or ()):
            attrs.update({f"{prefix}tool_calls.{j}.id": call["id"], f"{prefix}tool_calls.{j}.name":
                          call["function"]["name"], f"{prefix}tool_calls.{j}.arguments": call["function"]["arguments"]})
    for i, tool in enumerate(request.get("tools") or ()):
        function = tool["function"]
        attrs[f"llm.request.functions.{i}.name"] = function["name"]
        if "description" in function:
            attrs[f"llm.request.functions.{i}.description"] = function["description"]
        attrs[f"llm.request.functions.{i}.parameters"] = json.dumps(function.get("parameters"))
    return attrs


def test_openllmetry_flattened_prompt_attributes(tmp_path):
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    chat = [c for c in CASES if c["api"] == "chat" and set(c["request"]) <= {"model", "messages", "tools"}
            and all(set(t) == {"type", "function"} and set(t["function"]) <= {"name", "description", "parameters"}
                    for t in c["request"].get("tools") or ())]
    assert any(c["request"].get("tools") for c in chat) and any("tool_call_id" in json.dumps(c) for c in chat)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for case in chat:
        with provider.get_tracer("opentelemetry.instrumentation.openai.v1").start_as_current_span(
                "openai.chat", attributes=openllmetry_flattened(case["request"])):
            pass
    traces = tmp_path / "old.json"
    traces.write_text(json.dumps(MessageToDict(encode_spans(exporter.get_finished_spans()))) + "\n")
    got = records(traces)
    for record, case in zip(got, chat, strict=True):
        assert record["log_loss"] == (None if case["request"].get("tools") else "tools_not_logged")
        assert count(record["request"]).input_tokens == case["prompt_tokens"], case["case"]
        assert record["response"]["usage"] == {"prompt_tokens": 7}


def test_explain_record_reads_a_jsonl_span_file_with_the_runs_format(tmp_path, capsys):
    """OTLP lines in a ``.jsonl`` file are spans only with ``--format otlp_json``: ``explain --record``
    reads the source again with the format the run used (its manifest), not as request lines."""
    traces, spans = write_traffic(tmp_path, "openinference", "traces.jsonl", None, CASES[:3])
    out = tmp_path / "out"
    assert main(["count", "--quiet", "--in-process", str(traces), str(out), "--format", "otlp_json"]) == 0
    row = read_output(out).to_pylist()[1]
    capsys.readouterr()
    assert main(["explain", str(out), "--record", spans[1]["span_id"]]) == 0
    printed = capsys.readouterr().out
    assert int(printed.split("\ntotal ")[1].split()[1]) == row["input_tokens"] == CASES[1]["prompt_tokens"]
    assert "changed:" not in printed
