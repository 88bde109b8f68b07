"""The command line: fatal problems are one line and exit 2 before any work; configs validate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.config import ConfigError, load_config
from tokcount_core import count

from .conftest import MODEL, REPO

CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if p.name != "pricing.yaml")  # a price file


def fatal(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tokcount: error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    load_config(path)


def test_bad_config_key_fails_loudly_in_one_line(tmp_path, capsys, sample):
    bad = tmp_path / "bad.yaml"
    bad.write_text("output:\n  keep_recrod: true\nfields:\n  request: body\n")
    with pytest.raises(ConfigError, match=r"unknown key 'output.keep_recrod'"):
        load_config(bad)
    err = fatal(capsys, ["count", str(sample), str(tmp_path / "out"), "--config", str(bad)])
    assert "keep_recrod" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, message", [
    ("format: jsonish\n", "format"),
    ("pricing:\n  gpt-4o: {input_per_million: -1}\n", "pricing.gpt-4o.input_per_million"),
    ("limits:\n  max_recrod_bytes: 5\n", "max_recrod_bytes"),
    ("format: finetune\n", "needs a default model"),
    ("passthrough:\n  model: x.y\n", "clash"),
    ("- a\n- b\n", "mapping"),
    ("a: [\n", "not valid YAML"),
    ("model: gpt-4o\nfields:\n  tenant: a\n  tenant: b\n", r":4 is not valid YAML: duplicate key 'tenant' \(first"),
    ("as_of: 2024-13-45\n", "as_of: Input should be a valid date"),
    ("pricing:\n  gpt-4o: {input_per_million: 1e30}\n", "pricing.gpt-4o.input_per_million: Input should be less"),
    ("output:\n  max_input_tokens: 0\n", "output.max_input_tokens"),
])
def test_invalid_configs(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("argv", "message"), [
    (["audit", "OUT", "--top", "-5"], "argument --top: must be a positive integer, got -5"),
    (["audit", "OUT", "--top", "0"], "argument --top: must be a positive integer, got 0"),
    (["batch", "IN", "OUT", "--model", "gpt-4o", "--max-enqueued-tokens", "0"], "argument --max-enqueued-tokens: "),
    (["batch", "IN", "OUT", "--model", "gpt-4o", "--max-enqueued-tokens", "-3"], "argument --max-enqueued-tokens: "),
    (["batch", "IN", "OUT", "--model", "gpt-4o", "--max-requests", "0"], "argument --max-requests: "),
    (["batch", "IN", "OUT", "--model", "gpt-4o", "--max-bytes", "0"], "argument --max-bytes: must be at least 1"),
    (["batch", "IN", "OUT", "--model", "gpt-4o", "--max-bytes", "-1"], "argument --max-bytes: cannot read '-1'"),
    (["finetune", "IN", "OUT", "--model", "gpt-4o", "--max-example-tokens", "0"], "argument --max-example-tokens: "),
    (["finetune", "IN", "OUT", "--model", "gpt-4o", "--max-example-tokens", "-1"], "argument --max-example-tokens: "),
    (["finetune", "IN", "OUT", "--model", "gpt-4o", "--epochs", "0"], "argument --epochs: "),
    (["count", "IN", "OUT", "--max-input-tokens", "-1"], "argument --max-input-tokens: "),
    (["count", "IN", "OUT", "--max-input-tokens", "ten"], "argument --max-input-tokens: expected a positive integer"),
    (["report", "OUT", "--pricing", "P", "--since", "2024-13-45"], "argument --since: expected a day as YYYY-MM-DD"),
])
def test_bad_option_values_are_refused_in_one_line(capsys, argv, message):
    assert message in fatal(capsys, argv)


def test_a_bad_option_from_the_shell_is_one_line_without_usage(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jobs.cli", "audit", str(tmp_path), "--top", "-5"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "tokcount: error: argument --top: must be a positive integer, got -5\n"


def test_missing_input_and_unusable_output_are_fatal(tmp_path, capsys, sample):
    assert "input not found" in fatal(capsys, ["count", str(tmp_path / "nope"), str(tmp_path / "out")])
    assert "need at least one INPUT" in fatal(capsys, ["count", str(tmp_path)])
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "is a file" in fatal(capsys, ["count", str(sample), str(a_file)])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    assert "not a tokcount output" in fatal(capsys, ["count", str(sample), str(foreign), "--overwrite"])
    assert (foreign / "precious.txt").exists()
    assert "format: Input should be" in fatal(capsys, ["count", str(sample), str(tmp_path / "o"), "--format", "x"])


def test_module_entry_point_prints_a_summary(tmp_path, sample):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "jobs.count_tokens", str(sample), str(out), "--model", MODEL,
                           "--max-input-tokens", "200", "--progress-every", "0.001"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    summary = proc.stdout.strip()
    assert summary.startswith("tokcount: 350 records in 4 shard(s)"), summary
    assert "invalid_json=3" in summary and "records/s" in summary and "kept" in summary
    # No terminal: progress lines (at most every --progress-every seconds), the last at 100%, none per shard.
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith("tokcount: 100.0% | 350 records, 0.8 of 0.8 MB |") and "ETA 0:00:00" in lines[-1]
    assert not any("[1/4]" in line for line in lines), proc.stderr
    assert json.loads((out / "_manifest.json").read_text())["config"]["output"]["max_input_tokens"] == 200


def test_explain_lists_the_rules_and_marks_the_unverified(tmp_path, capsys):
    """The ids of the rules the count used, so a wrong count can be traced; those that flagged it marked."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi", "name": "user"}]}
    res = count(body)
    assert res.unverified_rules and set(res.unverified_rules) < set(res.rules)  # some flag it, some do not
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body))
    assert main(["explain", str(path)]) == 0
    names = [f"{r} (unverified)" if r in res.unverified_rules else r for r in sorted(res.rules)]
    assert capsys.readouterr().out.splitlines()[-1] == "rules: " + ", ".join(names)


def test_explain_prints_segments(tmp_path, capsys):
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi there"}]}))
    assert main(["explain", str(body)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-2].split()[0] == "total"  # then the rules line
    assert Path(body).exists()
