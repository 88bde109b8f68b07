"""Log stores on a real PostgreSQL server: LiteLLM's ``LiteLLM_SpendLogs`` and Bifrost's ``logs``, written with
real requests, read with a server-side cursor in a read-only transaction, the password from ``PGPASSWORD``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from jobs.config import JobConfig
from jobs.job.pipeline import run_job
from jobs.readers.files import InputError
from jobs.readers.litellm import _order_counts
from jobs.reports.audit import run_audit
from jobs.reports.cost import run_report
from tests.jobs import bifrost_store, litellm_store
from tests.jobs.conftest import REPO, read_output
from tests.jobs.pg_server import PASSWORD, postgres  # noqa: F401 (the session's server)
from tests.jobs.test_stores import COMPARED, PRICING, by_id, same_rows_as_jsonl

pytestmark = pytest.mark.usefixtures("postgres")


@pytest.fixture
def db(postgres, monkeypatch):  # noqa: F811
    """A fresh database schema: the tables dropped and made again, readable by the auditor."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with psycopg.connect(postgres.admin(), autocommit=True) as con:
        con.execute('DROP TABLE IF EXISTS "LiteLLM_SpendLogs", logs')
    yield postgres


def setup(server, ddl: str, insert: str, rows: list[tuple]) -> None:
    with psycopg.connect(server.admin(), autocommit=True) as con:
        con.execute(ddl)
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {server.user}")
        with con.cursor() as cur:
            cur.executemany(insert, rows)


def count(uri: str, out, fmt: str = "litellm_spend_logs", model: str | None = None, **execution) -> dict:
    cfg = JobConfig(format=fmt, model=model, execution={"engine": "in-process", **execution})
    return run_job([uri], str(out), cfg, log=lambda _m: None).manifest


def chat_cases(n: int, *, lossless: bool) -> list[dict]:
    """Chat reference requests: ``lossless`` ones keep every string under LiteLLM's cut and have no schema
    whose key order counts; else any."""
    cases = [c for c in bifrost_store.comparable_cases(4000) if c["api"] == "chat.completions"]
    if lossless:
        cases = [c for c in cases if litellm_store.sanitize(c["request"]) == c["request"]
                 and not _order_counts(c["request"])]
    return cases[:n]


def test_litellm_store_rows_equal_the_same_traffic_as_jsonl_logs(db, tmp_path):
    """1,000 real requests with their reported usage, in LiteLLM's table (jsonb) and as JSONL ``log``
    records: the same rows, counts and deltas record by record; audit and cost report agree to the cent."""
    cases = chat_cases(1000, lossless=True)
    setup(db, litellm_store.DDL, litellm_store.INSERT, [litellm_store.row_of(c, i) for i, c in enumerate(cases)])
    jsonl = tmp_path / "logs.jsonl"
    jsonl.write_text("".join(json.dumps(litellm_store.log_record(c, i)) + "\n" for i, c in enumerate(cases)))
    manifest = count(db.uri, tmp_path / "from_store", range_seconds=600)
    assert len(manifest["inputs"]) == 2  # 1,000 seconds of requests in ranges of 10 minutes
    rows = same_rows_as_jsonl(tmp_path, jsonl, 1000)
    assert all(r["source_file"].startswith(f"{db.uri}#LiteLLM_SpendLogs@startTime=") for r in rows.values())
    audits = [run_audit(str(tmp_path / d)).totals for d in ("from_store", "from_jsonl")]
    assert audits[0] == audits[1] and audits[0]["compared"] == 1000
    costs = [run_report(str(tmp_path / d), str(PRICING), by="model").total for d in ("from_store", "from_jsonl")]
    assert costs[0] == costs[1] and costs[0]["cost_usd"] > 0


def test_litellm_lossy_rows_are_never_a_silent_count(db, tmp_path):
    """Content off (``{}``), strings LiteLLM cut, tool schemas whose key order jsonb dropped: each row says
    why; every row without a flag counts what the client sent."""
    cases = chat_cases(400, lossless=False)
    rows = [litellm_store.row_of(c, i, content=i % 10 != 0) for i, c in enumerate(cases)]
    setup(db, litellm_store.DDL, litellm_store.INSERT, rows)
    jsonl = tmp_path / "logs.jsonl"
    jsonl.write_text("".join(json.dumps(litellm_store.log_record(c, i)) + "\n" for i, c in enumerate(cases)))
    count(db.uri, tmp_path / "out")
    run_job([str(jsonl)], str(tmp_path / "sent"), JobConfig(format="log", execution={"engine": "in-process"}),
            log=lambda _m: None)
    got, sent = by_id(tmp_path / "out"), by_id(tmp_path / "sent")
    expected = {}
    for i, case in enumerate(cases):
        req = case["request"]
        expected[f"chatcmpl-{i:06d}"] = ("content_not_logged" if i % 10 == 0 else
                                         "truncated" if litellm_store.sanitize(req) != req else
                                         "key_order_lost" if _order_counts(req) else None)
    assert {rid: r["log_loss"] for rid, r in got.items()} == expected
    assert {"content_not_logged", "truncated", "key_order_lost", None} == set(expected.values())
    for rid, row in got.items():
        if row["log_loss"] is None:
            assert row["input_tokens"] == sent[rid]["input_tokens"], rid
        elif row["log_loss"] == "key_order_lost":
            assert row["input_tokens"] is not None and row["estimated"]
        else:
            assert row["input_tokens"] is None and row["logged_input_tokens"] is not None
    not_compared = {r["reason"]: r["records"] for r in run_audit(str(tmp_path / "out")).not_compared}
    assert not_compared == {k: sum(v == k for v in expected.values())
                            for k in ("content_not_logged", "truncated", "key_order_lost")}


def test_next_run_reads_only_newer_rows_and_format_auto(db, tmp_path):
    """Time ranges are the high-water mark: a rerun adds nothing, requests made after a run are the next
    run's; ``--format auto`` finds LiteLLM's table."""
    cases = chat_cases(60, lossless=True)
    setup(db, litellm_store.DDL, litellm_store.INSERT, [litellm_store.row_of(c, i) for i, c in enumerate(cases[:40])])
    out = tmp_path / "out"
    options = {"fmt": "auto", "range_seconds": 30, "settle_seconds": 0}
    assert count(db.uri, out, **options)["run"]["records_counted"] == 40
    assert count(db.uri, out, **options)["run"]["records_counted"] == 0
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)  # after the runs so far read up to
    rows = [litellm_store.row_of(c, i) for i, c in enumerate(cases) if i >= 40]
    start = litellm_store.COLUMNS.index("startTime")
    rows = [(*r[:start], later, *r[start + 1:]) for r in rows]
    with psycopg.connect(db.admin(), autocommit=True) as con, con.cursor() as cur:
        cur.executemany(litellm_store.INSERT, rows)
    time.sleep(2.2)  # the server's clock passes the new requests' time by a whole second (ranges end on one)
    third = count(db.uri, out, **options)
    assert third["run"]["records_counted"] == 20 and third["totals"]["records"] == 60
    assert sorted(r["record_id"] for r in read_output(out).to_pylist()) == [f"chatcmpl-{i:06d}" for i in range(60)]



def test_rows_that_arrive_after_their_range_was_counted_are_counted_once(db, tmp_path):
    """A range is done once counted, but a row can still be written into it later (a long request's spend
    log, written when it ends): the next run counts it in a late shard of that range, and a recount with
    a changed config, more late rows arriving meanwhile, still holds every row once. The range's
    marker records its rows in the read's own snapshot."""
    cases = chat_cases(46, lossless=True)
    start = litellm_store.COLUMNS.index("startTime")
    hour_ago = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)

    def written(rows: list[tuple], when: datetime) -> None:
        with psycopg.connect(db.admin(), autocommit=True) as con, con.cursor() as cur:
            cur.executemany(litellm_store.INSERT, [(*r[:start], when + timedelta(seconds=i), *r[start + 1:])
                                                   for i, r in enumerate(rows)])

    def ids() -> list[str]:
        return sorted(r["record_id"] for r in read_output(out).to_pylist())

    rows = [litellm_store.row_of(c, i) for i, c in enumerate(cases)]
    setup(db, litellm_store.DDL, "SELECT 1", [])
    written(rows[:40], hour_ago)
    out = tmp_path / "out"
    options = {"range_seconds": 3600, "settle_seconds": 0}
    assert count(db.uri, out, **options)["run"]["records_counted"] == 40
    assert [json.loads(p.read_text())["range_rows"] for p in (out / "_done").glob("*.json")] == [40]
    written(rows[40:43], hour_ago + timedelta(seconds=5))
    second = count(db.uri, out, **options)
    assert second["run"]["records_counted"] == 3 and second["totals"]["records"] == 43
    assert ids() == [f"chatcmpl-{i:06d}" for i in range(43)]
    assert count(db.uri, out, **options)["run"]["records_counted"] == 0

    late_row = next(r for r in read_output(out).to_pylist() if "+late=" in r["source_file"])
    run = subprocess.run([sys.executable, "-m", "jobs.cli", "explain", str(out), "--record", late_row["record_id"]],
                         cwd=REPO, capture_output=True, text=True, env={**os.environ, "PGPASSWORD": PASSWORD})
    assert run.returncode == 0, run.stderr
    assert "\ntotal " in run.stdout and "changed:" not in run.stdout

    written(rows[43:], hour_ago + timedelta(seconds=7))  # more arrive, and the config changes: all recounted
    third = count(db.uri, out, model="gpt-4o", **options)
    assert third["run"]["records_counted"] == 46 and third["totals"]["records"] == 46
    assert ids() == [f"chatcmpl-{i:06d}" for i in range(46)]
    assert count(db.uri, out, model="gpt-4o", **options)["run"]["records_counted"] == 0
    markers = [json.loads(p.read_text()) for p in (out / "_done").glob("*.json")]
    late_output = out / next(m["outputs"][0] for m in markers if "+late=" in m["identity"])
    late_output.unlink()  # the range's shards can no longer be told apart: the run stops, naming the file
    with pytest.raises(InputError, match=f"{late_output.name}.*cannot be read.*needs the ids it holds"):
        count(db.uri, out, model="gpt-4o", **options)


BIFROST_PG_DDL = """
CREATE TABLE logs (
  id varchar(255) PRIMARY KEY, parent_request_id varchar(255), "timestamp" timestamptz NOT NULL,
  object_type varchar(255), provider varchar(255), model varchar(255), virtual_key_name varchar(255),
  team_name varchar(255), input_history text, responses_input_history text, params text, tools text,
  token_usage text, prompt_tokens bigint DEFAULT 0, completion_tokens bigint DEFAULT 0, total_tokens bigint DEFAULT 0,
  cached_read_tokens bigint DEFAULT 0, cost decimal, status varchar(50), is_large_payload_request boolean DEFAULT false,
  has_object boolean DEFAULT false, created_at timestamptz NOT NULL
);
CREATE INDEX idx_logs_timestamp ON logs("timestamp");
"""


def test_bifrost_logs_on_postgres_count_as_on_sqlite(db, tmp_path):
    """Bifrost's ``logs`` in PostgreSQL (GORM's types there: timestamptz, boolean) gives the rows SQLite does."""
    cases = bifrost_store.comparable_cases(50)
    sqlite_rows = [bifrost_store.row_of(c, i) for i, c in enumerate(cases)]
    con = bifrost_store.create(tmp_path / "logs.db")
    con.executemany(bifrost_store.INSERT, sqlite_rows)
    con.close()
    pg_rows = [tuple(_pg_value(name, v) for name, v in zip(bifrost_store.INSERT_COLUMNS, row, strict=True))
               for row in sqlite_rows]
    insert = bifrost_store.INSERT.replace("?", "%s").replace("timestamp,", '"timestamp",')
    setup(db, BIFROST_PG_DDL, insert, pg_rows)
    count(db.uri, tmp_path / "pg", fmt="bifrost_logs")
    count(f"sqlite://{tmp_path}/logs.db", tmp_path / "sqlite", fmt="bifrost_logs")
    pg, lite = by_id(tmp_path / "pg"), by_id(tmp_path / "sqlite")
    assert pg.keys() == lite.keys() and len(pg) == 50
    for rid in pg:
        assert {k: pg[rid][k] for k in COMPARED} == {k: lite[rid][k] for k in COMPARED}, rid


def _pg_value(name: str, value):
    if name in ("timestamp", "created_at"):
        return datetime.fromisoformat(value[:26] + value[-6:])
    if name in ("is_large_payload_request", "has_object"):
        return bool(value)
    return value


def test_password_in_the_uri_is_refused_and_never_printed(tmp_path):
    for uri in ("postgresql://auditor:hunter2@127.0.0.1:5/logs", "postgresql://auditor@127.0.0.1:5/logs?password=hunter2"):
        run = subprocess.run([sys.executable, "-m", "jobs.cli", "count", uri, str(tmp_path / "o"), "--quiet"],
                             capture_output=True, text=True, cwd=REPO)
        assert run.returncode == 2 and run.stderr.startswith("tokcount: error: ")
        assert "PGPASSWORD" in run.stderr and "hunter2" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


def test_a_wrong_password_is_one_line(db, tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "wrong")
    run = subprocess.run([sys.executable, "-m", "jobs.cli", "count", db.uri, str(tmp_path / "o"), "--quiet",
                          "--format", "litellm_spend_logs"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2 and run.stderr.startswith("tokcount: error: input postgresql://")
    assert "password authentication failed" in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_since_until_are_pushed_into_the_query(db, tmp_path):
    """``--since/--until`` bound the request time in SQL; with ``--until`` the next run reads what came after."""
    cases = chat_cases(4, lossless=True)
    days = [datetime(2026, 12, 5, 23, 59, 59, 999000), datetime(2026, 12, 6), datetime(2026, 12, 6, 12),
            datetime(2026, 12, 7)]
    start = litellm_store.COLUMNS.index("startTime")
    rows = [litellm_store.row_of(c, i) for i, c in enumerate(cases)]
    setup(db, litellm_store.DDL, litellm_store.INSERT,
          [(*r[:start], days[i], *r[start + 1:]) for i, r in enumerate(rows)])
    out = tmp_path / "out"
    cfg = JobConfig(format="litellm_spend_logs", since=date(2026, 12, 6), until=date(2026, 12, 6),
                    execution={"engine": "in-process"})
    run_job([db.uri], str(out), cfg, log=lambda _m: None)
    assert sorted(by_id(out)) == ["chatcmpl-000001", "chatcmpl-000002"]
    assert {r["day"] for r in by_id(out).values()} == {"2026-12-06"}
    nxt = run_job([db.uri], str(out), cfg.with_updates(until=date(2026, 12, 7)), log=lambda _m: None).manifest
    assert nxt["run"]["records_counted"] == 1 and sorted(by_id(out))[-1] == "chatcmpl-000003"
