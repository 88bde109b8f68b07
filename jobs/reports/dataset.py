"""A job's output as a DuckDB relation, reading only what a report needs.

Files are listed here (names starting with ``_`` or ``.`` skipped, like dataset readers do), and
with ``since``/``until`` a ``day=YYYY-MM-DD`` partition outside the range is never listed, so never
opened: a nightly report over one day does not read (or trip over) the other days.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from jobs.config import ConfigError, validate_config
from jobs.readers.files import resolve

_PARTITION = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")


class ReportError(ConfigError):
    """A report cannot be made (no output, a column the grouping needs is missing): fatal, one line."""


@dataclass(frozen=True)
class DayRange:
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ReportError(f"--since {self.since} is after --until {self.until}: the range holds no day")

    def __str__(self) -> str:
        return " to ".join(d.isoformat() for d in (self.since, self.until) if d) or "all days"

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def holds(self, day: date) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def sql(self) -> str:
        """A WHERE clause on the rows' ``day`` column (for outputs that are not partitioned)."""
        parts = [f"day >= '{d.isoformat()}'" for d in (self.since,) if d] + \
                [f"day <= '{d.isoformat()}'" for d in (self.until,) if d]
        return " AND ".join(parts) or "TRUE"


def output_files(output: str, days: DayRange) -> tuple[pafs.FileSystem, list[str]]:
    """The Parquet files of a job output; partitions outside ``days`` are skipped by name (so there may be
    none: a quiet day)."""
    fs, root = resolve(output)
    root = root.rstrip("/")
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise ReportError(f"{output} is not a job output directory")
    files = []
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        parts = info.path[len(root) + 1:].split("/")
        if info.type != pafs.FileType.File or not parts[-1].endswith(".parquet"):
            continue
        if any(p.startswith(("_", ".")) for p in parts):
            continue
        partition = next((m for p in parts[:-1] if (m := _PARTITION.match(p))), None)
        if days.bounded and partition is not None and not days.holds(date.fromisoformat(partition.group(1))):
            continue
        files.append(info.path)
    return fs, sorted(files)


def open_rows(output: str, days: DayRange = DayRange()) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A connection with view ``rows`` (the job's rows in range, maybe none) and the view's columns."""
    fs, files = output_files(output, days)
    try:
        dataset = pads.dataset(files, filesystem=fs, format="parquet") if files else no_rows(output)
    except (pa.ArrowInvalid, OSError) as exc:
        _raise_corrupt(output, fs, files)
        raise ReportError(f"{output}: unreadable Parquet: {str(exc).splitlines()[0]}") from None
    con = duckdb.connect()
    con.register("job_rows", dataset)
    columns = dataset.schema.names
    if days.bounded and "day" not in columns:
        raise ReportError(f"{output}: rows have no 'day' (no timestamp field was configured), so --since/--until "
                          "cannot apply")
    con.execute(f"CREATE VIEW rows AS SELECT * FROM job_rows WHERE {days.sql() if days.bounded else 'TRUE'}")
    return con, columns


def no_rows(output: str) -> pa.Table:
    """No file in range (a quiet day's partition, a run over empty inputs): an empty table in the schema the
    job wrote, rebuilt from its manifest's config, so the reports still have their columns."""
    from jobs.job.counting import RowCounter
    from jobs.job.output import OutputDir

    manifest = OutputDir(output).read_json("_manifest.json")
    if not isinstance(manifest, dict) or "config" not in manifest:
        raise ReportError(f"{output}: no Parquet rows found (run `tokcount count` first)")
    config = validate_config(manifest["config"], source=f"{output}/_manifest.json")
    return RowCounter.schema_for(config).empty_table()


@contextmanager
def reading(output: str) -> Iterator[None]:
    """Queries over ``open_rows(output)``: a DuckDB error from a corrupt or truncated Parquet file in
    OUTPUT becomes one ``ReportError`` naming that file (DuckDB's own names none, or spans lines).
    Any other DuckDB error is a bug of ours and is raised as it is."""
    try:
        yield
    except duckdb.Error:
        _raise_corrupt(output, *output_files(output, DayRange()))
        raise


def _raise_corrupt(output: str, fs: pafs.FileSystem, files: list[str]) -> None:
    """Raise a ``ReportError`` for the first of ``files`` pyarrow cannot read through, if one is: only
    after a read failed, so the full read costs nothing on the way that works."""
    for path in files:
        try:
            with fs.open_input_file(path) as raw:
                for _ in pq.ParquetFile(raw).iter_batches():
                    pass
        except (pa.ArrowInvalid, OSError) as exc:
            raise ReportError(f"{output}: corrupt Parquet file {path}: {exc}") from None


def group_columns(by: str, columns: list[str], output: str) -> list[str]:
    """``--by a,b`` checked against the rows' columns, so a typo or a missing tenant fails clearly."""
    names = [c.strip() for c in by.split(",") if c.strip()]
    missing = [c for c in names if c not in columns]
    if not names or missing:
        raise ReportError(f"--by {by!r}: {output} has no column(s) {missing or [by]}; available: "
                          f"{', '.join(c for c in columns if c in GROUPABLE)}")
    return names


GROUPABLE = ("model", "day", "tenant", "api", "encoding", "source_file", "batch", "estimated", "error_code", "rule")


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quoted(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)
