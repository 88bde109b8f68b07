"""A ``tokcount(request_json, model)`` SQL function for DuckDB, counted by the job's own rows::

    register(con)
    con.sql("SELECT model, sum(tokcount(body, model)) FROM read_json('logs/*.jsonl', "
            "columns={model: 'VARCHAR', body: 'JSON'}) GROUP BY model")

It is vectorised over Arrow: DuckDB hands it a chunk of rows at a time, counted in one go per model.
``request_json`` is one record as JSON text, read as a JSONL line is (a bare body, or a wrapped record per
``format``); ``model`` is the model for a record that names none (as ``--model``). The result is the
record's ``input_tokens``, null when the record is an error row. Read a body as JSON, not as the STRUCT
``read_json`` would make of it: a STRUCT has every key any record has, null where a record has none, which
is another request (DuckDB refuses a STRUCT here, so this cannot happen silently).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from jobs.arrow import TABLE_LABEL, cached_counter, job_config, records


def register(con: duckdb.DuckDBPyConnection, *, name: str = "tokcount", **options: Any) -> None:
    """Add the function to ``con``; ``options`` are the job's config keys (``model`` the default model)."""
    default_model = options.pop("model", None)
    job_config(default_model, **options)  # a bad option fails here, not on the first query

    def tokcount(requests: pa.ChunkedArray, models: pa.ChunkedArray) -> pa.Array:
        raws = records(pa.table({"request": requests}), "request")
        counts: list[int | None] = [None] * len(raws)
        by_model: dict[str | None, list[int]] = {}
        for i, model in enumerate(models.to_pylist()):
            by_model.setdefault(model or default_model, []).append(i)
        for model, rows in by_model.items():
            counter = cached_counter(job_config(model, **options))
            counted = counter.count_lines(TABLE_LABEL, 0, [raws[i] for i in rows]).column("input_tokens")
            for i, value in zip(rows, counted.to_pylist(), strict=True):
                counts[i] = value
        return pa.array(counts, pa.int64())

    con.create_function(name, tokcount, ["VARCHAR", "VARCHAR"], "BIGINT", type="arrow", null_handling="special",
                        side_effects=False)
