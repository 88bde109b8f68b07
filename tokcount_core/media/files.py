"""Text (and page count) of an attached file: PDFs through pypdf, text files decoded as UTF-8.

Bounded work: the page count is checked before any extraction, extraction stops as soon as the
text passes ``max_chars`` or a pooled budget of content operations is spent (nested forms cannot
blow it up), and pypdf's own decompression limits stop stream bombs. Any failure
inside pypdf becomes ``InvalidMedia``: a malformed file is an error result, never a crash.
"""

from __future__ import annotations

import io
import logging
from pathlib import PurePosixPath
from typing import Any

from pypdf import PdfReader
from pypdf.errors import LimitReachedError

from tokcount_core.media.errors import InvalidMedia, MediaTooLarge, UnsupportedFileType

# File types read as text. OpenAI's file inputs accept PDFs and text-like files (docs "File
# inputs"); binary office formats are not read here.
TEXT_MIMES = frozenset({
    "application/json", "application/xml", "application/x-yaml", "application/yaml", "application/toml",
    "application/javascript", "application/x-javascript", "application/typescript", "application/sql",
    "application/x-sh", "application/x-python", "application/csv", "application/x-ndjson",
    "application/ld+json", "application/xhtml+xml", "application/x-tex",
})
TEXT_EXTENSIONS = frozenset({
    ".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".xml", ".yaml",
    ".yml", ".toml", ".ini", ".cfg", ".conf", ".log", ".html", ".htm", ".css", ".js", ".mjs", ".ts",
    ".tsx", ".jsx", ".py", ".rb", ".go", ".rs", ".java", ".kt", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs",
    ".php", ".sh", ".bash", ".zsh", ".sql", ".tex", ".r", ".swift", ".scala", ".lua", ".pl", ".vue",
})
# PDF 32000-1:2008 7.5.2: the header "%PDF-" starts the file; readers accept it within the
# first 1024 bytes (leading junk is common).
_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024
# Content-stream operations pypdf may run per page of the document, pooled over all pages: text
# extraction costs ~10-20 us per operation, and nested form XObjects can multiply operations
# without bound. A dense text page has a few thousand; this budget keeps the worst case
# proportional to the page count (itself capped by max_pages) and deterministic.
PDF_OPERATIONS_PER_PAGE = 10_000
# Decoded content-stream bytes (pages and the forms they use), pooled likewise and checked before
# pypdf parses them (~5 MB/s). Text pages take 5-50 KB; the floor leaves room for one heavy page.
PDF_CONTENT_BYTES_PER_PAGE = 256 * 1024
PDF_CONTENT_BYTES_FLOOR = 4 * 1024 * 1024


def file_text_and_pages(data: bytes, mime: str | None, filename: str | None, max_pages: int,
                        max_chars: int) -> tuple[str, int]:
    """``(text, pages)``: a PDF's extracted text and page count, or a text file's text and 0 pages.

    Raises ``MediaTooLarge`` past ``max_pages`` / ``max_chars`` and ``InvalidMedia`` for corrupt,
    encrypted or unsupported files.
    """
    mime = (mime or "").split(";")[0].strip().lower()
    suffix = PurePosixPath(filename or "").suffix.lower()
    if _PDF_MAGIC in data[:_PDF_MAGIC_WINDOW]:
        return _pdf(data, max_pages, max_chars)
    if mime == "application/pdf" or suffix == ".pdf":
        raise InvalidMedia("file declared as PDF has no %PDF- header")
    if mime.startswith("text/") or mime in TEXT_MIMES or suffix in TEXT_EXTENSIONS:
        return _text(data, max_chars), 0
    raise UnsupportedFileType(f"unsupported file type (mime {mime or None!r}, name {filename!r})")


def _text(data: bytes, max_chars: int) -> str:
    if len(data) > 4 * max_chars + 4:  # a UTF-8 character takes at most 4 bytes: surely too long
        raise MediaTooLarge(f"text file over the limit of {max_chars} characters")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMedia(f"text file is not valid UTF-8 (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    if len(text) > max_chars:
        raise MediaTooLarge(f"text file has {len(text)} characters, over the limit of {max_chars}")
    return text


# Malformed PDFs are data to us (they become error rows), not news for the operator's console.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class _OverBudget(Exception):
    """Raised from inside pypdf's content-stream walk to stop it early."""


def _pdf(data: bytes, max_pages: int, max_chars: int) -> tuple[str, int]:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise InvalidMedia("encrypted PDF")
        pages = len(reader.pages)
        if pages == 0:
            raise InvalidMedia("PDF has no pages")
        if pages > max_pages:
            raise MediaTooLarge(f"PDF has {pages} pages, over the limit of {max_pages}")
        _check_content_size(reader, max(PDF_CONTENT_BYTES_FLOOR, PDF_CONTENT_BYTES_PER_PAGE * pages))
        return _pdf_text(reader, pages, max_chars), pages
    except InvalidMedia:
        raise
    except (_OverBudget, LimitReachedError) as exc:
        raise MediaTooLarge(f"PDF over a processing limit: {exc}") from None
    except RecursionError:
        raise InvalidMedia("malformed PDF: nesting too deep") from None
    except Exception as exc:  # pypdf raises many types (and bare ones) on malformed input
        raise InvalidMedia(f"malformed PDF: {type(exc).__name__}: {str(exc)[:200]}") from None


def _check_content_size(reader: Any, budget: int) -> None:
    """Sum the decoded sizes of page contents and of the form XObjects reachable from them.

    Each stream is decoded once (pypdf caches it for the extraction that follows) and counted
    once; the walk stops as soon as the budget is spent, so the decoding work stays bounded.
    """
    seen: set[tuple[str, int]] = set()
    total = 0

    def add(node: Any) -> None:
        nonlocal total
        ref = getattr(node, "idnum", None)
        obj = node.get_object()
        key = ("ref", ref) if ref is not None else ("direct", id(obj))
        if key in seen:
            return
        seen.add(key)
        if isinstance(obj, list):  # an array of content streams
            for item in obj:
                add(item)
            return
        if hasattr(obj, "get_data"):
            total += len(obj.get_data())
            if total > budget:
                raise _OverBudget(f"more than {budget} bytes of page content")
            add_forms(obj.get("/Resources"))

    def add_forms(resources: Any) -> None:
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        for value in (xobjects.get_object().values() if xobjects is not None else ()):
            if value.get_object().get("/Subtype") == "/Form":
                add(value)

    for page in reader.pages:
        if "/Contents" in page:
            add(page.raw_get("/Contents"))
        add_forms(page.get("/Resources"))


def _pdf_text(reader: Any, pages: int, max_chars: int) -> str:
    """Page texts joined by newlines, stopping as soon as a budget (operations, chars) is spent."""
    operations = PDF_OPERATIONS_PER_PAGE * pages
    chars = 0

    def count_operation(*_: Any) -> None:
        nonlocal operations
        operations -= 1
        if operations < 0:
            raise _OverBudget(f"more than {PDF_OPERATIONS_PER_PAGE} content operations per page")

    def count_text(text: str, *_: Any) -> None:
        nonlocal chars
        chars += len(text)
        if chars > max_chars:
            raise _OverBudget(f"text over the limit of {max_chars} characters")

    parts = [page.extract_text(visitor_operand_before=count_operation, visitor_text=count_text) or ""
             for page in reader.pages]
    text = "\n".join(parts)
    if len(text) > max_chars:
        raise MediaTooLarge(f"PDF text has {len(text)} characters, over the limit of {max_chars}")
    return text
