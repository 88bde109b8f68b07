"""``tokcount explain OUTPUT --record ID`` when the input moved on: an edited source line is reported as
changed, duplicate ids are listed (and ``SOURCE_FILE:ROW`` picks one), a FIFO is refused, not waited on."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow.compute as pc
import pytest

from jobs.cli import main

from .conftest import MODEL, REPO, read_output


@pytest.fixture
def counted(sample, tmp_path, capsys):
    """The sample with a second file repeating chat-logs' first two lines (same ids), counted."""
    chat = (sample / "chat-logs-000.jsonl").read_bytes().split(b"\n")
    (sample / "repeat.jsonl").write_bytes(b"\n".join(chat[:2]) + b"\n")
    out = tmp_path / "out"
    assert main(["count", "--quiet", "--in-process", str(sample), str(out), "--model", MODEL]) == 0
    capsys.readouterr()
    return sample, out


def stored_tokens(out, source_file, row) -> int:
    table = read_output(out)
    match = pc.and_(pc.equal(table["source_file"], str(source_file)), pc.equal(table["source_row"], row))
    return table.filter(match)["input_tokens"][0].as_py()


def test_an_edited_source_line_is_reported_as_changed(counted, capsys):
    sample, out = counted
    chat = sample / "chat-logs-000.jsonl"
    stored = stored_tokens(out, chat, 2)
    assert main(["explain", str(out), "--record", "req_00002"]) == 0
    assert "changed:" not in capsys.readouterr().out
    lines = chat.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"test backstory", b"test backstory, told at much greater length than before", 1)
    chat.write_bytes(b"\n".join(lines))
    assert main(["explain", str(out), "--record", "req_00002"]) == 0
    printed = capsys.readouterr().out
    now = int(printed.split("\ntotal ")[1].split()[1])
    assert now > stored
    assert f"changed: the source line changed since it was counted: stored {stored}, now {now}\n" in printed


def test_duplicate_ids_are_listed_and_a_position_picks_one(counted, capsys):
    sample, out = counted
    assert main(["explain", str(out), "--record", "req_00001"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"tokcount: error: {out}: 2 records have id 'req_00001' ({sample / 'chat-logs-000.jsonl'}:1, "
                   f"{sample / 'repeat.jsonl'}:1); give one as --record SOURCE_FILE:ROW")
    assert main(["explain", str(out), "--record", f"{sample / 'repeat.jsonl'}:1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"req_00001: {sample / 'repeat.jsonl'}:1\n")
    assert printed.split("\ntotal ")[1].split()[1] == str(stored_tokens(out, sample / "repeat.jsonl", 1))


def test_a_fifo_source_file_is_refused_not_waited_on(counted):
    """Run as a user would: before, explain blocked opening the FIFO until killed."""
    sample, out = counted
    chat = sample / "chat-logs-000.jsonl"
    chat.unlink()
    os.mkfifo(chat)
    done = subprocess.run([sys.executable, "-m", "jobs.cli", "explain", str(out), "--record", "req_00002"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (2, f"tokcount: error: input {chat} is not a regular file\n")
