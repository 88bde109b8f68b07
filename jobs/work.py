"""One unit of work, done whole by the process that runs it: read, count, write Parquet, commit.

A shard is one piece, unless it is plain JSONL larger than ``execution.split_bytes``: then it is cut
at byte offsets into line ranges, counted in parallel as ``<shard>.part-NNNNN.parquet`` files, and
committed by the driver when every range is written. The row numbers of a range come from one cheap
pass over the shard (``index``: newline counts and the sha256). The pieces depend only on the shard's
size and the config, so every engine writes the same files.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from jobs.batch_usage import Usage
from jobs.config import JobConfig
from jobs.counting import RowCounter
from jobs.output import OutputDir, ShardStats, ShardWriter, commit_shard
from jobs.sources import Digest, Shard, index_lines, iter_range, iter_records, splittable

MAX_BLOCK_BYTES = 64 << 20
_WARM_UP = b'{"model": "gpt-4o", "input": [{"role": "user", "content": "hi"}]}'


@dataclass(frozen=True)
class JobContext:
    """What every piece of one run needs besides the config (sent once per process)."""

    output: str
    filesystem: pafs.FileSystem | None
    fingerprint: str
    usage: dict[str, Usage] = field(default_factory=dict)


@dataclass(frozen=True)
class Piece:
    """Lines of ``shard`` starting in ``[start, end)`` as part ``part`` (None: the whole shard)."""

    shard: Shard
    part: int | None = None
    start: int = 0
    end: int = 0
    first_row: int = 0


@dataclass
class PartResult:
    piece: Piece
    outputs: list[str]
    stats: ShardStats
    node: str


def node_name() -> str:
    """The Ray node this process runs on, or the host when there is no Ray (never imported for this:
    it takes half a second)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray.get_runtime_context().get_node_id()
    return socket.gethostname()


def boundaries(shard: Shard, split_bytes: int) -> list[int]:
    """Where the ranges of ``shard`` start (after the first): none when it is not split."""
    if not splittable(shard) or shard.size <= split_bytes:
        return []
    return list(range(split_bytes, shard.size, split_bytes))


def ranges(shard: Shard, starts: list[int], first_rows: list[int]) -> list[Piece]:
    edges = [0, *starts, shard.size]
    rows = [0, *first_rows]
    return [Piece(shard, i, edges[i], edges[i + 1], rows[i]) for i in range(len(rows))]


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

    def index(self, context: JobContext, shard: Shard, starts: list[int]) -> tuple[list[int], Digest]:
        return index_lines(shard, starts)

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
        """One line range, written to temp files; the driver commits the shard when all are."""
        self.use(context)
        writer = self._writer(piece.shard, piece.part, piece.first_row)
        for _ in self._write(writer, iter_range(piece.shard, piece.start, piece.end), piece.first_row):
            pass
        return PartResult(piece, writer.close(), writer.stats, self.node)

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
