"""``tokcount batch``: files within every limit, input order, unique custom_ids, nothing silently lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.config import JobConfig
from jobs.datasets.batch_files import BatchOptions, parse_size, run_batch
from tokcount_core import count


def body(i: int, model: str = "gpt-4o-mini", words: int = 5) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": " ".join(f"w{i}x{j}" for j in range(words))}]}


def plan_for(tmp_path: Path, records: list, **options) -> tuple[dict, Path]:
    data = tmp_path / "in.jsonl"
    data.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    out = tmp_path / "out"
    plan = run_batch([str(data)], str(out), JobConfig(), BatchOptions("gpt-4o-mini", **options), log=lambda _: None)
    return plan, out


def lines(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


def in_order(plan: dict, out: Path) -> list[str]:
    return [line["custom_id"] for f in plan["files"] for line in lines(out, f["name"])]


RECORDS = [body(i, words=5 + 7 * (i % 3)) for i in range(9)]
TOKENS = [count(r).input_tokens for r in RECORDS]
SIZES = [len(json.dumps({"custom_id": f"x:{i}", "method": "POST", "url": "/v1/chat/completions", "body": r},
                        separators=(",", ":"))) for i, r in enumerate(RECORDS)]


@pytest.mark.parametrize("limit", ["max_requests", "max_bytes", "max_enqueued_tokens"])
def test_each_limit_binds_and_order_is_kept(tmp_path: Path, limit: str) -> None:
    bound = {"max_requests": 2, "max_bytes": 2 * max(SIZES) + 200,
             "max_enqueued_tokens": sum(sorted(TOKENS)[-2:])}[limit]
    plan, out = plan_for(tmp_path, RECORDS, **{limit: bound})
    assert plan["rejected"] == 0 and plan["totals"]["requests"] == len(RECORDS)
    assert len(plan["files"]) >= 3  # the limit made the split
    for f in plan["files"]:
        got = lines(out, f["name"])
        assert f["requests"] == len(got) and f["bytes"] == (out / f["name"]).stat().st_size
        assert f["input_tokens"] == sum(count(line["body"]).input_tokens for line in got)
        assert {"max_requests": f["requests"], "max_bytes": f["bytes"],
                "max_enqueued_tokens": f["input_tokens"]}[limit] <= bound
        assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" for line in got)
    assert [int(c.rsplit(":", 1)[1]) for c in in_order(plan, out)] == list(range(len(RECORDS)))


def test_a_record_over_a_limit_or_broken_is_rejected_with_its_reason(tmp_path: Path) -> None:
    big = body(99, words=400)
    plan, out = plan_for(tmp_path, [RECORDS[0], big, "{broken", RECORDS[1]],
                         max_enqueued_tokens=count(big).input_tokens - 1)
    rejected = lines(out, "rejected.jsonl")
    assert [r["source_row"] for r in rejected] == [1, 2]
    assert "over --max-enqueued-tokens" in rejected[0]["reason"] and rejected[1]["reason"].startswith("invalid_json")
    assert plan["rejected"] == 2 and plan["totals"]["requests"] == 2
    plan, out = plan_for(tmp_path, [big], max_bytes=1000)
    assert "over --max-bytes" in lines(out, "rejected.jsonl")[0]["reason"] and plan["files"] == []


def test_custom_ids_unique_and_kept_from_batch_files(tmp_path: Path) -> None:
    line = {"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": body(1)}
    plan, out = plan_for(tmp_path, [line, line, {**line, "custom_id": "req-2"}, body(4)])
    ids = in_order(plan, out)
    assert ids == ["req-1", "req-1#2", "req-2", f"{tmp_path / 'in.jsonl'}:3"] and plan["renamed_custom_ids"] == 1


def test_mixed_models_and_apis_grouped_one_model_per_file(tmp_path: Path) -> None:
    records = [body(0), body(1, "gpt-4o"), {"model": "gpt-4o", "input": "hi"}, body(3), {"input": "no model"}]
    plan, out = plan_for(tmp_path, records, pricing=str(Path(__file__).parents[2] / "configs" / "pricing.yaml"))
    groups = {f["name"]: (f["model"], f["endpoint"], f["requests"]) for f in plan["files"]}
    assert groups == {"gpt-4o-mini.chat.000.jsonl": ("gpt-4o-mini", "/v1/chat/completions", 2),
                      "gpt-4o.chat.000.jsonl": ("gpt-4o", "/v1/chat/completions", 1),
                      "gpt-4o.responses.000.jsonl": ("gpt-4o", "/v1/responses", 1),
                      "gpt-4o-mini.responses.000.jsonl": ("gpt-4o-mini", "/v1/responses", 1)}
    for f in plan["files"]:
        assert {line["body"]["model"] for line in lines(out, f["name"])} == {f["model"]}
    # gpt-4o-mini's batch input price is $0.075 per 1M (configs/pricing.yaml)
    mini = next(f for f in plan["files"] if f["name"] == "gpt-4o-mini.chat.000.jsonl")
    assert mini["estimated_cost_usd"] == round(mini["input_tokens"] * 0.075 / 1e6, 6)
    plan, out = plan_for(tmp_path, records, endpoint="/v1/responses")
    assert plan["rejected"] == 3 and "cannot be sent to /v1/responses" in lines(out, "rejected.jsonl")[0]["reason"]
    assert sorted(p.name for p in out.glob("*.jsonl")) == sorted(
        [f["name"] for f in plan["files"]] + ["rejected.jsonl"])  # the earlier plan's files are gone


def test_absurd_model_names_get_safe_unique_file_names(tmp_path: Path) -> None:
    """Names the registry resolves by family (``gpt-4o-mini-<anything>``) but no file system takes as a file
    name; and two names whose safe characters are the same must not share (and overwrite) one file."""
    models = ["gpt-4o-mini-" + "x" * 10_000, "gpt-4o-mini-a\u0000b", "gpt-4o-mini-a b", "gpt-4o-mini-a_b",
              "gpt-4o-mini-.."]
    plan, out = plan_for(tmp_path, [body(0), *(body(i + 1, m) for i, m in enumerate(models))])
    assert plan["rejected"] == 0 and plan["totals"]["requests"] == len(models) + 1
    names = [f["name"] for f in plan["files"]]
    assert len(set(names)) == len(names) == len(models) + 1 and "gpt-4o-mini-a_b.chat.000.jsonl" in names
    assert all(len(n) < 120 and "/" not in n and "\0" not in n for n in names)
    for f in plan["files"]:
        assert [line["body"]["model"] for line in lines(out, f["name"])] == [f["model"]]


def test_parse_size() -> None:
    assert parse_size("200MB") == 200_000_000 and parse_size("1MiB") == 2**20 and parse_size("512") == 512


def test_readme_batch_command_on_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import io

    from jobs.cli import main
    from tests.jobs.conftest import REPO
    from tests.jobs.test_finetune import readme_block

    monkeypatch.chdir(REPO)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["batch", "data/sample/finetune-000.jsonl.gz", str(tmp_path / "batch"), "--model", "gpt-4o-mini",
                     "--max-enqueued-tokens", "4000", "--pricing", "configs/pricing.yaml", "--quiet"]) == 0
    assert stdout.getvalue() == readme_block("batch output")
    files = sorted((tmp_path / "batch").glob("gpt-*.jsonl"))
    ids = [line["custom_id"] for f in files for line in lines(tmp_path / "batch", f.name)]
    assert ids == [f"data/sample/finetune-000.jsonl.gz:{i}" for i in range(80)]
