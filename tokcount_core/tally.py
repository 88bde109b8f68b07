"""Segments to numbers: encode each rendered text once, sum by category, build the result.

The hot path of the whole product. Texts that repeat across records (role headers, tool blocks)
are counted once per process; long texts are counted by the selected backend without building id
lists unless the caller asked for tokens.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from tokcount_core.encoding import encode_ordinary, get_backend, get_encoding, token_counter
from tokcount_core.render.context import RenderContext
from tokcount_core.result import CountResult, Details, ErrorCode, RecordError, SegmentView


def tally(ctx: RenderContext, kind: str, explain: bool, return_tokens: bool) -> CountResult:
    # tiktoken's encoder only when ids are asked for: with the fast backend it is never built otherwise.
    encoder = get_encoding(ctx.spec.encoding) if return_tokens else None
    measure = _measurer(ctx.spec.encoding, get_backend())  # counts without building id lists
    max_chars = ctx.limits.max_text_chars
    totals = dict.fromkeys(("text", "image", "audio", "file", "tool", "response_format", "overhead"), 0)
    views: list[SegmentView] = []
    tokens: list[int] = []
    for seg in ctx.segments:
        n, value, category = seg.fixed, seg.text, seg.category
        if return_tokens and seg.ids:
            tokens.extend(seg.ids)
        if value:
            if len(value) > max_chars:
                raise RecordError(ErrorCode.TOO_LARGE, f"{seg.label}: {len(value)} characters, over the limit")
            if return_tokens:
                ids = _safe_encode(encoder, value, seg.label)
                tokens.extend(ids)
                size = len(ids)
            else:
                size = measure(value, category, seg.label)
            n += size
            if seg.tail is not None:
                head, tail_category = seg.tail
                moved = max(0, size - measure(value[:head], category, seg.label))
                totals[tail_category] += moved
                totals[category] -= moved
        totals[category] += n
        if explain:
            views.append(SegmentView(category=category, label=seg.label, text=value, tokens=n, item=seg.item))
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
        rules=list(ctx.rules),
        unverified_rules=[rule for rule, unverified in ctx.rules.items() if unverified],
        outside_evidence=ctx.outside_evidence,
        features=sorted(ctx.features) if explain else None,
        segments=views if explain else None,
        tokens=tokens if return_tokens else None,
        token_strings=[encoder.decode_single_token_bytes(t).decode("utf-8", "replace") for t in tokens]
        if encoder is not None else None,
    )


# Role headers, names and other short strings repeat on every record; tool and format blocks repeat
# across the records of one application: each is counted once per process.
_SHORT = 48
_MAX_SHORT = 100_000
_REPEATING = frozenset({"tool", "response_format"})
_MAX_REPEATS = 4096


@functools.cache
def _measurer(encoding: str, backend: str) -> Callable[[str, str, str], int]:
    """``(text, category, label) -> tokens`` for one encoding and backend, with its caches. One flat
    closure: it runs for every text segment of every record."""
    counter = token_counter(encoding)
    short: dict[str, int] = {}
    repeating: dict[str, int] = {}

    def measure(value: str, category: str, label: str) -> int:
        cache = short if len(value) <= _SHORT else repeating if category in _REPEATING else None
        if cache is not None and (size := cache.get(value)) is not None:
            return size
        try:
            size = counter(value)
        except BaseException as exc:  # tiktoken's Rust panics are BaseException, not Exception
            raise _gave_up(exc, label) from None
        if cache is not None:
            if len(cache) >= (_MAX_SHORT if cache is short else _MAX_REPEATS):
                cache.clear()
            cache[value] = size
        return size

    return measure


_short_ids: dict[tuple[str, str], list[int]] = {}


def _safe_encode(encoder: Any, value: str, label: str) -> list[int]:
    if len(value) <= _SHORT:
        key = (encoder.name, value)
        ids = _short_ids.get(key)
        if ids is None:
            if len(_short_ids) > _MAX_SHORT:
                _short_ids.clear()
            ids = _short_ids[key] = encoder.encode_ordinary(value)
        return ids
    try:
        return encode_ordinary(encoder, value)
    except BaseException as exc:  # tiktoken's Rust panics are BaseException, not Exception
        raise _gave_up(exc, label) from None


def _gave_up(exc: BaseException, label: str) -> BaseException:
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return exc
    return RecordError(ErrorCode.TOO_LARGE, f"{label}: the tokenizer gave up on this text ({type(exc).__name__})")
