"""One unit of work, done whole by the process that runs it: read, count, write Parquet, commit.

A shard is one piece, unless it is larger than ``execution.split_bytes``: then it is written as
``<shard>.part-NNNNN.parquet`` files (plain JSONL: byte ranges; Parquet: runs of row groups; gzip/zstd
JSONL: ranges of its decompressed lines), counted in parallel by several pieces (``jobs.job.pieces``) and
committed by the driver when every piece is written. The parts depend only on the shard's bytes and
the config, so every engine writes the same files.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from jobs.config import JobConfig
from jobs.job.batch_usage import Usage
from jobs.job.counting import RowCounter
from jobs.job.output import OutputDir, ShardStats, ShardWriter, add_stats, commit_shard
from jobs.job.pieces import Piece, index, iter_piece
from jobs.readers import iter_records
from jobs.readers.files import Digest, Shard, iter_parts

MAX_BLOCK_BYTES = 64 << 20
_WARM_UP = b'{"model": "gpt-4o", "input": [{"role": "user", "content": "hi"}]}'


@dataclass(frozen=True)
class JobContext:
    """What every piece of one run needs besides the config (sent once per process)."""

    output: str
    filesystem: pafs.FileSystem | None
    fingerprint: str
    usage: dict[str, Usage] = field(default_factory=dict)


@dataclass
class PartResult:
    piece: Piece
    outputs: list[str]
    stats: ShardStats
    node: str
    digest: Digest | None = None  # from the piece that read the whole shard


def node_name() -> str:
    """The Ray node this process runs on, or the host when there is no Ray (never imported for this:
    it takes half a second)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray.get_runtime_context().get_node_id()
    return socket.gethostname()


class ShardWorker:
    """Built once per process (a Ray actor, or the driver in-process): the encoders stay warm across
    every piece this process is given."""

    def __init__(self, config: JobConfig, counter: type[RowCounter] = RowCounter, *, eager: bool = True):
        self.config = config
        self.counter = counter(config, eager=eager)
        self.context: JobContext | None = None
        self.out: OutputDir | None = None
        self.node = node_name()
        if eager:
            # One record through the whole row path, so what it loads on first use (pyarrow's
            # pandas shim alone is 0.2 s) is loaded once here, before the local engine forks.
            self.counter.count_lines("warm-up", 0, [_WARM_UP])

    def ready(self) -> bool:
        return True

    def use(self, context: JobContext) -> None:
        if context != self.context:
            self.context, self.out = context, OutputDir(context.output, context.filesystem)
            self.counter.usage = context.usage

    def index(self, context: JobContext, shard: Shard, split_bytes: int) -> tuple[list[Piece], Digest]:
        return index(shard, split_bytes)

    def count_shard(self, context: JobContext, shard: Shard) -> dict[str, Any]:
        """The whole shard, committed: returns its marker."""
        self.use(context)
        writer = self._writer(shard, None, 0)
        digest: Digest | None = None
        for item in self._write(writer, iter_records(shard), 0):
            digest = item
        assert digest is not None
        return commit_shard(self.out, shard, writer.close(), digest, writer.stats, context.fingerprint,
                            [self.node])

    def count_range(self, context: JobContext, piece: Piece) -> PartResult:
        """One range, written to temp files; the driver commits the shard when all are."""
        self.use(context)
        writer = self._writer(piece.shard, piece.part, piece.first_row)
        for _ in self._write(writer, iter_piece(piece), piece.first_row):
            pass
        return PartResult(piece, writer.close(), writer.stats, self.node)

    def count_parts(self, context: JobContext, piece: Piece) -> PartResult:
        """A run of a compressed shard's parts, written to temp files; the driver commits the shard."""
        self.use(context)
        outputs, stats, digest = [], ShardStats(), None
        for item in iter_parts(piece.shard, self.config.execution.split_bytes, piece.start, piece.end):
            if isinstance(item, Digest):
                digest = item
                continue
            part, first_row, lines = item
            writer = self._writer(piece.shard, part, first_row)
            for _ in self._write(writer, lines, first_row):
                pass
            outputs += writer.close()
            add_stats(stats, writer.stats)
        return PartResult(piece, outputs, stats, self.node, digest)

    def _writer(self, shard: Shard, part: int | None, first_row: int) -> ShardWriter:
        return ShardWriter(self.out, shard, self.counter.schema, self.config, part, first_row)

    def _write(self, writer: ShardWriter, lines: Iterable[bytes | Digest], first_row: int) -> Iterator[Digest]:
        """Count and write ``lines`` in blocks; yields the digest when the reader gives one."""
        uri, per_block = writer.shard.uri, self.config.execution.lines_per_block
        start, raws, size = first_row, [], 0
        for item in lines:
            if isinstance(item, Digest):
                yield item
                continue
            if len(raws) >= per_block or size >= MAX_BLOCK_BYTES:
                writer.write(self.counter.count_lines(uri, start, raws))
                start, raws, size = start + len(raws), [], 0
            raws.append(item)
            size += len(item)
        if raws:
            writer.write(self.counter.count_lines(uri, start, raws))
