"""``jobs.duckdb_udf.register``: ``tokcount(request_json, model)`` in SQL over real JSONL logs."""

from __future__ import annotations

import duckdb
import orjson
import pytest

from jobs.duckdb_udf import register
from tokcount_core import count

BODIES = [
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "What is the refund policy?"}]},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]},  # no model
    {"model": "gpt-4.1-mini", "input": "Summarise the invoice.", "tools": [{"type": "web_search"}]},
    {"model": "gpt-4o", "input": 5},  # an error row: null
]


def write_logs(directory, n: int = 3000) -> list[dict]:
    """More rows than one DuckDB chunk (2,048), over two files; the logged model next to each body."""
    directory.mkdir()
    logs = [{"id": i, "model": BODIES[i % 4].get("model", "gpt-4o-mini"), "body": BODIES[i % 4]} for i in range(n)]
    for k, part in enumerate((logs[: n // 2], logs[n // 2:])):
        (directory / f"{k}.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in part) + b"\n")
    return logs


def test_sum_by_model_over_jsonl_equals_the_core(tmp_path):
    logs = write_logs(tmp_path / "logs")
    con = duckdb.connect()
    register(con)
    got = dict(con.sql(f"SELECT model, sum(tokcount(body, model)) FROM read_json('{tmp_path}/logs/*.jsonl', "
                       "columns={model: 'VARCHAR', body: 'JSON'}) GROUP BY model").fetchall())
    want: dict[str, int] = {}
    for log in logs:
        res = count(log["body"], default_model=log["model"])
        want[log["model"]] = want.get(log["model"], 0) + (res.input_tokens or 0)
    assert got == want and len(want) == 3
    rows = con.sql(f"SELECT id, tokcount(body, model) FROM read_json('{tmp_path}/logs/*.jsonl', "
                   "columns={id: 'BIGINT', model: 'VARCHAR', body: 'JSON'}) WHERE id < 4 ORDER BY id").fetchall()
    assert [n for _, n in rows] == [count(b, default_model="gpt-4o-mini").input_tokens for b in BODIES]
    assert rows[3][1] is None


def test_nulls_options_and_a_struct_body(tmp_path):
    con = duckdb.connect()
    register(con, name="tk", model="gpt-4o-mini", output={"tokens": True})
    body = orjson.dumps(BODIES[1]).decode()
    assert con.execute("SELECT tk(?, NULL), tk(NULL, 'gpt-4o'), tk('{', 'gpt-4o')", [body]).fetchone() == (
        count(BODIES[1], default_model="gpt-4o-mini").input_tokens, None, None)
    write_logs(tmp_path / "logs", 4)
    with pytest.raises(duckdb.BinderException, match="No function matches"):  # read_json's STRUCT is refused
        con.sql(f"SELECT tk(body, model) FROM read_json('{tmp_path}/logs/*.jsonl')").fetchall()
    with pytest.raises(ValueError, match="format finetune needs a default model"):
        register(con, format="finetune")
