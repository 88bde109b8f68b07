"""Big shards are counted as line ranges: every line exactly once, the same rows as unsplit, and the
same files on every engine."""

from __future__ import annotations

import hashlib
import itertools

import pyarrow.parquet as pq
import pytest

from jobs.config import JobConfig
from jobs.pipeline import run_job
from jobs.sources import Digest, index_lines, iter_range, iter_records, list_shards

from .conftest import MODEL, SAMPLE, read_output

SPLIT = 64 << 10
TRICKY = [b'{"a": 1}\n', b'\xef\xbb\xbf{"bom": 1}\r\n', b"\n", b"   \n", b'{"long": "' + b"x" * 40 + b'"}\n',
          b"\r\n", b"not json"]


@pytest.mark.parametrize("tail", [b"", b"\n"])
def test_ranges_at_every_offset_give_every_line_once(tmp_path, tail):
    data = b"".join(TRICKY) + tail
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    shard = list_shards([str(path)])[0]
    whole = list(iter_records(shard))
    lines, digest = whole[:-1], whole[-1]
    for cut in range(1, len(data)):
        for cut2 in range(cut + 1, len(data), 7):
            starts = [cut, cut2]
            rows, got, size = index_lines(shard, starts)
            assert got == digest == Digest(hashlib.sha256(data).hexdigest(), len(data)) and size == len(data)
            edges = [0, *starts, len(data)]
            parts = [list(iter_range(shard, a, b)) for a, b in itertools.pairwise(edges)]
            assert [line for part in parts for line in part] == lines, starts
            assert rows == [len(parts[0]), len(parts[0]) + len(parts[1])], starts


def test_a_big_shard_is_split_into_parts_with_the_rows_of_an_unsplit_run(tmp_path, ray_session):
    big = tmp_path / "in"
    big.mkdir()
    lines = (SAMPLE / "responses-000.jsonl").read_bytes()
    (big / "big.jsonl").write_bytes(lines * 4)  # 4 x 55 KB: 4 ranges of 64 KiB
    (big / "small.jsonl").write_bytes(lines)
    config = JobConfig(model=MODEL, execution={"split_bytes": SPLIT, "engine": "in-process"})
    manifest = run_job([str(big)], str(tmp_path / "in-process"), config, log=lambda _m: None).manifest
    parts = sorted(p.name for p in (tmp_path / "in-process").glob("*.parquet"))
    assert parts == [f"big.part-{i:05d}.parquet" for i in range(4)] + ["small.parquet"]
    unsplit = JobConfig(model=MODEL, execution={"engine": "in-process"})
    run_job([str(big)], str(tmp_path / "unsplit"), unsplit, log=lambda _m: None)
    assert read_output(tmp_path / "in-process").equals(read_output(tmp_path / "unsplit"))
    # The parts, read in name order, are the shard's lines in order.
    rows = [r for name in parts[:4] for r in pq.read_table(tmp_path / "in-process" / name)["source_row"].to_pylist()]
    assert rows == list(range(manifest["inputs"][0]["records"]))
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256((big / "big.jsonl").read_bytes()).hexdigest()

    for engine in ("local", "ray"):
        other = run_job([str(big)], str(tmp_path / engine), config.with_updates(**{"execution.engine": engine}),
                        log=lambda _m: None).manifest
        assert other["run"]["engine"] == engine and other["totals"] == manifest["totals"]
        for name in parts:  # the same bytes, whichever engine wrote them
            assert (tmp_path / engine / name).read_bytes() == (tmp_path / "in-process" / name).read_bytes(), name
