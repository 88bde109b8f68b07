"""Audio duration from container/frame headers (WAV, MP3, FLAC, Ogg) and its token estimate.

OpenAI documents audio input by duration only, so the duration is all a count needs. Parsing reads
headers; the only loops walk chunks or MP3 frames, each step advancing through the input, and
the MP3 sync search is limited to a fixed window, so cost stays linear on any input.
"""

from __future__ import annotations

import math
import struct
from typing import NamedTuple

from tokcount_core.media.errors import InvalidMedia

# OpenAI docs "Realtime API costs" (guides/realtime-costs): "Audio tokens in user messages are 1
# token per 100 ms of audio". OpenAI publishes no rate for Chat Completions / Responses audio
# input (gpt-4o-audio-preview, gpt-audio...): the same rate is assumed, so audio counts are
# estimates (the caller flags them).
AUDIO_INPUT_TOKENS_PER_SECOND = 10
# Per-family overrides of the rate above, for when one is measured. None is known today.
_FAMILY_TOKENS_PER_SECOND: dict[str, int] = {}

# MP3 frame header tables (ISO/IEC 11172-3 2.4.2.3, ISO/IEC 13818-3 for MPEG-2/2.5), kbit/s.
_MP3_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_SAMPLE_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}
_MP3_SYNC_WINDOW = 64 * 1024  # how far past the ID3 tag the first frame may start


def audio_tokens(seconds: float, model_family: str) -> int:
    """Estimated input tokens for ``seconds`` of audio: 1 token per started 100 ms (see the constant)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidMedia(f"invalid audio duration {seconds!r}")
    rate = _FAMILY_TOKENS_PER_SECOND.get(model_family, AUDIO_INPUT_TOKENS_PER_SECOND)
    millis = round(seconds * 1000)  # whole milliseconds, so 0.3 s is 3 tokens and not 4
    return -(-millis * rate // 1000)


def audio_duration_seconds(data: bytes, fmt: str | None) -> float:
    """Duration of WAV, MP3, FLAC or Ogg (Opus/Vorbis) audio; the bytes decide, ``fmt`` is a hint."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav(data)
    if data[:4] == b"fLaC":
        return _flac(data)
    if data[:4] == b"OggS":
        return _ogg(data)
    frame_sync = len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # 11 set bits
    if data[:3] == b"ID3" or frame_sync or (fmt or "").lower() in ("mp3", "mpeg", "audio/mpeg"):
        return _mp3(data)
    raise InvalidMedia(f"unsupported or unrecognised audio format (declared {fmt!r})")


def _wav(data: bytes) -> float:
    """RIFF chunks (Microsoft RIFF/WAVE): ``fmt `` gives the byte rate, ``data`` the byte count."""
    pos, byte_rate = 12, 0
    while pos + 8 <= len(data):
        kind, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if kind == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise InvalidMedia("corrupt WAV: short fmt chunk")
            (byte_rate,) = struct.unpack_from("<I", data, body + 8)
        elif kind == b"data":
            if byte_rate <= 0:
                raise InvalidMedia("corrupt WAV: data before a valid fmt chunk")
            available = len(data) - body
            # Streaming writers leave 0 or 0xFFFFFFFF; a truncated file has fewer bytes than declared.
            length = available if size in (0, 0xFFFFFFFF) else min(size, available)
            return length / byte_rate
        pos = body + size + (size & 1)  # chunks are word-aligned
    raise InvalidMedia("corrupt WAV: no data chunk")


def _flac(data: bytes) -> float:
    """STREAMINFO, the mandatory first metadata block (FLAC format, RFC 9639 8.2)."""
    if len(data) < 8 + 18 or data[4] & 0x7F != 0:
        raise InvalidMedia("corrupt FLAC: no STREAMINFO block")
    bits = int.from_bytes(data[8 + 10 : 8 + 18], "big")
    sample_rate = bits >> 44
    total_samples = bits & ((1 << 36) - 1)
    if sample_rate == 0 or total_samples == 0:
        raise InvalidMedia("FLAC without a sample rate or total sample count")
    return total_samples / sample_rate


def _ogg(data: bytes) -> float:
    """Last page's granule position over the codec's rate (RFC 3533; RFC 7845 for Opus)."""
    if len(data) < 28 + 19:
        raise InvalidMedia("truncated Ogg header")
    head = data[28 : 28 + 64]  # first packet of the first page (a single-segment page)
    if head.startswith(b"OpusHead"):
        rate, (pre_skip,) = 48000, struct.unpack_from("<H", head, 10)
    elif head.startswith(b"\x01vorbis"):
        (rate,), pre_skip = struct.unpack_from("<I", head, 12), 0
    else:
        raise InvalidMedia("unsupported Ogg codec (Opus and Vorbis accepted)")
    last = data.rfind(b"OggS")
    if last < 0 or last + 14 > len(data) or rate == 0:
        raise InvalidMedia("corrupt Ogg: no final page")
    (granule,) = struct.unpack_from("<q", data, last + 6)
    if granule < 0:
        raise InvalidMedia("corrupt Ogg: final page has no granule position")
    return max(0, granule - pre_skip) / rate


class _Frame(NamedTuple):
    length: int  # bytes, header included
    samples: int  # samples per channel in the frame
    rate: int  # Hz
    mpeg1: bool
    mono: bool


def _mp3(data: bytes) -> float:
    """Xing/Info or VBRI frame count when present, else the sum of all frames' durations."""
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # ID3v2: 28-bit syncsafe size, +10 with a footer
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | data[9] & 0x7F
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
    found = _mp3_sync(data, pos, min(len(data), pos + _MP3_SYNC_WINDOW))
    if found is None:
        raise InvalidMedia("not an MP3 stream: no frame header found")
    pos, frame = found
    rate = frame.rate
    counted = _mp3_vbr_frames(data, pos, frame)
    if counted is not None:
        return counted * frame.samples / rate
    total = 0
    current: _Frame | None = frame
    while current is not None and current.rate == rate:  # stops at a trailing tag or garbage
        total += current.samples
        pos += current.length
        current = _mp3_frame(data, pos)
    return total / rate


def _mp3_sync(data: bytes, start: int, stop: int) -> tuple[int, _Frame] | None:
    """First offset in [start, stop) holding a valid frame header followed by another (or the end)."""
    pos = data.find(b"\xff", start, stop)
    while pos >= 0:
        frame = _mp3_frame(data, pos)
        if frame is not None and (pos + frame.length >= len(data) or _mp3_frame(data, pos + frame.length)):
            return pos, frame
        pos = data.find(b"\xff", pos + 1, stop)
    return None


def _mp3_frame(data: bytes, pos: int) -> _Frame | None:
    """The frame header at ``pos``, or None when there is none."""
    if pos + 4 > len(data):
        return None
    header = int.from_bytes(data[pos : pos + 4], "big")
    if header >> 21 != 0x7FF:
        return None
    version = {3: 1, 2: 2, 0: 25}.get(header >> 19 & 3)
    layer = {3: 1, 2: 2, 1: 3}.get(header >> 17 & 3)
    bitrate_index, rate_index = header >> 12 & 0xF, header >> 10 & 3
    if version is None or layer is None or bitrate_index in (0, 15) or rate_index == 3:
        return None  # free-format (bitrate index 0) streams are not supported
    bitrate = _MP3_BITRATES[(min(version, 2), layer)][bitrate_index] * 1000
    rate = _MP3_SAMPLE_RATES[version][rate_index]
    padding = header >> 9 & 1
    mono = header >> 6 & 3 == 3
    if layer == 1:
        return _Frame((12 * bitrate // rate + padding) * 4, 384, rate, version == 1, mono)
    samples = 1152 if layer == 2 or version == 1 else 576
    return _Frame(samples // 8 * bitrate // rate + padding, samples, rate, version == 1, mono)


def _mp3_vbr_frames(data: bytes, pos: int, frame: _Frame) -> int | None:
    """Frame count from a Xing/Info tag (after the side info) or a VBRI tag (32 bytes in)."""
    side_info = (17 if frame.mono else 32) if frame.mpeg1 else (9 if frame.mono else 17)
    xing = pos + 4 + side_info
    if data[xing : xing + 4] in (b"Xing", b"Info") and len(data) >= xing + 12:
        (flags,) = struct.unpack_from(">I", data, xing + 4)
        if flags & 1:
            (count,) = struct.unpack_from(">I", data, xing + 8)
            return count or None
    vbri = pos + 4 + 32
    if data[vbri : vbri + 4] == b"VBRI" and len(data) >= vbri + 18:
        (count,) = struct.unpack_from(">I", data, vbri + 14)
        return count or None
    return None
