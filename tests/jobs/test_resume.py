"""Resuming: finished shards are skipped, changed or lost ones recounted, and the result is the same."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from jobs.config import JobConfig
from jobs.job.pipeline import run_job

from .conftest import MODEL, REPO, read_output

CONFIG = JobConfig(model=MODEL)


def run(inputs, out, config=CONFIG, **kw):
    return run_job([str(i) for i in inputs], str(out), config, log=lambda _m: None, **kw).manifest


def same_totals(a: dict, b: dict) -> bool:
    return a["totals"] == b["totals"] and a["inputs"] == b["inputs"]


def test_rerun_skips_finished_shards(sample, tmp_path):
    full = run([sample], tmp_path / "out")
    again = run([sample], tmp_path / "out")
    assert again["run"]["shards_skipped"] == 4 and again["run"]["records_counted"] == 0
    assert same_totals(full, again)


def test_resume_after_partial_run_equals_uninterrupted(sample, tmp_path):
    reference = run([sample], tmp_path / "reference")
    out = tmp_path / "out"
    run([sample / "batch-000.jsonl", sample / "finetune-000.jsonl.gz"], out)  # "interrupted" after 2 shards
    # A killed run also leaves a half-written temp file and no marker for the shard it was on.
    (out / "_tmp" / "x").mkdir(parents=True)
    (out / "_tmp" / "x" / "responses-000.parquet").write_bytes(b"PAR1 half")
    resumed = run([sample], out)
    assert resumed["run"]["shards_skipped"] == 2 and resumed["run"]["shards_counted"] == 2
    assert read_output(out).equals(read_output(tmp_path / "reference"))
    assert same_totals(resumed, reference)
    assert not (out / "_tmp").exists()


def test_lost_output_or_changed_input_is_recounted(sample, tmp_path):
    out = tmp_path / "out"
    run([sample], out)
    changed = sample / "batch-000.jsonl"
    # A lost marker (of another shard than the one changed below): that shard is counted again.
    marker = next(m for m in sorted((out / "_done").glob("*.json"))
                  if json.loads(m.read_text())["input"]["uri"] != str(changed))
    marker.unlink()
    changed.write_bytes(changed.read_bytes() + b'{"custom_id":"new","url":"/v1/responses","body":'
                        b'{"model":"gpt-4o","input":"one more"}}\n')
    resumed = run([sample], out)
    assert resumed["run"]["shards_counted"] == 2
    assert resumed["totals"]["records"] == 351
    assert same_totals(resumed, run([sample], tmp_path / "fresh"))


def test_changed_config_recounts_and_overwrite_starts_over(sample, tmp_path):
    out = tmp_path / "out"
    run([sample], out)
    split = CONFIG.with_updates(**{"output.max_input_tokens": 100})
    resumed = run([sample], out, config=split)
    assert resumed["run"]["shards_counted"] == 4
    assert not list(out.glob("*.parquet")), "stale unsplit files of recounted shards are removed"
    assert len(list((out / "kept").glob("*.parquet"))) == 4
    fresh = run([sample], out, overwrite=True)
    assert fresh["run"]["shards_counted"] == 4 and not (out / "kept").exists()


def big_input(sample, tmp_path):
    """Shards big enough that the job is still running when the second one finishes, even on a busy
    machine (a kill or Ctrl-C after the process exited proves nothing)."""
    big = tmp_path / "big"
    big.mkdir()
    lines = (sample / "responses-000.jsonl").read_bytes()
    for i in range(8):
        (big / f"part-{i}.jsonl").write_bytes(lines * 10)
    return big


@pytest.mark.slow
def test_killed_job_resumes_to_the_same_output(sample, tmp_path):
    """Kill a real CLI run mid-way (SIGKILL after the first shard), then rerun it."""
    big = big_input(sample, tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "jobs.count_tokens", str(big), str(out), "--model", MODEL, "--in-process"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finished() -> int:
        return len(list((out / "_done").glob("*.json")))

    deadline = time.time() + 120
    while finished() < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = finished()
    assert 0 < done_before < 8, "the kill should land mid-job"
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["run"]["shards_skipped"] == done_before
    reference = run([big], tmp_path / "reference")
    resumed, fresh = read_output(out), read_output(tmp_path / "reference")
    differing = [name for name in fresh.column_names if not resumed[name].equals(fresh[name])]
    assert resumed.num_rows == fresh.num_rows and not differing, differing
    assert same_totals(manifest, reference)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["in-process", "local"])
def test_ctrl_c_prints_one_line_exits_130_and_a_rerun_resumes(sample, tmp_path, engine):
    """SIGINT to the whole process group, as Ctrl-C in a terminal sends it (the local engine's forks
    get it too), after the first shard is done; then the same command again."""
    big = big_input(sample, tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "jobs.cli", "count", str(big), str(out), "--model", MODEL, "--engine", engine,
           "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while not list(out.glob("_done/*.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert (proc.returncode, stdout, stderr) == (
        130, "", "tokcount: interrupted; finished shards are kept, a rerun resumes\n")
    done_before = len(list(out.glob("_done/*.json")))
    assert 0 < done_before < 8, "the interrupt should land mid-job"
    rerun = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    assert f"({done_before} resumed)" in rerun.stdout
