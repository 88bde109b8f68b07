"""Input shapes: Parquet (JSON string and struct columns), gzip/zstd, line splitting, presets."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from jobs.config import JobConfig
from jobs.job.counting import RowCounter
from jobs.job.pipeline import run_job
from tokcount_core import count

from .conftest import MODEL, read_output, shard_file

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello there, how are you?"}]}


def run(inputs, out, config=None):
    return run_job([str(i) for i in inputs], str(out), config or JobConfig(model=MODEL),
                   log=lambda _m: None).manifest


def tokens_only(table: pa.Table) -> list:
    return table.select(["source_row", "input_tokens", "error_code", "total_tokens"]).to_pylist()


def test_parquet_string_and_struct_request_columns_match_jsonl(sample, tmp_path):
    logs = [json.loads(line) for line in (sample / "chat-logs-000.jsonl").read_text().splitlines()
            if line.endswith("}")]
    src = tmp_path / "src"
    src.mkdir()
    ids = [r["id"] for r in logs]
    pq.write_table(pa.table({"id": ids, "request": [json.dumps(r["request"]) for r in logs]}),
                   src / "as-string.parquet")
    pq.write_table(pa.table({"id": ids, "request": [r["request"] for r in logs]}), src / "as-struct.parquet")
    config = JobConfig(format="wrapped", fields={"request": "request", "record_id": "id"}, model=MODEL)
    run([src], tmp_path / "out", config)
    table = read_output(tmp_path / "out")
    want = [count(r["request"]).input_tokens for r in logs]
    for name in ("as-string", "as-struct"):
        part = table.filter(pa.compute.match_substring(table["source_file"], name))
        assert part["record_id"].to_pylist() == ids
        assert part["input_tokens"].to_pylist() == want, name
        assert part["error_code"].null_count == len(ids)


def test_gzip_and_zstd_equal_plain(sample, tmp_path):
    plain = (sample / "responses-000.jsonl").read_bytes()
    for name, data in {"a.jsonl": plain, "b.jsonl.gz": gzip.compress(plain),
                       "c.jsonl.zst": zstandard.ZstdCompressor().compress(plain)}.items():
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes(data)
    run([tmp_path / "in"], tmp_path / "out")
    parts = [pq.read_table(shard_file(tmp_path / "out", f"{name}.parquet")) for name in "abc"]
    assert parts[0].num_rows == 110
    for part in parts[1:]:
        assert tokens_only(part) == tokens_only(parts[0])


def test_lines_split_on_newline_only(tmp_path):
    """U+2028 inside a string is not a line break; CRLF, a BOM and a missing final newline are fine."""
    body = json.dumps({**BODY, "messages": [{"role": "user", "content": "a\u2028b\u2029c\x85d"}]},
                      ensure_ascii=False).encode()
    src = tmp_path / "in"
    src.mkdir()
    (src / "odd.jsonl").write_bytes(b"\xef\xbb\xbf" + body + b"\r\n" + body + b"\n\n   \n" + body)
    (src / "empty.jsonl").write_bytes(b"")
    manifest = run([src], tmp_path / "out")
    table = pq.read_table(shard_file(tmp_path / "out", "odd.parquet"))
    assert table["error_code"].to_pylist() == [None, None, "invalid_json", "invalid_json", None]
    expected = count(body).input_tokens
    assert table["input_tokens"].to_pylist() == [expected, expected, None, None, expected]
    assert pq.read_table(shard_file(tmp_path / "out", "empty.parquet")).num_rows == 0
    assert manifest["totals"]["records"] == 5


def test_presets_batch_output_bifrost_and_dotted_paths(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    usage = {"prompt_tokens": 14, "completion_tokens": 9, "total_tokens": 23}
    (src / "out.jsonl").write_text(json.dumps(
        {"custom_id": "t1", "response": {"status_code": 200, "body": {"usage": usage}}}) + "\n")
    (src / "bifrost.jsonl").write_text(json.dumps(
        {"id": "b1", "timestamp": "2026-11-01T00:00:00Z", "provider": "openai", "model": "gpt-4o",
         "input_history": BODY["messages"], "params": {"temperature": 0}, "token_usage": usage}) + "\n")
    (src / "nested.jsonl").write_text(json.dumps(
        {"meta": {"rid": 7, "org": {"tenant": "acme"}}, "payload": {"req": json.dumps(BODY)},
         "model_used": "gpt-4.1"}) + "\n" + json.dumps({"meta": {}, "payload": {}}) + "\n")
    run([src / "out.jsonl", src / "bifrost.jsonl"], tmp_path / "auto")
    rows = {r["record_id"]: r for r in read_output(tmp_path / "auto").to_pylist()}
    assert rows["t1"]["error_code"] == "invalid_request" and rows["t1"]["output_tokens"] == 9
    assert "no request body" in rows["t1"]["error_message"]
    assert rows["b1"]["error_code"] is None and rows["b1"]["logged_input_tokens"] == 14
    assert rows["b1"]["total_tokens"] == rows["b1"]["input_tokens"] + 9

    config = JobConfig(format="wrapped", fields={"request": "payload.req", "record_id": "meta.rid",
                                                 "model": "model_used", "tenant": "meta.org.tenant"},
                       passthrough={"org": "meta.org"})
    run([src / "nested.jsonl"], tmp_path / "wrapped", config)
    good, bad = read_output(tmp_path / "wrapped").to_pylist()
    assert good["record_id"] == "7" and good["tenant"] == "acme" and json.loads(good["org"]) == {"tenant": "acme"}
    assert good["model"] == "gpt-4.1" and good["input_tokens"] == count(BODY, "gpt-4.1").input_tokens
    assert bad["error_code"] == "invalid_request" and "field 'payload.req': missing" in bad["error_message"]
    assert bad["error_message"].startswith(f"{src / 'nested.jsonl'}:1: ")


def test_dataset_prep_columns_and_split(sample, tmp_path):
    config = JobConfig(model=MODEL, output={"max_input_tokens": 150, "keep_record": True, "context": True,
                                            "tokens": True},
                       pricing={"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6}})
    manifest = run([sample / "finetune-000.jsonl.gz", sample / "chat-logs-000.jsonl"], tmp_path / "out", config)
    kept, rejected = read_output(tmp_path / "out" / "kept"), read_output(tmp_path / "out" / "rejected")
    assert kept.num_rows + rejected.num_rows == 180 == manifest["totals"]["records"]
    assert manifest["totals"]["kept"] == kept.num_rows > 0 and rejected.num_rows > 0
    assert all(n <= 150 for n in kept["input_tokens"].to_pylist())
    assert all(r["error_code"] or r["input_tokens"] > 150 for r in rejected.to_pylist())
    row = next(r for r in kept.to_pylist() if r["model"] == MODEL)
    assert row["context_window"] == 128_000 and row["fits_context"] is True
    assert len(row["tokens"]) > 0 and kept.schema.field("tokens").type == pa.list_(pa.int32())
    assert json.loads(row["record"])  # the original line, as text
    costed = [r for r in kept.to_pylist() if r["model"] == "gpt-4o-mini"]
    r = costed[0]
    assert r["cost_usd"] == (r["input_tokens"] * 0.15 + (r["output_tokens"] or 0) * 0.6) / 1e6
    assert manifest["totals"]["cost_usd"] > 0
    assert shard_file(tmp_path / "out" / "kept", "finetune-000.parquet").exists()


def test_batch_audit_joins_output_usage_by_custom_id(tmp_path):
    """Estimate a batch before submitting it, audit it after: the billed usage of the batch output
    file lands beside each counted input record."""
    src = tmp_path / "in"
    src.mkdir()
    requests = [{"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions", "body": BODY}
                for i in range(3)]
    (src / "batch_input.jsonl").write_text("".join(json.dumps(r) + "\n" for r in requests))
    billed = [{"custom_id": f"req-{i}", "response": {"status_code": 200, "body": {
        "usage": {"prompt_tokens": 20 + i, "completion_tokens": 5, "total_tokens": 25 + i}}}} for i in (0, 2)]
    (tmp_path / "batch_output.jsonl").write_text("".join(json.dumps(r) + "\n" for r in billed))
    run([src / "batch_input.jsonl"], tmp_path / "out",
        JobConfig(usage_from=[str(tmp_path / "batch_output.jsonl")]))
    rows = {r["record_id"]: r for r in read_output(tmp_path / "out").to_pylist()}
    assert rows["req-0"]["logged_input_tokens"] == 20 and rows["req-2"]["logged_input_tokens"] == 22
    assert rows["req-1"]["logged_input_tokens"] is None  # not in the output file (failed or pending)
    assert rows["req-0"]["input_tokens"] == count(BODY, api="chat").input_tokens
    assert rows["req-0"]["total_tokens"] == rows["req-0"]["input_tokens"] + 5


def test_family_prices_cover_snapshots_but_not_fine_tunes_or_unknown_variants():
    counter = RowCounter(JobConfig(pricing={"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6},
                                            "o3": {"input_per_million": 2, "output_per_million": 8}}))

    def cost(model: str) -> float | None:
        row = counter.count_line("in.jsonl", 0, json.dumps({"model": model, "input": "hi"}).encode())
        assert row.get("error_code") is None and row["input_tokens"] > 0
        return row["cost_usd"]

    assert cost("gpt-4o-mini-2024-07-18") == cost("gpt-4o-mini") > 0
    assert cost("ft:gpt-4o-mini-2024-07-18:acme::abc123") is None  # fine-tuned inference costs more
    assert cost("o3-deep-research") is None  # priced far above o3
