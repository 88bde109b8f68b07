"""Encoders: offline vocabularies and the safe path for text that makes tiktoken's regex panic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tokcount_core import count
from tokcount_core.encoding import ENCODING_NAMES, _encode_by_pieces, encode_ordinary, get_encoding

# Runs of every kind of whitespace, letters of several scripts, digits, punctuation, emoji, newest
# code points and lone surrogates: the places where splitting rules differ.
ALPHABET = [" ", "  ", "\t", "\n", "\r\n", "\u2028", "\u3000", "\u00a0", "a", "B", "é", "日本", "1", "22",
            "333", "!", ".", "'s", "'LL", "🙂", "x y", "-", "/", "\U0001fae9", "\U00031350", "\ud800"]
# Code points unassigned in Python's Unicode database are left out: the ``regex`` module and tiktoken's
# Rust regex may know different Unicode versions there (see ``encode_ordinary``).
texts = st.lists(st.sampled_from(ALPHABET), max_size=80).map("".join) | st.text(
    st.characters(exclude_categories=("Cn",)), max_size=80)


@settings(max_examples=400, deadline=None)
@given(texts, st.sampled_from(ENCODING_NAMES))
def test_piecewise_fallback_equals_tiktoken(text, name):
    encoding = get_encoding(name)
    assert _encode_by_pieces(encoding, text) == encoding.encode_ordinary(text)


def test_a_million_spaces_are_counted_not_crashed():
    encoding = get_encoding("o200k_base")
    ids = encode_ordinary(encoding, " " * 1_000_000 + "x")
    # 100k spaces encode to 782 tokens with tiktoken itself; the fallback agrees on that size.
    assert encode_ordinary(encoding, " " * 100_000) == encoding.encode_ordinary(" " * 100_000)
    assert len(ids) > 7_800
    result = count({"model": "gpt-4o", "input": "\t" * 1_000_000})
    assert result.error_code is None and result.input_tokens > 60_000


def test_encoders_are_built_once():
    assert get_encoding("o200k_base") is get_encoding("o200k_base")
