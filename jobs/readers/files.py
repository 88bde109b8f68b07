"""Finding input shards and reading them line by line, on any pyarrow/fsspec filesystem.

We split lines ourselves (on ``\\n`` only) because ``read_text`` also splits on U+2028 and
``read_json`` rejects logs whose fields change type between rows. Every line, blank or broken,
becomes one row ``(source_file, source_row, raw)``; the content hash is taken over the bytes as
stored (compressed), while reading, so the manifest and resume markers cost no second pass.

A big shard is also read in pieces (``jobs.job.pieces`` decides which): a plain file from a byte offset
(``iter_range``, numbered by ``index_lines``), Parquet by row groups (``iter_row_groups``, numbered
from the footer), and a compressed file as parts of its decompressed lines (``iter_parts``, which
decompresses from the start and counts the newlines it skips).
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import zstandard

if TYPE_CHECKING:
    from jobs.readers.stores import StoreRange

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.zstd", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Formats whose files a reader module of their own turns into records (several per line, or none):
# ``--format`` names them; an OTLP file is also known by its first bytes (``_by_content``).
READER_FORMATS = ("otlp_json", "langfuse")
_JSON_SUFFIXES = (".json", ".json.gz", ".json.zst")  # listed only as OTLP exports, or with a READER_FORMATS --format
_OTLP_SUFFIXES = (*JSONL_SUFFIXES, *_JSON_SUFFIXES)
_OTLP_START = b'{"resourceSpans"'  # the Collector's file exporter and protobuf's JSON both start so
Kind = Literal["jsonl", "parquet", "otlp_json", "langfuse", "store"]
_GLOB_CHARS = "*?["
_BOM = b"\xef\xbb\xbf"

class InputError(ValueError):
    """Missing or unreadable input: fatal before any work starts."""


@dataclass(frozen=True)
class Shard:
    """One input file. ``uri`` is what rows report as ``source_file`` (as given: relative stays relative);
    ``identity`` is where the bytes really are (a local file's real path, a URI's scheme and path), so the
    same file given two ways is one shard and two files never share a marker or an output name."""

    uri: str
    path: str
    fs: pafs.FileSystem
    size: int
    mtime: float | None
    kind: Kind
    name: str  # output file stem: readable, and unique across runs (it ends with ``key``)
    identity: str
    store: StoreRange | None = None  # a log store's rows (``jobs.readers.stores``), not a file

    @property
    def key(self) -> str:
        """Names the shard's marker and temp files; a digest of ``identity``."""
        return shard_key(self.identity)

    @property
    def legacy_key(self) -> str:
        """The key outputs written before 2026.12 used (a digest of ``uri``), still read on resume."""
        return shard_key(self.uri)


def shard_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity(fs: pafs.FileSystem, path: str, given: str) -> str:
    """Where ``path`` really is: a local file's real path (symlinks resolved), else the given URI's
    scheme with the filesystem's path."""
    if isinstance(fs, pafs.LocalFileSystem):
        return os.path.realpath(path)
    scheme = given.split("://", 1)[0] if "://" in given else type(fs).__name__
    return f"{scheme}://{path}"


def resolve(uri: str, filesystem: pafs.FileSystem | None = None) -> tuple[pafs.FileSystem, str]:
    """A filesystem and the path within it: pyarrow's own schemes first, then any fsspec one."""
    if filesystem is not None:
        return filesystem, uri.split("://", 1)[-1]
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import fsspec.core

        fs, path = fsspec.core.url_to_fs(uri)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def _kind(path: str, fmt: str = "auto") -> Kind | None:
    """A file's kind by its name (``fmt``: the job's ``--format``); ``.json`` files only as OTLP."""
    lower = path.lower()
    if fmt in READER_FORMATS and lower.endswith(_OTLP_SUFFIXES):
        return fmt  # type: ignore[return-value]
    if fmt == "auto" and lower.endswith(_JSON_SUFFIXES):
        return "otlp_json"  # kept only if its first bytes say so (``_by_content``)
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _root(text: str) -> str:
    """The directory part of a glob, up to its first wildcard (``""``: the current directory)."""
    head = text[: min(text.index(c) for c in _GLOB_CHARS if c in text)]
    return head[: head.rindex("/") + 1] if "/" in head else ""


def list_shards(inputs: list[str], filesystem: pafs.FileSystem | None = None,
                output: str | None = None, fmt: str = "auto") -> list[Shard]:
    """Expand files, directories (recursively) and globs into shards, sorted; one shard per real file.

    A child's URI is spelled as its input was (``logs/`` gives ``logs/a.jsonl``, a bare ``a.jsonl``
    stays ``a.jsonl``), whatever the filesystem resolved the input to. Nothing inside ``output`` is
    listed, so a job whose OUTPUT is under its INPUT never reads its own Parquet back; an input that is
    OUTPUT or inside it is refused. With ``fmt`` auto, a JSON-lines file that is an OTLP export is read as
    spans (``.json`` too); other ``.json`` files are not listed."""
    found: dict[str, tuple[str, str, str, pafs.FileSystem, pafs.FileInfo]] = {}
    out = identity(*resolve(output, filesystem), output) if output is not None else None
    for given in inputs:
        fs, path = resolve(given, filesystem)
        if any(c in path for c in _GLOB_CHARS):
            prefix = _root(path)
            _check_outside(out, fs, prefix.rstrip("/") or "/", given, output)
            matched = [i for i in _walk(fs, prefix.rstrip("/") or "/", given, out)
                       if fnmatch.fnmatchcase(i.path, path)]
            children = [(i, _root(given) + i.path[len(prefix):]) for i in matched]
            base = prefix
        else:
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.NotFound:
                raise InputError(f"input not found: {given}")
            _check_outside(out, fs, path, given, output)
            if info.type == pafs.FileType.Directory:
                spelled = given.rstrip("/") or "/"
                children = [(i, spelled.rstrip("/") + "/" + i.path[len(path):].lstrip("/"))
                            for i in _walk(fs, path, given, out)]
                base = path
            else:
                if _kind(path, fmt) is None:
                    raise InputError(f"input {given} is not .jsonl[.gz|.zst] or .parquet")
                if info.type != pafs.FileType.File:  # a FIFO or a device would block the reader forever
                    raise InputError(f"input {given} is not a regular file")
                children = [(info, given)]
                base = path.rsplit("/", 1)[0]
        for info, uri in children:
            if _kind(info.path, fmt):
                found.setdefault(identity(fs, info.path, given), (uri, base, info.path, fs, info))
    shards = _name_shards(found, fmt)
    if fmt == "auto":
        shards = [s for s in map(_by_content, shards) if s is not None]
    if not shards:
        raise InputError(f"no .jsonl/.jsonl.gz/.jsonl.zst/.parquet files in {' '.join(inputs)}")
    return shards


def _by_content(shard: Shard) -> Shard | None:
    """A ``.json`` file (the Collector's file exporter's name) is read as ``otlp_json`` when its first line is
    an OTLP export request, else it is no input (None). Only those are opened while listing: ``.jsonl``
    files are not (a listing of thousands of objects on S3 would cost a request each), so OTLP lines in a
    ``.jsonl`` file need ``--format otlp_json``."""
    if shard.kind != "otlp_json":
        return shard
    with _open_lines(shard, hashing=False) as (text, _):
        otlp = text.read(64).removeprefix(_BOM).lstrip().startswith(_OTLP_START)
    return shard if otlp else None


def input_roots(inputs: list[str], filesystem: pafs.FileSystem | None = None) -> list[str]:
    """Where each given input really is (a glob: its directory), to tell an input deleted since an
    earlier run from another run's input."""
    roots = []
    for given in inputs:
        fs, path = resolve(given, filesystem)
        if any(c in path for c in _GLOB_CHARS):
            path = _root(path).rstrip("/") or "/"
        roots.append(identity(fs, path, given))
    return roots


def under(child: str, root: str) -> bool:
    """Whether identity ``child`` is ``root`` or inside it."""
    return child == root or child.startswith(root.rstrip("/") + "/")


def _check_outside(out: str | None, fs: pafs.FileSystem, path: str, given: str, output: str | None) -> None:
    if out is not None and under(identity(fs, path, given), out):
        raise InputError(f"input {given} is inside OUTPUT {output} (a job never reads its own output): "
                         "choose an OUTPUT outside the inputs")


def _walk(fs: pafs.FileSystem, path: str, given: str, out: str | None) -> list[pafs.FileInfo]:
    """The files under a directory, without hidden names (``.``/``_``) or anything inside ``out``."""
    if isinstance(fs, pafs.LocalFileSystem):
        return fs.get_file_info(_local_files(path, given, out))
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except (FileNotFoundError, OSError) as exc:
        raise InputError(f"cannot list {given}: {exc}") from None
    return [i for i in infos if i.type == pafs.FileType.File and not _hidden(i.path[len(path):])
            and not (out is not None and under(identity(fs, i.path, given), out))]


def _local_files(root: str, given: str, out: str | None) -> list[str]:
    """The regular files under a local directory, following symlinks but entering every directory
    and taking every file once (by device and inode): a link back up the tree (a loop) or a second way
    to the same place is not taken again, so nothing is counted twice and a loop ends. OUTPUT counts as
    visited, so it is never entered. Directories are walked in sorted order: the first path wins.

    pyarrow's recursive ``FileSelector`` follows every symlink, round a loop until the path is too long.
    """
    seen: set[tuple[int, int]] = set()

    def first(path: str, directory: bool) -> bool:
        try:
            st = os.stat(path)
        except OSError:  # a broken symlink
            return False
        key = (st.st_dev, st.st_ino)
        if key in seen or not (directory or stat.S_ISREG(st.st_mode)):
            return False
        seen.add(key)
        return True

    def failed(exc: OSError) -> None:
        raise InputError(f"cannot list {given}: {exc}")

    if out is not None and "://" not in out:  # a local OUTPUT: its real path
        first(out, directory=True)
    first(root, directory=True)
    files: list[str] = []
    for top, dirs, names in os.walk(root, onerror=failed, followlinks=True):
        dirs[:] = [d for d in sorted(dirs) if not _hidden(d) and first(os.path.join(top, d), directory=True)]
        files += [p for n in sorted(names) if not _hidden(n) and first(p := os.path.join(top, n), directory=False)]
    return sorted(files)


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/") if part)


def _name_shards(found: dict[str, tuple[str, str, str, pafs.FileSystem, pafs.FileInfo]], fmt: str) -> list[Shard]:
    """Output stems: the path below the given directory (``/`` as ``__``, extension dropped) and the
    shard's key, so nights whose logs share file names (``D1/part-000``, ``D2/part-000``) never share
    an output file, whichever run wrote them."""
    shards = []
    for real, (uri, base, path, fs, info) in found.items():
        stem = path[len(base):].strip("/").replace("/", "__")
        for suffix in (*_OTLP_SUFFIXES, *PARQUET_SUFFIXES):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        mtime = info.mtime.timestamp() if info.mtime is not None else None
        shards.append(Shard(uri=uri, path=path, fs=fs, size=info.size or 0, mtime=mtime,
                            kind=_kind(path, fmt) or "jsonl", name=f"{stem}.{shard_key(real)}", identity=real))
    return sorted(shards, key=lambda s: s.uri)


class _HashingReader(io.RawIOBase):
    """Counts and hashes the stored bytes as a decompressor pulls them."""

    def __init__(self, stream: Any, hashing: bool = True):
        self._stream = stream
        self.sha256 = hashlib.sha256() if hashing else None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if self.sha256 is not None:
            self.sha256.update(data)
        self.bytes_read += n
        return n

    def drain(self) -> None:
        """Hash whatever the decompressor left unread (gzip trailers, trailing garbage)."""
        while self.read(1 << 20):
            pass


@dataclass
class Digest:
    sha256: str
    bytes: int
    skipped: int = 0  # source items a reader read but made no row of (spans without a GenAI request)
    range_rows: int | None = None  # a time-keyed store range's rows when read (``stores._late``)


def shard_digest(shard: Shard) -> Digest:
    """sha256 of the shard's bytes as stored: what the reader records in the marker."""
    with shard.fs.open_input_stream(shard.path, compression=None) as raw:
        hashing = _HashingReader(raw)
        hashing.drain()
    return Digest(hashing.sha256.hexdigest(), hashing.bytes_read)


def content_sha256(shard: Shard) -> str:
    return shard_digest(shard).sha256


def prefix_sha256(shard: Shard, nbytes: int) -> str | None:
    """sha256 of the first ``nbytes`` as stored; None when the shard is shorter."""
    digest, left = hashlib.sha256(), nbytes
    with shard.fs.open_input_stream(shard.path, compression=None) as raw:
        while left > 0:
            chunk = raw.read(min(left, 1 << 20))
            if not chunk:
                return None
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def iter_records(shard: Shard) -> Iterator[bytes | Digest]:
    """Every line (JSONL) or row (Parquet) as raw JSON bytes, then one final ``Digest``; an OTLP or
    Langfuse file: a record per GenAI span or generation, from its reader."""
    if shard.kind == "otlp_json":
        from jobs.readers import otlp

        yield from otlp.iter_records(shard)
    elif shard.kind == "langfuse":
        from jobs.readers import langfuse

        yield from langfuse.iter_records(shard)
    else:
        yield from (_iter_parquet if shard.kind == "parquet" else _iter_jsonl)(shard)


def compressed(shard: Shard) -> bool:
    return shard.path.lower().endswith((".gz", ".zst", ".zstd"))


@contextmanager
def _open_lines(shard: Shard, hashing: bool = True) -> Iterator[tuple[Any, _HashingReader]]:
    """The shard's lines as a binary stream (decompressed), and the reader that hashes the stored bytes."""
    with shard.fs.open_input_stream(shard.path, compression=None) as raw, _reading(shard):
        stored = _HashingReader(raw, hashing)
        buffered = io.BufferedReader(stored, buffer_size=1 << 20)
        lower = shard.path.lower()
        if lower.endswith(".gz"):
            text: Any = gzip.GzipFile(fileobj=buffered)
        elif lower.endswith((".zst", ".zstd")):
            text = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(buffered), 1 << 20)
        else:
            text = buffered
        yield text, stored


@contextmanager
def _reading(shard: Shard) -> Iterator[None]:
    """A damaged shard as one ``InputError`` naming it. pyarrow reports a Parquet file without its
    footer as ``ArrowInvalid`` and a garbled one as an ``OSError`` without an errno; an ``OSError``
    with one (gone, no permission) already names the path and is left as it is."""
    try:
        yield
    except (EOFError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile, pa.ArrowInvalid) as exc:
        raise InputError(f"input {shard.uri} is corrupt or truncated: {exc}") from None
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise InputError(f"input {shard.uri} cannot be read: {exc}") from None


def _iter_jsonl(shard: Shard) -> Iterator[bytes | Digest]:
    with _open_lines(shard) as (text, stored):
        for line in text:
            yield _clean(line)
        stored.drain()
    yield Digest(stored.sha256.hexdigest(), stored.bytes_read)


def iter_items(shard: Shard, records: Callable[[Any], Iterable[dict[str, Any] | None]]) -> Iterator[bytes | Digest]:
    """A file whose lines each hold items (spans of an OTLP export, a Langfuse observation) as ``log``
    records: ``records`` turns a parsed line into a record per item, None for an item that is no request.
    A line that is not JSON is passed on as it is (an error row in its place); blank lines are skipped.
    Ends with the ``Digest``, which counts the items made no row of."""
    skipped = 0
    with _open_lines(shard) as (text, stored):
        for raw in text:
            line = _clean(raw)
            if not line.strip():
                continue
            try:
                parsed = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield line
                continue
            for record in records(parsed):
                if record is None:
                    skipped += 1
                else:
                    yield orjson.dumps(record)
        stored.drain()
    yield Digest(stored.sha256.hexdigest(), stored.bytes_read, skipped)


def _clean(line: bytes) -> bytes:
    # Concatenated Windows files carry a BOM on any line; the core strips it too.
    return line.removesuffix(b"\n").removesuffix(b"\r").removeprefix(_BOM)


def iter_range(shard: Shard, start: int, end: int) -> Iterator[bytes]:
    """The lines of a plain JSONL shard that start at a byte offset in ``[start, end)``.

    Ranges that tile the file give every line exactly once: a range skips the line that began
    before it and finishes the one that begins inside it.
    """
    with shard.fs.open_input_file(shard.path) as raw:
        pos = max(start - 1, 0)
        raw.seek(pos)
        reader = io.BufferedReader(_HashingReader(raw, hashing=False), buffer_size=1 << 20)
        if start > 0:
            pos += len(reader.readline())  # the rest of the line holding byte start-1, with its \n
        while pos < end:
            line = reader.readline()
            if not line:
                return
            pos += len(line)
            yield _clean(line)


def index_lines(shard: Shard, boundaries: list[int]) -> tuple[list[int], Digest]:
    """For each byte offset in ``boundaries`` (ascending, > 0, < size), the number of lines that
    start before it (the first row of the range starting there), and the shard's digest: one pass."""
    rows: list[int] = []
    newlines, offset, todo = 0, 0, list(boundaries)
    sha = hashlib.sha256()
    with shard.fs.open_input_stream(shard.path, compression=None) as raw:
        while chunk := raw.read(8 << 20):
            sha.update(chunk)
            end = offset + len(chunk)
            # A line starts at 0 and after every \n; lines before b = 1 + newlines in [0, b - 1).
            while todo and todo[0] - 1 <= end:
                rows.append(1 + newlines + chunk.count(b"\n", 0, todo.pop(0) - 1 - offset))
            newlines += chunk.count(b"\n")
            offset = end
    if todo:
        raise InputError(f"input {shard.uri} shrank while it was being read")
    return rows, Digest(sha.hexdigest(), offset)


Part = tuple[int, int, Iterator[bytes]]  # (part number, its first row, its lines)


def iter_parts(shard: Shard, part_bytes: int, first: int, last: int | None) -> Iterator[Part | Digest]:
    """Parts ``[first, last)`` of a compressed JSONL shard (``last`` None: to its end, then its
    ``Digest``). Part p holds the lines that start in ``[p, p + 1) * part_bytes`` of the
    decompressed lines; every part up to the end of the data exists, empty or not.

    A compressed stream cannot be entered in the middle: the bytes before part ``first`` are
    decompressed and dropped, their newlines counted for its first row. Each part's lines must be
    read before the next part is taken.
    """
    start = first * part_bytes
    with _open_lines(shard, hashing=last is None) as (text, stored):
        newlines, pos = 0, 0
        while pos < start - 1 and (chunk := text.read(min(start - 1 - pos, 8 << 20))):
            newlines += chunk.count(b"\n")
            pos += len(chunk)
        if start > 0:
            pos += len(text.readline())  # the rest of the line holding byte start-1, with its \n
        row = newlines + 1 if start > 0 else 0
        line = text.readline()  # the next line, starting at pos

        def lines(end: int) -> Iterator[bytes]:  # read from outside this block: errors are converted here too
            nonlocal pos, row, line
            with _reading(shard):
                while line and pos < end:
                    yield _clean(line)
                    pos, row, line = pos + len(line), row + 1, text.readline()

        part = first
        while (last is None or part < last) and pos + len(line) > part * part_bytes:
            yield part, row, lines((part + 1) * part_bytes)
            part += 1
        if last is None:
            stored.drain()
    if last is None:
        yield Digest(stored.sha256.hexdigest(), stored.bytes_read)


def decompressed_ratio(shard: Shard, sample: int = 16 << 20) -> float:
    """Decompressed over stored bytes at the start of a compressed shard (to plan its work)."""
    with _open_lines(shard, hashing=False) as (text, stored):
        size = len(text.read(sample))
        return size / max(stored.bytes_read, 1)


def parquet_row_groups(shard: Shard) -> tuple[list[tuple[int, int]], Digest]:
    """Each row group's row count and stored bytes (from the footer), and the shard's digest."""
    digest = shard_digest(shard)
    with shard.fs.open_input_file(shard.path) as raw, _reading(shard):
        meta = pq.ParquetFile(raw).metadata
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    return [(g.num_rows, sum(g.column(c).total_compressed_size for c in range(g.num_columns)))
            for g in groups], digest


def iter_row_groups(shard: Shard, start: int, end: int) -> Iterator[bytes]:
    """The rows of row groups ``[start, end)`` of a Parquet shard; reads only those groups."""
    with shard.fs.open_input_file(shard.path) as raw, _reading(shard):
        yield from _parquet_rows(pq.ParquetFile(raw), range(start, end))


def _iter_parquet(shard: Shard) -> Iterator[bytes | Digest]:
    with shard.fs.open_input_stream(shard.path) as raw:
        data = raw.read()
    with _reading(shard):
        yield from _parquet_rows(pq.ParquetFile(pa.BufferReader(data)))
    yield Digest(hashlib.sha256(data).hexdigest(), len(data))


def _parquet_rows(parquet: pq.ParquetFile, row_groups: range | None = None) -> Iterator[bytes]:
    """Rows as JSON objects; nulls are dropped (a struct column has every field, null when absent)."""
    for batch in parquet.iter_batches(batch_size=1024, row_groups=row_groups):
        for row in batch.to_pylist():
            yield orjson.dumps(_drop_nulls(row), default=str)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def peek_records(shard: Shard, limit: int = 20) -> list[bytes]:
    """The first few lines of a shard (format detection)."""
    out: list[bytes] = []
    for item in iter_records(shard):
        if isinstance(item, Digest) or len(out) >= limit:
            break
        out.append(item)
    return out
