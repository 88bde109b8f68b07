"""tokcount_core.media: data URLs, image headers, image cost formulas, audio, files.

Images are generated with Pillow in the tests (a test-only dependency); PDFs and audio are built
byte by byte, so no binary fixture is needed.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
import re
import struct
import time
import wave
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokcount_core import media
from tokcount_core.media import InvalidMedia, MediaTooLarge
from tokcount_core.models import FAMILIES, ImageFormula

Image = pytest.importorskip("PIL.Image")


def formula(model: str) -> ImageFormula:
    spec = FAMILIES[model].image
    assert spec is not None
    return spec


def tokens(model: str, width: int, height: int, detail: str = "auto") -> int:
    return media.image_tokens(formula(model), width, height, detail)


# --- data URLs -------------------------------------------------------------------------------------

def data_url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


def test_decode_data_url_roundtrip() -> None:
    raw = bytes(range(256)) * 3
    assert media.decode_data_url(data_url(raw), 10_000) == ("image/png", raw)


def test_decode_data_url_tolerates_missing_padding_whitespace_and_params() -> None:
    raw = b"hello world!!"  # 13 bytes: encoded with "=" padding
    encoded = base64.b64encode(raw).decode()
    assert encoded.endswith("=")
    body = encoded.rstrip("=")
    wrapped = "\n".join(body[i : i + 4] for i in range(0, len(body), 4)) + "\r\n"
    url = f"DATA:Image/JPEG;name=x.jpg;base64,{wrapped}"
    assert media.decode_data_url(url, 100) == ("image/jpeg", raw)
    assert media.decode_base64(" " + body + "\t", 100) == raw


def test_decode_data_url_percent_encoded_and_default_mime() -> None:
    assert media.decode_data_url("data:,hello%20world", 100) == ("text/plain", b"hello world")


@pytest.mark.parametrize("url", [
    "data:image/png;base64,iVBORw0K!!!",  # characters outside the alphabet
    "data:image/png;base64,iVBORw0KG",  # length 1 mod 4: truncated
    "data:image/png;base64,iVBO=w0K",  # padding in the middle
    "data:image/png;base64,iVBORw0K===",  # too much padding
    "data:image/png;base64,iVBOR-_K",  # url-safe alphabet is not accepted
    "data:image/png;base64,iVBORw0Kéé",  # non-ASCII
    "data:image/png;base64",  # no comma
    "https://example.com/cat.png",  # not a data URL (never fetched)
    "data:not a mime;base64,AAAA",
])
def test_decode_data_url_rejects_garbage(url: str) -> None:
    with pytest.raises(InvalidMedia):
        media.decode_data_url(url, 10_000)


def test_decode_data_url_size_is_checked_before_decoding() -> None:
    max_bytes = 1000
    ok = base64.b64encode(b"x" * max_bytes).decode()
    assert len(media.decode_data_url(f"data:image/png;base64,{ok}", max_bytes)[1]) == max_bytes
    over = base64.b64encode(b"x" * (max_bytes + 1)).decode()
    with pytest.raises(MediaTooLarge):
        media.decode_data_url(f"data:image/png;base64,{over}", max_bytes)
    # 50 MB of '!' would be invalid base64, but it is refused for its size before any decoding.
    with pytest.raises(MediaTooLarge):
        media.decode_base64("!" * 50_000_000, max_bytes)
    assert issubclass(MediaTooLarge, InvalidMedia)


# --- image headers ---------------------------------------------------------------------------------

SIZES = [(1, 1), (7, 3), (100, 100), (513, 257), (640, 480), (1025, 31), (31, 1025)]


def encode(width: int, height: int, fmt: str, **kw: Any) -> bytes:
    mode = "RGBA" if kw.pop("alpha", False) else "RGB"
    image = Image.new(mode, (width, height), (200, 30, 90, 128) if mode == "RGBA" else (200, 30, 90))
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def exif_bytes() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation "rotate 90 CW": the stored size must still be reported
    exif[0x010F] = "tokcount"
    return exif.tobytes()


FORMATS: dict[str, dict[str, Any]] = {
    "png": {"fmt": "PNG"},
    "png-alpha": {"fmt": "PNG", "alpha": True},
    "jpeg-baseline": {"fmt": "JPEG", "quality": 80},
    "jpeg-progressive": {"fmt": "JPEG", "progressive": True, "quality": 80},
    "jpeg-exif": {"fmt": "JPEG", "exif": "exif"},
    "gif": {"fmt": "GIF"},
    "webp-lossy": {"fmt": "WEBP", "quality": 70},
    "webp-lossless": {"fmt": "WEBP", "lossless": True},
    "webp-extended": {"fmt": "WEBP", "quality": 70, "alpha": True, "exif": "exif"},
    "bmp": {"fmt": "BMP"},
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(FORMATS))
def test_image_size_of_generated_images(name: str, size: tuple[int, int]) -> None:
    options = dict(FORMATS[name])
    if options.get("exif") == "exif":
        options["exif"] = exif_bytes()
    raw = encode(*size, **options)
    assert media.image_size(raw) == size


def test_webp_variants_hit_each_chunk_kind() -> None:
    kinds = {name: encode(64, 48, **{**FORMATS[name], "exif": exif_bytes()} if "exif" in FORMATS[name]
                          else FORMATS[name])[12:16]
             for name in ("webp-lossy", "webp-lossless", "webp-extended")}
    assert kinds == {"webp-lossy": b"VP8 ", "webp-lossless": b"VP8L", "webp-extended": b"VP8X"}


def test_jpeg_progressive_uses_sof2_and_cmyk_jpeg() -> None:
    raw = encode(300, 200, "JPEG", progressive=True)
    assert b"\xff\xc2" in raw
    cmyk = io.BytesIO()
    Image.new("CMYK", (123, 45)).save(cmyk, "JPEG")
    assert media.image_size(cmyk.getvalue()) == (123, 45)


def test_bmp_top_down_and_os2_headers() -> None:
    raw = bytearray(encode(40, 30, "BMP"))
    struct.pack_into("<i", raw, 22, -30)  # negative height: top-down bitmap
    assert media.image_size(bytes(raw)) == (40, 30)
    os2 = b"BM" + b"\0" * 12 + struct.pack("<IHHHH", 12, 40, 30, 1, 24)
    assert media.image_size(os2) == (40, 30)


def test_image_size_sniffs_bytes_not_mime() -> None:
    # Recorded requests send JPEG bytes labelled image/png (pydantic-ai cassette): the bytes decide.
    jpeg = encode(597, 566, "JPEG")
    mime, raw = media.decode_data_url(data_url(jpeg, "image/png"), 10**7)
    assert mime == "image/png"
    assert media.image_size(raw) == (597, 566)


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))


def test_huge_declared_png_is_measured_quickly_and_costs_bounded() -> None:
    start = time.perf_counter()
    assert media.image_size(png_header(100_000, 100_000)) == (100_000, 100_000)
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-5", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini",
                  "gpt-5-mini", "gpt-5-nano"):
        assert tokens(model, 100_000, 100_000) == tokens(model, 2048, 2048)
    assert time.perf_counter() - start < 0.5


def truncations(raw: bytes) -> Iterator[bytes]:
    yield from (raw[:n] for n in range(0, min(len(raw), 64)))


@pytest.mark.parametrize("name", ["png", "jpeg-baseline", "jpeg-progressive", "gif", "webp-lossy",
                                  "webp-lossless", "bmp"])
def test_truncated_headers_raise_invalid_media(name: str) -> None:
    raw = encode(300, 200, **FORMATS[name])
    for cut in truncations(raw):
        try:
            size = media.image_size(cut)
        except InvalidMedia:
            continue
        assert size == (300, 200)  # enough of the header survived


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00" * 100,
    b"hello, this is text and not an image",
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 4 + b"IDAT" + b"\x00" * 20,  # first chunk is not IHDR
    png_header(0, 10),  # zero width
    b"\xff\xd8\xff\xd9",  # JPEG: end of image before any frame
    b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20,  # JPEG: scan before any frame
    b"\xff\xd8" + b"\xff\xe0\x00\x01" + b"\x00" * 20,  # JPEG: bad segment length
    b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 20,  # WebP: bad VP8 start code
    b"RIFF\x00\x00\x00\x00WEBPABCD" + b"\x00" * 20,  # WebP: unknown chunk
    b"BM" + b"\x00" * 30,  # BMP: unknown DIB header
    b"\x00\x00\x00\x18ftypavif" + b"\x00" * 20,  # AVIF: not accepted by OpenAI
])
def test_bad_images_raise_invalid_media(raw: bytes) -> None:
    with pytest.raises(InvalidMedia):
        media.image_size(raw)


def test_jpeg_parser_is_linear_on_hostile_input() -> None:
    # Millions of fill bytes / tiny segments: every step advances, so this ends quickly.
    hostile = [b"\xff\xd8" + b"\xff" * 5_000_000, b"\xff\xd8" + b"\xff\x01" * 2_000_000,
               b"\xff\xd8" + b"\xff\xfe\x00\x02" * 1_000_000, b"\xff\xd8" + b"\x00" * 5_000_000]
    start = time.perf_counter()
    for raw in hostile:
        with pytest.raises(InvalidMedia):
            media.image_size(raw)
    assert time.perf_counter() - start < 5


MAGICS = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
          b"RIFF\x00\x00\x00\x00WEBPVP8L", b"RIFF\x00\x00\x00\x00WEBPVP8X", b"BM"]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(MAGICS), st.binary(max_size=200))
def test_image_size_raises_only_invalid_media(magic: bytes, tail: bytes) -> None:
    try:
        width, height = media.image_size(magic + tail)
    except InvalidMedia:
        return
    assert width > 0 and height > 0


# --- image cost: tile models (OpenAI docs "Calculating costs") -------------------------------------

def test_docs_examples_gpt_4o() -> None:
    assert tokens("gpt-4o", 1024, 1024, "high") == 765  # 768x768: 4 tiles
    assert tokens("gpt-4o", 2048, 4096, "high") == 1105  # 1024x2048 -> 768x1536: 6 tiles
    assert tokens("gpt-4o", 4096, 8192, "low") == 85
    assert tokens("gpt-4o", 1024, 1024, "auto") == tokens("gpt-4o", 1024, 1024, "high")
    assert tokens("gpt-4o", 1024, 1024, "bogus") == 765  # unknown detail: auto
    assert tokens("gpt-4o", 1024, 1024, "original") == 765  # undocumented: counted as high


@pytest.mark.parametrize(("model", "base", "per_tile"), [
    ("gpt-4o", 85, 170), ("gpt-4.1", 85, 170), ("gpt-4o-mini", 2833, 5667), ("gpt-5", 70, 140),
    ("o3", 75, 150), ("o1", 75, 150), ("computer-use-preview", 65, 129),
])
def test_tile_constants(model: str, base: int, per_tile: int) -> None:
    assert tokens(model, 1, 1) == base + per_tile
    assert tokens(model, 1024, 1024, "high") == base + 4 * per_tile
    assert tokens(model, 2048, 4096) == base + 6 * per_tile
    assert tokens(model, 5000, 5000, "low") == base


def test_gpt_4o_mini_values() -> None:
    assert tokens("gpt-4o-mini", 1024, 1024, "high") == 2833 + 5667 * 4 == 25501
    assert tokens("gpt-4o-mini", 640, 480) == 2833 + 5667 * 2 == 14167
    assert tokens("gpt-4o-mini", 1, 1, "low") == 2833


@pytest.mark.parametrize(("size", "tiles"), [
    ((512, 512), 1), ((513, 512), 2), ((768, 768), 4), ((769, 769), 4), ((1536, 768), 6),
    ((3008, 2000), 6), ((2560, 1669), 6), ((1126, 488), 3), ((4096, 1024), 4), ((1, 100_000), 4),
    # Rounding of scaled sides, measured on gpt-4.1 (community forum): 513 * 2048/2049 = 512.75 -> 513
    # (2 rows) and 513 * 2048/2050 = 512.4998 -> 512 (1 row).
    ((2049, 513), 8), ((2050, 513), 4), ((513, 2049), 8), ((513, 2050), 4),
])
def test_tile_count(size: tuple[int, int], tiles: int) -> None:
    assert media.tile_count(*size) == tiles


def test_tile_rounding_matches_measured_gpt_4_1_bills() -> None:
    # Forum measurements include 8 text tokens: 2049x513 billed 1453, 2050x513 billed 773.
    assert tokens("gpt-4.1", 2049, 513) + 8 == 1453
    assert tokens("gpt-4.1", 2050, 513) + 8 == 773


# --- image cost: patch models (docs "GPT-4.1-mini, GPT-4.1-nano, o4-mini"; rule 6) ---------------

def test_docs_patch_examples() -> None:
    assert media.patch_count(1024, 1024) == 1024
    assert media.patch_count(1800, 2400) == 1452  # shrink 0.603, then 33 x 44 patches
    assert media.patch_count(2400, 1800) == 1452
    assert tokens("gpt-4.1-mini", 1024, 1024) == math.floor(1024 * 162 / 100) + 2 == 1660
    assert tokens("gpt-4.1-nano", 1024, 1024) == 2519 + 2  # floor(1024 * 2.46) = 2519
    assert tokens("o4-mini", 1024, 1024) == 1762 + 1  # ceil(1024 * 1.72) = ceil(1761.28)
    # 2400x1800 on gpt-4.1-mini was billed 2362 with 8 text tokens (community forum): 2352 + 2 + 8.
    assert tokens("gpt-4.1-mini", 2400, 1800) + 8 == 2362


def test_patch_roundings_are_exact() -> None:
    # 160x160 = 25 patches: 25 * 1.72 = 43 exactly (floats say 43.000000000000004 -> ceil 44).
    assert tokens("o4-mini", 160, 160) == 43 + 1
    assert tokens("gpt-4.1-mini", 1600, 32) == 81 + 2  # 50 * 1.62 = 81 exactly
    assert tokens("gpt-5-mini", 160, 160) == 30 + 2  # 25 * 1.2 = 30 exactly
    # gpt-5-nano rounds half up: 500 * 1.503 = 751.5 -> 752; 1500 * 1.503 = 2254.5 -> 2255.
    assert tokens("gpt-5-nano", 800, 640) == 752
    assert tokens("gpt-5-nano", 1600, 960) == 2255
    assert tokens("gpt-5-nano", 100, 100) == 24  # 16 * 1.503 = 24.048


def test_patch_models_ignore_detail() -> None:
    for model in ("gpt-4.1-mini", "gpt-4.1-nano", "o4-mini", "gpt-5-mini", "gpt-5-nano"):
        costs = {tokens(model, 128, 64, detail) for detail in ("auto", "high", "low", "original", "x")}
        assert len(costs) == 1


def test_gpt52_and_later_are_patch_models_with_a_2500_budget() -> None:
    # models.py: 1.2 per patch like gpt-5-mini (forum: same counts at 433 patches), not gpt-5's tiles.
    for model in ("gpt-5.2", "gpt-5.3-codex", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.5", "gpt-5.6"):
        assert tokens(model, 512, 149) == tokens("gpt-5-mini", 512, 149) == 96 + 2  # 16 x 5 patches
        assert tokens(model, 512, 512) == 308 + 2  # ceil(256 * 1.2); the tiles said 70 + 140
        assert tokens(model, 1600, 1600) == 3000 + 2  # 50 x 50 = 2500 patches billed, not 1536
    assert tokens("gpt-5-mini", 1600, 1600) == math.ceil(1521 * 1.2) + 2  # 39 x 39 after the shrink
    assert tokens("gpt-5", 512, 512) == 70 + 140  # gpt-5 keeps its tiles


def test_patch_budget_prefit_to_2048() -> None:
    # 4000x1474 billed 1536 patches (64 x 24) on gpt-4.1-mini (community forum): fitting into
    # 2048x2048 first gives 2048x755 = 64 x 24 patches; the docs' shrink alone would give 1449.
    assert media.patch_count(4000, 1474) == 1536
    assert media.patch_count(1, 10**9) == 64
    assert media.patch_count(10**9, 10**9) == 1521  # square: 39 x 39


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_image_cost_is_bounded_for_any_size(width: int, height: int) -> None:
    assert 1 <= media.tile_count(width, height) <= 8  # at most 768 x 2048 after the downscales
    assert 1 <= media.patch_count(width, height) <= 1536
    assert tokens("gpt-4o", width, height) <= 85 + 8 * 170
    assert tokens("gpt-4.1-nano", width, height) <= math.floor(1536 * 2.46) + 2


def test_image_tokens_rejects_nonpositive_sizes() -> None:
    with pytest.raises(ValueError):
        media.image_tokens(formula("gpt-4o"), 0, 10, "auto")


# --- reference cases: every image's header size equals its image_note ----------------------------

REFERENCE = [Path(__file__).resolve().parents[1] / "data" / "reference" / "cases.jsonl.gz",
             Path(__file__).resolve().parents[3] / "shared" / "reference" / "cases.jsonl.gz"]


def reference_image_cases() -> list[dict[str, Any]]:
    path = next((p for p in REFERENCE if p.exists()), None)
    if path is None:
        pytest.skip("reference cases not available")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [case for case in map(json.loads, fh) if case.get("image_note")]


def data_urls(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from data_urls(value)
    elif isinstance(node, list):
        for value in node:
            yield from data_urls(value)
    elif isinstance(node, str) and node.startswith("data:"):
        yield node


def test_reference_image_sizes_match_notes() -> None:
    cases = reference_image_cases()
    assert len(cases) >= 60
    for case in cases:
        match = re.match(r"(\d+)x(\d+)", case["image_note"])
        assert match, case["id"]
        urls = list(data_urls(case["request"]))
        assert urls, case["id"]
        for url in urls:
            _, raw = media.decode_data_url(url, 50_000_000)
            assert media.image_size(raw) == (int(match[1]), int(match[2])), case["id"]
        spec = FAMILIES.get(case["model"])
        if spec and spec.image:  # the image alone never costs more than the whole request
            detail = "low" if "detail=low" in case["image_note"] else "auto"
            assert 0 < media.image_tokens(spec.image, int(match[1]), int(match[2]), detail) \
                < case["expected_input_tokens"], case["id"]


# --- audio -------------------------------------------------------------------------------------------

def wav_bytes(seconds: float, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\0" * int(seconds * rate) * channels * width)
    return out.getvalue()


def mp3_bytes(frames: int, *, id3: bool = True, xing: int | None = None) -> bytes:
    """MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, stereo frames of 417 bytes (silent payload)."""
    header = b"\xff\xfb\x90\x00"
    frame = header + b"\0" * 413
    body = frame * frames
    if xing is not None:  # an Info frame carrying the frame count, after 32 bytes of side info
        tag = b"Xing" + struct.pack(">II", 1, xing)
        body = header + b"\0" * 32 + tag + b"\0" * (413 - 32 - len(tag)) + body
    prefix = b"ID3\x04\x00\x00\x00\x00\x01\x00" + b"\0" * 128 if id3 else b""  # 128-byte ID3v2 tag
    return prefix + body + b"TAG" + b"\0" * 125  # and an ID3v1 trailer


def test_wav_duration() -> None:
    assert media.audio_duration_seconds(wav_bytes(2.5), "wav") == pytest.approx(2.5)
    assert media.audio_duration_seconds(wav_bytes(1.0, 44100, 2), None) == pytest.approx(1.0)
    streaming = bytearray(wav_bytes(1.0))
    struct.pack_into("<I", streaming, 40, 0xFFFFFFFF)  # unknown data size: the bytes present count
    assert media.audio_duration_seconds(bytes(streaming), "wav") == pytest.approx(1.0)


def test_mp3_duration_from_frames_and_xing() -> None:
    per_frame = 1152 / 44100
    assert media.audio_duration_seconds(mp3_bytes(100), "mp3") == pytest.approx(100 * per_frame)
    assert media.audio_duration_seconds(mp3_bytes(100, id3=False), None) == pytest.approx(100 * per_frame)
    assert media.audio_duration_seconds(mp3_bytes(10, xing=5000), "mp3") == pytest.approx(5000 * per_frame)


def test_flac_and_ogg_durations() -> None:
    info = (44100 << 44) | (1 << 41) | (15 << 36) | 441000  # 44.1 kHz, stereo, 16 bit, 10 s
    flac = b"fLaC" + b"\x80\x00\x00\x22" + b"\0" * 10 + info.to_bytes(8, "big") + b"\0" * 16
    assert media.audio_duration_seconds(flac, None) == pytest.approx(10.0)

    def page(granule: int, packet: bytes) -> bytes:
        return b"OggS\x00\x02" + struct.pack("<qIIIB", granule, 1, 0, 0, 1) + bytes([len(packet)]) + packet

    opus_head = b"OpusHead\x01\x02" + struct.pack("<HIhB", 312, 48000, 0, 0)
    ogg = page(0, opus_head) + page(48000 * 3 + 312, b"\0" * 10)
    assert media.audio_duration_seconds(ogg, "ogg") == pytest.approx(3.0)


@pytest.mark.parametrize("raw", [b"", b"\0" * 64, b"RIFF\0\0\0\0WAVEdata\0\0\0\0", b"ID3" + b"\0" * 50,
                                 b"fLaC\x00\x00", b"OggS" + b"\0" * 60])
def test_bad_audio_raises_invalid_media(raw: bytes) -> None:
    with pytest.raises(InvalidMedia):
        media.audio_duration_seconds(raw, "mp3")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"", b"RIFF\0\0\0\0WAVE", b"ID3", b"\xff\xfb", b"fLaC", b"OggS"]), st.binary(max_size=300))
def test_audio_raises_only_invalid_media(magic: bytes, tail: bytes) -> None:
    try:
        seconds = media.audio_duration_seconds(magic + tail, "mp3")
    except InvalidMedia:
        return
    assert seconds >= 0


def test_audio_tokens_rate() -> None:
    assert media.AUDIO_INPUT_TOKENS_PER_SECOND == 10
    assert media.audio_tokens(1.0, "gpt-4o-audio-preview") == 10
    assert media.audio_tokens(0.3, "gpt-4o-audio-preview") == 3  # no float creep (0.3 * 10 > 3)
    assert media.audio_tokens(0.31, "gpt-4o-audio-preview") == 4  # a started 100 ms costs a token
    assert media.audio_tokens(0.0, "gpt-4o-audio-preview") == 0
    with pytest.raises(InvalidMedia):
        media.audio_tokens(float("nan"), "gpt-4o-audio-preview")


# --- files -------------------------------------------------------------------------------------------

def assemble_pdf(objects: list[bytes]) -> bytes:
    """A PDF file from object bodies numbered from 1 (object 1 is the catalog), with a valid xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def pdf_bytes(pages: list[bytes], *, filters: str = "", xobjects: Sequence[bytes] = ()) -> bytes:
    """A minimal valid PDF, built by hand: one Helvetica page per content stream. ``xobjects``
    are form streams numbered from 4 on, available to every page as /X0, /X1, ..."""
    n, first_page = len(pages), 4 + len(xobjects)
    names = b" ".join(b"/X%d %d 0 R" % (i, 4 + i) for i in range(len(xobjects)))
    resources = b"<< /Font << /F1 3 0 R >> /XObject << " + names + b" >> >>"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(n))
               + b"] /Count %d >>" % n,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objects += [stream(body, b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources " + resources + b" ")
                for body in xobjects]
    for i, content in enumerate(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + resources
                       + b" /Contents %d 0 R >>" % (first_page + 2 * i + 1))
        objects.append(stream(content, filters.encode()))
    return assemble_pdf(objects)


def text_page(text: str) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td (" + text.encode() + b") Tj ET"


def test_pdf_text_and_pages() -> None:
    raw = pdf_bytes([text_page("Hello tokcount"), text_page("Second page")])
    text, pages = media.file_text_and_pages(raw, "application/pdf", "doc.pdf", 10, 10_000)
    assert pages == 2
    assert "Hello tokcount" in text and "Second page" in text
    # Sniffed from the bytes even without a mime or a name.
    assert media.file_text_and_pages(raw, None, None, 10, 10_000)[1] == 2


def test_pdf_limits() -> None:
    raw = pdf_bytes([text_page(f"page {i}") for i in range(5)])
    with pytest.raises(MediaTooLarge):
        media.file_text_and_pages(raw, "application/pdf", None, 4, 10_000)
    with pytest.raises(MediaTooLarge):
        media.file_text_and_pages(pdf_bytes([text_page("x" * 500)]), None, None, 10, 100)


def test_pdf_decompression_bomb_is_refused_fast() -> None:
    bomb = zlib.compress(b" " * 100_000_000, 9)  # ~100 KB that inflates to 100 MB
    raw = pdf_bytes([bomb], filters="/Filter /FlateDecode ")
    start = time.perf_counter()
    with pytest.raises(InvalidMedia):
        media.file_text_and_pages(raw, "application/pdf", None, 10, 1_000_000)
    assert time.perf_counter() - start < 10


def test_pdf_operation_bombs_are_refused_fast() -> None:
    # Millions of cheap-to-store, slow-to-interpret operators, and forms drawing forms (10^8 draws).
    many_ops = zlib.compress(b"BT /F1 12 Tf 72 720 Td " + b"() Tj " * 3_000_000 + b"ET", 9)
    forms = [b"/X1 Do " * 100, b"/X2 Do " * 100, b"/X3 Do " * 100, b"BT /F1 1 Tf (x) Tj ET"]
    for raw in (pdf_bytes([many_ops], filters="/Filter /FlateDecode "),
                pdf_bytes([b"/X0 Do " * 100], xobjects=forms),
                pdf_bytes([b"/X0 Do"], xobjects=[b"() Tj " * 1_000_000])):  # one 6 MB form
        start = time.perf_counter()
        with pytest.raises(MediaTooLarge):
            media.file_text_and_pages(raw, "application/pdf", None, 10, 10_000_000)
        assert time.perf_counter() - start < 5


@pytest.mark.parametrize("raw", [
    b"%PDF-1.4\n" + b"garbage " * 100,
    b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 99 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    pdf_bytes([text_page("hi")])[:150],  # truncated
    b"%PDF-" + bytes(range(256)) * 40,
])
def test_malformed_pdf_raises_invalid_media_fast(raw: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(InvalidMedia):
        media.file_text_and_pages(raw, "application/pdf", "x.pdf", 10, 100_000)
    assert time.perf_counter() - start < 5


def test_text_files() -> None:
    raw = "héllo, wörld\n".encode()
    assert media.file_text_and_pages(raw, "text/plain", None, 10, 100) == ("héllo, wörld\n", 0)
    assert media.file_text_and_pages(raw, None, "notes.md", 10, 100)[0] == "héllo, wörld\n"
    assert media.file_text_and_pages(b'{"a": 1}', "application/json; charset=utf-8", None, 10, 100)[0] == '{"a": 1}'
    assert media.file_text_and_pages("\ufeffbom".encode(), None, "a.csv", 10, 100)[0] == "bom"
    with pytest.raises(MediaTooLarge):
        media.file_text_and_pages(b"x" * 101, "text/plain", None, 10, 100)
    with pytest.raises(InvalidMedia):
        media.file_text_and_pages(b"\xff\xfe bad utf-8", "text/plain", None, 10, 100)


@pytest.mark.parametrize(("raw", "mime", "name"), [
    (b"PK\x03\x04 docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx"),
    (b"plain", None, None),
    (b"plain", "application/octet-stream", "blob.bin"),
    (b"not a pdf", "application/pdf", "x.pdf"),
])
def test_unsupported_files(raw: bytes, mime: str | None, name: str | None) -> None:
    with pytest.raises(InvalidMedia):
        media.file_text_and_pages(raw, mime, name, 10, 100)
