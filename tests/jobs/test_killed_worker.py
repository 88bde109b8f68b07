"""Both engines survive a killed worker: the tests SIGKILL the process (a fork of the local engine,
a Ray actor) that writes a shard's temp file in a real CLI run (so the kill lands mid-piece), and
the output is that of a run without kills; a shard whose worker is killed every time fails the run
after the other shards are committed."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.config import JobConfig
from jobs.job.pipeline import run_job

from .conftest import MODEL, REPO, SAMPLE, stem

SPLIT = 1 << 20


def make_inputs(directory: Path) -> Path:
    """A few shards, one split in ranges and one gzip'd, big enough that a piece takes a while."""
    directory.mkdir()
    lines = (SAMPLE / "responses-000.jsonl").read_bytes()
    (directory / "a.jsonl").write_bytes(lines * 12)
    (directory / "b.jsonl").write_bytes(lines * 30)  # over SPLIT: ranges
    (directory / "c.jsonl.gz").write_bytes(gzip.compress((SAMPLE / "batch-000.jsonl").read_bytes() * 8))
    (directory / "bad.jsonl").write_bytes(lines * 16)
    (directory.parent / "job.yaml").write_text(f"model: {MODEL}\nexecution: {{split_bytes: {SPLIT}}}\n")
    return directory


def holders(tmp: Path, name: str, driver: int) -> list[int]:
    """The processes (the driver's forks, Ray actors: not its children) that hold a temp output file of
    shard ``name`` open: they are counting it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == driver:
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(t.startswith(f"{tmp}/") and Path(t).name.startswith(name) for t in targets):
            found.append(int(entry.name))
    return found


def run_killing(inputs: Path, out: Path, name: str, times: int,
                ray_address: str | None = None) -> tuple[subprocess.CompletedProcess, int]:
    """Run the CLI (on the local engine, or on the Ray cluster at ``ray_address``) and SIGKILL up to
    ``times`` of its workers, each while it writes a temp file of shard ``name`` ('' for any shard)."""
    engine = ["--engine", "ray", "--address", ray_address] if ray_address else ["--engine", "local"]
    cmd = [sys.executable, "-m", "jobs.count_tokens", str(inputs), str(out), "--config",
           str(inputs.parent / "job.yaml"), *engine]
    with (out.parent / f"{out.name}.err").open("w+") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)
        killed: set[int] = set()
        while proc.poll() is None and len(killed) < times:
            for pid in holders(out / "_tmp", name, proc.pid):
                if pid not in killed:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                    break
            time.sleep(0.005)
        stdout, _ = proc.communicate(timeout=300)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, stdout, err.read()), len(killed)


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tokcount: warning: a worker died")]


def reference(inputs: Path, out: Path) -> dict:
    config = JobConfig(model=MODEL, execution={"split_bytes": SPLIT, "engine": "local"})
    return run_job([str(inputs)], str(out), config, log=lambda _m: None).manifest


def assert_same_files(out: Path, ref: Path) -> None:
    files = sorted(p.name for p in ref.glob("*.parquet"))
    assert files == sorted(p.name for p in out.glob("*.parquet"))
    assert {"b.part-00001.parquet", "c.parquet"} <= {stem(f) for f in files}
    for name in files:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_output_is_unchanged(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    proc, kills = run_killing(inputs, tmp_path / "out", "", times=1)
    assert proc.returncode == 0 and kills == 1, proc.stderr
    # The kill landed while a piece was being counted, and that piece was counted again.
    assert "killed by SIGKILL) while counting" in proc.stderr and "(attempt 2 of 3)" in proc.stderr, proc.stderr
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    expected = reference(inputs, tmp_path / "ref")
    assert manifest["run"]["engine"] == "local" and manifest["run"]["worker_restarts"] == 1
    assert manifest["inputs"] == expected["inputs"] and manifest["totals"] == expected["totals"]
    records = 110 * 12 + 110 * 30 + 60 * 8 + 110 * 16
    assert manifest["totals"]["records"] == records == expected["run"]["records_counted"]
    assert_same_files(tmp_path / "out", tmp_path / "ref")


@pytest.mark.slow
def test_an_input_that_keeps_killing_its_worker_fails_the_run_after_the_others(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    proc, kills = run_killing(inputs, out, "bad", times=10)
    assert proc.returncode == 2 and kills == 3, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tokcount: error: input {inputs}/bad.jsonl: the worker counting it died 3 times "
                           "(last: killed by SIGKILL)"), last
    # Every other shard was finished and committed; a rerun counts only the one left.
    done = [json.loads(m.read_text())["input"]["uri"] for m in (out / "_done").glob("*.json")]
    assert sorted(done) == [f"{inputs}/{n}" for n in ("a.jsonl", "b.jsonl", "c.jsonl.gz")]
    assert not (out / "_manifest.json").exists()
    rerun, _ = run_killing(inputs, out, "", times=0)
    assert rerun.returncode == 0, rerun.stderr
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["run"]["shards_skipped"] == 3 and manifest["run"]["shards_counted"] == 1
    expected = reference(inputs, tmp_path / "ref")
    assert manifest["totals"] == expected["totals"]
    assert_same_files(out, tmp_path / "ref")


@pytest.mark.slow
def test_a_killed_ray_actor_is_restarted_and_its_piece_counted_again(ray_session, tmp_path):
    inputs = make_inputs(tmp_path / "in")
    address = ray_session.get_runtime_context().gcs_address  # the session's Ray: no start-up per run
    proc, kills = run_killing(inputs, tmp_path / "out", "bad", times=1, ray_address=address)
    assert proc.returncode == 0 and kills == 1, proc.stderr
    # Only the piece the actor was counting had a kill counted, not those queued behind it.
    [warning] = warnings(proc.stderr)
    assert f"while counting {inputs}/bad.jsonl; counting it again (attempt 2 of 3)" in warning, proc.stderr
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["run"]["engine"] == "ray" and manifest["run"]["worker_restarts"] == 1
    expected = reference(inputs, tmp_path / "ref")
    assert manifest["inputs"] == expected["inputs"] and manifest["totals"] == expected["totals"]
    assert_same_files(tmp_path / "out", tmp_path / "ref")


@pytest.mark.slow
def test_an_input_that_keeps_killing_its_ray_actor_fails_the_run_after_the_others(ray_session, tmp_path):
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    address = ray_session.get_runtime_context().gcs_address
    proc, kills = run_killing(inputs, out, "bad", times=10, ray_address=address)
    assert proc.returncode == 2 and kills == 3, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tokcount: error: input {inputs}/bad.jsonl: the worker counting it died 3 times "
                           "(last: Ray "), last
    assert [w.split(" while counting ")[1] for w in warnings(proc.stderr)] == [
        f"{inputs}/bad.jsonl; counting it again (attempt {n} of 3)" for n in (2, 3)], proc.stderr
    done = [json.loads(m.read_text())["input"]["uri"] for m in (out / "_done").glob("*.json")]
    assert sorted(done) == [f"{inputs}/{n}" for n in ("a.jsonl", "b.jsonl", "c.jsonl.gz")]
    assert not (out / "_manifest.json").exists()
    rerun, _ = run_killing(inputs, out, "", times=0, ray_address=address)
    assert rerun.returncode == 0, rerun.stderr
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["run"]["shards_skipped"] == 3 and manifest["run"]["shards_counted"] == 1
    assert manifest["run"]["worker_restarts"] == 0
    expected = reference(inputs, tmp_path / "ref")
    assert manifest["totals"] == expected["totals"]
    assert_same_files(out, tmp_path / "ref")
