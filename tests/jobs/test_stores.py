"""Log stores read in place: Bifrost's ``logs`` table in a real SQLite file (WAL mode, Bifrost's DDL) filled
with real requests, counted as rowid ranges with a high-water mark, while a writer keeps inserting."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from jobs.bench.bifrost_store import go_time
from jobs.config import JobConfig
from jobs.job.pipeline import run_job
from jobs.reports.audit import run_audit
from jobs.reports.cost import run_report
from tests.jobs.bifrost_store import INSERT, comparable_cases, create, log_record, row_of
from tests.jobs.conftest import REPO, read_output

PRICING = REPO / "configs" / "pricing.yaml"
COMPARED = ("record_id", "model", "encoding", "api", "input_tokens", "input_tokens_details", "logged_input_tokens",
            "cached_tokens", "output_tokens", "delta", "delta_pct", "total_tokens", "estimated", "estimate_reasons",
            "error_code", "log_loss", "tenant", "timestamp", "day")


def store(path: Path, n: int, start: int = 0) -> Path:
    """A Bifrost store at ``path`` holding ``n`` reference requests (ids from ``start``)."""
    con = sqlite3.connect(path, isolation_level=None) if path.exists() else create(path)
    cases = comparable_cases(start + n)
    con.executemany(INSERT, [row_of(cases[i], i) for i in range(start, start + n)])
    con.close()
    return path


def count(uri: str, out: Path, **config: object) -> dict:
    cfg = JobConfig(format=config.pop("format", "bifrost_logs"), execution={"engine": "in-process", **config})
    return run_job([uri], str(out), cfg, log=lambda _m: None).manifest


def by_id(out: Path) -> dict[str, dict]:
    return {r["record_id"]: r for r in read_output(out).to_pylist()}


def same_rows_as_jsonl(tmp_path: Path, jsonl: Path, records: int) -> dict[str, dict]:
    """Count ``jsonl`` (the same traffic as the store's, as ``log`` records) and check the store's output in
    ``from_store`` has the same rows, record by record; returns the store's rows by id."""
    run_job([str(jsonl)], str(tmp_path / "from_jsonl"), JobConfig(format="log", execution={"engine": "in-process"}),
            log=lambda _m: None)
    rows, expected = by_id(tmp_path / "from_store"), by_id(tmp_path / "from_jsonl")
    assert rows.keys() == expected.keys() and len(rows) == records
    for rid, row in rows.items():
        assert {k: row[k] for k in COMPARED} == {k: expected[rid][k] for k in COMPARED}, rid
    return rows


def test_store_rows_equal_the_same_traffic_as_jsonl_logs(tmp_path):
    """1,000 real requests with their reported usage, written by Bifrost into its store and as JSONL ``log``
    records: the same rows, counts and deltas record by record; the audit and cost report agree to the cent."""
    db = store(tmp_path / "logs.db", 1000)
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    jsonl = tmp_path / "logs.jsonl"
    jsonl.write_text("".join(json.dumps(log_record(c, i)) + "\n" for i, c in enumerate(comparable_cases(1000))))
    count(f"sqlite://{db}", tmp_path / "from_store")
    rows = same_rows_as_jsonl(tmp_path, jsonl, 1000)
    assert {r["source_file"] for r in rows.values()} == {f"sqlite://{db}#logs@rowid=1-1001"}
    assert sorted(r["source_row"] for r in rows.values()) == list(range(1000))
    assert sum(r["delta"] == 0 for r in rows.values()) > 900
    assert sum(r["cached_tokens"] > 0 for r in rows.values()) > 600
    audits = [run_audit(str(tmp_path / d)).totals for d in ("from_store", "from_jsonl")]
    assert audits[0] == audits[1] and audits[0]["compared"] == 1000
    costs = [run_report(str(tmp_path / d), str(PRICING), by="model").total for d in ("from_store", "from_jsonl")]
    assert costs[0] == costs[1] and costs[0]["cost_usd"] > 0


def test_lossy_rows_are_never_a_silent_count(tmp_path):
    """Content logging off, a large-payload preview, payloads in object storage, a Responses request whose
    tools Bifrost rewrote, an embedding: each row says why (``log_loss``); the audit does not compare them."""
    db = tmp_path / "logs.db"
    con = create(db)
    cases = comparable_cases(3)
    tool_case = {"api": "responses", "expected_input_tokens": 80, "request": {
        "model": "gpt-4o", "input": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]}}
    con.executemany(INSERT, [
        row_of(cases[0], 0, input_history=None, params=None, tools=None),  # content logging off
        row_of(cases[1], 1, is_large_payload_request=1, input_history=None),
        row_of(cases[2], 2, has_object=1),
        row_of(tool_case, 3),
        row_of(cases[0], 4, object_type="embedding"),
        row_of(cases[1], 5),
    ])
    con.close()
    count(f"sqlite://{db}", tmp_path / "out")
    rows = {r["record_id"]: r for r in by_id(tmp_path / "out").values()}
    assert {rid: r["log_loss"] for rid, r in rows.items()} == {
        "req-000000": "content_not_logged", "req-000001": "large_payload_preview", "req-000002": "object_stored",
        "req-000003": "tools_rewritten", "req-000004": "other_request_type", "req-000005": None}
    for rid in ("req-000000", "req-000001", "req-000002", "req-000004"):
        assert rows[rid]["input_tokens"] is None and rows[rid]["error_code"] is None
        assert rows[rid]["logged_input_tokens"] is not None  # the usage is still logged
    rewritten = rows["req-000003"]
    assert rewritten["input_tokens"] > 0 and rewritten["estimated"] and "log_loss" in rewritten["estimate_reasons"]
    audit = run_audit(str(tmp_path / "out"))
    assert audit.totals["compared"] == 1
    assert {r["reason"]: r["records"] for r in audit.not_compared} == {
        "content_not_logged": 1, "large_payload_preview": 1, "object_stored": 1, "tools_rewritten": 1,
        "other_request_type": 1}
    assert "## Not compared, by reason" in (audit.out / "audit.md").read_text()


def test_format_auto_tenant_column_and_errors(tmp_path):
    """``--format auto`` knows Bifrost's table by its columns; the tenant column is configurable; a store
    without a known table, or a relative path, is one ``tokcount: error:`` line."""
    (tmp_path / "gateway #1?").mkdir()
    db = store(tmp_path / "gateway #1?" / "logs.db", 4)  # characters a SQLite URI filename must escape
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "jobs.cli", "count", f"sqlite://{db}", str(out), "--quiet",
                          "--in-process", "--tenant-column", "team_name"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert sorted(r["tenant"] for r in by_id(out).values()) == ["team-0", "team-0", "team-1", "team-1"]
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (id text)")
    jsonl = tmp_path / "logs.jsonl"
    jsonl.write_text("{}\n")
    for source, options, message in ((f"sqlite://{other}", [], "no log table"),
                                     ("sqlite://rel.db", [], "three slashes"),
                                     (f"sqlite://{tmp_path}/none.db", [], "input not found"),
                                     (f"sqlite://{db}", ["--tenant-column", "api_key"], "not a tenant column"),
                                     (str(jsonl), ["--since", "2026-12-01"], "files are counted whole")):
        run = subprocess.run([sys.executable, "-m", "jobs.cli", "count", source, str(tmp_path / "o2"), "--quiet",
                              *options], capture_output=True, text=True, cwd=REPO)
        assert run.returncode == 2 and run.stderr.startswith("tokcount: error: ") and message in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


def test_high_water_mark_reads_each_row_once(tmp_path):
    """Ranges are shards on a rowid grid; the next run reads only the rows added since; a rerun adds nothing;
    a row still ``processing`` stops the mark before it until it is done."""
    db = store(tmp_path / "logs.db", 25)
    out = tmp_path / "out"
    first = count(f"sqlite://{db}", out, range_rows=10)
    assert [i["uri"].rsplit("@", 1)[1] for i in first["inputs"]] == ["rowid=1-10", "rowid=10-20", "rowid=20-26"]
    assert first["run"]["records_counted"] == 25
    store(db, 10, start=25)
    con = sqlite3.connect(db, isolation_level=None)
    now = go_time(datetime.now(UTC))
    con.execute("UPDATE logs SET status = 'processing', timestamp = ? WHERE id = 'req-000031'", (now,))  # rowid 32
    con.execute("UPDATE logs SET status = 'processing' WHERE id = 'req-000028'")  # started long ago: abandoned
    second = count(f"sqlite://{db}", out, range_rows=10)
    assert second["run"]["records_counted"] == 6  # rowids 26..31: up to the row still processing (not 29's)
    assert [i["uri"].rsplit("@", 1)[1] for i in second["inputs"]][-2:] == ["rowid=26-30", "rowid=30-32"]
    assert count(f"sqlite://{db}", out, range_rows=10)["run"]["records_counted"] == 0
    con.execute("UPDATE logs SET status = 'success' WHERE id = 'req-000031'")
    fourth = count(f"sqlite://{db}", out, range_rows=10)
    assert fourth["run"]["records_counted"] == 4 and fourth["totals"]["records"] == 35
    rows = read_output(out).to_pylist()
    assert sorted(r["record_id"] for r in rows) == [f"req-{i:06d}" for i in range(35)]
    # A run killed after some ranges: a range without its marker is read again, and only it.
    (marker,) = [m for m in (out / "_done").glob("*.json") if json.loads(m.read_text())["identity"].endswith("=10-20")]
    marker.unlink()
    again = count(f"sqlite://{db}", out, range_rows=10)
    assert again["run"]["records_counted"] == 10 and again["totals"]["records"] == 35
    assert len(read_output(out)) == 35


def test_since_until_select_days_and_end_the_mark(tmp_path):
    """``--since/--until`` are a WHERE on the timestamp; a run with ``--until`` ends its ranges before the first
    row past it, so the next night reads those rows."""
    db = tmp_path / "logs.db"
    con = create(db)
    cases = comparable_cases(4)
    days = ["2026-12-05 23:59:59.999999999+00:00", "2026-12-06 00:00:00.000000000+00:00",
            "2026-12-06 12:00:00.000000000+00:00", "2026-12-07 00:00:00.000000000+00:00"]
    con.executemany(INSERT, [row_of(c, i, timestamp=days[i]) for i, c in enumerate(cases)])
    con.close()
    out = tmp_path / "out"
    cfg = JobConfig(format="bifrost_logs", since=date(2026, 12, 6), until=date(2026, 12, 6),
                    execution={"engine": "in-process"})
    manifest = run_job([f"sqlite://{db}"], str(out), cfg, log=lambda _m: None).manifest
    assert sorted(by_id(out)) == ["req-000001", "req-000002"]
    assert manifest["inputs"][-1]["uri"].endswith("@rowid=1-4")
    nxt = run_job([f"sqlite://{db}"], str(out), cfg.with_updates(until=date(2026, 12, 7)), log=lambda _m: None)
    assert nxt.manifest["run"]["records_counted"] == 1 and sorted(by_id(out))[-1] == "req-000003"


def _writer(path: str, start: int, writing: Event, stop: Event, results: Queue) -> None:
    """The gateway: inserts rows one by one (from id ``start``) until ``stop``, with no busy timeout, so any
    lock a reader held would fail an insert at once; reports the rows inserted, how many inserts failed,
    and the slowest insert (seconds)."""
    con = sqlite3.connect(path, isolation_level=None, timeout=0)
    cases = comparable_cases(1000)
    i, failed, slowest = start, 0, 0.0
    while not stop.is_set():
        began = time.perf_counter()
        try:
            con.execute(INSERT, row_of(cases[i % len(cases)], i))
            i += 1
        except sqlite3.OperationalError:
            failed += 1
        slowest = max(slowest, time.perf_counter() - began)
        writing.set()
        time.sleep(0.002)
    results.put((i - start, failed, slowest))


def test_a_writer_is_never_blocked_and_the_next_run_picks_up_its_rows(tmp_path):
    """A writer process inserts rows all through a count (on forked workers, in several ranges): none of
    its inserts ever finds the store locked; the next run counts exactly the rows added."""
    db = store(tmp_path / "logs.db", 600)
    ctx = multiprocessing.get_context("spawn")
    writing, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    writer = ctx.Process(target=_writer, args=(str(db), 600, writing, stop, results))
    writer.start()
    assert writing.wait(60)
    out = tmp_path / "out"
    cfg = JobConfig(format="bifrost_logs", execution={"engine": "local", "actors": 2, "range_rows": 100})
    first = run_job([f"sqlite://{db}"], str(out), cfg, log=lambda _m: None).manifest["run"]["records_counted"]
    stop.set()
    added, failed, slowest = results.get(timeout=60)
    writer.join(60)
    assert failed == 0, f"{failed} inserts found the store locked"
    print(f"{added} rows inserted during the count; slowest insert {slowest * 1000:.1f} ms")
    total = 600 + added
    assert 600 <= first < total
    second = run_job([f"sqlite://{db}"], str(out), cfg, log=lambda _m: None).manifest["run"]["records_counted"]
    assert first + second == total
    ids = [r["record_id"] for r in read_output(out).to_pylist()]
    assert sorted(ids) == [f"req-{i:06d}" for i in range(total)]


@pytest.mark.usefixtures("ray_session")
def test_ranges_count_on_ray_like_in_process(tmp_path):
    """The ranges are shards like files: Ray actors count them and write the same rows."""
    db = store(tmp_path / "logs.db", 120)
    count(f"sqlite://{db}", tmp_path / "local", range_rows=50)
    cfg = JobConfig(format="bifrost_logs", execution={"engine": "ray", "range_rows": 50})
    manifest = run_job([f"sqlite://{db}"], str(tmp_path / "ray"), cfg, log=lambda _m: None).manifest
    assert manifest["run"]["engine"] == "ray" and len(manifest["inputs"]) == 3
    assert read_output(tmp_path / "ray").drop(["source_file"]).equals(
        read_output(tmp_path / "local").drop(["source_file"]))


def test_explain_record_reads_the_row_back_from_the_store(tmp_path):
    """``explain --record`` finds a store's row by its ``source_file`` (store, table, range) and recounts it."""
    db = store(tmp_path / "logs.db", 5)
    count(f"sqlite://{db}", tmp_path / "out")
    expected = by_id(tmp_path / "out")["req-000003"]["input_tokens"]
    run = subprocess.run([sys.executable, "-m", "jobs.cli", "explain", str(tmp_path / "out"), "--record", "req-000003"],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert f"logged input tokens: {expected}" in run.stdout and "changed:" not in run.stdout


def test_store_benchmark_runs_end_to_end(tmp_path):
    """``python -m jobs.bench.stores`` at a tiny size: the same rows from the store and from JSONL, every key."""
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "jobs.bench.stores", "--size-mb", "0.3", "--engine", "in-process",
                          "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert result["store"]["records"] == result["jsonl"]["records"] == result["rows"] > 0
    assert result["store_4x"]["records"] == result["rows_4x"] > result["rows"]
    assert {"store_vs_jsonl", "memory_4x_vs_1x", "targets"} <= result.keys()


def test_log_records_carry_log_loss_from_the_closed_set(tmp_path):
    """The ``log`` contract every reader follows: a known ``log_loss`` with a null request is a row without a
    count (not an error); a code outside the closed set, or not a string, is an ``invalid_request`` row."""
    usage = {"prompt_tokens": 12}
    lines = [{"id": "a", "request": None, "log_loss": "content_not_logged", "response": {"usage": usage}},
             {"id": "b", "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
              "log_loss": "made_up", "response": {"usage": usage}},
             {"id": "c", "request": None, "log_loss": ["truncated"], "response": {"usage": usage}}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run_job([str(tmp_path / "in.jsonl")], str(tmp_path / "out"), JobConfig(execution={"engine": "in-process"}),
            log=lambda _m: None)
    rows = by_id(tmp_path / "out")
    assert (rows["a"]["log_loss"], rows["a"]["error_code"], rows["a"]["input_tokens"]) == (
        "content_not_logged", None, None)
    assert rows["a"]["logged_input_tokens"] == 12
    assert rows["b"]["error_code"] == rows["c"]["error_code"] == "invalid_request"
    assert "unknown code 'made_up'" in rows["b"]["error_message"]
