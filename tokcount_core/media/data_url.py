"""``data:`` URLs and bare base64 payloads, decoded strictly and with the size checked first.

The size is checked before decoding so a huge payload is refused without allocating its bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_to_bytes

from tokcount_core.media.errors import InvalidMedia, MediaTooLarge

# RFC 2397 ("The data URL scheme"): a missing media type means text/plain;charset=US-ASCII.
_DEFAULT_MIME = "text/plain"
_WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")
_MIME = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")


def decode_base64(payload: str, max_bytes: int) -> bytes:
    """Strict base64 (standard alphabet): whitespace and missing ``=`` padding are tolerated.

    The exact decoded size is known from the length alone, so ``MediaTooLarge`` is raised before
    any decoding work.
    """
    clean = _WHITESPACE.sub("", payload)
    body = clean.rstrip("=")
    if len(clean) - len(body) > 2:
        raise InvalidMedia("invalid base64: too much '=' padding")
    if len(body) % 4 == 1:
        raise InvalidMedia("invalid base64: truncated (length is 1 mod 4)")
    decoded_size = len(body) * 3 // 4
    if decoded_size > max_bytes:
        raise MediaTooLarge(f"media is {decoded_size} bytes, over the limit of {max_bytes}")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII characters in a str
        raise InvalidMedia(f"invalid base64: {exc}") from None


def decode_data_url(url: str, max_bytes: int) -> tuple[str, bytes]:
    """``data:image/png;base64,...`` -> ``("image/png", raw bytes)``; mime lowercased, params dropped.

    Non-base64 (percent-encoded) data URLs are accepted too, as RFC 2397 allows them.
    """
    if not url[:5].lower() == "data:":
        raise InvalidMedia("not a data: URL")
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise InvalidMedia("data: URL without a ',' separating header and payload")
    params = [p.strip() for p in header.split(";")]
    mime = params[0].lower() or _DEFAULT_MIME
    if not _MIME.match(mime):
        raise InvalidMedia(f"data: URL with an invalid media type {params[0][:64]!r}")
    if any(p.lower() == "base64" for p in params[1:]):
        return mime, decode_base64(payload, max_bytes)
    if len(payload) > 3 * max_bytes:  # each byte takes at most 3 characters ("%XX")
        raise MediaTooLarge(f"data: URL payload over the limit of {max_bytes} bytes")
    raw = unquote_to_bytes(payload)
    if len(raw) > max_bytes:
        raise MediaTooLarge(f"media is {len(raw)} bytes, over the limit of {max_bytes}")
    return mime, raw
