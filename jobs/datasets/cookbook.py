"""The cookbook's numbers for a fine-tuning file, computed as its notebook does, to compare with ours.

OpenAI's "Data preparation and analysis for chat model fine-tuning" (openai/openai-cookbook
``examples/Chat_finetuning_data_prep.ipynb``, current version b774cbf1; /work/shared/facts/
finetune_facts.md §1.3-1.4): 3 tokens per message + 3, every value of every key encoded with
cl100k_base whatever the model, +1 per ``name``, tools ignored; ``MAX_TOKENS_PER_EXAMPLE = 16385``.
``python -m jobs.datasets.cookbook FILE`` prints them (``tests/jobs/test_finetune.py`` uses it).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

from jobs.datasets.finetune import default_epochs
from tokcount_core.encoding import get_encoding

MAX_TOKENS_PER_EXAMPLE = 16385


def num_tokens_from_messages(messages: list[dict[str, Any]], tokens_per_message: int = 3,
                             tokens_per_name: int = 1) -> int:
    encoding = get_encoding("cl100k_base")
    num_tokens = 0
    for message in messages:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))  # a non-string value raises, as in the notebook
            if key == "name":
                num_tokens += tokens_per_name
    return num_tokens + 3


def num_assistant_tokens_from_messages(messages: list[dict[str, Any]]) -> int:
    encoding = get_encoding("cl100k_base")
    return sum(len(encoding.encode(m["content"])) for m in messages if m["role"] == "assistant")


def cookbook_numbers(dataset: list[dict[str, Any]]) -> dict[str, Any]:
    convo_lens = [num_tokens_from_messages(ex["messages"]) for ex in dataset]
    assistant = [num_assistant_tokens_from_messages(ex["messages"]) for ex in dataset]
    n_epochs = default_epochs(len(dataset))  # the notebook's clamp, same constants (facts §1.4)
    billing = sum(min(MAX_TOKENS_PER_EXAMPLE, n) for n in convo_lens)
    return {"examples": len(dataset), "tokens_min": min(convo_lens), "tokens_max": max(convo_lens),
            "tokens_mean": round(sum(convo_lens) / len(convo_lens), 1), "assistant_tokens": sum(assistant),
            "n_too_long": sum(n > MAX_TOKENS_PER_EXAMPLE for n in convo_lens), "n_epochs": n_epochs,
            "billing_tokens_in_dataset": billing, "billed_tokens": n_epochs * billing}


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    data = Path(path).read_bytes()
    if str(path).endswith(".gz"):
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.splitlines() if line.strip()]


if __name__ == "__main__":
    print(json.dumps(cookbook_numbers(read_jsonl(sys.argv[1])), indent=2))
