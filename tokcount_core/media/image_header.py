"""Image width and height from header bytes only (no pixel decoding).

The format is sniffed from the bytes, never taken from the declared mime type (recorded requests
send JPEG bytes labelled ``image/png``). Sizes are the stored ones: OpenAI's cost formulas use the
stored width and height, EXIF orientation is not applied. Every parser reads a bounded prefix or
advances at least one byte per step, so the cost is linear at worst on any input.
"""

from __future__ import annotations

import struct

from tokcount_core.media.errors import InvalidMedia

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carrying the size: SOF0-3, 5-7, 9-11, 13-15 (ITU T.81, table B.1);
# C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers without a length field (ITU T.81, B.1.1.3): TEM, RST0-7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def image_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` of a PNG, JPEG, GIF, WebP or BMP image; ``InvalidMedia`` otherwise."""
    if data.startswith(_PNG_SIGNATURE):
        size = _png(data)
    elif data.startswith(b"\xff\xd8"):
        size = _jpeg(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        size = _gif(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp(data)
    elif data.startswith(b"BM"):
        size = _bmp(data)
    else:
        raise InvalidMedia("unsupported or unrecognised image format (PNG, JPEG, GIF, WebP, BMP accepted)")
    width, height = size
    if width <= 0 or height <= 0:
        raise InvalidMedia(f"image header has an invalid size {width}x{height}")
    return width, height


def _need(data: bytes, end: int, what: str) -> None:
    if len(data) < end:
        raise InvalidMedia(f"truncated {what} header")


def _png(data: bytes) -> tuple[int, int]:
    # PNG spec 5.3/11.2.2: IHDR must be the first chunk; Apple's CgBI variant puts one chunk before it.
    offset = 8
    _need(data, offset + 8, "PNG")
    length, kind = struct.unpack_from(">I4s", data, offset)
    if kind == b"CgBI":
        offset += 12 + length
        _need(data, offset + 8, "PNG")
        length, kind = struct.unpack_from(">I4s", data, offset)
    if kind != b"IHDR" or length < 8:
        raise InvalidMedia("corrupt PNG: first chunk is not IHDR")
    _need(data, offset + 16, "PNG")
    return struct.unpack_from(">II", data, offset + 8)


def _jpeg(data: bytes) -> tuple[int, int]:
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:  # stray bytes between segments: resynchronise on the next 0xFF
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
        while pos < end and data[pos] == 0xFF:  # fill bytes (T.81 B.1.1.2)
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE or marker == 0x00:
            continue
        if marker == 0xD9:
            raise InvalidMedia("corrupt JPEG: end of image before any frame header")
        _need(data, pos + 2, "JPEG")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise InvalidMedia("corrupt JPEG: segment length < 2")
        if marker in _JPEG_SOF:
            _need(data, pos + 7, "JPEG")
            height, width = struct.unpack_from(">HH", data, pos + 3)
            if height == 0:  # the height would come from a DNL marker after the scan (T.81 B.2.5)
                raise InvalidMedia("unsupported JPEG: height defined by a DNL marker")
            return width, height
        if marker == 0xDA:
            raise InvalidMedia("corrupt JPEG: scan data before any frame header")
        pos += length
    raise InvalidMedia("truncated JPEG header: no frame header found")


def _gif(data: bytes) -> tuple[int, int]:
    # GIF89a spec section 18: logical screen width and height, little-endian, after the signature.
    _need(data, 10, "GIF")
    return struct.unpack_from("<HH", data, 6)


def _webp(data: bytes) -> tuple[int, int]:
    # RIFF container (WebP container spec): the first chunk after "WEBP" is VP8, VP8L or VP8X.
    _need(data, 20, "WebP")
    kind = data[12:16]
    body = 20
    if kind == b"VP8 ":
        # RFC 6386 9.1: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height.
        _need(data, body + 10, "WebP VP8")
        if data[body + 3 : body + 6] != b"\x9d\x01\x2a":
            raise InvalidMedia("corrupt WebP: bad VP8 start code")
        width, height = struct.unpack_from("<HH", data, body + 6)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L":
        # WebP lossless spec 3.1: signature 0x2f, then 14-bit (width - 1) and 14-bit (height - 1).
        _need(data, body + 5, "WebP VP8L")
        if data[body] != 0x2F:
            raise InvalidMedia("corrupt WebP: bad VP8L signature")
        bits = int.from_bytes(data[body + 1 : body + 5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        # WebP container spec, extended format: flags (4 bytes), 24-bit canvas width-1, height-1.
        _need(data, body + 10, "WebP VP8X")
        width = int.from_bytes(data[body + 4 : body + 7], "little") + 1
        height = int.from_bytes(data[body + 7 : body + 10], "little") + 1
        return width, height
    raise InvalidMedia(f"unsupported WebP chunk {kind!r}")


def _bmp(data: bytes) -> tuple[int, int]:
    # BITMAPFILEHEADER (14 bytes), then a DIB header whose first field is its size.
    _need(data, 18, "BMP")
    (dib_size,) = struct.unpack_from("<I", data, 14)
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes
        _need(data, 22, "BMP")
        return struct.unpack_from("<HH", data, 18)
    if dib_size < 40:
        raise InvalidMedia("corrupt BMP: unknown DIB header")
    _need(data, 26, "BMP")
    width, height = struct.unpack_from("<ii", data, 18)
    return width, abs(height)  # a negative height marks a top-down bitmap
