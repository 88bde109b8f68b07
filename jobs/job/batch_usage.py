"""Auditing an OpenAI batch: usage from its output files, joined to the input records by ``custom_id``.

The batch input has the requests, the output has what OpenAI billed; the job counts the input and
puts the billed numbers beside each count (``logged_input_tokens``, ``output_tokens``).
"""

from __future__ import annotations

import orjson
import pyarrow.fs as pafs

from jobs.job.records import PRESETS, extract
from jobs.readers.files import iter_records, list_shards

Usage = tuple[int | None, int | None, int | None]  # input, cached, output tokens


def load_batch_usage(uris: list[str], filesystem: pafs.FileSystem | None = None) -> dict[str, Usage]:
    """``custom_id -> (input_tokens, cached_tokens, output_tokens)`` from batch output files; unreadable lines are
    skipped (their records simply get no logged usage)."""
    layout = PRESETS["openai_batch_output"]
    usage: dict[str, Usage] = {}
    for shard in list_shards(uris, filesystem) if uris else []:
        for raw in iter_records(shard):
            if not isinstance(raw, bytes):
                continue
            try:
                found = extract(orjson.loads(raw), layout)
            except orjson.JSONDecodeError:
                continue
            if found.record_id is not None:
                usage[found.record_id] = (found.logged_input_tokens, found.cached_tokens, found.output_tokens)
    return usage
