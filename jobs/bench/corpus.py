"""A deterministic benchmark corpus of request bodies as JSONL shards (``jobs.bench``).

Records are built from a fixed-seed pool of paragraphs (English prose, code, numbers, a little CJK
and emoji) so every run, on every machine, counts the same bytes. The mix is what request logs look
like: a few long multi-turn conversations carry most of the bytes, many short chats and
tool-calling requests carry most of the records, and a fifth of the records are Chat Completions.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

_WORDS = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by", "this",
    "are", "from", "at", "or", "an", "which", "not", "have", "has", "but", "can", "all", "will", "one", "more",
    "about", "there", "their", "been", "would", "if", "when", "what", "so", "no", "up", "out", "into", "only",
    "other", "some", "time", "could", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such",
    "like", "our", "over", "new", "also", "most", "use", "after", "way", "many", "must", "before", "through",
    "back", "years", "where", "much", "your", "well", "down", "should", "because", "each", "just", "those",
    "people", "how", "too", "little", "state", "good", "very", "make", "world", "still", "own", "see", "men",
    "work", "long", "get", "here", "between", "both", "life", "being", "under", "never", "day", "same", "another",
    "know", "while", "last", "might", "us", "great", "old", "year", "off", "come", "since", "against", "customer",
    "order", "refund", "invoice", "shipment", "database", "migration", "latency", "throughput", "deployment",
    "kubernetes", "cluster", "request", "response", "token", "budget", "pipeline", "schema", "parquet",
    "streaming", "tenant", "billing", "analytics", "Please", "Thanks", "However", "Therefore", "Summary", "Note",
    "Error", "Warning", "Example", "Step", "Result", "Answer", "Question"
]
_EXTRA = ["数据", "東京", "모델", "привет", "ünïcödé", "🚀", "✅", "naïve", "café", "€42.50", "10:30", "2026-11-01",
          "https://example.com/a/b?c=1", "user@example.com", "A-17", "v2.3.1", "(see above)", "e.g.", "i.e.,"]
_CODE = [
    "def handler(event, context):\n    items = [x for x in event['items'] if x.get('ok')]\n"
    "    return {'count': len(items)}\n",
    "for (let i = 0; i < rows.length; i++) {\n  total += rows[i].amount * 1.2;\n}\n",
    "SELECT tenant, SUM(input_tokens) AS total\nFROM counts\nWHERE day >= '2026-11-01'\nGROUP BY tenant;\n",
    "```json\n{\"status\": \"in transit\", \"eta\": \"2026-11-03\", \"items\": [1, 2, 3]}\n```\n",
    "    if err != nil {\n        return fmt.Errorf(\"open %s: %w\", path, err)\n    }\n",
]
_MODELS_O200K = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini", "o4-mini"]
_MODELS_CL100K = ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo"]
_TYPES = ["string", "integer", "number", "boolean"]


_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "shi", "por", "vel", "dan", "tri", "gon", "ex", "qu", "ber",
              "stra", "ine", "ology", "ment", "ness", "ize", "ful", "con", "pre", "sub", "inter", "graph", "ic")


class _Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        # Common words plus invented ones (names, jargon, identifiers) with Zipf weights: most words are
        # one token, the rare ones need real BPE merges, as in real logs.
        invented = ["".join(self.rng.choices(_SYLLABLES, k=self.rng.choice((1, 2, 2, 3)))) for _ in range(6000)]
        pairs = zip(invented[:600], invented[600:1200], strict=True)
        invented += [f"{a}_{b}" if i % 2 else a.capitalize() + b.capitalize() for i, (a, b) in enumerate(pairs)]
        self.vocab = _WORDS + invented
        weights = [1 / (rank + 3) ** 1.1 for rank in range(len(self.vocab))]
        self.cum = list(itertools.accumulate(weights))
        self.paragraphs = [self._paragraph() for _ in range(6000)]

    def _paragraph(self) -> str:
        rng = self.rng
        if rng.random() < 0.12:
            return rng.choice(_CODE)
        n = rng.randint(12, 120)
        words = rng.choices(self.vocab, cum_weights=self.cum, k=n)
        for i in range(0, n, rng.randint(6, 20)):
            if rng.random() < 0.3:
                words[i] = rng.choice(_EXTRA)
            elif rng.random() < 0.3:
                words[i] = str(rng.randint(0, 99999))
        text = " ".join(words)
        sentences = text.split(" the ")
        return ". The ".join(s.capitalize() for s in sentences) + rng.choice([".", "?", "!", ":\n- a\n- b"])

    def text(self, paragraphs: int) -> str:
        return "\n\n".join(self.rng.choices(self.paragraphs, k=paragraphs))

    def short(self) -> str:
        return " ".join(self.rng.choices(_WORDS, k=self.rng.randint(3, 25))) + "?"

    def model(self) -> str:
        return self.rng.choice(_MODELS_CL100K if self.rng.random() < 0.1 else _MODELS_O200K)

    def long_responses(self) -> dict[str, Any]:
        turns = []
        for i in range(self.rng.randint(4, 24)):
            role = "user" if i % 2 == 0 else "assistant"
            body = self.text(self.rng.randint(1, 12))
            if role == "user" and self.rng.random() < 0.5:
                turns.append({"role": role, "content": [{"type": "input_text", "text": body}]})
            else:
                turns.append({"role": role, "content": body})
        return {"model": self.model(), "instructions": self.text(2), "input": turns, "max_output_tokens": 2048}

    def tool(self, chat: bool) -> dict[str, Any]:
        rng = self.rng
        props: dict[str, Any] = {}
        for _ in range(rng.randint(1, 7)):
            name = "_".join(rng.choices(_WORDS[:60], k=2))
            prop: dict[str, Any] = {"type": rng.choice(_TYPES), "description": self.short()}
            if rng.random() < 0.2:
                prop = {"type": "string", "enum": rng.sample(_WORDS[100:140], 3)}
            props[name] = prop
        fn = {"name": f"{rng.choice(_WORDS[100:140])}_{rng.randint(0, 999)}", "description": self.short(),
              "parameters": {"type": "object", "properties": props, "required": list(props)[:1]}}
        return {"type": "function", "function": fn} if chat else {"type": "function", **fn}

    def tools_responses(self) -> dict[str, Any]:
        tools = [self.tool(chat=False) for _ in range(self.rng.randint(1, 8))]
        name = tools[0]["name"]
        items: list[dict[str, Any]] = [{"role": "user", "content": self.short()}]
        if self.rng.random() < 0.6:
            items += [{"type": "function_call", "call_id": "call_1", "name": name, "arguments": '{"id": "A-17"}'},
                      {"type": "function_call_output", "call_id": "call_1", "output": self.text(1)}]
        return {"model": self.model(), "tools": tools, "tool_choice": "auto", "input": items}

    def short_responses(self) -> dict[str, Any]:
        if self.rng.random() < 0.5:
            return {"model": self.model(), "input": self.short()}
        return {"model": self.model(), "instructions": self.short(),
                "input": [{"role": "user", "content": self.text(1)}]}

    def chat(self) -> dict[str, Any]:
        messages = [{"role": "system", "content": self.short()}]
        for i in range(self.rng.randint(1, 8)):
            role = "user" if i % 2 == 0 else "assistant"
            messages.append({"role": role, "content": self.text(self.rng.randint(1, 4))})
        body: dict[str, Any] = {"model": self.model(), "messages": messages, "temperature": 0.2}
        if self.rng.random() < 0.3:
            body["tools"] = [self.tool(chat=True) for _ in range(self.rng.randint(1, 4))]
        return body

    def record(self) -> dict[str, Any]:
        roll = self.rng.random()
        if roll < 0.12:
            return self.long_responses()
        if roll < 0.37:
            return self.tools_responses()
        if roll < 0.77:
            return self.short_responses()
        return self.chat()


def iter_records(seed: int = 6) -> Iterator[bytes]:
    """An endless, deterministic stream of JSON lines (no newline)."""
    gen = _Gen(seed)
    while True:
        yield orjson.dumps(gen.record())


def write_corpus(directory: Path, size_mb: float, shards: int, seed: int = 6) -> list[Path]:
    """About ``size_mb`` MB of JSONL in ``shards`` files of equal size; the same bytes every time."""
    directory.mkdir(parents=True, exist_ok=True)
    target = int(size_mb * 1e6 / shards)
    paths = []
    records = iter_records(seed)
    for i in range(shards):
        path = directory / f"part-{i:04d}.jsonl"
        written = 0
        with path.open("wb") as fh:
            while written < target:
                line = next(records) + b"\n"
                fh.write(line)
                written += len(line)
        paths.append(path)
    return paths
