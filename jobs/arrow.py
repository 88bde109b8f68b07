"""Arrow in, Arrow out: the batch job's rows for a table already in memory (pandas, Polars, Ray Data...).

``count_table`` gives each row of a table the columns ``tokcount count`` writes for the same record:
the same ``RowCounter`` makes them, so names, types, values and error rows are the job's. A record is
either one column's value (``request_column``: a JSON string or bytes, read as a JSONL line is; a struct,
read as a Parquet struct column is, nulls dropped) or, with ``request_column=None``, the whole row, as
the job reads a row of a Parquet file. The job's options (``format``, ``fields``, ``output``...) are
keyword arguments; the counter they make is built once per process and kept, so calling this per batch
costs only the counting.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa

from jobs.config import JobConfig, validate_config
from jobs.job.counting import RowCounter
from jobs.readers.files import _drop_nulls

# What rows of a table report as their location when no ``source_file`` is given (record_id of a record
# without an id, error messages): ``table:<row>``.
TABLE_LABEL = "table"


def job_config(model: str | None = None, **options: Any) -> JobConfig:
    """The job's config from keyword options (``format="finetune"``, ``output={"context": True}``);
    a bad one raises ``ConfigError`` (a ValueError) naming the option."""
    return validate_config({**options, "model": model}, source="options")


def cached_counter(config: JobConfig) -> RowCounter:
    """One counter per config per process: its encoders are built on first use and then kept."""
    return _counter(config.model_dump_json())


@functools.lru_cache(maxsize=16)
def _counter(config_json: str) -> RowCounter:  # keyed by JSON: a config holds dicts, so it is not hashable
    return RowCounter(JobConfig.model_validate_json(config_json), eager=False)


def count_table(table: pa.Table, *, request_column: str | None = "request", model: str | None = None,
                columns: Sequence[str] | None = None, source_file: str | None = None, first_row: int = 0,
                **options: Any) -> pa.Table:
    """``table`` with the job's output columns added after its own (``columns``: only those).

    ``model`` is the default model, as ``--model``; ``options`` are the job's config keys. ``source_file``
    is what the rows report as theirs (default null) and ``source_row`` is ``first_row`` plus the row's
    index in ``table``. An input column named like an added output column is refused (ValueError): rename
    it, or pass ``columns`` without it. A bad record is an error row, never an exception.
    """
    return count_with(cached_counter(job_config(model, **options)), table, request_column=request_column,
                      columns=columns, source_file=source_file, first_row=first_row)


def count_with(counter: RowCounter, table: pa.Table, *, request_column: str | None = "request",
               columns: Sequence[str] | None = None, source_file: str | None = None,
               first_row: int = 0) -> pa.Table:
    """``count_table`` with a counter the caller keeps (a Ray actor builds its own, eagerly)."""
    rows = added_columns(counter, records(table, request_column), table.column_names, columns=columns,
                         source_file=source_file, first_row=first_row)
    for name in rows.column_names:
        table = table.append_column(rows.schema.field(name), rows.column(name))
    return table


def added_columns(counter: RowCounter, raws: list[bytes], input_columns: Sequence[str], *,
                  columns: Sequence[str] | None, source_file: str | None, first_row: int) -> pa.Table:
    """The output columns for ``raws`` (one record each), without the input's."""
    wanted = output_columns(counter, input_columns, columns)
    rows = counter.count_lines(source_file or TABLE_LABEL, first_row, raws)
    if source_file is None:
        rows = rows.set_column(rows.schema.get_field_index("source_file"), "source_file",
                               pa.nulls(rows.num_rows, pa.string()))
    return rows.select(wanted)


def output_columns(counter: RowCounter, input_columns: Sequence[str], columns: Sequence[str] | None) -> list[str]:
    """The output columns to add, checked against the schema and the input's own columns."""
    names = counter.schema.names
    wanted = list(names if columns is None else columns)
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise ValueError(f"columns {unknown} are not output columns of this config (they are: {', '.join(names)})")
    clash = [c for c in wanted if c in input_columns]
    if clash:
        raise ValueError(f"input column(s) {clash} have the names of output columns: rename them, or pass "
                         f"columns= without them")
    return wanted


def records(table: pa.Table, request_column: str | None) -> list[bytes]:
    """Each row's record as the job's reader would hand it to the counter: raw JSON bytes."""
    if request_column is None:
        return [record_bytes(row) for row in table.to_pylist()]
    if request_column not in table.column_names:
        raise ValueError(f"no column {request_column!r} in the table (columns: {', '.join(table.column_names)}); "
                         "pass request_column=, or None to read each whole row as the record")
    column = table.column(request_column)
    if pa.types.is_struct(column.type):
        return [record_bytes(value) for value in column.to_pylist()]
    try:  # any string or binary type (large, view, dictionary-encoded): the bytes as they are
        column = column.cast(pa.large_binary())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ValueError(f"column {request_column!r} is {column.type}: it must hold JSON text (string or "
                         "binary) or a struct") from None
    return [record_bytes(value) for value in column.to_pylist()]


def record_bytes(value: Any) -> bytes:
    """One record as a line of JSON: text as it is, an object (a struct's value) as the job reads a
    Parquet struct (nulls dropped); a null is an empty line, so an ``invalid_json`` error row."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")  # a lone surrogate then fails to parse: an error row
    return orjson.dumps(_drop_nulls(value), default=str)
