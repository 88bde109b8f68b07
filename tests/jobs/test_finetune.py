"""``tokcount finetune``: every check, the counts, the epochs and cost, on fixtures and the bundled sample."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import struct
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.config import JobConfig
from jobs.datasets import checks
from jobs.datasets.cookbook import cookbook_numbers, num_tokens_from_messages, read_jsonl
from jobs.datasets.finetune import FinetuneOptions, default_epochs, run_finetune
from tests.jobs.conftest import REPO, SAMPLE, read_output
from tokcount_core.encoding import get_encoding

O200K = get_encoding("o200k_base")
SYSTEM = {"role": "system", "content": "You are terse."}
USER = {"role": "user", "content": "Capital of France?"}
ANSWER = {"role": "assistant", "content": "Paris."}


def png_url(width: int, height: int) -> str:
    """A PNG header is all the core reads to price an image."""
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                                                                   0, 0) + b"\0\0\0\0"
    return "data:image/png;base64," + base64.b64encode(header).decode()


def image_part() -> dict:
    return {"type": "image_url", "image_url": {"url": png_url(512, 512), "detail": "low"}}


# One bad example per check code, each failing only that check.
BAD = {
    checks.DATA_TYPE: [1, 2],
    checks.MISSING_MESSAGES_LIST: {"messages": []},
    checks.MESSAGE_MISSING_KEY: {"messages": [{"content": "no role"}, ANSWER]},
    checks.MESSAGE_UNRECOGNIZED_KEY: {"messages": [USER, {**ANSWER, "thoughts": "x"}]},
    checks.UNRECOGNIZED_ROLE: {"messages": [{"role": "robot", "content": "beep"}, ANSWER]},
    checks.MISSING_CONTENT: {"messages": [{"role": "user", "content": ""}, ANSWER]},
    checks.EXAMPLE_MISSING_ASSISTANT_MESSAGE: {"messages": [SYSTEM, USER]},
    checks.NO_TRAINED_MESSAGE: {"messages": [USER, {**ANSWER, "weight": 0}]},
    checks.INVALID_WEIGHT: {"messages": [USER, {**ANSWER, "weight": 0.5}]},
    checks.WEIGHT_NOT_ON_ASSISTANT: {"messages": [{**USER, "weight": 1}, ANSWER]},
    checks.IMAGE_IN_ASSISTANT: {"messages": [USER, {"role": "assistant", "content": [image_part()]}]},
    checks.TOO_MANY_IMAGES: {"messages": [{"role": "user", "content": [image_part()] * 11}, ANSWER]},
    checks.INVALID_TOOLS: {"messages": [USER, ANSWER], "tools": [{"type": "function"}]},
    checks.DPO_OUTPUT: {"input": {"messages": [USER]}, "preferred_output": [ANSWER, ANSWER],
                        "non_preferred_output": [ANSWER]},
}
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}
CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}
GOOD = [
    {"messages": [SYSTEM, USER, ANSWER]},
    # weight 0 on the first answer: only the second is trained
    {"messages": [SYSTEM, USER, {**ANSWER, "weight": 0}, {"role": "user", "content": "More sarcastic?"},
                  {"role": "assistant", "content": "Paris, obviously.", "weight": 1}]},
    {"messages": [USER, CALL, {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
                  {"role": "assistant", "content": "21 C in Paris."}], "tools": [TOOL], "parallel_tool_calls": False},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "What colour?"}, image_part()]},
                  {"role": "assistant", "content": "Red."}]},
    {"input": {"messages": [USER]}, "preferred_output": [ANSWER],
     "non_preferred_output": [{"role": "assistant", "content": "Berlin."}]},
]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "{not json\n")
    return path


@pytest.mark.parametrize("code", sorted(BAD))
def test_each_check_names_its_problem(code: str) -> None:
    problems = checks.check_example(BAD[code])
    assert [p.code for p in problems] == [code]
    assert str(problems[0])


def test_todays_format_passes_the_checks() -> None:
    assert [checks.check_example(r) for r in GOOD] == [[] for _ in GOOD]


def test_fixture_rows_and_golden_summary(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "ft.jsonl", GOOD + list(BAD.values()))
    out = tmp_path / "out"
    summary = run_finetune([str(data)], str(out), JobConfig(), FinetuneOptions("gpt-4o-mini", pricing=str(
        REPO / "configs" / "pricing.yaml")), log=lambda _: None)
    rows = {r["source_row"]: r for r in read_output(out).to_pylist()}
    assert len(rows) == len(GOOD) + len(BAD) + 1  # no example dropped
    for row, code in enumerate(BAD, start=len(GOOD)):
        assert rows[row]["format_error"] == code and rows[row]["error_code"] == "invalid_request"
        assert rows[row]["error_message"].startswith(f"{data}:{row}: ") and rows[row]["input_tokens"] is None
    assert rows[len(rows) - 1]["error_code"] == "invalid_json"
    # trained tokens by hand: an assistant message is content + framing 3 + role 1 on gpt-4o-mini
    assert rows[0]["trained_tokens"] == len(O200K.encode("Paris.")) + 4
    assert rows[1]["trained_tokens"] == len(O200K.encode("Paris, obviously.")) + 4
    assert rows[4]["kind"] == "dpo" and rows[4]["estimate_reasons"] == ["unverified_rule"]
    assert rows[4]["trained_tokens"] == len(O200K.encode("Paris.")) + len(O200K.encode("Berlin.")) + 8
    assert rows[3]["input_tokens_details"]["image_tokens"] > 0
    tokens = sorted(rows[i]["input_tokens"] for i in range(len(GOOD)))
    assert summary == {
        "model": "gpt-4o-mini", "examples": 20, "valid": 5,
        "format_errors": {**{code: 1 for code in sorted(BAD)}, "invalid_json": 1},
        "tokens": {"min": tokens[0], "max": tokens[-1], "mean": round(sum(tokens) / 5, 1), "p50": tokens[2],
                   "p95": round(tokens[3] + 0.8 * (tokens[4] - tokens[3]), 1)},
        "trained_tokens": sum(rows[i]["trained_tokens"] for i in range(len(GOOD))),
        # the DPO row (unverified_rule) and the low-detail image row: one reference case shows a Chat
        # ``detail: low`` image on gpt-4o-mini's class (outside_evidence, tokcount_core/coverage.py)
        "estimated": 2, "over_limit": 0, "example_limit": 65_536, "kept": 5, "rejected": 15,
        "n_epochs": 20, "epochs_from": "default", "billed_tokens": 20 * sum(tokens),
        "estimated_cost_usd": round(20 * sum(tokens) * 3 / 1e6, 6), "training_price_per_million": 3.0,
        "warnings": ["5 valid example(s): the API refuses fewer than 10"],
    }
    assert {r["source_row"] for r in read_output(out / "kept").to_pylist()} == set(range(len(GOOD)))


def test_over_limit_goes_to_rejected_and_bills_the_limit(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "ft.jsonl", GOOD[:3])
    out = tmp_path / "out"
    limit = 30
    summary = run_finetune([str(data)], str(out), JobConfig(), FinetuneOptions("gpt-4o-mini", epochs=2,
                                                                               max_example_tokens=limit),
                           log=lambda _: None)
    rows = read_output(out).to_pylist()[:3]
    over = [r for r in rows if r["input_tokens"] > limit]
    assert over and all(r["over_limit"] for r in over)
    assert summary["over_limit"] == len(over) and summary["kept"] == 3 - len(over)
    assert summary["billed_tokens"] == 2 * sum(min(limit, r["input_tokens"]) for r in rows)
    assert summary["n_epochs"] == 2 and summary["epochs_from"] == "--epochs"
    assert read_output(out / "rejected").num_rows == len(over) + 1  # and the bad line


@pytest.mark.parametrize(("examples", "epochs"), [
    (1, 25), (4, 25), (5, 20), (33, 3), (34, 3), (8_333, 3), (8_334, 2), (25_001, 1), (100_000, 1)])
def test_default_epochs_clamps(examples: int, epochs: int) -> None:
    # 100 // 5 = 20; 5 * 3 < 100 clamps up to min(25, 100 // n); 8,334 * 3 > 25,000 down to 25,000 // n
    assert default_epochs(examples) == epochs


def test_counts_equal_the_cookbook_where_its_rule_is_the_real_one() -> None:
    """On gpt-3.5-turbo (cl100k, 3 per message + 3) an example without tools or images counts the same."""
    from jobs.datasets.examples import ExampleCounter

    counter = ExampleCounter(JobConfig(model="gpt-3.5-turbo", format="finetune"))
    plain = [ex for ex in read_jsonl(SAMPLE / "finetune-000.jsonl.gz") if "tools" not in ex]
    assert len(plain) > 40
    for i, ex in enumerate(plain):
        row = counter.count_line("x", i, json.dumps(ex).encode())
        assert row["input_tokens"] == num_tokens_from_messages(ex["messages"])


def readme_block(title: str) -> str:
    text = (REPO / "README.md").read_text()
    found = re.search(rf"<!-- {title} -->\n```\n(.*?)```", text, re.S)
    assert found, f"README has no {title} block"
    return found.group(1)


def test_readme_finetune_command_on_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "ft"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["finetune", "data/sample/finetune-000.jsonl.gz", str(out), "--model", "gpt-4o-mini",
                     "--pricing", "configs/pricing.yaml", "--quiet"]) == 0
    shown = stdout.getvalue().replace(str(out), "out/ft")
    assert shown == readme_block("finetune output")
    cookbook = cookbook_numbers(read_jsonl(SAMPLE / "finetune-000.jsonl.gz"))
    assert f"| billed tokens | {cookbook['billed_tokens']:,} |" in readme_block("cookbook comparison")


def test_ray_engine_gives_the_same_rows_and_summary(tmp_path: Path, ray_session) -> None:
    data = write_jsonl(tmp_path / "ft.jsonl", GOOD + list(BAD.values()))
    options = FinetuneOptions("gpt-4o-mini")
    local = run_finetune([str(data)], str(tmp_path / "local"), JobConfig(), options, log=lambda _: None)
    on_ray = run_finetune([str(data)], str(tmp_path / "ray"), JobConfig().with_updates(**{"execution.force_ray": True}),
                          options, log=lambda _: None)
    assert on_ray == local
    assert json.loads((tmp_path / "ray" / "_manifest.json").read_text())["run"]["engine"] == "ray"
    assert read_output(tmp_path / "ray").drop(["record"]).equals(read_output(tmp_path / "local").drop(["record"]))
