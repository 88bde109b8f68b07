"""Big shards are counted as ranges (plain and compressed JSONL: line ranges; Parquet: row groups):
every line exactly once, the same rows as unsplit, and the same files on every engine."""

from __future__ import annotations

import gzip
import hashlib
import itertools

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from jobs.bench.corpus import iter_records as corpus_records
from jobs.config import JobConfig
from jobs.pieces import MAX_COMPRESSED_RANGES, index, iter_piece
from jobs.pipeline import run_job
from jobs.sources import Digest, index_lines, iter_range, iter_records, list_shards

from .conftest import MODEL, SAMPLE, read_output

SPLIT = 64 << 10
TRICKY = [b'{"a": 1}\n', b'\xef\xbb\xbf{"bom": 1}\r\n', b"\n", b"   \n", b'{"long": "' + b"x" * 40 + b'"}\n',
          b"\r\n", b"not json"]


COMPRESS = {"": bytes, ".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress}


@pytest.mark.parametrize("suffix", list(COMPRESS))
@pytest.mark.parametrize("tail", [b"", b"\n"])
def test_ranges_at_every_offset_give_every_line_once(tmp_path, tail, suffix):
    """Offsets are those of the lines, decompressed: a compressed range decompresses and skips."""
    data = b"".join(TRICKY) + tail
    path = tmp_path / f"t.jsonl{suffix}"
    path.write_bytes(COMPRESS[suffix](data))
    shard = list_shards([str(path)])[0]
    whole = list(iter_records(shard))
    lines, digest = whole[:-1], whole[-1]
    stored = path.read_bytes()
    for cut in range(1, len(data)):
        for cut2 in range(cut + 1, len(data), 7):
            starts = [cut, cut2]
            rows, got, size = index_lines(shard, starts)
            assert got == digest == Digest(hashlib.sha256(stored).hexdigest(), len(stored)) and size == len(data)
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


def test_compressed_pieces_tile_the_lines_in_a_few_ranges(tmp_path):
    data = (SAMPLE / "responses-000.jsonl").read_bytes() * 3
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    shard = list_shards([str(path)])[0]
    pieces, digest = index(shard, 4096)  # 40 x 4 KiB of lines, but skipping grows with each range
    assert digest == Digest(hashlib.sha256(path.read_bytes()).hexdigest(), shard.size)
    assert [p.part for p in pieces] == list(range(MAX_COMPRESSED_RANGES))
    assert pieces[-1].end == len(data) and all(a.end == b.start for a, b in itertools.pairwise(pieces))
    lines = [line for piece in pieces for line in iter_piece(piece)]
    assert lines == data.splitlines()
    assert [p.first_row for p in pieces] == [data[: p.start - 1].count(b"\n") + 1 if p.start else 0 for p in pieces]


def test_parquet_pieces_are_runs_of_row_groups(tmp_path):
    rows = [{"id": f"r{i}", "request": "x" * (i % 300)} for i in range(1000)]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=64)  # 16 groups
    shard = list_shards([str(path)])[0]
    pieces, digest = index(shard, 8192)
    assert digest == Digest(hashlib.sha256(path.read_bytes()).hexdigest(), shard.size)
    assert len(pieces) > 2 and pieces[0].start == 0 and pieces[-1].end == 16
    assert all(a.end == b.start and b.first_row == 64 * b.start for a, b in itertools.pairwise(pieces))
    assert [line for p in pieces for line in iter_piece(p)] == list(iter_records(shard))[:-1]
    whole, _ = index(shard, 1 << 30)  # small enough for one piece: the shard's own name
    assert [(p.part, p.start, p.end) for p in whole] == [(None, 0, 16)]


def test_big_compressed_and_parquet_shards_split_the_same_on_every_engine(tmp_path, ray_session):
    big = tmp_path / "in"
    big.mkdir()
    corpus = b"".join(line + b"\n" for line in itertools.islice(corpus_records(), 40))  # 3x smaller compressed
    (big / "gz.jsonl.gz").write_bytes(gzip.compress(corpus))
    (big / "zst.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(corpus))
    lines = (SAMPLE / "responses-000.jsonl").read_bytes()
    logs = [{"id": f"r{i}", "request": line.decode()} for i, line in enumerate(lines.splitlines() * 6)]
    pq.write_table(pa.Table.from_pylist(logs), big / "pq.parquet", row_group_size=50)
    assert min(p.stat().st_size for p in big.iterdir()) > SPLIT
    config = JobConfig(model=MODEL, execution={"split_bytes": SPLIT, "engine": "in-process"})
    manifest = run_job([str(big)], str(tmp_path / "in-process"), config, log=lambda _m: None).manifest
    names = sorted(p.name for p in (tmp_path / "in-process").glob("*.parquet"))
    for stem in ("gz", "pq", "zst"):
        assert f"{stem}.part-00001.parquet" in names and f"{stem}.parquet" not in names
    unsplit = JobConfig(model=MODEL, execution={"engine": "in-process"})
    run_job([str(big)], str(tmp_path / "unsplit"), unsplit, log=lambda _m: None)
    assert read_output(tmp_path / "in-process").equals(read_output(tmp_path / "unsplit"))
    for entry in manifest["inputs"]:
        rows = [r for name in entry["outputs"] for r in pq.read_table(tmp_path / "in-process" / name)["source_row"]]
        assert [r.as_py() for r in rows] == list(range(entry["records"]))
        assert entry["sha256"] == hashlib.sha256((big / entry["uri"].rsplit("/", 1)[1]).read_bytes()).hexdigest()

    for engine in ("local", "ray"):
        other = run_job([str(big)], str(tmp_path / engine), config.with_updates(**{"execution.engine": engine}),
                        log=lambda _m: None).manifest
        assert other["run"]["engine"] == engine and other["totals"] == manifest["totals"]
        assert sorted(p.name for p in (tmp_path / engine).glob("*.parquet")) == names
        for name in names:
            assert (tmp_path / engine / name).read_bytes() == (tmp_path / "in-process" / name).read_bytes(), name
