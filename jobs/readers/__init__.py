"""Where rows come from: one module per kind of source behind one interface.

Every reader turns its source into shards (``files.Shard``) and each shard into raw JSON records in
the job's ``log`` preset shape (``{"id", "timestamp", "tenant", "api", "request", "response": {"usage"},
"log_loss"}``; ``api``, chat or responses, where the source knows it), then one ``Digest``; the job
does not care where they came from.

- ``files``: JSONL and Parquet files, local or on any pyarrow/fsspec filesystem.
- ``stores``: log stores (``sqlite:///ABS/PATH.db``), read as rowid ranges; ``bifrost`` rebuilds
  Bifrost's ``logs`` rows.

``LOG_LOSS`` is the closed set of reasons a logged record is not the request the provider saw.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow.fs as pafs

from jobs.readers import files

# Why a logged record cannot be compared with its logged usage. Rows with a body are still counted and
# flagged ``estimated``; rows without one (content_not_logged, other_request_type) carry no count.
LOG_LOSS: dict[str, str] = {
    "content_not_logged": "the store kept no request content (content logging off)",
    "large_payload_preview": "the gateway logged only a preview of a large request",
    "tools_rewritten": "the gateway logged a Responses request's tools in Chat shape",
    "object_stored": "the request content lives in object storage, not in the store",
    "other_request_type": "not a chat or Responses request (embedding, speech, ...): not counted",
}


def is_store(uri: str) -> bool:
    """Whether ``uri`` names a log store rather than files."""
    from jobs.readers.stores import SCHEMES

    return uri.split("://", 1)[0].lower() in SCHEMES if "://" in uri else False


def list_inputs(inputs: list[str], filesystem: pafs.FileSystem | None = None, output: str | None = None,
                options: object | None = None) -> list[files.Shard]:
    """Every input's shards: files as ``files.list_shards`` finds them, each store as rowid ranges
    (``stores.list_ranges``; ``options`` is the job config, for the format and the time window)."""
    stores = [uri for uri in inputs if is_store(uri)]
    paths = [uri for uri in inputs if not is_store(uri)]
    shards = files.list_shards(paths, filesystem, output) if paths else []
    if stores:
        from jobs.readers.stores import list_ranges

        for uri in stores:
            shards += list_ranges(uri, options, output, filesystem)
    elif options is not None and (getattr(options, "since", None) or getattr(options, "until", None)):
        raise files.InputError("--since/--until select rows of a log store (sqlite://...); "
                               "files are counted whole")
    return shards


def iter_records(shard: files.Shard) -> Iterator[bytes | files.Digest]:
    """A shard's raw records, then one ``Digest``, whatever kind of source it is."""
    if shard.store is not None:
        from jobs.readers.stores import iter_range

        return iter_range(shard)
    return files.iter_records(shard)


def input_roots(inputs: list[str], filesystem: pafs.FileSystem | None = None) -> list[str]:
    """Where each input really is (``files.input_roots``); a store is its own root (``stores.root``)."""
    from jobs.readers.stores import root

    return [root(uri) if is_store(uri) else files.input_roots([uri], filesystem)[0] for uri in inputs]
