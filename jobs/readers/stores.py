"""Log stores read in place: a gateway's database, as ranges of rows that are the job's shards.

``sqlite:///ABS/PATH.db`` is opened read-only (``mode=ro``: no write lock is ever taken) and
WAL-aware (the ``-wal`` file's rows are seen; never ``immutable=1``, the gateway is writing). Rows
are read in pages of ``PAGE_ROWS`` by rowid, each page its own short read transaction, so memory is
flat in the number of rows and a writer is never waited on (in WAL mode readers do not block writers).

Splitting and the high-water mark: rows are split into rowid ranges cut on a grid of
``execution.range_rows`` rowids (100,000) and ending at the store's limit when the run is planned:
its last row, or earlier, before the first row still ``processing`` (its content and usage are not
final) or past ``--until``. A range is a shard: its identity
(``sqlite:///real/path.db#logs@rowid=LO-HI``) is stable, so its marker in ``OUTPUT/_done`` makes it
done for good. The ranges already in OUTPUT are the high-water mark: the next run plans only the
rowids no marker covers (the rows added since, or a range a killed run did not finish), so a nightly
run reads each row once and a rerun adds nothing twice. ``source_row`` is the row's position in its
range (rowid order); ``record_id`` is the store's own id.

``--since/--until`` (UTC days, inclusive) become a ``WHERE`` on the store's timestamp; rows before
``--since`` in a range read are skipped for good. Rowids are the order rows were inserted (Bifrost's
``logs`` has an implicit rowid; rows are only appended and deleted by retention).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
import pyarrow.fs as pafs

from jobs.readers import bifrost
from jobs.readers.files import Digest, InputError, Shard, resolve, shard_key

SCHEMES = ("sqlite",)
PAGE_ROWS = 500  # rows per read transaction
NOMINAL_ROW_BYTES = 2048  # a range's size for planning (engine choice, order); rows are not measured
STORE_FORMATS = {"bifrost_logs": bifrost.TABLE}


@dataclass(frozen=True)
class StoreRange:
    """Rows ``[lo, hi)`` by rowid of ``table`` in the store at ``location`` (a file's real path), read
    with the job's time window ``[since, until)`` (ISO text, UTC) and tenant column."""

    location: str
    table: str
    format: str
    lo: int
    hi: int
    since: str | None = None
    until: str | None = None
    tenant: str = bifrost.DEFAULT_TENANT


def root(uri: str) -> str:
    """Where a store really is: ``sqlite://`` and the database file's real path."""
    return f"sqlite://{os.path.realpath(_sqlite_path(uri))}"


def _sqlite_path(uri: str) -> str:
    path = uri.split("://", 1)[1]
    if not path.startswith("/"):
        raise InputError(f"input {uri}: a SQLite store is sqlite:///ABSOLUTE/PATH.db (three slashes)")
    return "/" + path.lstrip("/")  # SQLAlchemy's spelling, sqlite:////abs/path.db, too


def connect(path: str) -> sqlite3.Connection:
    """Read-only and WAL-aware; autocommit, so every statement is its own short read transaction."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA query_only = 1")
    return con


def list_ranges(uri: str, options: Any, output: str | None, filesystem: pafs.FileSystem | None) -> list[Shard]:
    """The store's shards: the ranges earlier runs wrote to ``output`` and the rowids none covers,
    up to the store's limit now (see the module docstring)."""
    path = _sqlite_path(uri)
    if not os.path.isfile(path):
        raise InputError(f"input not found: {uri}")
    try:
        con = connect(path)
        try:
            fmt = _format(con, uri, getattr(options, "format", "auto"))
            table = STORE_FORMATS[fmt]
            since, until = _window(options)
            covered = _covered(output, filesystem, f"{root(uri)}#{table}@rowid=")
            start = max((hi for _, hi in covered), default=1)
            limit = _limit(con, table, start, until)
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise InputError(f"input {uri} cannot be read as a SQLite store: {exc}") from None
    tenant = getattr(getattr(options, "store", None), "tenant", None) or bifrost.DEFAULT_TENANT
    spans = sorted(covered + _gaps(covered, limit, options.execution.range_rows if options else 100_000))
    return [_shard(uri, StoreRange(os.path.realpath(path), table, fmt, lo, hi, since, until, tenant))
            for lo, hi in spans]


def _format(con: sqlite3.Connection, uri: str, fmt: str) -> str:
    """``fmt``, or for ``auto`` the format whose table (with its columns) the store has."""
    names = con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    tables = {name: _columns(con, name) for (name,) in names}
    if fmt == "auto":
        found = [f for f, table in STORE_FORMATS.items() if tables.get(table, set()) >= bifrost.COLUMNS]
        if not found:
            raise InputError(f"input {uri}: no log table this reader knows (Bifrost's 'logs'); pass --format")
        return found[0]
    if fmt not in STORE_FORMATS:
        raise InputError(f"input {uri}: --format {fmt} cannot read a store; use {', '.join(STORE_FORMATS)}")
    missing = bifrost.COLUMNS - tables.get(STORE_FORMATS[fmt], set())
    if missing:
        raise InputError(f"input {uri}: table {STORE_FORMATS[fmt]!r} lacks column(s) {', '.join(sorted(missing))} "
                         f"of --format {fmt}")
    return fmt


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f'PRAGMA table_info("{table}")')}


def _window(options: Any) -> tuple[str | None, str | None]:
    """``--since/--until`` (inclusive UTC days) as half-open ISO bounds on the timestamp."""
    since: date | None = getattr(options, "since", None)
    until: date | None = getattr(options, "until", None)
    return (since.isoformat() if since else None,
            (until + timedelta(days=1)).isoformat() if until else None)


def _limit(con: sqlite3.Connection, table: str, start: int, until: str | None) -> int:
    """The rowid the new ranges end before: past the last row, or at the first row not final yet
    (``processing``), or at the first row past ``--until``."""
    (last,) = con.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()
    limit = (last or 0) + 1
    (busy,) = con.execute(f"SELECT min(rowid) FROM \"{table}\" WHERE rowid >= ? AND status = 'processing'",
                          (start,)).fetchone()
    if busy is not None:
        limit = min(limit, busy)
    if until is not None:
        (late,) = con.execute(f'SELECT min(rowid) FROM "{table}" WHERE rowid >= ? AND timestamp >= ?',
                              (start, until)).fetchone()
        if late is not None:
            limit = min(limit, late)
    return limit


def _covered(output: str | None, filesystem: pafs.FileSystem | None, prefix: str) -> list[tuple[int, int]]:
    """The rowid ranges of this store and table that markers in ``output/_done`` record."""
    if output is None:
        return []
    fs, base = resolve(output, filesystem)
    infos = fs.get_file_info(pafs.FileSelector(base.rstrip("/") + "/_done", allow_not_found=True))
    spans = []
    for info in infos:
        with fs.open_input_stream(info.path) as f:
            identity = orjson.loads(f.read()).get("identity", "")
        if identity.startswith(prefix):
            lo, hi = identity[len(prefix):].split("-")
            spans.append((int(lo), int(hi)))
    return sorted(spans)


def _gaps(covered: list[tuple[int, int]], limit: int, grid: int) -> list[tuple[int, int]]:
    """The rowids in ``[1, limit)`` no covered range holds, cut at every multiple of ``grid``."""
    spans, pos = [], 1
    for lo, hi in [*covered, (limit, limit)]:
        end = min(lo, limit)
        while pos < end:
            cut = min(end, (pos // grid + 1) * grid)
            spans.append((pos, cut))
            pos = cut
        pos = max(pos, hi)
    return spans


def _shard(uri: str, rng: StoreRange) -> Shard:
    identity = f"sqlite://{rng.location}#{rng.table}@rowid={rng.lo}-{rng.hi}"
    stem = os.path.basename(rng.location).rsplit(".", 1)[0]
    return Shard(uri=f"{uri}#{rng.table}@rowid={rng.lo}-{rng.hi}", path=rng.location, fs=pafs.LocalFileSystem(),
                 size=(rng.hi - rng.lo) * NOMINAL_ROW_BYTES, mtime=None, kind="store",
                 name=f"{stem}.{rng.table}.rowid-{rng.lo:012d}.{shard_key(identity)}", identity=identity, store=rng)


def iter_range(shard: Shard) -> Iterator[bytes | Digest]:
    """The range's rows as ``log`` records, in rowid order, a page per read transaction; then a
    ``Digest`` of the records."""
    rng = shard.store
    assert rng is not None
    digest = _RecordDigest()
    con = connect(rng.location)
    try:
        names = _columns(con, rng.table)
        wanted = [c for c in bifrost.wanted(rng.tenant) if c in names]
        where = "".join(f" AND timestamp {op} ?" for op, v in ((">=", rng.since), ("<", rng.until)) if v)
        bounds = [v for v in (rng.since, rng.until) if v]
        sql = (f'SELECT rowid, {", ".join(wanted)} FROM "{rng.table}" WHERE rowid > ? AND rowid < ?{where} '
               f"ORDER BY rowid LIMIT {PAGE_ROWS}")
        last = rng.lo - 1
        while rows := _page(con, sql, (last, rng.hi, *bounds)):
            for row in rows:
                record = orjson.dumps(bifrost.record(dict(zip(wanted, row[1:], strict=True)), rng.tenant))
                digest.add(record)
                yield record
            last = rows[-1][0]
    finally:
        con.close()
    yield digest.result()


def _page(con: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """One page in one read transaction; a moment's ``SQLITE_BUSY`` (a checkpoint resetting the WAL
    index) is waited out, as the gateway's own busy timeout would."""
    for attempt in range(50):
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == 49:
                raise
            time.sleep(0.01)
    return []


class _RecordDigest:
    """sha256 and byte count of the records a range gave, for its marker."""

    def __init__(self) -> None:
        import hashlib

        self.sha, self.bytes = hashlib.sha256(), 0

    def add(self, record: bytes) -> None:
        self.sha.update(record + b"\n")
        self.bytes += len(record) + 1

    def result(self) -> Digest:
        return Digest(self.sha.hexdigest(), self.bytes)
