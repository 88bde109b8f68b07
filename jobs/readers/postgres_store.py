"""A PostgreSQL log store (``postgresql://USER@HOST:PORT/DB``), read with psycopg 3.

The password comes from libpq's usual places (``PGPASSWORD``, ``PGPASSFILE`` / ``~/.pgpass``, a
service file), never from the command line: a URI carrying one is refused, since it would be in the
shell history, the process list and every ``source_file`` of the output. Each range is read through
a server-side cursor (``itersize`` rows at a time: memory flat in the number of rows) in a
read-only transaction, with the session in UTC.

Ranges are cut on the format's request time (``execution.range_seconds``, an hour); they end
``execution.settle_seconds`` (10 minutes) before the server's clock, because a row is written after its request ends
(LiteLLM queues spend logs and writes them in batches), and before the first row still
``processing`` (Bifrost).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jobs.readers.files import InputError

PAGE_ROWS = 500  # rows per round trip of the server-side cursor


def _checked(uri: str) -> Any:
    parts = urlsplit(uri)
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise InputError(f"input {parts.scheme}://{parts.hostname or ''}/...: a password in the URI is refused (it "
                         "would show in the process list and the output); set PGPASSWORD or use a .pgpass file")
    return parts


def postgres_root(uri: str) -> str:
    """Server, port and database (the user and options do not change which rows these are)."""
    parts = _checked(uri)
    return f"postgresql://{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


class PostgresStore:
    key = "time"
    range_rows: int | None = None  # rows of the last range read, its window ignored (``rows``)

    def __init__(self, uri: str):
        import psycopg

        _checked(uri)
        self.uri, self.root = uri, postgres_root(uri)
        self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
        try:
            self.con = psycopg.connect(uri, options="-c TimeZone=UTC", connect_timeout=10)
            self.con.read_only = True
            self.con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> InputError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return InputError(f"input {self.uri} cannot be read as a PostgreSQL store: {first}")

    def tables(self) -> dict[str, set[str]]:
        rows = self._all("SELECT table_name, column_name FROM information_schema.columns "
                         "WHERE table_schema = current_schema()", ())
        out: dict[str, set[str]] = {}
        for table, column in rows:
            out.setdefault(table, set()).add(column)
        return out

    def occupied(self, fmt: ModuleType, table: str, start: int, limit: int, grid: int) -> set[int]:
        """The grid cells in ``[start, limit)`` that hold rows (an index-only scan of the request time), so a
        quiet stretch is not planned as a run of empty ranges."""
        stamp = f'"{fmt.TIME}"'
        rows = self._all(f'SELECT DISTINCT floor(extract(epoch FROM {stamp}) / %s)::bigint FROM "{table}" '
                         f"WHERE {stamp} >= %s AND {stamp} < %s",
                         (grid, *(datetime.fromtimestamp(v, UTC) for v in (start, limit))))
        return {cell * grid for (cell,) in rows}

    def plan(self, fmt: ModuleType, table: str, start: int | None, until: datetime | None,
             settle: int) -> tuple[int, int]:
        """Epoch seconds from the first row's to before the limit (module docstring); ``start`` (the end of
        the ranges read before) is not needed: a time range's rows are found by an index."""
        stamp = f'"{fmt.TIME}"'
        ((first, now),) = self._all(f"SELECT min({stamp}), now() FROM \"{table}\"", ())
        limit = int(now.timestamp()) - settle
        if until is not None:
            limit = min(limit, int(until.timestamp()))
        if fmt.PROCESSING:
            from jobs.readers.stores import ABANDONED

            ((busy,),) = self._all(f'SELECT min({stamp}) FROM "{table}" WHERE "{fmt.STATUS}" = %s AND {stamp} >= %s',
                                   (fmt.PROCESSING, now - ABANDONED))
            if busy is not None:
                limit = min(limit, int(_utc(busy).timestamp()))
        return (int(_utc(first).timestamp()) if first is not None else limit), limit

    def rows(self, rng: Any, columns: list[str]) -> Iterator[dict[str, Any]]:
        """The range's rows in time order (then id), through a server-side cursor."""
        from psycopg.rows import dict_row

        from jobs.readers.stores import FORMATS

        fmt = FORMATS[rng.format]
        stamp = f'"{fmt.TIME}"'
        lo, hi = (datetime.fromtimestamp(v, UTC) for v in (rng.lo, rng.hi))
        conditions: list[tuple[str, Any]] = [(f"{stamp} {op} %s", v)
                                             for op, v in ((">=", rng.since), ("<", rng.until)) if v is not None]
        if rng.exclude:  # a range with late shards: the rows no other of its shards holds
            conditions.append((f'NOT "{fmt.ID}" = ANY(%s)', sorted(rng.exclude)))
        if rng.only is not None:  # a late shard counted before: its own rows
            conditions.append((f'"{fmt.ID}" = ANY(%s)', sorted(rng.only)))
        where = "".join(f" AND {clause}" for clause, _ in conditions)
        quoted = ", ".join(f'"{c}"' for c in columns)
        sql = (f'SELECT {quoted} FROM "{rng.table}" WHERE {stamp} >= %s AND {stamp} < %s{where} '
               f'ORDER BY {stamp}, "{fmt.ID}"')
        try:
            with self.con.transaction(), self.con.cursor(name="tokcount_range", row_factory=dict_row) as cur:
                # The count and the read see one snapshot (repeatable read), so a later run that finds more
                # rows in the range knows they arrived after it was read (``stores._late``).
                ((self.range_rows,),) = self.con.execute(
                    f'SELECT count(*) FROM "{rng.table}" WHERE {stamp} >= %s AND {stamp} < %s', (lo, hi)).fetchall()
                cur.itersize = PAGE_ROWS
                cur.execute(sql, (lo, hi, *(v for _, v in conditions)))
                yield from cur
        except self.errors as exc:
            raise self._error(exc) from None

    def counts(self, fmt: ModuleType, table: str, spans: list[tuple[int, int]]) -> list[int]:
        """Rows now in each ``[lo, hi)`` of request time (index-only scans, one round trip)."""
        stamp = f'"{fmt.TIME}"'
        values = ", ".join(["(%s::int, %s::timestamptz, %s::timestamptz)"] * len(spans))
        args = tuple(v for i, (lo, hi) in enumerate(spans)
                     for v in (i, *(datetime.fromtimestamp(t, UTC) for t in (lo, hi))))
        rows = self._all(f'SELECT r.i, count(t.{stamp}) FROM (VALUES {values}) AS r(i, lo, hi) '
                         f'LEFT JOIN "{table}" AS t ON t.{stamp} >= r.lo AND t.{stamp} < r.hi GROUP BY r.i', args)
        found = dict(rows)
        return [found.get(i, 0) for i in range(len(spans))]

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            with self.con.transaction():
                return self.con.execute(sql, args).fetchall()
        except self.errors as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        self.con.close()


def _utc(value: datetime) -> datetime:
    """A ``timestamp`` (naive, UTC wall clock: LiteLLM's) or ``timestamptz`` value, aware in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
