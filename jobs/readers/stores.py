"""Log stores read in place: a gateway's database, as ranges of rows that are the job's shards.

Two kinds of database (``sqlite_store``, ``postgres_store``) and the tables they may hold (``FORMATS``:
Bifrost's ``logs``, LiteLLM's ``LiteLLM_SpendLogs``): a database gives rows as dicts of columns, a
format turns a row into a ``log`` record (``jobs.readers``).

Splitting and the high-water mark: rows are split into ranges of a key cut on a grid: SQLite's rowid
(``execution.range_rows``, 10,000 rowids), PostgreSQL's request time (``execution.range_seconds``, an
hour), ending at the store's limit when the run is planned: its last row; before the first row still
``processing``, whose content and usage are not final, unless it started over ``ABANDONED`` ago;
PostgreSQL: ``settle_seconds`` ago, as rows arrive after their request ends; past ``--until``.
A range is a shard: its identity (``sqlite:///real/path.db#logs@rowid=LO-HI``) is stable, so its
marker in ``OUTPUT/_done`` makes it done for good. The ranges already in OUTPUT are the high-water
mark: the next run plans only what no marker covers (the rows added since, or a range a killed run
did not finish), so a nightly run reads each row once and a rerun adds nothing twice. A row that reaches
a PostgreSQL range after it was read (past ``settle_seconds``) is counted by the next run, in a late
shard of that range (``_late``, ``_with_late``). ``source_row`` is the row's position in its shard
(key order); ``record_id`` is the store's own id.

``--since/--until`` (UTC days, inclusive) become a ``WHERE`` on the row's timestamp; rows before
``--since`` in a range read are skipped for good.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson
import pyarrow.fs as pafs

from jobs.readers import bifrost, litellm
from jobs.readers.files import Digest, InputError, Shard, shard_key

if TYPE_CHECKING:
    from jobs.config import JobConfig
    from jobs.job.output import OutputDir
    from jobs.readers.postgres_store import PostgresStore

SCHEMES = ("sqlite", "postgresql", "postgres")
# A row still ``processing`` this long after its request started was abandoned (the gateway stopped mid-request):
# it no longer holds the high-water mark back, and is read as it is (no usage: not compared).
ABANDONED = timedelta(hours=24)
# How long after a time range ends a run still looks for rows that reached the store after the range was read.
LATE_LOOKBACK = timedelta(days=7)
LATE = "+late="  # a late shard's identity: its range's, then the range's rows when it was planned
NOMINAL_ROW_BYTES = 2048  # a range's size for planning (engine choice, order); rows are not measured
FORMATS: dict[str, ModuleType] = {"bifrost_logs": bifrost, "litellm_spend_logs": litellm}


@dataclass(frozen=True)
class StoreRange:
    """Rows of ``table`` whose key (rowid, or epoch seconds of ``format``'s time column) is in
    ``[lo, hi)``, in the store ``uri`` (as given; never with a password), read with the job's time
    window ``[since, until)`` and tenant column. A range with late shards is read as a partition by id
    (``_with_late``): each shard reads only its own rows, a new late shard only rows no shard holds."""

    uri: str
    table: str
    format: str
    lo: int
    hi: int
    since: datetime | None = None
    until: datetime | None = None
    tenant: str = bifrost.DEFAULT_TENANT
    late: int = 0  # a late shard: the range's rows when planned (``_late``); 0 for a range read the first time
    exclude: frozenset[str] = frozenset()  # ids the range's other shards hold (a range with late shards)
    only: frozenset[str] | None = None  # a late shard counted before: its own ids (a recount reads just those)


class Database(Protocol):
    """One open connection to a store (``open_store``)."""

    root: str  # where the store really is, for identities
    key: str  # what ranges are cut on: "rowid" or "time"
    range_rows: int | None  # time keys: the last range's rows in the read's snapshot, before the window

    def tables(self) -> dict[str, set[str]]: ...

    def plan(self, fmt: ModuleType, table: str, start: int | None, until: datetime | None,
             settle: int) -> tuple[int, int]: ...

    def occupied(self, fmt: ModuleType, table: str, start: int, limit: int, grid: int) -> set[int] | None: ...

    def rows(self, rng: StoreRange, columns: list[str]) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


def open_store(uri: str) -> Database:
    """A read-only connection to the store ``uri`` names (a fatal ``InputError`` when it cannot be)."""
    if uri.lower().startswith("sqlite://"):
        from jobs.readers.sqlite_store import SqliteStore

        return SqliteStore(uri)
    from jobs.readers.postgres_store import PostgresStore

    return PostgresStore(uri)


def root(uri: str) -> str:
    """Where a store really is (a SQLite file's real path; a server, port and database)."""
    if uri.lower().startswith("sqlite://"):
        from jobs.readers.sqlite_store import sqlite_root

        return sqlite_root(uri)
    from jobs.readers.postgres_store import postgres_root

    return postgres_root(uri)


def list_ranges(uri: str, options: JobConfig, output: str | None, filesystem: pafs.FileSystem | None) -> list[Shard]:
    """The store's shards: the ranges earlier runs wrote to ``output`` and what none covers, up to
    the store's limit now (see the module docstring)."""
    db = open_store(uri)
    try:
        fmt_name = _format(db.tables(), uri, options.format)
        fmt = FORMATS[fmt_name]
        since, until = _window(options)
        prefix = f"{db.root}#{fmt.TABLE}@{_key_name(db.key, fmt)}="
        out = _output_dir(output, filesystem)
        done = _done(out, prefix, db.key)
        covered = sorted(done)
        start = max((hi for _, hi in covered), default=None)
        execution = options.execution
        first, limit = db.plan(fmt, fmt.TABLE, start, until, execution.settle_seconds)
        grid = execution.range_rows if db.key == "rowid" else execution.range_seconds
        if db.key == "time" and since is not None:
            first = max(first, int(since.timestamp()))  # rows before --since are not planned at all
        occupied = db.occupied(fmt, fmt.TABLE, min(first, start or first), limit, grid)
        late = _late(cast("PostgresStore", db), fmt, done) if db.key == "time" else {}
    finally:
        db.close()
    tenant = _tenant(options, fmt, uri)
    spans = _gaps(covered, first, limit, grid)
    spans = sorted(covered + (spans if occupied is None else _merge_empty(spans, occupied, grid)))
    ranges = []
    for lo, hi in spans:
        rng = StoreRange(uri, fmt.TABLE, fmt_name, lo, hi, since, until, tenant)
        markers = done.get((lo, hi), [])
        if out is not None and ((lo, hi) in late or any(_split_late(m["identity"])[1] for m in markers)):
            ranges += _with_late(rng, markers, late.get((lo, hi)), out)
        else:
            ranges.append(rng)
    return [_shard(db.root, db.key, rng) for rng in ranges]


def _with_late(rng: StoreRange, markers: list[dict[str, Any]], rows_now: int | None,
               out: OutputDir) -> list[StoreRange]:
    """A range that rows reached after it was read, as a partition of its rows by id, so no run counts one
    twice: the range itself (the rows none of its late shards holds), each late shard counted before
    (its own rows, should a changed config recount it), and with ``rows_now`` a new late shard (the
    rows no shard holds). ``jobs.job.pipeline.plan_job`` drops the new one if any other is recounted:
    that recount's range reads the new rows."""
    by_late = {_split_late(m["identity"])[1]: m for m in markers}  # 0: the range's own
    lates = {n: _counted_ids(out, m) for n, m in by_late.items() if n}
    shards = [replace(rng, exclude=frozenset().union(*lates.values()))]
    shards += [replace(rng, late=n, only=ids) for n, ids in lates.items()]
    if rows_now is not None:  # only a new late shard needs the range's own ids (its largest output)
        own = _counted_ids(out, by_late[0]) if 0 in by_late else frozenset()
        shards.append(replace(rng, late=rows_now, exclude=own.union(*lates.values())))
    return shards


def _split_late(text: str) -> tuple[str, int]:
    """An identity or range bounds, and its late shard's number (0: the range's own shard)."""
    head, _, late = text.partition(LATE)
    return head, int(late or 0)


def range_shard(source_file: str) -> Shard:
    """The range a row's ``source_file`` names (``URI#TABLE@KEY=LO-HI``, ``+late=N`` for a late shard's),
    to read its rows again: all of them, since which ids an earlier run had counted is not in the name."""
    try:
        uri, rest = source_file.rsplit("#", 1)
        table, span = rest.split("@", 1)
        key_name, bounds = span.split("=", 1)
        fmt_name = next(name for name, f in FORMATS.items() if table == f.TABLE)
        key = "rowid" if key_name == "rowid" else "time"
        bounds, late = _split_late(bounds)
        lo, hi = (decode(key, b) for b in bounds.split("-"))
        rng = StoreRange(uri, table, fmt_name, lo, hi, tenant=FORMATS[fmt_name].DEFAULT_TENANT, late=late)
    except (ValueError, StopIteration):
        raise InputError(f"{source_file} is not a log store's range (URI#TABLE@KEY=LO-HI)") from None
    return _shard(root(uri), key, rng)


def _format(tables: dict[str, set[str]], uri: str, fmt: str) -> str:
    """``fmt``, or for ``auto`` the format whose table (with its columns) the store has."""
    if fmt == "auto":
        found = [name for name, f in FORMATS.items() if tables.get(f.TABLE, set()) >= f.COLUMNS]
        if not found:
            known = ", ".join(f"{f.TABLE!r} ({name})" for name, f in FORMATS.items())
            raise InputError(f"input {uri}: no log table this reader knows ({known}); pass --format")
        return found[0]
    if fmt not in FORMATS:
        raise InputError(f"input {uri}: --format {fmt} cannot read a store; use {', '.join(FORMATS)}")
    missing = FORMATS[fmt].COLUMNS - tables.get(FORMATS[fmt].TABLE, set())
    if missing:
        raise InputError(f"input {uri}: table {FORMATS[fmt].TABLE!r} lacks column(s) "
                         f"{', '.join(sorted(missing))} of --format {fmt}")
    return fmt


def _tenant(options: JobConfig, fmt: ModuleType, uri: str) -> str:
    tenant = options.store.tenant or fmt.DEFAULT_TENANT
    if tenant not in fmt.TENANTS:
        raise InputError(f"input {uri}: --tenant-column {tenant} is not a tenant column of {fmt.TABLE!r} "
                         f"(one of: {', '.join(fmt.TENANTS)})")
    return tenant


def _key_name(key: str, fmt: ModuleType) -> str:
    return "rowid" if key == "rowid" else fmt.TIME


def _window(options: JobConfig) -> tuple[datetime | None, datetime | None]:
    """``--since/--until`` (inclusive UTC days) as half-open bounds on the timestamp."""
    since, until = options.since, options.until
    return (datetime.combine(since, time(), UTC) if since else None,
            datetime.combine(until + timedelta(days=1), time(), UTC) if until else None)


def encode(key: str, value: int) -> str:
    """A range bound in an identity: a rowid, or a UTC time (``20261206T090000Z``)."""
    return str(value) if key == "rowid" else datetime.fromtimestamp(value, UTC).strftime("%Y%m%dT%H%M%SZ")


def decode(key: str, text: str) -> int:
    if key == "rowid":
        return int(text)
    return int(datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp())


Spans = dict[tuple[int, int], list[dict[str, Any]]]  # done ranges, each with its markers


def _output_dir(output: str | None, filesystem: pafs.FileSystem | None) -> OutputDir | None:
    from jobs.job.output import OutputDir

    return OutputDir(output, filesystem) if output is not None else None


def _done(out: OutputDir | None, prefix: str, key: str) -> Spans:
    """The ranges of this store and table that markers in ``OUTPUT/_done`` record, each with its
    markers (the range's own and its late shards')."""
    if out is None:
        return {}
    spans: Spans = {}
    for marker in out.markers():
        identity = marker.get("identity", "")
        if identity.startswith(prefix):
            lo, hi = _split_late(identity[len(prefix):])[0].split("-")
            spans.setdefault((decode(key, lo), decode(key, hi)), []).append(marker)
    return spans


def _late(db: PostgresStore, fmt: ModuleType, done: Spans) -> dict[tuple[int, int], int]:
    """Done time ranges of the last ``LATE_LOOKBACK`` that hold more rows now than when last read (rows
    that reached the store past ``settle_seconds``: LiteLLM writes a long request's row when it ends, a
    writer that was down catches up), with their rows now. Each read records the range's rows in its
    own snapshot (``range_rows``), so "more now" means "arrived since"; one index-only query."""
    horizon = datetime.now(UTC).timestamp() - LATE_LOOKBACK.total_seconds()
    known = {span: max(rows) for span, markers in done.items() if span[1] > horizon
             and (rows := [m["range_rows"] for m in markers if m.get("range_rows") is not None])}
    spans = sorted(known)
    counts = db.counts(fmt, fmt.TABLE, spans) if spans else []
    return {span: now for span, now in zip(spans, counts, strict=True) if now > known[span]}


def _counted_ids(out: OutputDir, marker: dict[str, Any]) -> frozenset[str]:
    """The record ids (the store's own) in the outputs a marker lists. Without them a range's shards
    cannot be told apart, so an output that cannot be read stops the run before anything is counted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids: set[str] = set()
    for rel in marker.get("outputs", []):
        try:
            table = pq.read_table(out.join(rel), columns=["record_id"], filesystem=out.fs)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{out.join(rel)} (rows of {marker.get('identity')}) cannot be read, and a range "
                             f"with late rows needs the ids it holds: restore it, or rerun with --overwrite "
                             f"({exc})") from None
        ids.update(i for i in table.column("record_id").to_pylist() if i is not None)
    return frozenset(ids)


def _gaps(covered: list[tuple[int, int]], first: int, limit: int, grid: int) -> list[tuple[int, int]]:
    """The keys in ``[first, limit)`` no covered range holds, cut at every multiple of ``grid``."""
    spans, pos = [], first
    for lo, hi in [*covered, (limit, limit)]:
        end = min(lo, limit)
        while pos < end:
            cut = min(end, (pos // grid + 1) * grid)
            spans.append((pos, cut))
            pos = cut
        pos = max(pos, hi)
    return spans


def _merge_empty(spans: list[tuple[int, int]], occupied: set[int], grid: int) -> list[tuple[int, int]]:
    """Adjacent spans joined where a cell holds no rows, so a quiet month is one (empty) range, not 720.
    Each span lies within one grid cell; a new range starts only at a cell with rows."""
    out: list[tuple[int, int, bool]] = []
    for lo, hi in spans:
        busy = lo // grid * grid in occupied
        if out and out[-1][1] == lo and not (busy and out[-1][2]):
            out[-1] = (out[-1][0], hi, out[-1][2] or busy)
        else:
            out.append((lo, hi, busy))
    return [(lo, hi) for lo, hi, _ in out]


def _shard(store_root: str, key: str, rng: StoreRange) -> Shard:
    """``rng`` of the store at ``store_root`` as a shard; its identity names the store, table and range."""
    span = f"{_key_name(key, FORMATS[rng.format])}={encode(key, rng.lo)}-{encode(key, rng.hi)}"
    span += f"{LATE}{rng.late}" if rng.late else ""
    identity = f"{store_root}#{rng.table}@{span}"
    stem = store_root.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    size = (rng.hi - rng.lo) * NOMINAL_ROW_BYTES if key == "rowid" else NOMINAL_ROW_BYTES << 10
    return Shard(uri=f"{rng.uri}#{rng.table}@{span}", path=store_root, fs=pafs.LocalFileSystem(), size=size,
                 mtime=None, kind="store", name=f"{stem}.{rng.table}.{encode(key, rng.lo)}.{shard_key(identity)}",
                 identity=identity, store=rng)


def _wanted(fmt: ModuleType, tenant: str) -> list[str]:
    """The columns a format rebuilds a row from, in a fixed order: its own, the optional ones, the tenant."""
    return [*sorted(fmt.COLUMNS), *fmt.OPTIONAL, *([tenant] if tenant not in fmt.COLUMNS else [])]


def iter_range(shard: Shard) -> Iterator[bytes | Digest]:
    """The range's rows as ``log`` records, in key order; then a ``Digest`` of the records."""
    rng = shard.store
    assert rng is not None
    fmt = FORMATS[rng.format]
    sha, size = hashlib.sha256(), 0
    db = open_store(rng.uri)
    try:
        names = db.tables().get(rng.table, set())
        columns = [c for c in _wanted(fmt, rng.tenant) if c in names]
        for row in db.rows(rng, columns):
            record = orjson.dumps(fmt.record(row, rng.tenant))
            sha.update(record + b"\n")
            size += len(record) + 1
            yield record
        range_rows = db.range_rows
    finally:
        db.close()
    yield Digest(sha.hexdigest(), size, range_rows=range_rows)
