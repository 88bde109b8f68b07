"""The output directory: schema, one Parquet file per input shard, atomic finish, resume markers.

Layout of OUTPUT (any pyarrow filesystem)::

    <shard>.<key>.parquet                one per input shard (or kept/ and rejected/ with a split)
    <shard>.<key>.part-NNNNN.parquet     instead, for a shard split into line ranges (in line order)
    _done/<shard key>.json               marker: input size/mtime/sha256, config fingerprint, stats
    _tmp/<shard key>/...                 in-flight files; renamed into place when the shard ends
    _manifest.json                       written last, from all markers of this run's inputs
    _lock                                held while a run writes (one run at a time)

``<shard>`` ends with the shard key (a digest of where the input really is), so inputs of different
runs never share an output file even when their names do (``D1/part-000``, ``D2/part-000``).

Names starting with ``_`` are ignored by pyarrow/Spark dataset readers, so ``OUTPUT`` reads as one
table. A shard counts as done only when its marker exists, and the marker is written after the
rename (of all its ranges' files), so a killed run leaves either a finished shard or none.
``_manifest.json`` exists only after a run finished: ``prepare`` removes the previous one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from jobs.config import JobConfig
from jobs.job.lock import LockedError, OutputLock, read_json
from jobs.readers.files import Digest, Shard, content_sha256, identity, prefix_sha256, resolve, under

NO_DAY = "__HIVE_DEFAULT_PARTITION__"  # Hive's name for a null partition value
DETAIL_FIELDS = ("text_tokens", "image_tokens", "audio_tokens", "file_tokens", "tool_tokens",
                 "response_format_tokens", "overhead_tokens", "cached_tokens")


class OutputError(OSError):
    """The output location is unusable: fatal before any work starts."""


def output_schema(config: JobConfig, passthrough: list[str]) -> pa.Schema:
    """The documented output schema; optional columns appear only when the config asks for them."""
    fields = [
        pa.field("record_id", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("source_row", pa.int64()),
        pa.field("model", pa.string()),
        pa.field("encoding", pa.string()),
        pa.field("api", pa.string()),
        pa.field("input_tokens", pa.int64()),
        pa.field("input_tokens_details", pa.struct([(name, pa.int64()) for name in DETAIL_FIELDS])),
        pa.field("logged_input_tokens", pa.int64()),
        pa.field("cached_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("delta", pa.int64()),
        pa.field("delta_pct", pa.float64()),
        pa.field("batch", pa.bool_()),
        pa.field("total_tokens", pa.int64()),
        pa.field("estimated", pa.bool_()),
        pa.field("estimate_reasons", pa.list_(pa.string())),
        pa.field("error_code", pa.string()),
        pa.field("error_message", pa.string()),
        # Why the logged request is not the one sent (``jobs.readers.LOG_LOSS``); the audit does not compare it.
        pa.field("log_loss", pa.string()),
        pa.field("rules_version", pa.string()),
        *(pa.field(name, pa.string()) for name in passthrough),
    ]
    if "timestamp" in passthrough:
        fields.append(pa.field("day", pa.string()))
    if config.output.tokens:
        fields.append(pa.field("tokens", pa.list_(pa.int32())))
    if config.output.rules:
        fields.append(pa.field("rules", pa.list_(pa.string())))
    if config.output.context:
        fields += [pa.field("context_window", pa.int64()), pa.field("fits_context", pa.bool_())]
    if config.pricing:
        fields.append(pa.field("cost_usd", pa.float64()))
    if config.output.keep_record:
        fields.append(pa.field("record", pa.large_string()))
    return pa.schema(fields)


@dataclass
class ShardStats:
    """What one finished shard contributed; stored in its marker so resumed runs add up the same."""

    records: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    estimated: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    kept: int | None = None
    rejected: int | None = None

    def add(self, table: pa.Table, kept: int | None) -> None:
        self.records += table.num_rows
        codes = Counter(c for c in table.column("error_code").to_pylist() if c is not None)
        for code, n in codes.items():
            self.errors[code] = self.errors.get(code, 0) + n
        self.estimated += pc.sum(table.column("estimated").cast(pa.int64())).as_py() or 0
        self.input_tokens += pc.sum(table.column("input_tokens")).as_py() or 0
        self.output_tokens += pc.sum(table.column("output_tokens")).as_py() or 0
        if "cost_usd" in table.column_names:
            self.cost_usd += pc.sum(table.column("cost_usd")).as_py() or 0.0
        if kept is not None:
            self.kept = (self.kept or 0) + kept
            self.rejected = (self.rejected or 0) + table.num_rows - kept


def add_stats(total: ShardStats, part: ShardStats) -> None:
    total.records += part.records
    for code, n in part.errors.items():
        total.errors[code] = total.errors.get(code, 0) + n
    total.estimated += part.estimated
    total.input_tokens += part.input_tokens
    total.output_tokens += part.output_tokens
    total.cost_usd += part.cost_usd
    if part.kept is not None:
        total.kept = (total.kept or 0) + part.kept
        total.rejected = (total.rejected or 0) + (part.rejected or 0)


class OutputDir:
    def __init__(self, uri: str, filesystem: pafs.FileSystem | None = None):
        self.uri = uri
        self.fs, self.path = resolve(uri, filesystem)
        self.path = self.path.rstrip("/")
        self.lock: OutputLock | None = None

    def join(self, *parts: str) -> str:
        return "/".join((self.path, *parts))

    def prepare(self, overwrite: bool) -> None:
        """Check we may write here, take the lock, clear leftovers of a killed run; ``overwrite`` starts over.

        Refuses to delete a non-empty directory that is not a tokcount output, and to write while
        another run holds the lock (its temp files are not leftovers). ``release`` ends the run.
        """
        try:
            info = self.fs.get_file_info(self.path)
            if info.type == pafs.FileType.File:
                raise OutputError(f"output {self.uri} is a file, not a directory")
            entries = []
            if info.type == pafs.FileType.Directory:
                entries = self.fs.get_file_info(pafs.FileSelector(self.path))
                ours = any(e.base_name in ("_done", "_manifest.json", "_tmp", "_lock") for e in entries)
                if entries and not ours:
                    raise OutputError(f"output {self.uri} is a non-empty directory but not a tokcount output")
            self.fs.create_dir(self.path, recursive=True)
            self.lock = OutputLock.acquire(self.fs, self.join("_lock"), self.uri)
            if overwrite:
                for entry in entries:
                    if entry.base_name != "_lock":
                        (self.fs.delete_dir if entry.type == pafs.FileType.Directory else self.fs.delete_file)(
                            entry.path)
            self.cleanup()
            # A manifest means "the last run finished": drop it until this run writes its own, so a
            # run that fails or is killed part-way leaves no manifest describing outputs it deleted.
            if self.fs.get_file_info(self.join("_manifest.json")).type == pafs.FileType.File:
                self.fs.delete_file(self.join("_manifest.json"))
            probe = self.join("_tmp", ".probe")
            self.fs.create_dir(self.join("_tmp"), recursive=True)
            with self.fs.open_output_stream(probe) as f:
                f.write(b"ok")
            self.fs.delete_file(probe)
        except (OutputError, LockedError):
            self.release()
            raise
        except OSError as exc:
            self.release()
            raise OutputError(f"cannot write output {self.uri}: {exc}") from None

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def read_json(self, *parts: str) -> Any:
        return read_json(self.fs, self.join(*parts))

    def write_json(self, data: Any, *parts: str) -> None:
        """Write to ``_tmp`` then move into place, so readers never see half a file."""
        tmp = self.join("_tmp", *parts)
        self.fs.create_dir(tmp.rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(tmp, compression=None) as f:
            f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        self.move(tmp, self.join(*parts))

    def cleanup(self) -> None:
        """Drop the (now empty) temp area at the end of a successful run."""
        if self.fs.get_file_info(self.join("_tmp")).type == pafs.FileType.Directory:
            self.fs.delete_dir(self.join("_tmp"))

    def move(self, src: str, dst: str) -> None:
        self.fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
        self.fs.move(src, dst)

    def marker(self, shard: Shard) -> dict[str, Any] | None:
        """The shard's marker: by its key, else by the key outputs before 2026.12 used (one read each,
        no listing: on S3 every call is a request)."""
        return self.read_json("_done", f"{shard.key}.json") or self.read_json("_done", f"{shard.legacy_key}.json")

    def markers(self, skip: frozenset[str] | set[str] = frozenset()) -> list[dict[str, Any]]:
        """Every readable marker in ``_done`` but those named in ``skip`` (one listing, then one read each)."""
        selector = pafs.FileSelector(self.join("_done"), allow_not_found=True)
        names = sorted(e.base_name for e in self.fs.get_file_info(selector) if e.base_name not in skip)
        return [m for name in names if (m := self.read_json("_done", name))]

    def orphans(self, shards: list[Shard], roots: list[str]) -> tuple[list[dict[str, Any]], int]:
        """Markers of earlier results whose input lies under one of this run's ``roots`` (identities of
        the given inputs) but was not listed: deleted or renamed. Their rows stay in OUTPUT and the run
        reports them; it never deletes them. Also how many other results (other nights' inputs) OUTPUT holds."""
        others = self.markers(skip={f"{k}.json" for s in shards for k in (s.key, s.legacy_key)})
        gone = [m for m in others if any(under(marker_identity(m), root) for root in roots)]
        return gone, len(others) - len(gone)

    def is_done(self, shard: Shard, marker: dict[str, Any] | None, fingerprint: str, verify: bool = False) -> bool:
        """Finished by an earlier run with the same config, and the input looks unchanged: same size
        and mtime, and with ``verify`` the same sha256 of its bytes (reads the input again)."""
        done = bool(marker) and marker["input"] == {
            "uri": shard.uri, "size": shard.size, "mtime": shard.mtime} and marker["config"] == fingerprint
        # A store's range holds the same rows for good (new rows are new ranges): nothing to re-hash.
        return done and (not verify or shard.store is not None or marker.get("sha256") == content_sha256(shard))

    def discard(self, shard: Shard, marker: dict[str, Any] | None) -> None:
        """Remove a previous (stale) result of ``shard`` (its ``marker``, as planning read it) before it
        is counted again."""
        if not marker:
            return
        for key in (shard.key, shard.legacy_key):
            if self.fs.get_file_info(self.join("_done", f"{key}.json")).type == pafs.FileType.File:
                self.fs.delete_file(self.join("_done", f"{key}.json"))
        for rel in marker["outputs"]:
            if self.fs.get_file_info(self.join(rel)).type == pafs.FileType.File:
                self.fs.delete_file(self.join(rel))


def marker_identity(marker: dict[str, Any]) -> str:
    """Where a marker's input was; markers written before 2026.12 have only the URI as given."""
    if "identity" in marker:
        return marker["identity"]
    fs, path = resolve(marker["input"]["uri"])
    return identity(fs, path, marker["input"]["uri"])


def extends(shard: Shard, marker: dict[str, Any]) -> bool:
    """Whether the input now starts with exactly the bytes counted before (it grew, or only its mtime
    changed), so recounting it replaces no record with another. Reads that prefix once. A store's
    range is the same rows whatever changed: recounting it replaces each row with itself."""
    if shard.store is not None:
        return True
    return shard.size >= marker["bytes_read"] and prefix_sha256(shard, marker["bytes_read"]) == marker["sha256"]


class ShardWriter:
    """Streams one shard's rows (or one line range's, ``part``) to temp Parquet file(s) under
    ``_tmp/<shard key>/``; ``close`` returns their paths relative to OUTPUT, and ``commit_shard``
    moves them into place once the whole shard is written.

    With ``output.partition_by: day`` a shard's rows go to ``day=YYYY-MM-DD/<shard>.parquet`` (one
    file per day the shard has; ``day=__HIVE_DEFAULT_PARTITION__`` for rows without a readable
    timestamp), so a report over a date range reads only those days.
    """

    def __init__(self, out: OutputDir, shard: Shard, schema: pa.Schema, config: JobConfig,
                 part: int | None = None, first_row: int = 0):
        self.out, self.shard, self.schema = out, shard, schema
        self.stem = shard.name if part is None else f"{shard.name}.part-{part:05d}"
        self.max_input_tokens = config.output.max_input_tokens
        self.partitioned = config.output.partition_by == "day"
        self.subdirs = ("kept", "rejected") if self.max_input_tokens is not None else ("",)
        self.compression = None if config.output.compression == "none" else config.output.compression
        self.writers: dict[str, pq.ParquetWriter] = {}  # output path (relative) -> its temp file's writer
        if not self.partitioned:  # one file per subdir even for an empty shard
            for sub in self.subdirs:
                self._writer(self._relative(sub, None))
        self.stats = ShardStats()
        self.next_row = first_row

    def _relative(self, sub: str, day: str | None) -> str:
        partition = f"day={day or NO_DAY}" if self.partitioned else ""
        return "/".join(p for p in (sub, partition, f"{self.stem}.parquet") if p)

    def _writer(self, rel: str) -> pq.ParquetWriter:
        if rel not in self.writers:
            tmp = self.out.join("_tmp", self.shard.key, rel)
            self.out.fs.create_dir(tmp.rsplit("/", 1)[0], recursive=True)
            self.writers[rel] = pq.ParquetWriter(tmp, self.schema, filesystem=self.out.fs,
                                                 compression=self.compression)
        return self.writers[rel]

    def _write(self, sub: str, table: pa.Table) -> None:
        if not self.partitioned:
            self._writer(self._relative(sub, None)).write_table(table)
            return
        days = table.column("day")
        for day in pc.unique(days).to_pylist():
            rows = table.filter(pc.is_null(days) if day is None else pc.equal(days, day))
            self._writer(self._relative(sub, day)).write_table(rows)

    def write(self, table: pa.Table) -> None:
        rows = table.column("source_row")
        if table.num_rows and (rows[0].as_py() != self.next_row
                               or rows[-1].as_py() != self.next_row + table.num_rows - 1):
            raise RuntimeError(f"{self.shard.uri}: rows arrived out of order at {rows[0]} (expected "
                               f"{self.next_row}); output would not match the input order")
        self.next_row += table.num_rows
        if self.max_input_tokens is None:
            self._write(self.subdirs[0], table)
            self.stats.add(table, kept=None)
            return
        keep = pc.fill_null(pc.less_equal(table.column("input_tokens"), self.max_input_tokens), False)
        kept = table.filter(keep)
        self._write(self.subdirs[0], kept)
        self._write(self.subdirs[1], table.filter(pc.invert(keep)))
        self.stats.add(table, kept=kept.num_rows)

    def close(self) -> list[str]:
        for writer in self.writers.values():
            writer.close()
        return sorted(self.writers)


def commit_shard(out: OutputDir, shard: Shard, outputs: list[str], digest: Digest, stats: ShardStats,
                 fingerprint: str, nodes: list[str]) -> dict[str, Any]:
    """Move a shard's finished temp files into place, then write its marker: now it is done.
    ``nodes``: where it was counted (the Ray node ids, or this host), for the manifest."""
    for rel in outputs:
        out.move(out.join("_tmp", shard.key, rel), out.join(rel))
    marker = {
        "input": {"uri": shard.uri, "size": shard.size, "mtime": shard.mtime},
        "identity": shard.identity,
        "sha256": digest.sha256,
        "bytes_read": digest.bytes,
        "skipped": digest.skipped,
        "range_rows": digest.range_rows,
        "config": fingerprint,
        "outputs": sorted(outputs),
        "stats": asdict(stats),
        "nodes": sorted(set(nodes)),
    }
    out.write_json(marker, "_done", f"{shard.key}.json")
    return marker
