"""Real traced traffic as an OTLP JSON file: run as a script, one instrumentation per process.

``python otlp_traffic.py openinference|openllmetry REQUESTS.jsonl OUT.json`` sends each request (a JSON
line ``{"case", "api", "request", "prompt_tokens"}``) through the real ``openai`` client, instrumented by
the real OpenInference or OpenLLMetry package on the real OpenTelemetry SDK, to a tiny HTTP server on
127.0.0.1 that answers like OpenAI (a canned completion whose usage reports ``prompt_tokens``: it stands
in for OpenAI's servers, not for any format tokcount reads). Each call runs inside an application span
of its own (not GenAI: the reader must skip it). The finished spans are encoded by the OTLP exporter's
own encoder (``encode_spans``) and written as the Collector's ``file`` exporter writes them: one export
request per line, protobuf's JSON with trace and span ids as hex (the OTLP/JSON rule,
opentelemetry-proto docs/specification.md); ``--base64-ids`` keeps protobuf's canonical base64.
``OUT.json.spans.json`` lists each call's span id and start (ns), in order, for the test to check.
The instrumentations' own switches (``OPENINFERENCE_HIDE_INPUTS``, ``TRACELOOP_TRACE_CONTENT``,
``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``) come from the environment.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PER_LINE = 5  # calls per export request (the Collector batches spans)


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers Chat Completions and Responses calls with a canned reply (a new id each: OpenLLMetry keeps
    Responses spans by response id) and the usage it is told (``x-prompt-tokens``, ``x-cached-tokens``)."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        prompt = int(self.headers.get("x-prompt-tokens", "0"))
        cached = int(self.headers.get("x-cached-tokens", "0"))
        if self.path.endswith("/responses"):
            reply: dict[str, Any] = {
                "id": f"resp_{uuid.uuid4().hex}", "object": "response", "created_at": 1, "model": body["model"],
                "status": "completed",
                "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
                "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": 1,
                          "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": prompt + 1},
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
        else:
            reply = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": 1,
                     "model": body["model"],
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": prompt, "completion_tokens": 1, "total_tokens": prompt + 1,
                               "prompt_tokens_details": {"cached_tokens": cached}}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def instrument(name: str, provider: Any) -> None:
    if name == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)


def hex_ids(node: Any) -> Any:
    """protobuf's JSON (base64 ids) as OTLP/JSON (hex ids)."""
    if isinstance(node, dict):
        return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and v else hex_ids(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [hex_ids(v) for v in node]
    return node


def main(which: str, requests_path: str, out_path: str, base64_ids: bool) -> None:
    import openai
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(which, provider)
    tracer = provider.get_tracer("app")
    client = openai.OpenAI(api_key="unused", base_url=f"http://127.0.0.1:{server.server_port}/v1", max_retries=0)
    with open(requests_path, encoding="utf-8") as fh:
        calls = [json.loads(line) for line in fh]
    lines, llm_spans = [], []
    for start in range(0, len(calls), PER_LINE):
        for call in calls[start:start + PER_LINE]:
            create = client.responses.create if call["api"] == "responses" else client.chat.completions.create
            with tracer.start_as_current_span("handle request"):
                create(**call["request"], extra_headers={"x-prompt-tokens": str(call["prompt_tokens"])})
        spans = exporter.get_finished_spans()
        exporter.clear()
        llm_spans += [{"span_id": f"{s.context.span_id:016x}", "start": s.start_time}
                      for s in spans if s.name != "handle request"]
        export = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        lines.append(json.dumps(export if base64_ids else hex_ids(export), separators=(",", ":")))
    server.shutdown()
    with open(out_path, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    with open(out_path + ".spans.json", "w", encoding="utf-8") as fh:
        json.dump(llm_spans, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], "--base64-ids" in sys.argv[4:])
