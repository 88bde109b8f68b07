"""Listing INPUT: symlinks are followed but nothing is entered or read twice (loops end), OUTPUT under
INPUT is never read back, an input that is OUTPUT (or inside it) and a FIFO are refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.readers.files import list_shards

from .conftest import MODEL, REPO, SAMPLE, read_output


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def logs_with_links(root: Path, loops: int) -> Path:
    """``logs/`` with two real shards, a link to a directory outside ``logs`` and one to a file outside
    it, and a loop back to ``logs`` (and with ``loops=2`` one to ``logs/a`` too)."""
    logs, outside = root / "logs", root / "outside"
    (logs / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    (logs / "a" / "chat.jsonl").write_bytes((SAMPLE / "chat-logs-000.jsonl").read_bytes())
    (logs / "a" / "b" / "batch.jsonl").write_bytes((SAMPLE / "batch-000.jsonl").read_bytes())
    (outside / "responses.jsonl").write_bytes((SAMPLE / "responses-000.jsonl").read_bytes())
    (root / "single.jsonl").write_bytes((SAMPLE / "batch-000.jsonl").read_bytes()[:2000].rsplit(b"\n", 1)[0] + b"\n")
    (logs / "a" / "b" / "up").symlink_to("../..")  # loop to logs
    if loops == 2:
        (logs / "a" / "again").symlink_to(".")  # loop to logs/a
    (logs / "ext").symlink_to(outside)
    (logs / "single.jsonl").symlink_to(root / "single.jsonl")
    return logs


def test_a_symlink_loop_is_entered_once_and_links_out_of_input_are_read_once(tmp_path):
    """pyarrow's listing went round the loop, counting each file 27 times, until the path was too long."""
    logs = logs_with_links(tmp_path, loops=1)
    uris = [s.uri for s in list_shards([str(logs)])]
    assert uris == [str(logs / "a" / "b" / "batch.jsonl"), str(logs / "a" / "chat.jsonl"),
                    str(logs / "ext" / "responses.jsonl"), str(logs / "single.jsonl")]


def test_a_job_over_two_symlink_loops_ends_and_counts_each_line_once(tmp_path):
    """As a user runs it: two loops made pyarrow's listing run forever, its memory growing."""
    logs = logs_with_links(tmp_path, loops=2)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "jobs.cli", "count", "--quiet", "--in-process", str(logs), str(out),
                    "--model", MODEL], cwd=REPO, check=True, capture_output=True, timeout=120)
    table = read_output(out)
    expected = sum(lines(p) for p in (SAMPLE / "chat-logs-000.jsonl", SAMPLE / "batch-000.jsonl",
                                      SAMPLE / "responses-000.jsonl", tmp_path / "single.jsonl"))
    assert table.num_rows == expected
    assert len(set(zip(table["source_file"].to_pylist(), table["source_row"].to_pylist(), strict=True))) == expected


def test_output_inside_input_is_never_read_back(sample, tmp_path, capsys):
    """``tokcount count logs logs/out``, twice: the second run resumes and reads no Parquet of the first."""
    assert main(["count", "--quiet", "--in-process", str(sample), str(tmp_path / "reference"), "--model", MODEL]) == 0
    out = sample / "out"
    for _ in range(2):
        assert main(["count", "--quiet", "--in-process", str(sample), str(out), "--model", MODEL]) == 0
    summary = capsys.readouterr().out
    assert "350 records in 4 shard(s) (4 resumed)" in summary, summary
    assert read_output(out).equals(read_output(tmp_path / "reference"))


@pytest.mark.parametrize("output", ["sample", "sample-link", "."], ids=["same", "same-by-symlink", "containing"])
def test_an_input_that_is_output_or_inside_it_is_refused_in_one_line(sample, capsys, output):
    (sample.parent / "sample-link").symlink_to(sample)
    target = sample.parent / output
    before = sorted(p.name for p in sample.parent.rglob("*"))
    assert main(["count", "--quiet", "--in-process", str(sample), str(target), "--model", MODEL]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"tokcount: error: input {sample} is inside OUTPUT {target} (a job never reads its own "
                   "output): choose an OUTPUT outside the inputs")
    assert sorted(p.name for p in sample.parent.rglob("*")) == before


def test_counting_an_output_into_itself_is_refused(sample, tmp_path, capsys):
    """An OUTPUT holds Parquet, a valid input: before, ``count out out`` read it back as new rows."""
    out = tmp_path / "out"
    assert main(["count", "--quiet", "--in-process", str(sample), str(out), "--model", MODEL]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["count", "--quiet", "--in-process", str(out), str(out), "--model", MODEL]) == 2
    assert capsys.readouterr().err.startswith(f"tokcount: error: input {out} is inside OUTPUT {out} ")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_fifo_input_is_refused_not_waited_on(tmp_path):
    """In a subprocess: before, the job blocked opening the FIFO until killed."""
    fifo = tmp_path / "requests.jsonl"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "jobs.cli", "count", "--quiet", "--in-process", str(fifo),
                           str(tmp_path / "out"), "--model", MODEL], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (2, f"tokcount: error: input {fifo} is not a regular file\n")
    (tmp_path / "in").mkdir()
    os.mkfifo(tmp_path / "in" / "pipe.jsonl")  # in a directory it is skipped, like any non-file
    (tmp_path / "in" / "real.jsonl").write_bytes((SAMPLE / "batch-000.jsonl").read_bytes())
    assert [s.uri for s in list_shards([str(tmp_path / "in")])] == [str(tmp_path / "in" / "real.jsonl")]
