"""Hostile and malformed input lines for the batch job (issue #7), built deterministically.

Nothing here is committed as data: every kind is a small function, so the 50 MB record and the
million-space lines cost disk only while a test runs. ``KINDS`` lists each kind with the outcome
the job must give it (an ``ErrorCode`` value, or ``COUNTED``); ``write_corpus`` mixes them with
good records into shards and returns what every output row must be. See README.md here.
"""

from __future__ import annotations

import base64
import gzip
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

COUNTED = "counted"
MODEL = "gpt-4o"
MB = 1_000_000


@dataclass(frozen=True)
class Kind:
    """One kind of bad (or merely strange) input line."""

    name: str
    expected: str  # an ErrorCode value, or COUNTED
    build: Callable[[], bytes]  # the line, without its "\n"
    note: str
    big: bool = False  # over 1 MB: generated only where a test asks for big kinds
    bare: bool = True  # a bare request body, so the job's row must equal tokcount_core.count(line)


def body(**fields: Any) -> bytes:
    return orjson.dumps({"model": MODEL, **fields})


def user(*content: Any) -> dict[str, Any]:
    """A Responses user message with the given content parts."""
    return {"role": "user", "content": list(content)}


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png(width: int, height: int) -> bytes:
    """Just a PNG signature and IHDR: all the core reads to price an image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) \
        + chunk(b"IEND", b"")


def image(width: int, height: int) -> dict[str, Any]:
    return {"type": "input_image", "image_url": data_url("image/png", png(width, height))}


def pdf(pages: int = 1, content: bytes = b"BT /F1 12 Tf 72 712 Td (Hello) Tj ET") -> bytes:
    """A PDF whose pages share one Flate-compressed content stream."""
    stream = zlib.compress(content, 9)
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream)]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>"] * pages
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, obj)
    n = len(objects) + 1
    xref = b"xref\n0 %d\n0000000000 65535 f \n" % n + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + xref + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (n, len(out))


def file_part(data: bytes, filename: str = "doc.pdf", mime: str = "application/pdf") -> dict[str, Any]:
    return {"type": "input_file", "filename": filename, "file_data": data_url(mime, data)}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def tool(name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "function", "name": name,
            "parameters": parameters or {"type": "object", "properties": {"q": {"type": "string"}}}}


def deep_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return {"type": "object", "properties": {"x": schema}}


REF_CYCLE = {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}},
             "$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/A"}}}}}
PASSWD = "file:///etc/passwd"


def _k(name: str, expected: str, build: Callable[[], bytes], note: str, **kw: Any) -> Kind:
    return Kind(name, expected, build, note, **kw)


KINDS: tuple[Kind, ...] = (
    # Bytes and JSON syntax
    _k("bom_first_line", COUNTED, lambda: b"\xef\xbb\xbf" + body(input="hi"), "UTF-8 BOM on a shard's first line"),
    _k("bom_mid_file", COUNTED, lambda: b"\xef\xbb\xbf" + body(input="hi"), "BOM on a later line (cat of files)"),
    _k("crlf", COUNTED, lambda: body(input="windows") + b"\r", "CRLF line ending"),
    _k("unicode_separators", COUNTED, lambda: body(input="a\u2028b\u2029c\x85d"),
       "U+2028/U+2029/U+0085 inside strings must not split the line"),
    _k("nul_escaped", COUNTED, lambda: body(input="a\x00b"), "\\u0000 escape inside a string"),
    _k("duplicate_keys", COUNTED, lambda: b'{"model":"gpt-4o","input":"a","input":"the last one wins"}',
       "duplicate keys: the last wins, as in OpenAI's parser"),
    _k("invalid_utf8", "invalid_json", lambda: b'{"model":"gpt-4o","input":"\xff\xfe\xc3"}', "invalid UTF-8"),
    _k("overlong_utf8", "invalid_json", lambda: b'{"model":"gpt-4o","input":"\xc0\xaf"}', "overlong UTF-8 '/'"),
    _k("truncated_json", "invalid_json", lambda: body(input="cut here")[:-9], "truncated mid-string"),
    _k("truncated_escape", "invalid_json", lambda: b'{"model":"gpt-4o","input":"\\u12', "truncated \\u escape"),
    _k("empty_line", "invalid_json", lambda: b"", "empty line"),
    _k("whitespace_line", "invalid_json", lambda: b" \t \r", "whitespace-only line"),
    _k("nul_raw", "invalid_json", lambda: b'{"model":"gpt-4o","input":"a\x00b"}', "raw NUL byte in a string"),
    _k("nan_literal", "invalid_json", lambda: b'{"model":"gpt-4o","input":"a","temperature":NaN}', "NaN literal"),
    _k("infinity_literal", "invalid_json", lambda: b'{"model":"gpt-4o","input":"a","top_p":-Infinity}',
       "Infinity literal"),
    _k("number_overflow", "invalid_json", lambda: b'{"model":"gpt-4o","input":"a","top_p":1e999}',
       "a float beyond double range"),
    _k("big_integer", COUNTED, lambda: b'{"model":"gpt-4o","input":"a","seed":123456789012345678901234567890}',
       "an integer beyond 64 bits in an ignored field"),
    _k("lone_surrogate", "invalid_json", lambda: b'{"model":"gpt-4o","input":"a\\ud800b"}', "lone surrogate escape"),
    _k("not_object_array", "invalid_request", lambda: b"[1, 2, 3]", "JSON array, not an object"),
    _k("not_object_string", "invalid_request", lambda: b'"just a string"', "JSON string"),
    _k("not_object_number", "invalid_request", lambda: b"42", "JSON number"),
    _k("not_object_null", "invalid_request", lambda: b"null", "JSON null"),
    # Size and depth
    _k("nesting_10000", "too_large", lambda: b'{"model":"gpt-4o","input":"a","metadata":' + nested(10_000) + b"}",
       "10,000-deep JSON (orjson stops at 1,024)"),
    _k("nesting_1000_ignored", COUNTED, lambda: b'{"model":"gpt-4o","input":"a","metadata":' + nested(1000) + b"}",
       "1,000-deep JSON in an ignored field"),
    _k("record_50mb", "too_large", lambda: body(input="a " * (25 * MB)), "50 MB record (limit 32 MiB)", big=True),
    _k("spaces_1m", COUNTED, lambda: body(input=" " * MB), "a million spaces (tiktoken panics; safe path)",
       big=True),
    _k("tabs_1m", COUNTED, lambda: body(input="\t" * MB), "a million tabs", big=True),
    _k("newlines_1m", COUNTED, lambda: body(input="\n" * MB), "a million escaped newlines", big=True),
    _k("one_word_1m", COUNTED, lambda: body(input="a" * MB), "one 1M-character word (BPE worst case)", big=True),
    _k("tools_5000", COUNTED, lambda: body(input="a", tools=[tool(f"f{i}") for i in range(5000)]), "5,000 tools"),
    _k("tool_schema_ref_cycle", "too_large", lambda: body(input="a", tools=[tool("f", REF_CYCLE)]),
       "$ref cycle in a tool schema"),
    _k("tool_schema_too_deep", "too_large", lambda: body(input="a", tools=[tool("f", deep_schema(100))]),
       "tool schema nested 100 deep (max_depth 64)"),
    _k("images_10000", "too_large", lambda: body(input=[user(*[image(64, 64)] * 10_000)]),
       "10,000 images in one request (max_images 2,000)"),
    # Wrong types
    _k("input_int", "invalid_request", lambda: body(input=5), "input: 5"),
    _k("messages_object", "invalid_request", lambda: body(messages={}), "messages: {}"),
    _k("content_null_part", "invalid_request", lambda: body(messages=[{"role": "user", "content": [None]}]),
       "content: [null]"),
    _k("tools_string", "invalid_request", lambda: body(input="a", tools="x"), 'tools: "x"'),
    _k("model_int", "invalid_request", lambda: b'{"model":5,"input":"a"}', "model: 5 (not a string)"),
    _k("role_int", "invalid_request", lambda: body(messages=[{"role": 5, "content": "a"}]), "role: 5"),
    _k("text_part_int", "invalid_request", lambda: body(input=[user({"type": "input_text", "text": 7})]),
       "input_text.text: 7"),
    _k("temperature_string", COUNTED, lambda: body(input="a", temperature="hot"), "wrong type in an ignored field"),
    # Unknown things
    _k("unknown_item_type", "unsupported_item", lambda: body(input=[{"type": "teleport", "to": "mars"}]),
       "unknown input item type"),
    _k("unknown_tool_type", "unsupported_item", lambda: body(input="a", tools=[{"type": "quantum_search"}]),
       "unknown tool type"),
    _k("unknown_model", "unknown_model", lambda: b'{"model":"llama-3-70b","input":"a"}', "unknown model"),
    _k("missing_model", "missing_model", lambda: b'{"input":"a"}', "no model and no default"),
    _k("bifrost_unknown_provider", "unsupported_provider",
       lambda: b'{"model":"anthropic/claude-3-opus","messages":[{"role":"user","content":"a"}]}',
       "Bifrost model of a provider not counted by OpenAI rules"),
    # Media
    _k("image_not_base64", "invalid_media", lambda: body(input=[user(
        {"type": "input_image", "image_url": "data:image/png;base64,!!!not*base64!!"})]), "base64 that is not"),
    _k("image_not_an_image", "invalid_media", lambda: body(input=[user(
        {"type": "input_image", "image_url": data_url("image/png", b"hello, not a png")})]), "bytes that are no image"),
    _k("image_png_zero_size", "invalid_media", lambda: body(input=[user(image(0, 0))]), "PNG header 0x0"),
    _k("image_png_absurd_size", COUNTED, lambda: body(input=[user(image(100_000, 100_000))]),
       "PNG header 100000x100000: priced from the header, bounded"),
    _k("audio_garbage", "invalid_media", lambda: body(messages=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"noise" * 9).decode(), "format": "wav"}}]}]),
       "audio that is no audio"),
    _k("pdf_flate_bomb", "too_large", lambda: body(input=[user(file_part(pdf(content=b" " * (200 * MB))))]),
       "PDF whose content stream inflates ~1000x to 200 MB (a zip bomb)"),
    _k("pdf_corrupt", "invalid_media", lambda: body(input=[user(file_part(b"%PDF-1.7\n garbage"))]),
       "a PDF header and nothing else"),
    # Local paths: never opened (the security tests audit this)
    _k("image_url_local_file", COUNTED, lambda: body(input=[user({"type": "input_image", "image_url": PASSWD})]),
       "image_url file:///etc/passwd: not opened, priced as unknown size"),
    _k("file_url_local_file", COUNTED, lambda: body(input=[user({"type": "input_file", "file_url": PASSWD})]),
       "file_url file:///etc/passwd: not opened, a file reference"),
    # Wrapped records (the job's formats): the core alone would read these as bare bodies
    _k("batch_unknown_endpoint", "invalid_request", lambda: orjson.dumps(
        {"custom_id": "c1", "method": "POST", "url": "/v1/embeddings", "body": {"model": MODEL, "input": "a"}}),
       "OpenAI batch input line for an endpoint we do not count", bare=False),
    _k("batch_output_line", "invalid_request", lambda: orjson.dumps(
        {"custom_id": "c2", "response": {"body": {"usage": {"prompt_tokens": 3}}}}),
       "batch output line: no request body", bare=False),
    _k("unknown_record_format", "invalid_request", lambda: b'{"foo":1,"bar":[2]}', "no recognisable format",
       bare=False),
    _k("log_request_not_json", "invalid_json", lambda: b'{"id":"r1","request":"{not json"}',
       "log record whose request string is not JSON", bare=False),
)

GOOD: tuple[dict[str, Any], ...] = (
    {"model": MODEL, "input": "What is the capital of France?"},
    {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "Hello there"}]},
    {"model": "gpt-4.1", "instructions": "You are terse.",
     "input": [user({"type": "input_text", "text": "Describe"}, image(640, 480))]},
    {"model": "gpt-5-mini", "input": "weather?", "tools": [tool("get_weather")], "tool_choice": "auto"},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
     "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}},
    {"model": "o3", "input": [{"role": "developer", "content": "résumé ✓ 中文 🎉"}]},
)
GOOD_LINES = tuple(orjson.dumps(b) for b in GOOD)


@dataclass(frozen=True)
class Expected:
    """What the output row for one input line must be."""

    source_file: str
    source_row: int
    line: bytes  # as written, before the job strips a BOM, "\r" or the "\n"
    kind: Kind | None  # None for a good record (counted, equal to the core)


def corpus_lines(big: bool) -> list[tuple[bytes, Kind | None]]:
    """Kinds interleaved with good records; ``bom_first_line`` (the first kind) opens the first shard."""
    lines: list[tuple[bytes, Kind | None]] = []
    for i, kind in enumerate(k for k in KINDS if big or not k.big):
        lines.append((kind.build(), kind))
        lines.append((GOOD_LINES[i % len(GOOD_LINES)], None))
    return lines


def write_corpus(directory: Path, big: bool = True) -> list[Expected]:
    """Two shards (plain and gzip), the second without a final newline; returns every row's expectation."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = corpus_lines(big)
    half = len(lines) // 2
    shards = {"bad-000.jsonl": lines[:half], "bad-001.jsonl.gz": lines[half:]}
    expected: list[Expected] = []
    for name, shard in shards.items():
        data = b"\n".join(raw for raw, _ in shard) + (b"" if name.endswith(".gz") else b"\n")
        (directory / name).write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
        expected += [Expected(str(directory / name), row, raw, kind) for row, (raw, kind) in enumerate(shard)]
    return expected
