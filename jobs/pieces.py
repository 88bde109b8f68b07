"""How a shard becomes pieces of work, and what each piece reads.

A shard is one piece unless ``splits`` says it is worth cutting: then one pass over it (``index``:
its sha256 as stored, and where its ranges start) cuts it into ranges, counted in parallel as
``<shard>.part-NNNNN.parquet`` and committed together. The cuts depend only on the shard's bytes and
the config, so every engine writes the same files.

- Plain JSONL: at every ``split_bytes`` of the file; a range seeks there and holds the lines that
  start in it. The index counts newlines.
- gzip / zstd JSONL: a compressed stream cannot be entered in the middle, so a range decompresses
  from the start and drops what comes before it (decompressing runs 10-30x faster than counting).
  That skipping grows with every range, so there are at most ``MAX_COMPRESSED_RANGES``, cut at equal
  sizes of the decompressed lines, which the index measures.
- Parquet: at row-group boundaries, about ``split_bytes`` of consecutive groups each, numbered from
  the footer; a range reads only its groups.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from jobs.sources import (
    Digest,
    InputError,
    Shard,
    compressed,
    index_lines,
    iter_range,
    iter_row_groups,
    parquet_row_groups,
)

MAX_COMPRESSED_RANGES = 4
GRID_PER_SPLIT = 64  # a compressed shard's cuts fall on multiples of split_bytes / 64 (1 MiB by default)


@dataclass(frozen=True)
class Piece:
    """Part ``part`` of ``shard`` (None: all of it, under the shard's own name): the lines that start
    at byte offsets ``[start, end)`` of its (decompressed) lines, or Parquet row groups
    ``[start, end)``; ``first_row`` numbers its first line."""

    shard: Shard
    part: int | None = None
    start: int = 0
    end: int = 0
    first_row: int = 0


def splits(shard: Shard, split_bytes: int) -> bool:
    """Whether ``shard`` is indexed and cut into ranges (else counted whole)."""
    return shard.size > split_bytes


def index(shard: Shard, split_bytes: int) -> tuple[list[Piece], Digest]:
    """The ranges of ``shard`` and its digest, from one pass over it."""
    if shard.kind == "parquet":
        groups, digest = parquet_row_groups(shard)
        return _group_ranges(shard, groups, split_bytes), digest
    if compressed(shard):
        grid = split_bytes // GRID_PER_SPLIT
        rows, digest, size = index_lines(shard, itertools.count(grid, grid))
        k = min(MAX_COMPRESSED_RANGES, -(-size // split_bytes))
        starts = sorted({c for i in range(1, k) if 0 < (c := round(size * i / k / grid) * grid) < size})
        return _ranges(shard, starts, [rows[s // grid - 1] for s in starts], size), digest
    starts = list(range(split_bytes, shard.size, split_bytes))
    rows, digest, size = index_lines(shard, starts)
    if len(rows) < len(starts) or size != shard.size:
        raise InputError(f"input {shard.uri} changed while it was being read")
    return _ranges(shard, starts, rows, size), digest


def _ranges(shard: Shard, starts: list[int], first_rows: list[int], size: int) -> list[Piece]:
    if not starts:
        return [Piece(shard, None, 0, size, 0)]
    edges = [0, *starts, size]
    rows = [0, *first_rows]
    return [Piece(shard, i, edges[i], edges[i + 1], rows[i]) for i in range(len(rows))]


def _group_ranges(shard: Shard, groups: list[tuple[int, int]], split_bytes: int) -> list[Piece]:
    """Consecutive row groups, each range closed once it holds ``split_bytes``."""
    bounds: list[tuple[int, int, int]] = []  # (first group, end group, first row)
    first, first_row, row, size = 0, 0, 0, 0
    for i, (rows, nbytes) in enumerate(groups):
        row, size = row + rows, size + nbytes
        if size >= split_bytes or i == len(groups) - 1:
            bounds.append((first, i + 1, first_row))
            first, first_row, size = i + 1, row, 0
    if len(bounds) <= 1:
        return [Piece(shard, None, 0, len(groups), 0)]
    return [Piece(shard, part, a, b, r) for part, (a, b, r) in enumerate(bounds)]


def iter_piece(piece: Piece) -> Iterator[bytes]:
    """The raw lines (JSON rows) of ``piece``, in order."""
    if piece.shard.kind == "parquet":
        return iter_row_groups(piece.shard, piece.start, piece.end)
    return iter_range(piece.shard, piece.start, piece.end)
