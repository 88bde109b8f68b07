"""``tokcount audit`` and ``tokcount report`` on a small fixture whose figures are computed by hand here,
plus partition pruning, idempotent nightly re-runs, bad price files and the README commands on the sample."""

from __future__ import annotations

import csv
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from jobs.config import ConfigError, JobConfig
from jobs.job.pipeline import run_job
from jobs.reports.audit import run_audit
from jobs.reports.cost import run_report
from jobs.reports.pricing import load_prices
from tokcount_core import count

from .conftest import MODEL, read_output, shard_file

PRICES = """prices:
  - {model: gpt-4o, from: 2024-05-13, input: 5.00, output: 15.00}
  - {model: gpt-4o, from: 2024-10-02, input: 2.50, cached_input: 1.25, output: 10.00, batch_input: 1.25,
     batch_output: 5.00}
  - {model: gpt-4o-mini, from: 2024-07-18, input: 0.15, output: 0.60}
"""
M = Decimal(1_000_000)


def chat(text: str, model: str = "gpt-4o") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


PREVIOUS = {"model": "gpt-4o", "previous_response_id": "resp_1", "input": "And in French?"}  # hidden context


def n(body: dict) -> int:
    return count(body).input_tokens


def log(rid: str, ts: str | None, body: dict, usage: dict | None) -> str:
    record = {"id": rid, "tenant": "acme" if rid < "r4" else "globex", "request": body}
    if ts:
        record["ts"] = ts
    if usage is not None:
        record["response"] = {"usage": usage}
    return json.dumps(record)


@pytest.fixture
def fixture_output(tmp_path: Path) -> tuple[Path, Path, dict]:
    """Logs and a batch over two days around gpt-4o's price cut (2024-10-02); returns (output, prices, bodies)."""
    bodies = {"r1": chat("one"), "r2": chat("two, a bit longer"), "r3": PREVIOUS, "r4": chat("four", "gpt-4o-mini"),
              "r5": chat("five", "gpt-4.1"), "r7": chat("seven"), "b1": chat("batch one"),
              "b2": chat("batch two", "gpt-4o-mini")}
    c = {k: n(v) for k, v in bodies.items()}
    src = tmp_path / "in"
    src.mkdir()
    (src / "logs.jsonl").write_text("\n".join([
        log("r1", "2024-10-01T23:59:59Z", bodies["r1"], {"prompt_tokens": c["r1"], "completion_tokens": 100}),
        log("r2", "2024-10-02T00:00:00Z", bodies["r2"], {"prompt_tokens": c["r2"] + 10, "completion_tokens": 20,
                                                          "prompt_tokens_details": {"cached_tokens": 5}}),
        log("r3", "2024-10-02T08:00:00Z", bodies["r3"], {"input_tokens": c["r3"] + 50, "output_tokens": 7,
                                                          "input_tokens_details": {"cached_tokens": 4}}),
        log("r4", "2024-10-02T09:00:00Z", bodies["r4"], None),
        log("r5", "2024-10-02T10:00:00Z", bodies["r5"], {"prompt_tokens": c["r5"] - 3, "completion_tokens": 1}),
        '{"id": "r6", "ts": "2024-10-02T11:00:00Z", "request": ',
        log("r7", None, bodies["r7"], {"prompt_tokens": c["r7"], "completion_tokens": 2}),
    ]) + "\n")
    (src / "batch.jsonl").write_text("\n".join(
        json.dumps({"custom_id": k, "method": "POST", "url": "/v1/chat/completions", "body": bodies[k],
                    "ts": "2024-10-02T12:00:00Z"}) for k in ("b1", "b2")) + "\n")
    usage = tmp_path / "batch_output.jsonl"
    usage.write_text("\n".join(json.dumps({"custom_id": k, "response": {"body": {"usage": {
        "prompt_tokens": c[k], "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": cached}}}}})
        for k, cached in (("b1", 0), ("b2", 8))) + "\n")
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES)
    config = JobConfig(fields={"timestamp": "ts", "tenant": "tenant"}, usage_from=[str(usage)])
    run_job([str(src)], str(tmp_path / "out"), config, log=lambda _m: None)
    return tmp_path / "out", prices, c


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_golden_audit(fixture_output):
    out, _, c = fixture_output
    result = run_audit(str(out), by="model", top=5)
    rows = {r["model"]: r for r in read_csv(out / "_reports" / "audit" / "audit.csv")}
    # gpt-4o: r1 exact, r2 +10 unexplained, r3 +50 explained (previous_response_id), r7 exact, b1 exact
    four = rows["gpt-4o"]
    assert (four["records"], four["compared"], four["exact"], four["explained"], four["unexplained"]) == \
        ("5", "5", "3", "1", "1")
    assert four["exact_pct"] == "60.00"
    assert four["delta_sum"] == "60"
    assert four["counted_input_tokens"] == str(c["r1"] + c["r2"] + c["r3"] + c["r7"] + c["b1"])
    # |delta| = 0, 0, 0, 10, 50: median 0; p95 at rank 0.95 * 4 = 3.8 -> 10 + 0.8 * 40 = 42
    assert (four["abs_delta_p50"], four["abs_delta_p95"], four["abs_delta_max"]) == ("0.00", "42.00", "50")
    assert rows["gpt-4.1"]["unexplained"] == "1" and rows["gpt-4.1"]["delta_sum"] == "-3"
    mini = rows["gpt-4o-mini"]  # r4 has no usage: not compared; b2 exact
    assert (mini["records"], mini["compared"], mini["exact"]) == ("2", "1", "1")
    worst = read_csv(out / "_reports" / "audit" / "audit_worst.csv")
    assert [(w["record_id"], w["delta"]) for w in worst] == [("r2", "10"), ("r5", "-3")]
    assert worst[0]["source_file"].endswith("logs.jsonl") and worst[0]["source_row"] == "1"
    # r3, the one explained record, is listed under each reason it carries: its hidden context, and the
    # flags of a Responses request dated before the API had recordings.
    assert ("previous_response_id", 1) in {(r["reason"], r["records"]) for r in result.reasons}
    assert all(r["records"] == 1 for r in result.reasons)
    assert "r2" in (out / "_reports" / "audit" / "audit.md").read_text()
    assert (out / "_reports" / "audit" / "audit_delta.png").stat().st_size > 1000


def test_golden_cost_report(fixture_output):
    out, prices, c = fixture_output
    report = run_report(str(out), str(prices), by="model,day")
    got = {(r["model"], r["day"]): r for r in report.rows}
    # r1 on 2024-10-01: the launch price (5 / 15) is still in force
    assert got[("gpt-4o", "2024-10-01")]["cost_usd"] == (c["r1"] * 5 + 100 * 15) / M
    # 2024-10-02: r2 (5 cached at 1.25), r3 (4 cached) and b1 (batch prices 1.25 / 5)
    r2 = (c["r2"] + 10 - 5) * Decimal("2.5") + 5 * Decimal("1.25") + 20 * 10
    r3 = (c["r3"] + 50 - 4) * Decimal("2.5") + 4 * Decimal("1.25") + 7 * 10
    b1 = c["b1"] * Decimal("1.25") + 30 * 5
    assert got[("gpt-4o", "2024-10-02")]["cost_usd"] == (r2 + r3 + b1) / M
    # gpt-4o-mini: r4 input-only at the counted input; b2 a batch without batch prices: half the list price,
    # its cached tokens at the batch input price (no cached price)
    r4 = c["r4"] * Decimal("0.15")
    b2 = c["b2"] * Decimal("0.075") + 30 * Decimal("0.30")
    mini = got[("gpt-4o-mini", "2024-10-02")]
    assert mini["cost_usd"] == (r4 + b2) / M and mini["input_only_records"] == 1 and mini["cached_tokens"] == 8
    # r5: gpt-4.1 had no price before 2025-04-14; r7: no timestamp. Unpriced, never costed as zero.
    early = got[("gpt-4.1", "2024-10-02")]
    assert early["cost_usd"] is None and early["unpriced_records"] == 1
    assert got[("gpt-4o", None)]["unpriced_records"] == 1 and got[("gpt-4o", None)]["cost_usd"] is None
    broken = got[(None, None)]  # r6, the broken line: no tokens, so neither costed nor unpriced
    assert broken["records"] == 1 and broken["unpriced_records"] == 0 and broken["cost_usd"] is None
    total = sum(r["cost_usd"] for r in report.rows if r["cost_usd"] is not None)
    assert report.total["cost_usd"] == total == (c["r1"] * 5 + 1500 + r2 + r3 + b1 + r4 + b2) / M
    assert report.total["unpriced_records"] == 2
    on_disk = read_csv(out / "_reports" / "cost" / "report.csv")
    assert sum(Decimal(r["cost_usd"]) for r in on_disk if r["cost_usd"]) == total
    assert pq.read_table(out / "_reports" / "cost" / "report.parquet").num_rows == len(report.rows)
    html = (out / "_reports" / "cost" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "http" not in html.replace("http-equiv", "")


def test_tenant_grouping_and_missing_columns(fixture_output, capsys):
    out, prices, _ = fixture_output
    tenants = {r["tenant"]: r["records"] for r in run_report(str(out), str(prices), by="tenant").rows}
    assert tenants == {"acme": 3, "globex": 3, None: 3}  # r6 (broken) and the batch lines have no tenant
    assert main(["audit", str(out), "--by", "region"]) == 2
    assert "no column(s) ['region']" in capsys.readouterr().err


def test_rule_ids_travel_with_counts(fixture_output, tmp_path, capsys):
    """``--rules`` writes each count's rule ids (as ``count`` gives them); ``audit --by rule`` groups the
    deltas by them, counting a record once per rule; ``explain --record`` lists them."""
    plain, _, _ = fixture_output
    assert "rules" not in pq.read_schema(next(plain.glob("*.parquet"))).names
    assert main(["audit", str(plain), "--by", "rule"]) == 2
    assert "has no 'rules' column; count it with --rules" in capsys.readouterr().err
    config = tmp_path / "job.yaml"
    config.write_text(f"fields: {{timestamp: ts, tenant: tenant}}\nusage_from: [{tmp_path / 'batch_output.jsonl'}]\n")
    out = tmp_path / "with_rules"
    assert main(["count", str(tmp_path / "in"), str(out), "--config", str(config), "--rules", "--quiet"]) == 0
    rows = read_output(out).to_pylist()
    assert pq.read_schema(next(out.glob("*.parquet"))).field("rules").type == pa.list_(pa.string())
    bodies = {json.loads(line).get("id") or json.loads(line)["custom_id"]: json.loads(line)
              for f in (tmp_path / "in").iterdir() for line in f.read_text().splitlines() if line.endswith("}")}
    for row in rows:
        record = bodies.get(row["record_id"])
        if record is None:  # r6, the broken line: an error row has no rules
            assert row["error_code"] == "invalid_json" and row["rules"] is None
            continue
        expected = count(record.get("request") or record["body"], as_of=record.get("ts"))
        assert expected.rules and row["rules"] == expected.rules, row["record_id"]
    result = run_audit(str(out), by="rule", top=5)
    by_rule = {g["rule"]: g for g in result.groups}
    used = Counter(rule for row in rows for rule in row["rules"] or [None])
    assert {rule: g["records"] for rule, g in by_rule.items()} == used
    unexplained = {row["record_id"] for row in rows if row["delta"] and not row["estimated"]}
    assert unexplained == {"r2", "r5"}
    for rule, g in by_rule.items():
        assert g["unexplained"] == sum(rule in (row["rules"] or []) for row in rows
                                       if row["record_id"] in unexplained), rule
    assert result.totals["records"] == len(rows) == 9  # not once per rule
    assert "9 records" in (out / "_reports" / "audit" / "audit.md").read_text()
    capsys.readouterr()
    assert main(["explain", str(out), "--record", "r2"]) == 0
    r2 = next(row for row in rows if row["record_id"] == "r2")
    assert f"rules: {', '.join(sorted(r2['rules']))}\n" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "message"), [
    ("prices:\n  - {model: gpt-4o, from: 2024-05-13, input: 5, output: 15}\n"
     "  - {model: gpt-4o, from: 2024-10-02, input: 2.5, outptu: 10}\n", ":3: prices[1]: output: Field required"),
    ("prices:\n  - {model: gpt-4o, from: 2024-05-13, input: -5, output: 15}\n", ":2: prices[0]: input: "),
    ("prices:\n  - model: gpt-4o\n    from: 13 May\n    input: 5\n    output: 15\n", ":2: prices[0]: from: "),
    ("prices:\n  - {model: a, from: 2024-01-01, input: 1, output: 1}\n  - {model: a, from: 2024-01-01, input: 2, "
     "output: 1}\n", ":3: prices[1]: a from 2024-01-01 is already priced on line 2"),
    ("pricing:\n  gpt-4o: {input_per_million: 2.5}\n", "a flat 'pricing:' table"),
    ("prices: [\n", "not valid YAML"),
    ("prices: {gpt-4o: 1}\n", "expected one top-level key 'prices'"),
    ("prices:\n  - {model: gpt-4o, from: 2024-05-13, input: 5, input: 0, output: 15}\n",
     ":2 is not valid YAML: duplicate key 'input' (first on line 2)"),
    ("prices:\n  - {model: a, from: 2024-01-01, input: 1, output: 1}\nprices:\n  - {model: b, from: 2024-01-01, "
     "input: 1, output: 1}\n", ":3 is not valid YAML: duplicate key 'prices' (first on line 1)"),
    ("prices:\n  - {model: gpt-4o, from: 2024-13-45, input: 5, output: 15}\n", ":2: prices[0]: from: "),
    ("prices:\n  - {model: gpt-4o, from: 2024-05-13, input: 1e30, output: 15}\n",
     ":2: prices[0]: input: Input should be less than or equal to 10000"),
])
def test_bad_price_files_name_the_line_and_field(tmp_path, capsys, text, message):
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as exc:
        load_prices(path)
    assert message in str(exc.value), str(exc.value)
    assert main(["report", str(tmp_path), "--pricing", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("tokcount: error: ") and err.count("\n") == 1, err


def test_shipped_price_file_has_gpt_4o_launch_and_cut():
    book = load_prices(Path(__file__).parents[2] / "configs" / "pricing.yaml")
    gpt4o = sorted((e.since.isoformat(), e.input, e.output) for e in book.entries if e.model == "gpt-4o")
    assert gpt4o == [("2024-05-13", Decimal(5), Decimal(15)), ("2024-10-02", Decimal("2.5"), Decimal(10))]


def nightly(src: Path, out: Path) -> None:
    config = JobConfig(format="log", fields={"tenant": "tenant", "timestamp": "ts"}, output={"partition_by": "day"})
    run_job([str(src)], str(out), config, log=lambda _m: None)


def test_partitions_prune_and_nightly_reruns_are_idempotent(tmp_path, capsys):
    src = tmp_path / "logs"
    src.mkdir()
    for day in ("2024-10-01", "2024-10-02"):
        (src / f"{day}.jsonl").write_text("\n".join(
            log(f"r{day[-1]}{i}", f"{day}T0{i}:00:00Z", chat(f"day {day} #{i}"),
                {"prompt_tokens": n(chat(f"day {day} #{i}")), "completion_tokens": i}) for i in range(3)) + "\n")
    out = tmp_path / "out"
    nightly(src, out)
    assert sorted(p.parent.name for p in out.glob("day=*/*.parquet")) == ["day=2024-10-01", "day=2024-10-02"]
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES)
    args = ["report", str(out), "--pricing", str(prices), "--since", "2024-10-02", "--until", "2024-10-02"]
    assert main(args) == 0
    first = (out / "_reports" / "cost" / "report.csv").read_bytes()
    assert [r["day"] for r in read_csv(out / "_reports" / "cost" / "report.csv")] == ["2024-10-02"]
    # A corrupt partition outside the range is never opened; inside the range it would be.
    day1 = shard_file(out / "day=2024-10-01", "2024-10-01.parquet")
    day1.write_bytes(b"not parquet")
    assert main(args) == 0
    assert main(["report", str(out), "--pricing", str(prices)]) == 2
    err = capsys.readouterr().err
    assert f"corrupt Parquet file {out / 'day=2024-10-01'}/" in err, err
    # Re-running tonight's count and report changes nothing.
    day1.unlink()
    (out / "_done").rename(tmp_path / "done-kept")  # forget the markers: both shards are counted again
    nightly(src, out)
    assert main(args) == 0
    assert (out / "_reports" / "cost" / "report.csv").read_bytes() == first
    assert len(list(out.glob("day=*/*.parquet"))) == 2


def report_files(out: Path, argv: list[str], capsys) -> tuple[list[dict[str, str]], str, str]:
    """Run ``report`` (exit 0); its CSV rows, HTML and stdout."""
    assert main(["report", str(out), *argv]) == 0, capsys.readouterr().err
    target = out / "_reports" / "cost"
    return read_csv(target / "report.csv"), (target / "report.html").read_text(), capsys.readouterr().out


def test_a_quiet_day_or_an_empty_output_writes_reports_that_say_so(tmp_path, capsys):
    """The nightly cron on a day without traffic: with day partitions there is no file in range at all,
    without them no row; both write the report files and exit 0. An output over empty inputs too."""
    src = tmp_path / "logs"
    src.mkdir()
    (src / "one.jsonl").write_text(log("r1", "2024-10-01T01:00:00Z", chat("one"), {"prompt_tokens": 8}) + "\n")
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES)
    quiet = ["--pricing", str(prices), "--since", "2024-10-05", "--until", "2024-10-05"]
    partitioned, flat = tmp_path / "partitioned", tmp_path / "flat"
    nightly(src, partitioned)
    run_job([str(src)], str(flat), JobConfig(format="log", fields={"timestamp": "ts"}), log=lambda _m: None)
    for out in (partitioned, flat):
        rows, _, _ = report_files(out, ["--pricing", str(prices)], capsys)  # a busy day first: its charts
        assert len(rows) == 1 and (out / "_reports" / "cost" / "cost_per_day.png").exists()
        rows, html, printed = report_files(out, quiet, capsys)
        assert rows == [] and (out / "_reports" / "cost" / "report.csv").read_text().startswith("model,day,records")
        assert pq.read_table(out / "_reports" / "cost" / "report.parquet").num_rows == 0
        assert "no records in range (2024-10-05 to 2024-10-05)" in html
        assert "no records in range (2024-10-05 to 2024-10-05)" in printed
        assert not list((out / "_reports" / "cost").glob("*.png"))  # no chart of another day
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "empty.jsonl").write_text("")
    empty = tmp_path / "empty"
    nightly(tmp_path / "none", empty)
    assert not list(empty.rglob("*.parquet"))
    rows, html, printed = report_files(empty, ["--pricing", str(prices)], capsys)
    assert rows == [] and "no records in range (all days)" in html and "no records in range" in printed
    assert main(["audit", str(empty)]) == 0
    assert "no records in OUTPUT" in capsys.readouterr().out
    assert read_csv(empty / "_reports" / "audit" / "audit.csv") == []
    assert "No records" in (empty / "_reports" / "audit" / "audit.md").read_text()


def test_since_after_until_is_refused(fixture_output, capsys):
    out, prices, _ = fixture_output
    assert main(["report", str(out), "--pricing", str(prices), "--since", "2024-10-03", "--until", "2024-10-01"]) == 2
    err = capsys.readouterr().err
    assert err == "tokcount: error: --since 2024-10-03 is after --until 2024-10-01: the range holds no day\n"
    assert not (out / "_reports" / "cost").exists()


def test_readme_commands_on_the_sample(sample, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(sample.parent)
    out = tmp_path / "out"
    assert main(["count", "sample", str(out), "--model", MODEL, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["audit", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("model ") and "exact_pct" in printed
    logs = [json.loads(line) for line in (sample / "chat-logs-000.jsonl").read_text().splitlines()
            if line.endswith("}")]
    exact = sum(r["response"]["usage"]["prompt_tokens"] == count(r["request"], as_of=r["timestamp"]).input_tokens
                for r in logs)
    audit = read_csv(out / "_reports" / "audit" / "audit.csv")
    assert sum(int(r["compared"]) for r in audit) == len(logs) == 99
    assert sum(int(r["exact"]) for r in audit) == exact
    assert sum(int(r["unexplained"]) for r in audit) == len(read_csv(out / "_reports" / "audit" / "audit_worst.csv"))
    assert main(["report", str(out), "--pricing", str(Path(__file__).parents[2] / "configs" / "pricing.yaml")]) == 0
    report = read_csv(out / "_reports" / "cost" / "report.csv")
    assert {r["day"] for r in report} == {"", *(r["timestamp"][:10] for r in logs)}
    assert sum(int(r["records"]) for r in report) == 350
    for name in ("report.html", "tokens_per_day.png", "cost_per_day.png"):  # no tenant field: no tenant chart
        assert (out / "_reports" / "cost" / name).stat().st_size > 1000
    worst = logs[0]["id"]
    assert main(["explain", str(out), "--record", worst]) == 0
    assert f"logged input tokens: {logs[0]['response']['usage']['prompt_tokens']}" in capsys.readouterr().out
