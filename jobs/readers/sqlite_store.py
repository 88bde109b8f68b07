"""A SQLite log store (``sqlite:///ABS/PATH.db``), read without harm to the gateway writing it.

Opened read-only (``mode=ro``: no write lock is ever taken) and WAL-aware (the ``-wal`` file's rows are
seen; never ``immutable=1``: the gateway is writing). Ranges are cut on the rowid, the order rows were
inserted (Bifrost's ``logs`` has an implicit rowid; rows are only appended, and deleted by
retention). Rows are read in pages of ``PAGE_ROWS`` by rowid, each page its own short read
transaction, so memory is flat in the number of rows and the WAL can be checkpointed between pages;
in WAL mode a reader never blocks a writer.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import quote

from jobs.readers.files import InputError

PAGE_ROWS = 500  # rows per read transaction
_BUSY_RETRIES = 50


def sqlite_path(uri: str) -> str:
    path = uri.split("://", 1)[1]
    if not path.startswith("/"):
        raise InputError(f"input {uri}: a SQLite store is sqlite:///ABSOLUTE/PATH.db (three slashes)")
    return "/" + path.lstrip("/")  # SQLAlchemy's spelling, sqlite:////abs/path.db, too


def sqlite_root(uri: str) -> str:
    return f"sqlite://{os.path.realpath(sqlite_path(uri))}"


class SqliteStore:
    """Read-only and WAL-aware; autocommit, so every statement is its own short read transaction."""

    key = "rowid"
    range_rows = None  # a rowid is given once, in insert order: no row can arrive in a range already read

    def __init__(self, uri: str):
        self.uri = uri
        path = sqlite_path(uri)
        if not os.path.isfile(path):
            raise InputError(f"input not found: {uri}")
        self.root = sqlite_root(uri)
        try:
            # A URI filename, percent-encoded: a '?' or '#' in the path is part of the name.
            self.con = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False)
            self.con.execute("PRAGMA query_only = 1")
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> InputError:
        return InputError(f"input {self.uri} cannot be read as a SQLite store: {exc}")

    def tables(self) -> dict[str, set[str]]:
        try:
            names = self._query("SELECT name FROM sqlite_master WHERE type='table'", ())
            return {name: {row[1] for row in self._query(f'PRAGMA table_info("{name}")', ())} for (name,) in names}
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def plan(self, fmt: ModuleType, table: str, start: int | None, until: datetime | None,
             settle: int) -> tuple[int, int]:
        """Rowids from 1 to before: the last row's next, the first row not final yet (``processing``, not
        abandoned),
        the first row past ``--until`` (a row is whole once inserted: no ``settle`` wait)."""
        start = start or 1
        ((last,),) = self._query(f'SELECT max(rowid) FROM "{table}"', ())
        limit = (last or 0) + 1
        from jobs.readers.stores import ABANDONED

        recent = _text(datetime.now(UTC) - ABANDONED)
        bounds = [(f'{fmt.STATUS} = ? AND "{fmt.TIME}" >= ?', (fmt.PROCESSING, recent))] if fmt.PROCESSING else []
        if until is not None:
            bounds.append((f'"{fmt.TIME}" >= ?', (_text(until),)))
        for condition, values in bounds:
            ((found,),) = self._query(f'SELECT min(rowid) FROM "{table}" WHERE rowid >= ? AND {condition}',
                                      (start, *values))
            limit = min(limit, found) if found is not None else limit
        return 1, limit

    def occupied(self, fmt: ModuleType, table: str, start: int, limit: int, grid: int) -> None:
        """Rowids are dense: every cell holds rows."""
        return None

    def rows(self, rng: Any, columns: list[str]) -> Iterator[dict[str, Any]]:
        """The range's rows in rowid order, a page per read transaction."""
        from jobs.readers.stores import FORMATS

        stamp = FORMATS[rng.format].TIME
        window = [(op, _text(v)) for op, v in ((">=", rng.since), ("<", rng.until)) if v is not None]
        where = "".join(f' AND "{stamp}" {op} ?' for op, _ in window)
        quoted = ", ".join(f'"{c}"' for c in columns)
        sql = (f'SELECT rowid, {quoted} FROM "{rng.table}" WHERE rowid > ? AND rowid < ?{where} '
               f"ORDER BY rowid LIMIT {PAGE_ROWS}")
        last = rng.lo - 1
        while page := self._query(sql, (last, rng.hi, *(v for _, v in window))):
            for row in page:
                yield dict(zip(columns, row[1:], strict=True))
            last = page[-1][0]

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """One statement in one read transaction; a moment's ``SQLITE_BUSY`` (a checkpoint resetting the
        WAL index) is waited out, as the gateway's own busy timeout would."""
        for attempt in range(_BUSY_RETRIES):
            try:
                return self.con.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == _BUSY_RETRIES - 1:
                    raise
                time.sleep(0.01)
        return []

    def close(self) -> None:
        self.con.close()


def _text(when: datetime) -> str:
    """A UTC bound as go-sqlite3 stores times (``2026-12-06 00:00:00...``), which compares as text."""
    return when.strftime("%Y-%m-%d %H:%M:%S")
