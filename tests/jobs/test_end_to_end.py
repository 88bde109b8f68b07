"""The sample, end to end: one row per line, counts equal to the core's, errors named, schema fixed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from jobs.config import JobConfig
from jobs.job.pipeline import run_job
from tokcount_core import count

from .conftest import MODEL, read_output, sample_lines

DETAILS = pa.struct([(f, pa.int64()) for f in (
    "text_tokens", "image_tokens", "audio_tokens", "file_tokens", "tool_tokens", "response_format_tokens",
    "overhead_tokens", "cached_tokens")])

# The documented output schema (README_job.md), for format auto with no optional columns.
BASE_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("source_file", pa.string()), ("source_row", pa.int64()),
    ("model", pa.string()), ("encoding", pa.string()), ("api", pa.string()),
    ("input_tokens", pa.int64()), ("input_tokens_details", DETAILS), ("logged_input_tokens", pa.int64()),
    ("cached_tokens", pa.int64()), ("output_tokens", pa.int64()), ("delta", pa.int64()), ("delta_pct", pa.float64()),
    ("batch", pa.bool_()), ("total_tokens", pa.int64()), ("estimated", pa.bool_()),
    ("estimate_reasons", pa.list_(pa.string())), ("error_code", pa.string()), ("error_message", pa.string()),
    ("log_loss", pa.string()), ("rules_version", pa.string()), ("tenant", pa.string()), ("timestamp", pa.string()),
    ("day", pa.string()),
])


def expected(name: str, line: bytes):
    """What the core says about one sample line, unwrapped by hand (independently of jobs.job.records)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None, "invalid_json", {}
    if not isinstance(record, dict):
        return None, "invalid_request", {}
    if name.startswith("chat-logs"):
        usage = record["response"]["usage"]
        res = count(record["request"], default_model=MODEL, as_of=record["timestamp"])
        return res, None, {"record_id": record["id"], "output_tokens": usage["completion_tokens"],
                           "logged_input_tokens": usage["prompt_tokens"], "timestamp": record["timestamp"],
                           "delta": usage["prompt_tokens"] - res.input_tokens, "day": record["timestamp"][:10],
                           "batch": False}
    if name.startswith("batch"):
        api = {"/v1/chat/completions": "chat", "/v1/responses": "responses"}.get(record["url"])
        if api is None:
            return None, "invalid_request", {"record_id": record["custom_id"]}
        return count(record["body"], default_model=MODEL, api=api), None, {"record_id": record["custom_id"],
                                                                           "batch": True, "day": None}
    api = "chat" if name.startswith("finetune") else None
    return count(record, default_model=MODEL, api=api), None, {}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from .conftest import SAMPLE

    out = tmp_path_factory.mktemp("out")
    result = run_job([str(SAMPLE)], str(out), JobConfig(model=MODEL), log=lambda _m: None)
    return SAMPLE, out, result.manifest


def test_one_row_per_input_line_and_counts_match_core(sample_run):
    sample, out, manifest = sample_run
    table = read_output(out)
    lines = sample_lines(sample)
    assert table.num_rows == sum(len(v) for v in lines.values()) == manifest["totals"]["records"] == 350
    rows = {(Path(r["source_file"]).name, r["source_row"]): r for r in table.to_pylist()}
    for name, shard_lines in lines.items():
        for i, line in enumerate(shard_lines):
            row = rows[(name, i)]
            res, code, extra = expected(name, line)
            for key, value in extra.items():
                assert row[key] == value, (name, i, key)
            if res is not None:
                code = str(res.error_code) if res.error_code else None
                assert row["input_tokens"] == res.input_tokens, (name, i)
                assert row["estimated"] == res.estimated
                if res.input_tokens_details is not None:
                    assert row["input_tokens_details"] == res.input_tokens_details.model_dump()
            assert row["error_code"] == code, (name, i, row["error_message"])
            assert (row["input_tokens"] is None) == (row["error_code"] is not None)
            if code:
                assert row["error_message"].startswith(f"{row['source_file']}:{i}: "), row["error_message"]


def test_bad_lines_have_the_right_codes(sample_run):
    _, out, manifest = sample_run
    by_pos = {(Path(r["source_file"]).name, r["source_row"]): r for r in read_output(out).to_pylist()}
    cases = {
        ("responses-000.jsonl", 13): ("invalid_json", "not valid JSON"),
        ("responses-000.jsonl", 27): ("invalid_json", "empty line"),
        ("responses-000.jsonl", 41): ("invalid_request", "expected a JSON object"),
        ("responses-000.jsonl", 55): ("unknown_model", "gpt-9-ultra"),
        ("responses-000.jsonl", 83): ("unsupported_provider", "anthropic"),
        ("responses-000.jsonl", 97): ("invalid_media", ""),
        ("chat-logs-000.jsonl", 50): ("invalid_json", "not valid JSON"),
        ("batch-000.jsonl", 59): ("invalid_request", "field 'url'"),
    }
    for pos, (code, text) in cases.items():
        assert by_pos[pos]["error_code"] == code, pos
        assert text in by_pos[pos]["error_message"], by_pos[pos]["error_message"]
    assert manifest["totals"]["errors"] == {"invalid_json": 3, "invalid_media": 1, "invalid_request": 2,
                                            "unknown_model": 1, "unsupported_provider": 1}
    # The record without a model got the default; a line of the batch file keeps its custom_id.
    assert by_pos[("responses-000.jsonl", 69)]["model"] == MODEL
    assert by_pos[("batch-000.jsonl", 59)]["record_id"] == "task-59"


def test_schema_is_exactly_as_documented(sample_run):
    _, out, _ = sample_run
    for path in out.glob("*.parquet"):
        assert pa.parquet.read_schema(path).remove_metadata() == BASE_SCHEMA, path


def test_manifest_describes_inputs_and_versions(sample_run):
    import hashlib

    _, out, manifest = sample_run
    on_disk = json.loads((out / "_manifest.json").read_text())
    assert on_disk == manifest
    for entry in manifest["inputs"]:
        data = Path(entry["uri"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    assert set(manifest["versions"]) >= {"tokcount", "ray", "tiktoken", "pyarrow"}
    assert manifest["totals"]["input_tokens"] == pa.compute.sum(read_output(out)["input_tokens"]).as_py()
    assert manifest["run"]["engine"] == "in-process" and manifest["run"]["records_counted"] == 350
    assert not (out / "_tmp").exists()


def test_ray_path_gives_identical_output(sample_run, ray_session, tmp_path):
    sample, out, _ = sample_run
    config = JobConfig(model=MODEL).with_updates(**{"execution.force_ray": True, "execution.lines_per_block": 37})
    manifest = run_job([str(sample)], str(tmp_path / "ray"), config, log=lambda _m: None).manifest
    assert manifest["run"]["engine"] == "ray"
    assert read_output(tmp_path / "ray").equals(read_output(out))
    for path in out.glob("*.parquet"):  # same files, same names, same row order inside
        assert pa.parquet.read_table(tmp_path / "ray" / path.name).equals(pa.parquet.read_table(path))
