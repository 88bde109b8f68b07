"""Where rows come from: one module per kind of source behind one interface.

Every reader turns its source into shards (``files.Shard``) and each shard into raw JSON records in
the job's ``log`` preset shape (``{"id", "timestamp", "tenant", "api", "request", "response": {"usage"},
"log_loss"}``; ``api``, chat or responses, where the source knows it), then one ``Digest``; the job
does not care where they came from.

- ``files``: JSONL and Parquet files, local or on any pyarrow/fsspec filesystem.
- ``stores``: log stores (``sqlite:///ABS/PATH.db``, ``postgresql://...``), read as ranges; ``bifrost``
  and ``litellm`` rebuild their tables' rows.
- ``otlp``: OTLP JSON trace files (a row per GenAI span); ``langfuse``: Langfuse observation exports
  (a row per generation).

``LOG_LOSS`` is the closed set of reasons a logged record is not the request the provider saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow.fs as pafs

from jobs.readers import files

if TYPE_CHECKING:
    from jobs.config import JobConfig

# Why a logged record cannot be compared with its logged usage. Rows with a body are still counted and
# flagged ``estimated``; rows without one (content_not_logged, other_request_type) carry no count.
LOG_LOSS: dict[str, str] = {
    "content_not_logged": "the store kept no request content (content logging off)",
    "large_payload_preview": "the gateway logged only a preview of a large request",
    "tools_rewritten": "the gateway logged a Responses request's tools in Chat shape",
    "truncated": "the store cut a long string of the request (LiteLLM: over 2,048 characters): not counted",
    "key_order_lost": "the store (PostgreSQL jsonb) reordered the keys of a tool or response schema",
    "object_stored": "the request content lives in object storage, not in the store",
    "other_request_type": "not a chat or Responses request (embedding, speech, ...): not counted",
    "tools_not_logged": "the trace kept no tool definitions (or not their schemas), or not whether there were any",
    "format_not_logged": "the trace kept the structured-output format (response_format, text.format) only in part",
}


def is_store(uri: str) -> bool:
    """Whether ``uri`` names a log store rather than files."""
    from jobs.readers.stores import SCHEMES

    return uri.split("://", 1)[0].lower() in SCHEMES if "://" in uri else False


def list_inputs(inputs: list[str], options: JobConfig, filesystem: pafs.FileSystem | None = None,
                output: str | None = None) -> list[files.Shard]:
    """Every input's shards: files as ``files.list_shards`` finds them, each store as rowid ranges
    (``stores.list_ranges``; ``options`` is the job config, for the format and the time window)."""
    stores = [uri for uri in inputs if is_store(uri)]
    paths = [uri for uri in inputs if not is_store(uri)]
    if paths and (options.since or options.until):
        raise files.InputError(f"--since/--until select rows of a log store (sqlite://, postgresql://), but "
                               f"{paths[0]} is a file: files are counted whole")
    shards = files.list_shards(paths, filesystem, output, options.format) if paths else []
    if stores:
        from jobs.readers.stores import list_ranges

        for uri in stores:
            shards += list_ranges(uri, options, output, filesystem)
    return shards


def iter_records(shard: files.Shard) -> Iterator[bytes | files.Digest]:
    """A shard's raw records, then one ``Digest``, whatever kind of source it is."""
    if shard.store is not None:
        from jobs.readers.stores import iter_range

        return iter_range(shard)
    return files.iter_records(shard)


def shard_of(source_file: str, fmt: str = "auto") -> files.Shard:
    """The shard a row's ``source_file`` names (a file, or a store's range), to read its rows again;
    ``fmt`` is the run's ``--format`` (OTLP spans in a ``.jsonl`` file are read as spans only with it)."""
    if is_store(source_file):
        from jobs.readers.stores import range_shard

        return range_shard(source_file)
    return files.list_shards([source_file], fmt=fmt)[0]


def input_roots(inputs: list[str], filesystem: pafs.FileSystem | None = None) -> list[str]:
    """Where each input really is (``files.input_roots``); a store is its own root (``stores.root``)."""
    from jobs.readers.stores import root

    return [root(uri) if is_store(uri) else files.input_roots([uri], filesystem)[0] for uri in inputs]


_FRACTION = re.compile(r"(\.\d{6})\d+")


def utc_iso(value: Any) -> str | None:
    """A stored time as ISO 8601 UTC: text such as go-sqlite3's ``2026-12-06 10:00:00.123456789+00:00``,
    or a ``datetime`` (naive ones are UTC wall clock, as LiteLLM stores them)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_column(text: Any) -> Any:
    """A JSON column's value: text is parsed (empty or broken: None), jsonb already is."""
    if not isinstance(text, str | bytes):
        return text
    try:
        return orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        return None
