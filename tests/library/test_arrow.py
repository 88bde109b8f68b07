"""``jobs.arrow.count_table``: the job's rows for a table in memory, equal to ``tokcount count``'s."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.arrow import TABLE_LABEL, cached_counter, count_table, job_config
from jobs.cli import main
from tests.jobs.conftest import MODEL, read_output

from .conftest import as_table


def test_rows_equal_the_cli_rows_on_the_job_data(job_data):
    """Every line of the bad-input corpus and the sample, as a binary column: the CLI's rows exactly."""
    assert sum(map(len, job_data.lines.values())) == job_data.cli.num_rows > 400
    for source_file, raws in job_data.lines.items():
        table = count_table(as_table(raws), model=MODEL, source_file=source_file)
        assert table.drop_columns(["request"]).to_pylist() == job_data.cli_rows(source_file), source_file
        assert table.schema.remove(0) == job_data.cli.schema


def test_a_string_column_without_a_name_reports_the_row(job_data):
    source_file, raws = next((f, r) for f, r in job_data.lines.items() if f.endswith("chat-logs-000.jsonl"))
    text = pa.table({"request": [raw.decode() for raw in raws]})
    table = count_table(text, model=MODEL, first_row=5)
    cli = job_data.cli_rows(source_file)
    assert table.column("source_file").null_count == len(raws)
    assert table.column("source_row").to_pylist() == list(range(5, 5 + len(raws)))
    bad = [r for r in table.to_pylist() if r["error_code"]]
    assert bad and all(r["error_message"].startswith(f"{TABLE_LABEL}:{r['source_row']}: ") for r in bad)
    assert table.column("input_tokens").to_pylist() == [r["input_tokens"] for r in cli]


def test_whole_rows_and_struct_columns_equal_the_cli_on_parquet(tmp_path, job_data):
    """Parquet rows (structs inside, nulls where a record has no field) are read as the job reads them."""
    raws = next(r for f, r in job_data.lines.items() if f.endswith("chat-logs-000.jsonl"))
    records = [r for r in (_loads(raw) for raw in raws) if isinstance(r, dict)]
    rows = pa.Table.from_pylist(records)
    path = tmp_path / "logs.parquet"
    pq.write_table(rows, path)
    assert main(["count", str(path), str(tmp_path / "out"), "--model", MODEL, "--quiet"]) == 0
    cli = read_output(tmp_path / "out")
    names = [n for n in cli.column_names if n not in rows.column_names]  # tenant, timestamp: input columns too
    whole = count_table(rows, request_column=None, model=MODEL, columns=names, source_file=str(path))
    assert whole.select(names) == cli.select(names)
    nested = count_table(pa.table({"request": pa.array(records)}), model=MODEL, source_file=str(path))
    assert nested.select(cli.column_names) == cli


def test_clashing_and_unknown_columns_are_refused_by_name():
    table = pa.table({"request": ['{"input": "hi"}'], "model": ["mine"]})
    with pytest.raises(ValueError, match=r"input column\(s\) \['model'\]"):
        count_table(table, model=MODEL)
    with pytest.raises(ValueError, match=r"columns \['tokens'\] are not output columns"):
        count_table(table, model=MODEL, columns=["tokens"])
    with pytest.raises(ValueError, match="no column 'body'"):
        count_table(table, request_column="body", columns=["input_tokens"])
    with pytest.raises(ValueError, match="must hold JSON text"):
        count_table(pa.table({"request": [1]}))
    out = count_table(table, model=MODEL, columns=["input_tokens", "error_code"])
    assert out.column_names == ["request", "model", "input_tokens", "error_code"]
    assert out.column("input_tokens").to_pylist() == [8]


def test_options_are_the_jobs_and_the_counter_is_built_once():
    table = pa.table({"request": ['{"messages": [{"role": "user", "content": "hi"}]}']})
    out = count_table(table, model=MODEL, format="finetune", output={"context": True})
    assert out.select(["api", "context_window", "fits_context"]).to_pylist() == [
        {"api": "chat", "context_window": 128_000, "fits_context": True}]
    assert cached_counter(job_config(MODEL, format="finetune", output={"context": True})) is \
        cached_counter(job_config(MODEL, format="finetune", output={"context": True}))
    with pytest.raises(ValueError, match="format finetune needs a default model"):
        count_table(table, format="finetune")


def _loads(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
