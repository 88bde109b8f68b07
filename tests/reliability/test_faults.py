"""Faults, injected for real: a killed Ray actor, a killed driver, a read-only or full output disk,
corrupt or changed or deleted inputs. The job either finishes with the uninterrupted result or stops
with one clear line, and never leaves a partial file that looks finished."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from jobs.config import JobConfig
from tests.jobs.conftest import MODEL, REPO, SAMPLE, read_output, shard_file, stem

from .conftest import run

T = TypeVar("T")
CONFIG = JobConfig(model=MODEL)
RAY = CONFIG.with_updates(**{"execution.force_ray": True})
SHARDS, COPIES = 4, 5  # 4 shards of 550 lines: seconds on Ray, so a kill lands mid-run


def big_input(directory: Path) -> Path:
    """Shards of the sample's Responses lines (some of them broken)."""
    directory.mkdir()
    lines = (SAMPLE / "responses-000.jsonl").read_bytes() * COPIES
    for i in range(SHARDS):
        (directory / f"part-{i}.jsonl").write_bytes(lines)
    return directory


def markers(out: Path) -> list[Path]:
    return sorted((out / "_done").glob("*.json")) if (out / "_done").is_dir() else []


def wait_for(probe: Callable[[], T], timeout: float = 120, alive: Callable[[], bool] = lambda: True) -> T:
    """Poll ``probe`` until it returns something truthy (and return that) while ``alive()``."""
    deadline = time.time() + timeout
    while not (value := probe()):
        assert alive() and time.time() < deadline, "timed out waiting"
        time.sleep(0.01)
    return value


def assert_nothing_partial_looks_finished(out: Path, inputs: Path) -> None:
    """Every marker's files exist; every final-named Parquet holds its whole shard; no manifest
    unless the run finished (the caller checks that one)."""
    lines = {p.stem: p.read_bytes().count(b"\n") for p in inputs.glob("*.jsonl")}
    for marker in markers(out):
        for rel in json.loads(marker.read_text())["outputs"]:
            assert (out / rel).is_file(), rel
    for path in out.glob("*.parquet"):
        assert pq.ParquetFile(path).metadata.num_rows == lines[stem(path.name).removesuffix(".parquet")], path


def _ancestors(pid: int) -> Iterator[int]:
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return
        yield pid


def busy_actor_pids() -> list[int]:
    """Ray actors counting a shard right now (their title is ``ray::ShardWorker.count_...``) that
    descend from this process (its local Ray): no one else's process is ever touched."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and b"ray::ShardWorker.count_" in (entry / "cmdline").read_bytes()
                    and os.getpid() in _ancestors(int(entry.name))):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The multi-shard input and its uninterrupted in-process result."""
    root = tmp_path_factory.mktemp("big")
    inputs = big_input(root / "in")
    run([inputs], root / "reference", CONFIG)
    return inputs, root / "reference"


@pytest.mark.slow
def test_a_killed_actor_is_replaced_and_the_output_is_identical(big, ray_session, tmp_path):
    inputs, reference = big
    out = tmp_path / "out"
    result: dict[str, Any] = {}

    def job() -> None:
        try:
            result["manifest"] = run([inputs], out, RAY)
        except BaseException as exc:  # reported by the main thread
            result["error"] = exc

    thread = threading.Thread(target=job)
    thread.start()
    try:
        busy = wait_for(busy_actor_pids, alive=thread.is_alive)
        done_at_kill = len(markers(out))
        os.kill(busy[0], signal.SIGKILL)  # mid-shard: Ray must restart the actor and run the shard again
    finally:
        thread.join(timeout=300)
    assert "error" not in result, result.get("error")
    assert done_at_kill < SHARDS, "the kill should land mid-run"
    assert result["manifest"]["run"]["engine"] == "ray"
    assert read_output(out).equals(read_output(reference))


@pytest.mark.slow
def test_a_killed_driver_resumes_to_the_uninterrupted_output(big, ray_session, tmp_path):
    """SIGKILL the CLI mid-run while it drives the session's Ray (``--address``), then rerun the same
    command: the cluster drops the dead job's actors, the rerun skips what was finished."""
    inputs, reference = big
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "jobs.count_tokens", str(inputs), str(out), "--model", MODEL, "--force-ray",
           "--address", ray_session.get_runtime_context().gcs_address]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # Ray hands small inputs over in one burst: kill at the first file in flight, not at a marker
        wait_for(lambda: markers(out) or list(out.glob("_tmp/*/*.parquet")), alive=lambda: proc.poll() is None)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = len(markers(out))
    assert done_before < SHARDS, "the kill should land mid-run"
    assert not (out / "_manifest.json").exists()
    assert_nothing_partial_looks_finished(out, inputs)
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["run"]["shards_skipped"] == done_before
    table = read_output(out)
    positions = {(r["source_file"], r["source_row"]) for r in table.select(["source_file", "source_row"]).to_pylist()}
    assert table.num_rows == len(positions) == SHARDS * COPIES * 110  # no duplicate, no missing row
    assert table.equals(read_output(reference))


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``path`` (root only), unmounted afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a tmpfs")
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        gc.collect()  # close writers a failed run left open
        if subprocess.run(["umount", str(path)]).returncode:
            subprocess.run(["umount", "-l", str(path)], check=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def fatal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI in-process; it must fail with exit 2 and exactly one line on stderr."""
    assert main(["count", "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tokcount: error: ") and "\n" not in err, err
    return err


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_read_only_output_fails_before_touching_earlier_results(sample, tmp_path, capsys):
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        assert main(["count", "--quiet", str(sample), str(mnt / "out"), "--model", MODEL]) == 0
        capsys.readouterr()
        before = snapshot(mnt / "out")
        remount(mnt, "ro")
        (sample / "batch-000.jsonl").write_bytes((sample / "batch-000.jsonl").read_bytes() + b"\n")  # a rerun's work
        err = fatal(capsys, [str(sample), str(mnt / "out"), "--model", MODEL])
        assert "Read-only file system" in err
        assert snapshot(mnt / "out") == before
        err = fatal(capsys, [str(sample), str(mnt / "new"), "--model", MODEL])
        assert "cannot write output" in err and not (mnt / "new").exists()


def test_a_full_disk_fails_in_one_line_and_a_rerun_with_space_finishes(big, tmp_path, capsys):
    inputs, reference = big
    size = sum(p.stat().st_size for p in reference.glob("*.parquet"))
    with tmpfs(tmp_path / "mnt", f"{size // 2 // 1024}k") as mnt:  # fills up half-way through
        err = fatal(capsys, [str(inputs), str(mnt / "out"), "--model", MODEL, "--in-process"])
        assert "No space left on device" in err, err
        assert len(markers(mnt / "out")) < SHARDS and not (mnt / "out" / "_manifest.json").exists()
        assert_nothing_partial_looks_finished(mnt / "out", inputs)
        remount(mnt, "size=64m")
        assert main(["count", "--quiet", str(inputs), str(mnt / "out"), "--model", MODEL, "--in-process"]) == 0
        assert read_output(mnt / "out").equals(read_output(reference))


@pytest.mark.parametrize("engine", ["--in-process", pytest.param("--force-ray", marks=pytest.mark.slow)])
def test_a_corrupt_compressed_shard_is_one_clear_line(sample, tmp_path, capsys, engine, request):
    if engine == "--force-ray":
        request.getfixturevalue("ray_session")
    data = (sample / "finetune-000.jsonl.gz").read_bytes()
    (sample / "finetune-000.jsonl.gz").write_bytes(data[: len(data) // 2])
    err = fatal(capsys, [str(sample), str(tmp_path / "out"), "--model", MODEL, engine])
    assert f"input {sample / 'finetune-000.jsonl.gz'} is corrupt or truncated" in err, err
    assert not list((tmp_path / "out").glob("finetune-000*.parquet"))
    assert not (tmp_path / "out" / "_manifest.json").exists()


@pytest.mark.parametrize("damage", ["random bytes", "truncated"])
def test_a_corrupt_parquet_input_is_one_clear_line_and_a_rerun_resumes(sample, tmp_path, capsys, damage):
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist([{"model": "gpt-4o", "input": f"hello {i}"} for i in range(100)]), sink)
    data = sink.getvalue().to_pybytes()
    bad = sample / "logs.parquet"  # the smallest shard: counted last (in-process goes biggest first)
    bad.write_bytes(os.urandom(len(data)) if damage == "random bytes" else data[: len(data) // 2])
    err = fatal(capsys, [str(sample), str(tmp_path / "out"), "--model", MODEL, "--in-process"])
    assert err.startswith(f"tokcount: error: input {bad} is corrupt or truncated: "), err
    assert len(markers(tmp_path / "out")) == 4, "the finished shards are kept"
    bad.write_bytes(data)
    assert main(["count", "--quiet", str(sample), str(tmp_path / "out"), "--model", MODEL, "--in-process"]) == 0
    assert "(4 resumed)" in capsys.readouterr().out


def damaged(data: bytes, damage: str) -> bytes:
    """Parquet bytes cut in half, or with every data page garbled and the footer intact."""
    if damage == "truncated":
        return data[: len(data) // 2]
    footer = int.from_bytes(data[-8:-4], "little") + 8
    return data[:4] + bytes(b ^ 0x5A for b in data[4:-footer]) + data[-footer:]


@pytest.mark.parametrize("damage", ["truncated", "garbled pages"])
def test_a_corrupt_parquet_file_in_output_is_one_clear_line_naming_it(sample, tmp_path, capsys, damage):
    out = tmp_path / "out"
    assert main(["count", "--quiet", str(sample), str(out), "--model", MODEL, "--in-process"]) == 0
    record = json.loads((sample / "batch-000.jsonl").read_bytes().split(b"\n", 1)[0])["custom_id"]
    bad = shard_file(out, "chat-logs-000.parquet")
    bad.write_bytes(damaged(bad.read_bytes(), damage))
    capsys.readouterr()
    pricing = str(REPO / "configs" / "pricing.yaml")
    commands = [["audit", str(out)], ["report", str(out), "--pricing", pricing]]
    if damage == "truncated":  # else explain skips the file: its footer's statistics say the id is not in it
        commands.append(["explain", str(out), "--record", record])
    for argv in commands:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"tokcount: error: {out}: corrupt Parquet file {bad}: ") and "\n" not in err, err


def edit_in_place(shard: Path, mtime_shift_ns: int) -> bytes:
    """Change one word (same size) and move the mtime by ``mtime_shift_ns``; the old bytes."""
    data, stat = shard.read_bytes(), shard.stat()
    shard.write_bytes(data.replace(b"weather", b"WEATHER", 1))
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns + mtime_shift_ns))
    return data


def test_a_changed_shard_is_recounted_and_its_new_hash_recorded(sample, tmp_path):
    out = tmp_path / "out"
    run([sample], out, CONFIG)
    shard = sample / "responses-000.jsonl"
    old = edit_in_place(shard, 10**9)
    # Not grown: other content in its place, so its earlier rows are only replaced when asked.
    manifest = run([sample], out, CONFIG.with_updates(**{"execution.replace_changed": True}))
    assert manifest["run"]["shards_counted"] == 1 and manifest["run"]["shards_skipped"] == 3
    entry = next(i for i in manifest["inputs"] if i["uri"] == str(shard))
    assert entry["sha256"] == hashlib.sha256(shard.read_bytes()).hexdigest() != hashlib.sha256(old).hexdigest()
    run([sample], tmp_path / "fresh", CONFIG)
    assert read_output(out).equals(read_output(tmp_path / "fresh"))


def test_an_edit_that_keeps_size_and_mtime_is_noticed_with_verify_inputs(sample, tmp_path):
    """Resume trusts size and mtime by default (cheap); ``verify_inputs`` re-hashes every input."""
    run([sample], tmp_path / "out", CONFIG)
    edit_in_place(sample / "responses-000.jsonl", 0)  # e.g. restored by `cp -p`, `rsync -t`, a tar extract
    assert run([sample], tmp_path / "out", CONFIG)["run"]["shards_counted"] == 0
    verifying = CONFIG.with_updates(**{"execution.verify_inputs": True, "execution.replace_changed": True})
    assert run([sample], tmp_path / "out", verifying)["run"]["shards_counted"] == 1


def test_a_deleted_shard_is_reported_and_a_deleted_file_input_is_fatal(sample, tmp_path, capsys):
    out = tmp_path / "out"
    first = run([sample], out, CONFIG)
    gone = sample / "chat-logs-000.jsonl"
    gone_records = next(i["records"] for i in first["inputs"] if i["uri"] == str(gone))
    gone.unlink()
    assert main(["count", str(sample), str(out), "--model", MODEL]) == 0
    captured = capsys.readouterr()
    assert f"tokcount: warning: {gone} is not among the inputs" in captured.err
    assert "WARNING: 1 result(s) in OUTPUT whose input is gone" in captured.out
    manifest = json.loads((out / "_manifest.json").read_text())
    assert [(o["uri"], o["records"]) for o in manifest["orphans"]] == [(str(gone), gone_records)]
    assert manifest["totals"]["records"] == first["totals"]["records"] - gone_records
    err = fatal(capsys, [str(gone), str(tmp_path / "other"), "--model", MODEL])
    assert err == f"tokcount: error: input not found: {gone}"
