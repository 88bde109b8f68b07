"""Segments to numbers: encode each rendered text once, sum by category, build the result.

The hot path of the whole product. Texts that repeat across records (role headers, tool blocks)
are counted once per process; long texts are counted by the selected backend without building id
lists unless the caller asked for tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokcount_core.encoding import encode_ordinary, get_encoding, token_counter
from tokcount_core.render.context import RenderContext
from tokcount_core.result import CountResult, Details, ErrorCode, RecordError, SegmentView


def tally(ctx: RenderContext, kind: str, explain: bool, return_tokens: bool) -> CountResult:
    encoder = get_encoding(ctx.spec.encoding)
    counter = token_counter(ctx.spec.encoding)  # counts without building id lists unless asked for
    totals = dict.fromkeys(("text", "image", "audio", "file", "tool", "response_format", "overhead"), 0)
    views: list[SegmentView] = []
    tokens: list[int] = []
    for seg in ctx.segments:
        n = seg.fixed
        if return_tokens and seg.ids:
            tokens.extend(seg.ids)
        if seg.text:
            if len(seg.text) > ctx.limits.max_text_chars:
                raise RecordError(ErrorCode.TOO_LARGE, f"{seg.label}: {len(seg.text)} characters, over the limit")
            if return_tokens:
                ids = _safe_encode(encoder, seg.text, seg.label)
                tokens.extend(ids)
                size = len(ids)
            else:
                size = _count_text(encoder, counter, seg.text, seg.label, seg.category)
            n += size
            if seg.tail is not None:
                head, tail_category = seg.tail
                moved = max(0, size - _count_text(encoder, counter, seg.text[:head], seg.label, seg.category))
                totals[tail_category] += moved
                totals[seg.category] -= moved
        totals[seg.category] += n
        if explain:
            views.append(SegmentView(category=seg.category, label=seg.label, text=seg.text, tokens=n))
    details = Details(text_tokens=totals["text"], image_tokens=totals["image"], audio_tokens=totals["audio"],
                      file_tokens=totals["file"], tool_tokens=totals["tool"],
                      response_format_tokens=totals["response_format"], overhead_tokens=totals["overhead"])
    return CountResult(
        input_tokens=details.total(),
        input_tokens_details=details,
        model=ctx.spec.name,
        encoding=ctx.spec.encoding,
        api=kind,
        estimated=bool(ctx.reasons),
        estimate_reasons=sorted(ctx.reasons),
        segments=views if explain else None,
        tokens=tokens if return_tokens else None,
        token_strings=[encoder.decode_single_token_bytes(t).decode("utf-8", "replace") for t in tokens]
        if return_tokens else None,
    )


# Role headers, names and other short strings repeat on every record: encode each once per process.
_SHORT = 48
_short_cache: dict[tuple[str, str], list[int]] = {}


def _safe_encode(encoder: Any, value: str, label: str) -> list[int]:
    if len(value) <= _SHORT:
        key = (encoder.name, value)
        ids = _short_cache.get(key)
        if ids is None:
            if len(_short_cache) > 100_000:
                _short_cache.clear()
            ids = _short_cache[key] = encoder.encode_ordinary(value)
        return ids
    try:
        return encode_ordinary(encoder, value)
    except BaseException as exc:  # tiktoken's Rust panics are BaseException, not Exception
        raise _gave_up(exc, label) from None


def _safe_count(encoder: Any, counter: Callable[[str], int], value: str, label: str) -> int:
    """``len(_safe_encode(...))``: short strings from the cache, long ones counted by the backend."""
    if len(value) <= _SHORT:
        return len(_safe_encode(encoder, value, label))
    try:
        return counter(value)
    except BaseException as exc:
        raise _gave_up(exc, label) from None


# Tool and format blocks repeat across the records of one application: count each text once.
_REPEATING = frozenset({"tool", "response_format"})
_MAX_REPEATS = 4096
_repeat_cache: dict[tuple[str, str], int] = {}


def _count_text(encoder: Any, counter: Callable[[str], int], value: str, label: str, category: str) -> int:
    if category not in _REPEATING:
        return _safe_count(encoder, counter, value, label)
    key = (encoder.name, value)
    size = _repeat_cache.get(key)
    if size is None:
        if len(_repeat_cache) >= _MAX_REPEATS:
            _repeat_cache.clear()
        size = _repeat_cache[key] = _safe_count(encoder, counter, value, label)
    return size


def _gave_up(exc: BaseException, label: str) -> BaseException:
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return exc
    return RecordError(ErrorCode.TOO_LARGE, f"{label}: the tokenizer gave up on this text ({type(exc).__name__})")
