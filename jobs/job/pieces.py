"""How a shard becomes pieces of work, and what each piece reads.

A shard larger than ``execution.split_bytes`` is written as parts, ``<shard>.part-NNNNN.parquet``,
committed together when all are written. The parts depend only on the shard's bytes and the
config, so every engine writes the same files; how many pieces count them may differ.

- Plain JSONL: a part per ``split_bytes`` of the file, each its own piece; a piece seeks to its
  offset and holds the lines that start in its range. One fast pass (``index``: newline counts and
  the sha256) numbers their first rows.
- Parquet: parts of consecutive row groups of about ``split_bytes``, numbered from the footer
  (``index`` reads it and hashes the file); a piece reads only its groups.
- gzip / zstd JSONL: a part per ``split_bytes`` of the decompressed lines. A compressed stream
  cannot be entered in the middle, so a piece decompresses from the start, drops (and counts the
  newlines of) what comes before its first part, then writes a run of consecutive parts. Skipping
  costs a decompression (10-30x faster than counting) per extra piece, so a compressed shard gets
  more than one piece only when it is the job's long pole (``units``), and then equal runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

from jobs.readers.files import (
    Digest,
    Shard,
    compressed,
    decompressed_ratio,
    index_lines,
    iter_range,
    iter_row_groups,
    parquet_row_groups,
)

LONG_POLE = 1.1  # a compressed shard gets more pieces once it holds 10% more than a worker's share


@dataclass(frozen=True)
class Piece:
    """Part ``part`` of ``shard`` (None: all of it, under the shard's own name): the lines that start
    at byte offsets ``[start, end)`` (plain JSONL), row groups ``[start, end)`` (Parquet), or for a
    compressed shard, parts ``[start, end)`` (``end`` None: to the end); ``first_row`` numbers its
    first line where an index knows it."""

    shard: Shard
    part: int | None = None
    start: int = 0
    end: int | None = 0
    first_row: int = 0


def splits(shard: Shard, split_bytes: int) -> bool:
    """Whether ``shard`` is written as parts (else as one file, by one piece). A log store's range is
    already a piece of the store (``jobs.readers.stores``), and a file that a reader of its own turns into
    records (OTLP, Langfuse) is read whole: its rows are not its lines."""
    return shard.store is None and shard.kind in ("jsonl", "parquet") and shard.size > split_bytes


def indexed(shard: Shard) -> bool:
    """Whether a split shard's pieces come from an ``index`` pass (else from ``units``)."""
    return not compressed(shard)


def units(shard: Shard, share: float, workers: int, split_bytes: int) -> list[Piece]:
    """The pieces of a split compressed shard that holds ``share`` of the job's bytes: one (a single
    pass, no skipping) unless the shard alone would outlast the rest of the job on ``workers``;
    then about ``share * workers`` runs of parts, the last open-ended (it also hashes the shard)."""
    count = min(workers, max(1, math.ceil(share * workers / LONG_POLE)))
    if count == 1:
        return [Piece(shard, None, 0, None)]
    parts = math.ceil(shard.size * decompressed_ratio(shard) / split_bytes)
    edges = [round(parts * i / count) for i in range(count)]
    return [Piece(shard, i, a, b) for i, (a, b) in enumerate(itertools.pairwise([*edges, None]))]


def index(shard: Shard, split_bytes: int) -> tuple[list[Piece], Digest]:
    """The pieces of a split plain JSONL or Parquet shard and its digest, from one pass over it."""
    if shard.kind == "parquet":
        groups, digest = parquet_row_groups(shard)
        return _group_ranges(shard, groups, split_bytes), digest
    starts = list(range(split_bytes, shard.size, split_bytes))
    rows, digest = index_lines(shard, starts)
    edges, first_rows = [0, *starts, shard.size], [0, *rows]
    return [Piece(shard, i, edges[i], edges[i + 1], first_rows[i]) for i in range(len(first_rows))], digest


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
    """The raw lines (JSON rows) of a plain JSONL or Parquet ``piece``, in order."""
    assert piece.end is not None, "only a compressed shard's last piece is open-ended"
    if piece.shard.kind == "parquet":
        return iter_row_groups(piece.shard, piece.start, piece.end)
    return iter_range(piece.shard, piece.start, piece.end)
