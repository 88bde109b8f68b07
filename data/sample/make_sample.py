"""Writes the sample shards next to this file; deterministic (fixed seed, fixed timestamps).

    python data/sample/make_sample.py

Shards (one format each, all detected per record by ``format: auto``):
- ``responses-000.jsonl``   bare Responses bodies: tools, multi-turn tool loops, images, plus bad lines
- ``chat-logs-000.jsonl``   gateway logs ``{"id","timestamp","tenant","request","response":{"usage"}}`` of real
                            reference requests with the input tokens OpenAI reported (tests/data/reference)
- ``batch-000.jsonl``       OpenAI Batch API input ``{"custom_id","method","url","body"}`` (chat + responses)
- ``finetune-000.jsonl.gz`` fine-tuning examples ``{"messages","tools"}`` with no model (use ``--model``)
"""

from __future__ import annotations

import gzip
import json
import random
import re
import struct
import zlib
from base64 import b64encode
from pathlib import Path

HERE = Path(__file__).parent
REFERENCE = HERE.parent.parent / "tests" / "data" / "reference"
SEED = 20261101
LOG_DAYS = {"2024-09-23", "2024-09-24", "2024-09-25", "2024-09-26", "2024-09-27"}

TOPICS = ["invoice", "shipment", "refund", "password reset", "quarterly report", "flight booking",
          "database migration", "unit test", "weather forecast", "recipe", "contract renewal", "API key"]
VERBS = ["summarize", "explain", "draft", "translate", "check", "compare", "list", "fix", "plan", "review"]
FILLER_TEXT = ("The customer wrote in again about the same issue. Please keep the answer short and polite, "
               "quote the relevant policy, and avoid promising dates we cannot meet. Ünïcödé, emoji 🚀 and "
               "CJK 数据 text appear in real traffic too.")
FILLER = FILLER_TEXT.split()
MODELS_RESPONSES = ["gpt-4o", "gpt-4.1-mini", "gpt-5-mini", "o4-mini", "gpt-4o-mini"]
MODELS_CHAT = ["gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo", "gpt-4.1-nano", "gpt-4-turbo"]
TENANTS = ["acme", "globex", "initech", "umbrella"]

WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"], "additionalProperties": False},
    "strict": True,
}
ORDER_TOOL = {
    "type": "function", "name": "lookup_order", "description": "Find an order by id.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                   "required": ["order_id"]},
}


def chat_tool(tool: dict) -> dict:
    """The Chat Completions spelling of a Responses function tool."""
    fn = {k: tool[k] for k in ("name", "description", "parameters") if k in tool}
    return {"type": "function", "function": fn}


def png_data_url(width: int, height: int, rgb: tuple[int, int, int]) -> str:
    """A solid-colour PNG built by hand (no Pillow), as a data URL."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    row = b"\x00" + bytes(rgb) * width
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + b64encode(png).decode()


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def sentence(self, lo: int = 6, hi: int = 30) -> str:
        words = self.r.choices(FILLER, k=self.r.randint(lo, hi))
        return " ".join(words).capitalize() + "."

    def ask(self) -> str:
        return f"Please {self.r.choice(VERBS)} the {self.r.choice(TOPICS)}. {self.sentence()}"

    def exchange(self) -> list[dict]:
        return [{"role": "user", "content": self.ask()}, {"role": "assistant", "content": self.sentence()}]

    def responses_body(self, i: int) -> dict:
        model = self.r.choice(MODELS_RESPONSES)
        kind = i % 5
        body: dict = {"model": model}
        if kind == 0:
            body["input"] = self.ask()
        elif kind == 1:
            body["instructions"] = "You are a concise support agent."
            body["input"] = [{"role": "user", "content": self.ask()},
                             {"role": "assistant", "content": self.sentence()},
                             {"role": "user", "content": self.ask()}]
        elif kind == 2:
            call_id = f"call_{i:04d}"
            body["tools"] = [WEATHER_TOOL, ORDER_TOOL]
            body["input"] = [
                {"role": "user", "content": "What's the weather in Lisbon?"},
                {"type": "function_call", "call_id": call_id, "name": "get_weather",
                 "arguments": json.dumps({"city": "Lisbon", "unit": "celsius"})},
                {"type": "function_call_output", "call_id": call_id,
                 "output": json.dumps({"temp_c": self.r.randint(5, 35), "sky": "clear"})},
            ]
        elif kind == 3:
            body["tools"] = [WEATHER_TOOL]
            body["tool_choice"] = "auto"
            body["input"] = [{"role": "developer", "content": "Answer in French."},
                             {"role": "user", "content": self.ask()}]
            body["text"] = {"format": {"type": "json_schema", "name": "answer", "strict": True, "schema": {
                "type": "object", "properties": {"answer": {"type": "string"}},
                "required": ["answer"], "additionalProperties": False}}}
        else:
            side = self.r.choice([32, 64, 96])
            body["input"] = [{"role": "user", "content": [
                {"type": "input_text", "text": "What colour is this square?"},
                {"type": "input_image", "image_url": png_data_url(side, side, (200, 30, 30)),
                 "detail": self.r.choice(["low", "high"])}]}]
        return body

    def chat_body(self, i: int) -> dict:
        model = self.r.choice(MODELS_CHAT)
        messages = [{"role": "system", "content": "You are a helpful assistant."}]
        for _ in range(self.r.randint(1, 3)):
            messages += self.exchange()
        messages.append({"role": "user", "content": self.ask()})
        body: dict = {"model": model, "messages": messages, "temperature": 0.2}
        if i % 4 == 0:
            body["tools"] = [chat_tool(WEATHER_TOOL)]
        if i % 7 == 0:
            body["messages"][-1:] = [
                {"role": "user", "content": "Where is order A-17?"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{i}", "type": "function",
                 "function": {"name": "lookup_order", "arguments": "{\"order_id\": \"A-17\"}"}}]},
                {"role": "tool", "tool_call_id": f"call_{i}", "content": "{\"status\": \"in transit\"}"},
            ]
            body["tools"] = [chat_tool(ORDER_TOOL)]
        return body

    def finetune_example(self) -> dict:
        messages = [{"role": "system", "content": "Marv is a sarcastic but factual chatbot."}]
        for _ in range(self.r.randint(1, 2)):
            messages += self.exchange()
        example: dict = {"messages": messages}
        if self.r.random() < 0.3:
            example["tools"] = [chat_tool(WEATHER_TOOL)]
        return example


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def responses_shard(g: Gen) -> list[str]:
    lines = [dumps(g.responses_body(i)) for i in range(110)]
    # Bad lines, each a different record-level error; the job must keep them as error rows.
    lines[13] = lines[13][: len(lines[13]) // 2]                                      # truncated JSON
    lines[27] = ""                                                                    # blank line
    lines[41] = "[1, 2, 3]"                                                           # not an object
    lines[55] = dumps({"model": "gpt-9-ultra", "input": "hello"})                     # unknown model
    lines[69] = dumps({"input": "no model here"})                                     # missing model
    lines[83] = dumps({"model": "anthropic/claude-3-5-sonnet", "input": "hi"})        # other provider
    lines[97] = dumps({"model": "gpt-4o", "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "data:image/png;base64,bm90IGEgcG5n"}]}]})  # bad image
    # Hidden context: counted as far as known and flagged estimated, with reasons.
    lines[5] = dumps({"model": "gpt-5", "previous_response_id": "resp_0123", "input": "And in French?"})
    lines[19] = dumps({"model": "gpt-4.1", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is in this photo?"},
        {"type": "input_image", "image_url": "https://example.com/cat.jpg"}]}]})   # remote image: never fetched
    lines[33] = dumps({"model": "gpt-5-mini", "input": "Latest news on tokenizers?",
                       "tools": [{"type": "web_search"}]})                          # hosted tool prompt
    return lines


def reference_cases(days: set[str]) -> list[dict]:
    """Real Chat requests recorded on ``days``, with the input tokens OpenAI reported for them (from
    ``cases.jsonl.gz``, the traffic the counting rules were derived from)."""
    found = []
    for line in gzip.decompress((REFERENCE / "cases.jsonl.gz").read_bytes()).splitlines():
        case = json.loads(line)
        recorded = re.search(r"recorded (\d{4}-\d{2}-\d{2})", case.get("notes") or "")
        if case["api"] == "chat.completions" and recorded and recorded.group(1) in days:
            found.append({**case, "recorded": recorded.group(1)})
    return sorted(found, key=lambda c: c["id"])


def chat_log_shard(g: Gen) -> list[str]:
    """A gateway log of real requests with honest logged input usage: the count OpenAI reported, on the
    day it was recorded (a few days, so reports have days to group by). Output tokens are synthetic."""
    cases = g.r.sample(reference_cases(LOG_DAYS), 99)
    cases.sort(key=lambda c: (c["recorded"], c["id"]))
    lines = []
    for i, case in enumerate(cases):
        prompt, completion = case["expected_input_tokens"], g.r.randint(5, 300)
        lines.append(dumps({
            "id": f"req_{i:05d}", "timestamp": f"{case['recorded']}T{g.r.randint(0, 23):02d}:{i % 60:02d}:00Z",
            "tenant": g.r.choice(TENANTS), "case": case["id"], "request": case["request"],
            "response": {"status": 200, "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                                  "total_tokens": prompt + completion}},
        }))
    lines.insert(50, '{"id": "req_bad", "timestamp": "2024-09-24T00:50:00Z", "request": ')  # cut-off write
    return lines


def batch_shard(g: Gen) -> list[str]:
    lines = []
    for i in range(60):
        chat = i % 2 == 0
        body = g.chat_body(i) if chat else g.responses_body(i)
        lines.append(dumps({"custom_id": f"task-{i}", "method": "POST",
                            "url": "/v1/chat/completions" if chat else "/v1/responses", "body": body}))
    lines[59] = dumps({"custom_id": "task-59", "method": "POST", "url": "/v1/embeddings",
                       "body": {"model": "text-embedding-3-small", "input": "hello"}})
    return lines


def finetune_shard(g: Gen) -> list[str]:
    return [dumps(g.finetune_example()) for _ in range(80)]


def main() -> None:
    g = Gen(SEED)
    shards = {
        "responses-000.jsonl": responses_shard(g),
        "chat-logs-000.jsonl": chat_log_shard(g),
        "batch-000.jsonl": batch_shard(g),
        "finetune-000.jsonl.gz": finetune_shard(g),
    }
    for name, lines in shards.items():
        data = ("\n".join(lines) + "\n").encode()
        path = HERE / name
        if name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        path.write_bytes(data)
        print(f"{path.relative_to(HERE.parent.parent)}: {len(lines)} lines, {len(data):,} bytes")


if __name__ == "__main__":
    main()
