"""Nightly runs into one OUTPUT, as README "Nightly" says to run them: every night's logs in their own
directory with the same file names, late arrivals stamped the day before, a night retried. Every
record must be in OUTPUT exactly once, and the report over it must equal one run over all nights."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow.compute as pc
import pytest

from jobs.cli import main
from jobs.job.lock import OutputLock

from .conftest import read_output, stem

NIGHTS = ("2026-11-01", "2026-11-02", "2026-11-03")
PRICES = "prices:\n  - {model: gpt-4o-mini, from: 2024-07-18, input: 0.15, output: 0.60}\n"


def write_night(logs: Path, night: str, n: int = 100) -> None:
    """``n`` records over two files named as every night names them; every tenth stamped the day before."""
    day = int(night[-2:])
    for part in range(2):
        lines = []
        for i in range(part, n, 2):
            stamp = f"2026-11-{day - 1:02d}T23:5{i % 10}:00Z" if i % 10 == 3 else f"{night}T0{i % 10}:00:00Z"
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"night {night} record {i}"}]}
            lines.append(json.dumps({"id": f"{night}-{i}", "timestamp": stamp, "tenant": f"t{i % 3}",
                                     "request": body, "response": {"usage": {"prompt_tokens": 20}}}))
        (logs / night).mkdir(parents=True, exist_ok=True)
        (logs / night / f"part-{part:03d}.jsonl").write_text("\n".join(lines) + "\n")


def config(tmp_path: Path, partitioned: bool) -> Path:
    path = tmp_path / ("nightly.yaml" if partitioned else "flat.yaml")
    partitions = "output: {partition_by: day}\n" if partitioned else ""
    path.write_text("format: log\nfields: {tenant: tenant}\n" + partitions)
    return path


def report(out: Path, prices: Path, *since_until: str) -> bytes:
    assert main(["report", str(out), "--pricing", str(prices), "--by", "model,day,tenant", *since_until,
                 "--out", str(out / "_reports" / "check")]) == 0
    return (out / "_reports" / "check" / "report.csv").read_bytes()


@pytest.mark.parametrize("partitioned", [True, False], ids=["partition_by_day", "flat"])
def test_nightly_runs_keep_every_record_once(tmp_path, partitioned, capsys):
    logs, out, prices = tmp_path / "logs", tmp_path / "counts", tmp_path / "prices.yaml"
    prices.write_text(PRICES)
    cfg = config(tmp_path, partitioned)
    for night in NIGHTS:
        write_night(logs, night)
        runs = 2 if night == NIGHTS[1] else 1  # night 2 is retried: the rerun resumes, adds nothing
        for _ in range(runs):
            assert main(["count", str(logs / night) + "/", str(out), "--config", str(cfg), "--quiet"]) == 0
        report(out, prices, "--since", night, "--until", night)
    assert "WARNING" not in capsys.readouterr().out, "earlier nights' results are not orphans"

    rows = read_output(out)
    ids = rows["record_id"].to_pylist()
    assert len(ids) == 300 and len(set(ids)) == 300
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["earlier_results"] == 4 and manifest["orphans"] == []
    if partitioned:  # one file per input shard in a day partition, the late records included
        late = out / "day=2026-11-01"
        assert sorted(stem(p.name) for p in late.glob("*.parquet")) == ["part-000.parquet"] + ["part-001.parquet"] * 2
        assert pc.sum(pc.equal(rows["day"], "2026-11-01")).as_py() == 100 - 10 + 10

    everything = tmp_path / "all"
    assert main(["count", str(logs), str(everything), "--config", str(cfg), "--quiet"]) == 0
    assert read_output(everything).drop_columns(["source_file"]).sort_by("record_id").equals(
        rows.drop_columns(["source_file"]).sort_by("record_id"))
    assert report(out, prices) == report(everything, prices)


def test_output_of_the_earlier_naming_resumes(tmp_path):
    """Outputs written before shard keys were in file names (``part-000.parquet``, markers keyed by the
    URI as given) are resumed, not counted again."""
    logs, out = tmp_path / "logs", tmp_path / "counts"
    write_night(logs, NIGHTS[0])
    given = str(logs / NIGHTS[0])
    assert main(["count", given, str(out), "--format", "log", "--quiet"]) == 0
    before = read_output(out)
    for marker in (out / "_done").glob("*.json"):  # rewrite it as the earlier naming wrote it
        data = json.loads(marker.read_text())
        del data["identity"]
        renamed = []
        for rel in data["outputs"]:
            old = stem(rel)
            (out / rel).rename(out / old)
            renamed.append(old)
        data["outputs"] = renamed
        marker.unlink()
        legacy = hashlib.sha256(data["input"]["uri"].encode()).hexdigest()[:16]
        (out / "_done" / f"{legacy}.json").write_text(json.dumps(data))
    assert main(["count", given, str(out), "--format", "log", "--quiet"]) == 0
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["run"]["shards_skipped"] == 2 and manifest["run"]["shards_counted"] == 0
    assert read_output(out).equals(before)


def test_a_second_run_into_the_same_output_is_refused(tmp_path, capsys):
    logs, out = tmp_path / "logs", tmp_path / "counts"
    write_night(logs, NIGHTS[0])
    out.mkdir()
    import pyarrow.fs as pafs

    held = OutputLock.acquire(pafs.LocalFileSystem(), str(out / "_lock"), str(out))
    try:
        assert main(["count", str(logs), str(out), "--format", "log", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tokcount: error: output ") and f"pid {os.getpid()}" in err, err
        assert len(err.strip().splitlines()) == 1
    finally:
        held.release()
    assert main(["count", str(logs), str(out), "--format", "log", "--quiet"]) == 0


def test_an_input_replaced_in_place_keeps_its_earlier_rows(tmp_path, capsys):
    """A file rewritten with other content (not appended to) is not recounted over the rows an earlier
    run wrote for it, unless asked; a file that grew is recounted, as before."""
    logs, out = tmp_path / "logs", tmp_path / "counts"
    write_night(logs, NIGHTS[0])
    args = ["count", str(logs), str(out), "--format", "log", "--quiet"]
    assert main(args) == 0
    before = read_output(out)
    rotated = logs / NIGHTS[0] / "part-000.jsonl"
    rotated.write_text(rotated.read_text().replace(NIGHTS[0], "2026-12-24"))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "1 input(s) changed since an earlier run counted them" in err and "--replace-changed" in err, err
    assert read_output(out).equals(before)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["changed_inputs_kept"] == [str(rotated)]

    assert main([*args, "--replace-changed"]) == 0
    ids = read_output(out)["record_id"].to_pylist()
    assert len(ids) == 100 and sum(i.startswith("2026-12-24") for i in ids) == 50


def test_source_file_is_the_path_as_given(tmp_path, monkeypatch, capsys):
    """A bare file name, a relative glob and ``./`` all report the path as typed, and explain finds it."""
    logs = tmp_path / "logs"
    write_night(logs, NIGHTS[0])
    monkeypatch.chdir(logs / NIGHTS[0])
    for given, expected in (("part-000.jsonl", "part-000.jsonl"), ("*.jsonl", "part-000.jsonl"),
                            ("./part-000.jsonl", "./part-000.jsonl"), ("../*/part-000.jsonl",
                                                                       f"../{NIGHTS[0]}/part-000.jsonl")):
        out = tmp_path / f"out-{hashlib.sha256(given.encode()).hexdigest()[:6]}"
        assert main(["count", given, str(out), "--format", "log", "--quiet"]) == 0
        rows = read_output(out)
        assert rows["source_file"][0].as_py() == expected, given
    capsys.readouterr()
    record = rows["record_id"][0].as_py()
    assert main(["explain", str(out), "--record", record]) == 0
    assert record in capsys.readouterr().out
