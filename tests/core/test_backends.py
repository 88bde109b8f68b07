"""Differential tests: a faster backend may count only if it gives tiktoken's tokens, everywhere.

Compared on every text the reference cases render, on whole ``count`` results, on hypothesis-made
Unicode (newest code points, lone surrogates, long whitespace runs) and on every code point in the
contexts that expose how the split pattern classifies it (letter case, digit, space, newline).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.reference import api_of, load, recorded
from tokcount_core import backends, count
from tokcount_core import encoding as enc

pytest.importorskip("fastokens")

VOCABS = {"o200k_base": enc._VOCAB["o200k_base"], "cl100k_base": enc._VOCAB["cl100k_base"]}


@pytest.fixture
def fast_backend():
    previous = enc.set_backend("fastokens")
    yield
    enc.set_backend(previous)


def _both(name: str, text: str) -> tuple[list[int], list[int]]:
    """(tiktoken's tokens, the fastokens backend's tokens as the core uses it)."""
    reference = enc.get_encoding(name).encode_ordinary(text)
    previous = enc.set_backend("fastokens")
    try:
        return reference, enc.encode_ordinary(enc.get_encoding(name), text)
    finally:
        enc.set_backend(previous)


@pytest.fixture(scope="module")
def reference_cases():
    return load("cases.jsonl.gz")


def test_every_reference_text_encodes_identically(reference_cases):
    checked = 0
    for case in reference_cases:
        result = count(case["request"], api=api_of(case), as_of=recorded(case), explain=True)
        for segment in result.segments or []:
            if segment.text:
                bpe = backends.fastokens_bpe(*enc._VOCAB[result.encoding])
                tiktoken_ids = enc.get_encoding(result.encoding).encode_ordinary(segment.text)
                assert bpe.encode_unchecked(segment.text) == tiktoken_ids, (case["id"], segment.label)
                checked += 1
    assert checked > 10_000


def test_every_reference_count_is_identical(reference_cases):
    def counts(backend: str) -> list[object]:
        previous = enc.set_backend(backend)
        try:
            return [count(c["request"], api=api_of(c), as_of=recorded(c), return_tokens=True).model_dump()
                    for c in reference_cases]
        finally:
            enc.set_backend(previous)

    assert counts("fastokens") == counts("tiktoken")


# Letters of several scripts and cases, digits, punctuation, apostrophe suffixes, every kind of
# whitespace, emoji, code points new in Unicode 15-16, unassigned ones and a lone surrogate.
ALPHABET = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u2028", "\u3000", "\u00a0", "\u180e", "\u200b", "\ufeff", "a",
            "B", "ǅ", "é", "e\u0301", "日本", "ß", "İ", "1", "22", "333", "٣", "Ⅻ", "!", ".", "'s", "'LL", "’re",
            "🙂", "👩‍💻", "x y", "-", "/", "\U0001fae9", "\U00031350", "\U0001cc00", "\U00010d40", "\U0001e5d0",
            "\U000e0001", "\U0010ffff", "\ud800", "\U0002b81e", "<|endoftext|>"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=120).map("".join) | st.text(max_size=120)


@settings(max_examples=1500, deadline=None)
@given(texts, st.sampled_from(sorted(VOCABS)))
def test_random_unicode_encodes_identically(text, name):
    reference, fast = _both(name, text)
    assert fast == reference


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([" ", "\t", "\n", "\r\n", "\u3000", "x", "ab", "1"]),
                          st.integers(1, 20_000)), min_size=1, max_size=5),
       st.sampled_from(sorted(VOCABS)))
def test_long_whitespace_runs_encode_identically(runs, name):
    text = "".join(piece * n for piece, n in runs)
    reference, fast = _both(name, text)
    assert fast == reference


@pytest.mark.parametrize("name", sorted(VOCABS))
def test_whitespace_past_tiktokens_limit_matches_the_piecewise_fallback(name, fast_backend):
    text = "x" + " " * 400_000 + "\n\t" * 70_000 + "y"
    encoding = enc.get_encoding(name)
    assert enc.encode_ordinary(encoding, text) == enc._encode_by_pieces(encoding, text)


def _context(c: str) -> str:
    return f"a{c}b A{c}B {c}a 1{c}2 {c}{c}{c}{c}x !{c}! {c}\n{c} x{c}'s {c}\r\n  {c}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VOCABS))
def test_every_code_point_splits_identically(name):
    """All of planes 0-3 and 14 (4-13 are unassigned, 15-16 private use, which plane 0 covers)."""
    tiktoken_encode = enc.get_encoding(name).encode_ordinary
    bpe = backends.fastokens_bpe(*VOCABS[name])
    points = [c for plane in (0, 1, 2, 3, 14) for c in range(plane << 16, (plane + 1) << 16)
              if not 0xD800 <= c < 0xE000]
    def differs(text: str) -> bool:
        return bpe.encode_unchecked(text) != tiktoken_encode(text)

    divergent = set()
    for start in range(0, len(points), 512):
        chunk = points[start:start + 512]
        if differs("".join(_context(chr(c)) for c in chunk)):
            divergent |= {c for c in chunk if differs(_context(chr(c)))}
    # Each one the raw backend splits differently is routed to tiktoken, so the backend as used agrees.
    assert divergent <= backends.DIVERGENT_CODE_POINTS
    for c in backends.DIVERGENT_CODE_POINTS:
        reference, fast = _both(name, _context(chr(c)))
        assert fast == reference
