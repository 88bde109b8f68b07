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
from jobs.job.pieces import index, iter_piece, units
from jobs.job.pipeline import run_job
from jobs.readers.files import Digest, index_lines, iter_parts, iter_range, iter_records, list_shards

from .conftest import MODEL, SAMPLE, read_output, stem

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
            rows, got = index_lines(shard, starts)
            assert got == digest == Digest(hashlib.sha256(data).hexdigest(), len(data))
            edges = [0, *starts, len(data)]
            parts = [list(iter_range(shard, a, b)) for a, b in itertools.pairwise(edges)]
            assert [line for part in parts for line in part] == lines, starts
            assert rows == [len(parts[0]), len(parts[0]) + len(parts[1])], starts


def read_parts(shard, size, first, last) -> list:
    """``iter_parts``, each part's lines read before the next part is taken."""
    return [item if isinstance(item, Digest) else (item[0], item[1], list(item[2]))
            for item in iter_parts(shard, size, first, last)]


@pytest.mark.parametrize(("suffix", "compress"), [(".gz", gzip.compress), (".zst", zstandard.compress)])
@pytest.mark.parametrize("tail", [b"", b"\n"])
def test_compressed_parts_of_every_size_from_any_piece_give_every_line_once(tmp_path, tail, suffix, compress):
    """A piece decompresses, skips to its first part and writes a run of parts; the parts do not
    depend on how the runs are cut."""
    data = b"".join(TRICKY) + tail
    path = tmp_path / f"t.jsonl{suffix}"
    path.write_bytes(compress(data))
    shard = list_shards([str(path)])[0]
    lines = list(iter_records(shard))[:-1]
    for size in range(1, len(data) + 2, 3):
        count = -(-len(data) // size)
        for cut in range(0, count + 2):
            first, second = read_parts(shard, size, 0, cut), read_parts(shard, size, cut, None)
            assert second[-1] == Digest(hashlib.sha256(path.read_bytes()).hexdigest(), len(path.read_bytes()))
            parts = first + second[:-1]
            assert [part for part, _, _ in parts] == list(range(count)), (size, cut)
            assert [line for _, _, part in parts for line in part] == lines, (size, cut)
            ends = list(itertools.accumulate(len(p) for _, _, p in parts))
            assert [row for _, row, _ in parts] == [0, *ends[:-1]], (size, cut)


def test_a_big_shard_is_split_into_parts_with_the_rows_of_an_unsplit_run(tmp_path, ray_session):
    big = tmp_path / "in"
    big.mkdir()
    lines = (SAMPLE / "responses-000.jsonl").read_bytes()
    (big / "big.jsonl").write_bytes(lines * 4)  # 4 x 55 KB: 4 ranges of 64 KiB
    (big / "small.jsonl").write_bytes(lines)
    config = JobConfig(model=MODEL, execution={"split_bytes": SPLIT, "engine": "in-process"})
    manifest = run_job([str(big)], str(tmp_path / "in-process"), config, log=lambda _m: None).manifest
    parts = sorted(p.name for p in (tmp_path / "in-process").glob("*.parquet"))
    assert [stem(p) for p in parts] == [f"big.part-{i:05d}.parquet" for i in range(4)] + ["small.parquet"]
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


def test_a_compressed_long_pole_is_counted_in_runs_of_parts(tmp_path):
    data = (SAMPLE / "responses-000.jsonl").read_bytes() * 3
    path = tmp_path / "big.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    shard = list_shards([str(path)])[0]
    assert [(p.start, p.end) for p in units(shard, 0.25, 4, 4096)] == [(0, None)]  # a worker's share: one pass
    pieces = units(shard, 0.9, 3, 4096)  # 41 parts of 4 KiB, in 3 runs
    assert [(p.part, p.start, p.end) for p in pieces] == [(0, 0, 14), (1, 14, 27), (2, 27, None)]
    parts = [part for p in pieces for part in read_parts(shard, 4096, p.start, p.end)]
    assert parts[-1] == Digest(hashlib.sha256(path.read_bytes()).hexdigest(), shard.size)
    assert [part for part, _, _ in parts[:-1]] == list(range(41))
    assert [line for _, _, lines in parts[:-1] for line in lines] == data.splitlines()


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
    # 3x smaller compressed; the gzip'd shard is the job's long pole, so it is counted by more than one piece
    corpus = [line + b"\n" for line in itertools.islice(corpus_records(), 160)]
    (big / "gz.jsonl.gz").write_bytes(gzip.compress(b"".join(corpus[:120])))
    (big / "zst.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(b"".join(corpus[120:])))
    lines = (SAMPLE / "responses-000.jsonl").read_bytes()
    logs = [{"id": f"r{i}", "request": line.decode()} for i, line in enumerate(lines.splitlines() * 6)]
    pq.write_table(pa.Table.from_pylist(logs), big / "pq.parquet", row_group_size=50)
    assert min(p.stat().st_size for p in big.iterdir()) > SPLIT
    config = JobConfig(model=MODEL, execution={"split_bytes": SPLIT, "engine": "in-process"})
    manifest = run_job([str(big)], str(tmp_path / "in-process"), config, log=lambda _m: None).manifest
    names = sorted(p.name for p in (tmp_path / "in-process").glob("*.parquet"))
    stems = [stem(n) for n in names]
    for name in ("gz", "pq", "zst"):
        assert f"{name}.part-00001.parquet" in stems and f"{name}.parquet" not in stems
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
