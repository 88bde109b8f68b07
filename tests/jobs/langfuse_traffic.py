"""Real Langfuse-traced traffic as Langfuse observation exports: run as a script (the integration patches
``openai`` for the whole process).

``python langfuse_traffic.py REQUESTS.jsonl OUTDIR`` sends each request (``{"case", "api", "request",
"prompt_tokens", "cached_tokens"}``) through Langfuse's OpenAI integration (``langfuse.openai``) around the
real ``openai`` client, to the stand-in for OpenAI's servers in ``otlp_traffic.py``; each call inside a
Langfuse SPAN observation of its own. The SDK's observations are caught on their way out (its
``span_exporter``; nothing is sent anywhere) and written as Langfuse stores and exports them:

- ``observations_v2.jsonl``: the blob storage export, fields as the ClickHouse ``observations`` columns
  (https://langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields; DDL
  packages/shared/clickhouse/migrations/unclustered/0002_observations.up.sql), timestamps
  ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC. No SDK writes this file offline, so the rows are built here from the
  SDK's attributes: ``input`` and ``model_parameters`` as the SDK serialized them, the usage as Langfuse's
  ingestion stores an OpenAI usage (packages/shared/src/server/ingestion/types.ts: ``input`` without the
  detail keys, each detail as ``input_<key>``).
- ``api_v2.jsonl``: the public API's shape, each row the SDK's own ``ObservationV2`` model serialized.
- ``generations.json``: each call's observation id and start (ns), in order.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from otlp_traffic import FakeOpenAI

METADATA = "langfuse.observation.metadata."  # one attribute per key, its value JSON: Langfuse's metadata map
DETAILS = {"prompt_tokens_details": "input", "input_tokens_details": "input",
           "completion_tokens_details": "output", "output_tokens_details": "output"}


def stored_usage(usage: dict[str, Any]) -> dict[str, int]:
    """An OpenAI usage (Chat or Responses) as Langfuse stores it: details split off ``input``/``output``."""
    out = {"input": usage.get("prompt_tokens", usage.get("input_tokens", 0)),
           "output": usage.get("completion_tokens", usage.get("output_tokens", 0)),
           "total": usage.get("total_tokens", 0)}
    for key, side in DETAILS.items():
        for name, n in (usage.get(key) or {}).items():
            if isinstance(n, int):
                out[f"{side}_{name}"] = n
                out[side] -= n
    return out


def utc(nanos: int) -> datetime:
    return datetime.fromtimestamp(nanos // 10**9, UTC).replace(microsecond=nanos % 10**9 // 1000)


def blob_row(span: Any) -> dict[str, Any]:
    attrs = span.attributes
    kind = attrs["langfuse.observation.type"].upper()
    usage = json.loads(attrs.get("langfuse.observation.usage_details", "null"))
    stored = stored_usage(usage) if usage else {}
    return {"id": f"{span.context.span_id:016x}", "trace_id": f"{span.context.trace_id:032x}", "project_id": "p1",
            "type": kind, "name": span.name, "environment": "default",
            "start_time": utc(span.start_time).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "end_time": utc(span.end_time).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "input": attrs.get("langfuse.observation.input"), "output": attrs.get("langfuse.observation.output"),
            "provided_model_name": attrs.get("langfuse.observation.model.name"),
            "model_parameters": attrs.get("langfuse.observation.model.parameters"),
            "provided_usage_details": stored, "usage_details": stored, "tool_definitions": {},
            "metadata": {k[len(METADATA):]: v for k, v in attrs.items() if k.startswith(METADATA)}}


def api_row(row: dict[str, Any]) -> str:
    from langfuse.api import ObservationV2

    def parsed(text: str | None) -> Any:
        """The SDK serializes a plain string input (a Responses ``input="..."``) as the string itself."""
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError:
            return text

    return ObservationV2(
        id=row["id"], trace_id=row["trace_id"], project_id=row["project_id"], type=row["type"], name=row["name"],
        start_time=datetime.fromisoformat(row["start_time"]).replace(tzinfo=UTC), input=parsed(row["input"]),
        output=parsed(row["output"]), model=row["provided_model_name"],
        metadata={k: parsed(v) for k, v in row["metadata"].items()} or None,
        model_parameters=parsed(row["model_parameters"]), usage_details=row["usage_details"] or None).json()


def main(requests_path: str, out_dir: str) -> None:
    from langfuse import Langfuse
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exporter = InMemorySpanExporter()
    langfuse = Langfuse(public_key="pk-lf-test", secret_key="sk-lf-test", base_url="http://127.0.0.1:9",
                        span_exporter=exporter)
    from langfuse.openai import openai

    client = openai.OpenAI(api_key="unused", base_url=f"http://127.0.0.1:{server.server_port}/v1", max_retries=0)
    calls = [json.loads(line) for line in Path(requests_path).read_text().splitlines()]
    for call in calls:
        create = client.responses.create if call["api"] == "responses" else client.chat.completions.create
        with langfuse.start_as_current_observation(name="handle request", as_type="span"):
            create(**call["request"], extra_headers={"x-prompt-tokens": str(call["prompt_tokens"]),
                                                     "x-cached-tokens": str(call["cached_tokens"])})
    langfuse.flush()
    server.shutdown()
    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    rows = [blob_row(s) for s in spans]
    out = Path(out_dir)
    (out / "observations_v2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "api_v2.jsonl").write_text("".join(api_row(r) + "\n" for r in rows))
    generations = [{"id": r["id"], "start": s.start_time} for r, s in zip(rows, spans, strict=True)
                   if r["type"] == "GENERATION"]
    (out / "generations.json").write_text(json.dumps(generations))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
