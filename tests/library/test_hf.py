"""``jobs.hf.count_batch`` in a real ``datasets.Dataset.map`` (local datasets only, offline)."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest
from datasets import Dataset

from jobs.hf import count_batch
from tests.jobs.conftest import MODEL


def test_map_gives_the_cli_rows_on_the_job_data(job_data):
    """Each file's lines as a binary column, mapped in batches with their indices: the CLI's rows exactly."""
    for source_file, raws in job_data.lines.items():
        ds = Dataset.from_dict({"request": raws}).with_format("arrow").map(
            count_batch, batched=True, batch_size=32, with_indices=True,
            fn_kwargs={"model": MODEL, "source_file": source_file})
        table = ds.data.table.drop_columns(["request"])
        assert table.to_pylist() == job_data.cli_rows(source_file), source_file
        assert table.schema == job_data.cli.schema


def test_messages_of_a_fine_tuning_set_are_counted_with_the_model(job_data):
    """The sample's fine-tuning examples as a chat dataset (``messages``, with tools on some): each row
    is one example, counted as ``tokcount count --model`` counts the file."""
    source_file, raws = next((f, r) for f, r in job_data.lines.items() if "finetune" in f)
    kept = [(i, record) for i, record in enumerate(map(_loads, raws)) if isinstance(record, dict)]
    # from_list takes its columns from the first example: name every one (the first ones have no tools).
    ds = Dataset.from_list([{"messages": None, "tools": None, **record} for _, record in kept])
    assert ds.column_names == ["messages", "tools"]
    out = ds.with_format("arrow").map(count_batch, batched=True, batch_size=8,
                 fn_kwargs={"model": MODEL, "request_column": None, "format": "finetune",
                            "columns": ["model", "api", "input_tokens", "estimated", "error_code"]})
    cli = job_data.cli_rows(source_file)
    got = out.with_format(None).select_columns(["model", "api", "input_tokens", "estimated", "error_code"])
    for (row, _), counted in zip(kept, got, strict=True):
        assert counted == {k: cli[row][k] for k in counted}, row
    assert sum(got["input_tokens"]) > 0 and out.features["input_tokens"].dtype == "int64"


def test_a_json_string_column_and_its_errors():
    ds = Dataset.from_dict({"id": ["a", "b"], "request": [
        orjson.dumps({"messages": [{"role": "user", "content": "hi"}]}).decode(), "{broken"]})
    out = ds.with_format("arrow").map(count_batch, batched=True,
                                      fn_kwargs={"model": MODEL, "columns": ["input_tokens", "error_code"]})
    assert out.with_format(None).to_list() == [
        {"id": "a", "request": ds[0]["request"], "input_tokens": 8, "error_code": None},
        {"id": "b", "request": "{broken", "input_tokens": None, "error_code": "invalid_json"}]
    assert pa.types.is_int64(out.data.table.schema.field("input_tokens").type)
    with pytest.raises(TypeError, match="with_format"):
        ds.map(count_batch, batched=True, fn_kwargs={"model": MODEL})


def _loads(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
